"""The CPU of this process and of every process it started, from the operating system's own
accounting, and when this process started (docs/design.md, "The whole command").

A reading adds three figures the kernel keeps:

- this process, every thread (``getrusage(RUSAGE_SELF)``, microseconds);
- every descendant already *reaped* (``getrusage(RUSAGE_CHILDREN)``): a process that waits for a
  child receives its CPU and that of every descendant the child had reaped, so a worker forked
  by multiprocessing's forkserver reaches perfkit when the forkserver, having reaped the worker,
  is itself reaped by perfkit. Killed workers are counted exactly like the others;
- every descendant still alive (found through /proc/<pid>/task/<tid>/children, psutil
  elsewhere): its own CPU from its process CPU clock
  (``clock_gettime`` of the process, nanoseconds, every thread included) plus what it has reaped
  (``/proc/<pid>/stat`` cutime + cstime, clock ticks).

Exact when nothing is alive but this process: that is why a command's last reading comes after
:func:`stop_helpers` (multiprocessing leaves its forkserver and resource tracker running until
the interpreter is gone, Python 3.11 never reaps them) and :func:`reap_orphans`. A process that
leaves the tree (a daemonising solver, a worker whose reaper died first) is caught by making
this process a child subreaper (:func:`become_subreaper`): Linux hands it the orphans.

Why not a cgroup: it would give the same figure (tests/test_command_usage.py checks the two
agree within 2 %), but making one needs root or a delegated subtree and moves the process in the
system's cgroup tree (out of the service or session that started it, under systemd); perfkit
uses a cgroup only as the independent referee of the tests and benchmarks
(perfkit/orchestration/cgroup.py).
"""

from __future__ import annotations

import ctypes
import os
import resource
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional

import psutil

#: Clock ticks per second of /proc (``USER_HZ``): the resolution of a process's start time.
CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
#: How CPU is read, stored beside the figures (summary ``command_cpu_source``).
SOURCE = "rusage of this process and of its reaped descendants + CPU clocks of the live ones"
_PR_SET_CHILD_SUBREAPER = 36
_CPUCLOCK_SCHED = 2


@dataclass(frozen=True)
class TreeReading:
    """CPU seconds of the process tree at ``at_s`` (``time.monotonic()``)."""

    at_s: float
    own_cpu_s: float
    reaped_cpu_s: float
    #: pid -> CPU seconds of a descendant alive at ``at_s`` (itself + what it had reaped).
    live_cpu_s: dict[int, float] = field(default_factory=dict)

    @property
    def cpu_s(self) -> float:
        """CPU seconds of the whole tree: this process, reaped and live descendants."""
        return self.own_cpu_s + self.reaped_cpu_s + sum(self.live_cpu_s.values())


def _rusage_s(who: int) -> float:
    ru = resource.getrusage(who)
    return ru.ru_utime + ru.ru_stime


def process_cpu_s(pid: int) -> Optional[float]:
    """CPU seconds (every thread, user + system) of the live process ``pid``, None when it is gone.

    Linux: the process's CPU clock (``clock_getcpuclockid``; Python has no wrapper, the clock id
    is ``MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)`` of linux/posix-timers.h) — nanoseconds,
    where /proc and psutil give clock ticks (10 ms). Elsewhere psutil.
    """
    if sys.platform.startswith("linux"):
        try:
            return time.clock_gettime(((~pid) << 3) | _CPUCLOCK_SCHED)
        except OSError:
            pass  # a zombie has no clock any more: its times are still in /proc
    try:
        t = psutil.Process(pid).cpu_times()
        return t.user + t.system
    except (psutil.Error, OSError):
        return None


def _reaped_by_s(proc: psutil.Process) -> float:
    """CPU seconds of the descendants ``proc`` has reaped (0 where the OS does not say)."""
    try:
        t = proc.cpu_times()
    except (psutil.Error, OSError):
        return 0.0
    return getattr(t, "children_user", 0.0) + getattr(t, "children_system", 0.0)


def live_descendants() -> list[psutil.Process]:
    """Every process below this one still in the process table (zombies included)."""
    pids = _descendant_pids_linux(os.getpid())
    if pids is None:
        try:
            return psutil.Process().children(recursive=True)
        except (psutil.Error, OSError):
            return []
    procs = []
    for pid in pids:
        try:
            procs.append(psutil.Process(pid))
        except psutil.Error:
            pass  # gone meanwhile: its CPU is with its reaper
    return procs


def _descendant_pids_linux(root: int) -> Optional[list[int]]:
    """Descendants of ``root`` from /proc/<pid>/task/<tid>/children, or None where the kernel
    has no such file. Hand-written because psutil's ``children()`` reads the stat file of
    every process of the machine (~1 ms with a hundred processes, ten times that on a busy
    host) where this reads only the tree's own files, at every mark of a run."""
    if not os.path.exists(f"/proc/{root}/task/{root}/children"):
        return None
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                    kids = [int(k) for k in f.read().split()]
            except OSError:
                continue
            found += kids
            todo += kids
    return found


