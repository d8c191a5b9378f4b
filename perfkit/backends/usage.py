"""What a worker process used, read from the operating system: CPU and peak resident memory.

A backend that kills a worker at a unit's deadline still owes that unit the CPU it consumed:
the worker notes its process's CPU clock when each unit starts (the ``time.process_time()``
the unit loop reads anyway, every thread of the worker, stored in its slot: no extra call per
unit), and the parent reads that process's CPU clock just before the kill
(:meth:`KilledWorker.read`: ``clock_gettime`` of the worker's process CPU clock, nanoseconds,
read while the worker is stopped); the difference is the unit's CPU. (Child processes the
unit started die with it, their CPU unreaped: that part is not known.) Without it a killed unit has no CPU and a slow candidate at full
speed reads as contention (docs/design.md, "Figures"). The thread's run time is exact to the
nanosecond, not to psutil's clock tick (10 ms), at which units killed at a 6 ms limit read 0.0.

Peak memory: the worker resets its peak resident set before each work item
(:func:`reset_peak_rss`) and reads it when the item ends (:func:`peak_rss_bytes`), so each item
has its own peak and the worker's peak is the largest of them. Linux only (``/proc``); elsewhere
every figure is None, never a guess.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass
from typing import Optional

import psutil

from perfkit.backends.base import WorkerUsage


def process_cpu_s(children: bool = False) -> float:
    """CPU (user + system, seconds) this process used so far, and with ``children`` the child
    processes it reaped: a process worker's units may run programs (``subprocess.run``), whose
    CPU is the run's, not other processes' (docs/design.md, "Figures"). Not a Dask worker's:
    its nanny and its restarts are Dask's."""
    t = os.times()
    return t.user + t.system + (t.children_user + t.children_system if children else 0.0)


def children_cpu_s() -> float:
    """CPU (user + system, seconds) of this process's child processes reaped so far (to the
    microsecond; ``os.times`` counts them in clock ticks)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


#: The name of the usage a backend running units in perfkit's own process reports for the
#: child processes its units ran (reaped during the run): the run's CPU, not other processes'.
CHILD_PROCESSES = "child processes"


def children_usage(since_s: Optional[float]) -> list[WorkerUsage]:
    """The usage of the child processes reaped since :func:`children_cpu_s` read ``since_s``
    (none when nothing was reaped, or no reading was taken)."""
    if since_s is None:
        return []
    used = children_cpu_s() - since_s
    return [WorkerUsage(CHILD_PROCESSES, used)] if used > 0 else []


def cpu_s_of(pid: int) -> Optional[float]:
    """CPU (user + system, seconds) of a live process, None when it is gone."""
    try:
        t = psutil.Process(pid).cpu_times()
    except (psutil.Error, OSError):
        return None
    return t.user + t.system


def process_clock_s(pid: int) -> Optional[float]:
    """The CPU clock of the live process ``pid`` (every thread, ended ones included; seconds to
    the nanosecond: the clock ``time.process_time`` reads inside it), None when it is gone or
    the clock cannot be read (a platform without process CPU clocks)."""
    try:
        # Linux's clockid of another process's CPU clock (CPUCLOCK_SCHED of pid), as glibc's
        # clock_getcpuclockid builds it; psutil reads the process's CPU in clock ticks (10 ms)
        return time.clock_gettime(((~pid) << 3) | 2)
    except (OSError, OverflowError, AttributeError):
        return None


def peak_rss_bytes(pid: Optional[int] = None) -> Optional[int]:
    """Peak resident memory (bytes) of process ``pid`` (this one by default) since it started or
    since its last :func:`reset_peak_rss`; None when the OS does not say."""
    # psutil reports the current RSS, not the peak (VmHWM): /proc is read directly
    try:
        with open(f"/proc/{pid or 'self'}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def reset_peak_rss() -> None:
    """Start a new peak: the peak resident memory becomes the current one (Linux ≥ 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


@dataclass(frozen=True)
class KilledWorker:
    """What a worker had used when it was killed: its CPU (seconds), peak memory (bytes) and
    its process CPU clock (seconds), the clock its units are timed on."""

    cpu_s: Optional[float]
    peak_rss_bytes: Optional[int]
    unit_clock_s: Optional[float] = None

    @classmethod
    def read(cls, pid: int) -> "KilledWorker":
        """Read them from the OS; call it just before the kill."""
        return cls(cpu_s_of(pid), peak_rss_bytes(pid), process_clock_s(pid))

    def unit_cpu_s(self, cpu_at_start_s: float) -> Optional[float]:
        """The CPU (seconds) of the unit in flight, which started when its process's CPU clock
        read ``cpu_at_start_s``; None when either reading is missing."""
        if self.unit_clock_s is None or cpu_at_start_s <= 0.0:
            return None
        return max(0.0, self.unit_clock_s - cpu_at_start_s)