def read_tree(extra_pids: Iterable[int] = ()) -> TreeReading:
    """CPU of this process and every descendant now.

    ``extra_pids``: processes started for this run that are not (or no longer) descendants —
    e.g. a worker whose parent died before it — read while they live; those that left no trace
    cannot be read and are the caller's to name. Live descendants are read before the reaped
    total so that a process reaped in between is counted twice rather than lost (a transient
    error of one reading, never of the last one, when nothing is left alive).
    """
    live: dict[int, float] = {}
    procs = {p.pid: p for p in live_descendants()}
    for pid in extra_pids:
        if pid not in procs and pid != os.getpid() and psutil.pid_exists(pid):
            try:
                procs[pid] = psutil.Process(pid)
            except psutil.Error:
                pass
    for pid, proc in procs.items():
        own = process_cpu_s(pid)
        if own is not None:
            live[pid] = own + _reaped_by_s(proc)
    own_cpu = _rusage_s(resource.RUSAGE_SELF)
    reaped = _rusage_s(resource.RUSAGE_CHILDREN)
    return TreeReading(time.monotonic(), own_cpu, reaped, live)


def process_start_s() -> float:
    """When this process started, on the ``time.monotonic()`` clock (seconds).

    Linux keeps a process's start on the boot-time clock in clock ticks (/proc/self/stat field
    22, truncated to 1/CLOCK_TICKS_PER_S); the start is taken in the middle of its tick, so it
    is known to ±half a tick (5 ms at the usual 100 Hz). Elsewhere psutil's create_time, mapped
    from the wall clock.
    """
    try:
        with open("/proc/self/stat", "rb") as f:
            ticks = int(f.read().rsplit(b")", 1)[1].split()[19])
        mono, boot = _clocks_now(time.CLOCK_BOOTTIME)
    except (OSError, ValueError, IndexError, AttributeError):
        mono, wall = _clocks_now(None)
        return mono - (wall - psutil.Process().create_time())
    return mono - (boot - (ticks + 0.5) / CLOCK_TICKS_PER_S)


def _clocks_now(other: Optional[int]) -> tuple[float, float]:
    """``time.monotonic()`` and the clock ``other`` (None: ``time.time()``) at the same moment:
    the pair read closest together of three, the other clock taken as the mean of its reads
    around the monotonic one (a preemption between two reads would shift the start)."""
    read = time.time if other is None else (lambda: time.clock_gettime(other))
    best = None
    for _ in range(3):
        before = read()
        mono = time.monotonic()
        after = read()
        if best is None or after - before < best[0]:
            best = (after - before, mono, (before + after) / 2)
    return best[1], best[2]


def become_subreaper() -> bool:
    """Make this process receive its orphaned descendants (Linux ``PR_SET_CHILD_SUBREAPER``) so
    that their CPU reaches :func:`read_tree` when :func:`reap_orphans` waits for them. True when
    the OS agreed. Only for a process that is one perfkit command: it changes who reaps orphans."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def reap_orphans() -> list[int]:
    """Wait for the children of this process that have exited (orphans handed to a subreaper
    among them): their CPU moves into the reaped total. Returns their pids. Children that still
    run are left alone; they are read live."""
    reaped = []
    try:
        children = psutil.Process().children()
    except (psutil.Error, OSError):
        return reaped
    for child in children:
        try:
            if child.status() != psutil.STATUS_ZOMBIE:
                continue
            os.waitpid(child.pid, 0)
            reaped.append(child.pid)
        except (psutil.Error, ChildProcessError, OSError):
            pass
    return reaped


def stop_leftovers(wait_s: float = 1.0) -> list[int]:
    """SIGKILL every descendant still alive and wait up to ``wait_s`` seconds for them; returns
    their pids. Called when a command ends, after its backends have stopped their workers: what
    is left is a solver's (a candidate's subprocess orphaned by a Dask worker, say), and it must
    not outlive perfkit nor hold its stdout (``perfkit run … | cat`` would never end)."""
    procs = live_descendants()
    for proc in procs:
        try:
            proc.kill()
        except (psutil.Error, OSError):
            pass
    try:
        psutil.wait_procs(procs, timeout=wait_s)
    except (psutil.Error, OSError):
        pass
    return [p.pid for p in procs]


def stop_helpers() -> list[int]:
    """Stop and reap multiprocessing's forkserver and resource tracker when this process started
    them; returns their pids. They are started on demand again if needed (both are module-level
    singletons of multiprocessing; ``_stop`` is what its own test-suite uses to stop them,
    Python 3.8–3.13)."""
    stopped = []
    for module, singleton, pid_attribute in (("multiprocessing.forkserver", "_forkserver", "_forkserver_pid"),
                                             ("multiprocessing.resource_tracker", "_resource_tracker", "_pid")):
        helper = getattr(sys.modules.get(module), singleton, None)  # None: never imported here
        pid = getattr(helper, pid_attribute, None)
        if pid is not None and hasattr(helper, "_stop"):
            _quietly(helper._stop)
            stopped.append(pid)
    return stopped


def _quietly(stop: Callable[[], None]) -> None:
    """Call a helper's ``_stop``: it reaps the helper, then removes its socket, which the exit
    handlers may have removed already with multiprocessing's temporary folder."""
    try:
        stop()
    except OSError:
        pass
