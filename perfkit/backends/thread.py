"""The thread backend: N threads in the parent process.

Python cannot stop a running thread. A unit past its deadline + grace is therefore recorded as
a ``timeout`` marked ``leaked``; its thread is abandoned (it keeps running, and keeps the GIL
busy if it is pure Python) and a replacement thread takes its place, so the run goes on. When
the run ends, each leaked unit is amended with how long its work kept running after the
deadline and the CPU it burned (read from the thread's own CPU clock). The number of leaked
threads is bounded: past ``max_leaked`` the run stops with a clear error.

An abandoned thread outlives its run: in a process that runs again (the runs of ``perfkit
compare``, a notebook) it keeps taking a core, and the GIL, from every later run. Its CPU would
be counted as the later run's own (the parent's), as perfkit's overhead. So the threads still
running when a run ends are kept in a process-wide list, :data:`STRAYS`, that
:func:`stray_threads` reads: the runner counts their CPU during its window as other work, not
its own (docs/design.md, "Timeouts and budgets"; docs/benchmarks.md, "Session 9: sympy").

Threads send a batch of outcomes per FLUSH_INTERVAL_S or job, never a message per unit. Who
owns a unit in flight — its thread, which will record it, or the watcher, which gives it up —
is decided without a lock: the unit's token is in a dict while it runs, and whoever pops it
first (``dict.pop`` is atomic) owns it. When the watcher wins, the thread is stuck inside the
solver and does not touch its recorder again, so the watcher takes the outcomes the thread had
not sent yet: nothing is lost, nothing counted twice.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Optional

import psutil

from perfkit.backends.base import (
    KILL_GRACE_S, WAKE_S, Assignment, Event, Generation, Job, Requeued, SolverRef, WorkerFailure, WorkerUsage,
    build_solver, drain)
from perfkit.backends.own_threads import own_thread_clocks, thread_clock_id, thread_cpu_s
from perfkit.backends.usage import children_cpu_s, children_usage
from perfkit.backends.unit import THREAD_CPU, BatchRecorder, Watch, generate, run_job
from perfkit.model import Outcome, OutcomeBatch, Task

#: Jobs queued per thread: one running, one waiting, so a thread never idles on dispatch.
JOBS_PER_THREAD = 2


class _ThreadWatch(Watch):
    """One thread's unit in flight: a token in the backend's ``live`` dict while it runs."""

    def __init__(self, owner: "_Slot", live: dict, stop: list[bool]):
        self.owner = owner
        self.live = live
        self.stop = stop
        self.token: Optional[tuple] = None

    def begin(self, pos: int, started: float, cpu0: float) -> None:
        self.token = (self.owner.name, pos, started, cpu0)
        self.live[self.token] = self.owner

    def end(self) -> bool:
        if self.live.pop(self.token, None) is not None:
            return not self.stop[0]  # the run is over (Ctrl-C): its outcome has no reader
        # the watcher gave this unit up meanwhile: note how it ended, then leave
        self.owner.finished = (time.monotonic(), time.thread_time() - self.token[3])
        return False


@dataclass
class _Slot:
    name: str
    rec: BatchRecorder
    thread: Optional[threading.Thread] = None
    #: (task, assignment, dispatch) of the job the thread runs
    job: Optional[tuple[Task, Assignment, int]] = None
    abandoned: bool = False
    #: Set when an abandoned unit finally returns: (ended, thread CPU seconds of the unit).
    finished: Optional[tuple[float, float]] = None
    watch: Any = None
    #: The thread's CPU clock when it ended (seconds; its whole life, units included).
    cpu_at_exit_s: Optional[float] = None


@dataclass
class _Leak:
    key: tuple
    deadline: float
    cpu_at_start: float
    slot: _Slot = field(repr=False)


#: Abandoned threads still running that a run tolerates, per worker (``max_leaked`` by default):
#: one more and the run stops (WorkerFailure), since each keeps taking the GIL from the others;
#: ``perfkit predict`` models the same stop (perfkit/analysis/prediction/simulator.py).
LEAKED_PER_WORKER = 4
#: The leaked units of this process's ended runs whose threads were still running when their run
#: ended (appended by ``finish_run``; a thread that ends later stays, its final CPU known).
STRAYS: list[_Leak] = []


def stray_threads() -> tuple[int, float]:
    """Threads abandoned by this process's earlier runs: how many still run, and the CPU seconds
    all of them have used since they started (ended ones with their final figure), so that the
    difference of two readings is their CPU in between."""
    alive = {tid: user_s + system_s for tid, user_s, system_s in psutil.Process().threads()} if STRAYS else {}
    running, cpu_s = 0, 0.0
    for leak in STRAYS:
        if leak.slot.finished is not None:  # ended: the CPU at its unit's start plus the unit's
            cpu_s += leak.cpu_at_start + leak.slot.finished[1]
        elif leak.slot.thread is not None and leak.slot.thread.native_id in alive:
            running += 1
            cpu_s += alive[leak.slot.thread.native_id]
    return running, cpu_s


def _thread_cpu_s(thread: threading.Thread) -> Optional[float]:
    """CPU seconds of another thread of this process as the kernel counts them (psutil reads
    /proc/self/task), None once it has ended. Not ``pthread_getcpuclockid``: a Python thread is
    detached, so its pthread handle dangles the moment it ends, and reading its clock then
    crashed the process (seen: a segfault when a leaked unit finished during the run's end)."""
    for tid, user_s, system_s in psutil.Process().threads():
        if tid == thread.native_id:
            return user_s + system_s
    return None


class ThreadBackend:
    """Threads sharing one solver instance; see the module docstring."""

    name = "thread"
    hard_timeouts = False
    reusable = False

    def __init__(self, kill_grace_s: float = KILL_GRACE_S, max_leaked: Optional[int] = None):
        self.kill_grace_s = kill_grace_s
        self.max_leaked = max_leaked
        self.work: queue.SimpleQueue = queue.SimpleQueue()
        self.results: queue.SimpleQueue = queue.SimpleQueue()
        self.slots: list[_Slot] = []
        self.leaks: list[_Leak] = []
        self.live: dict[tuple, _Slot] = {}
        self.created = 0
        self._pending = 0
        self._dispatched = 0
        self._workers = 0
        self._children0: Optional[float] = None
        self._solver: Any = None
        #: [True] once the run ends: threads finish the unit they run and take no further one
        #: (a list read per unit: cheaper than an Event's method call).
        self._stop = [False]
        #: CPU clocks read when the run started (:meth:`_cpu_beside_units`), None before.
        self._cpu0: Optional[tuple[float, float, float, float]] = None
        #: The CPU seconds of this run's threads and of the rest of the process, once it ended.
        self._cpu_of_threads: dict[str, float] = {}

    def start(self, solver: SolverRef, workers: int) -> None:
        """Build the solver once and start ``workers`` threads."""
        self._children0 = children_cpu_s()
        self._cpu0 = self._cpu_readings()
        self._solver = build_solver(solver)
        self._workers = workers
        self.max_leaked = self.max_leaked if self.max_leaked is not None else LEAKED_PER_WORKER * workers
        for _ in range(workers):
            self._add_thread()

    def _add_thread(self) -> None:
        self.created += 1
        name = f"thread-{self.created}"
        slot = _Slot(name, BatchRecorder(name))
        slot.watch = _ThreadWatch(slot, self.live, self._stop)
        slot.thread = threading.Thread(target=self._loop, args=(slot,), name=f"perfkit-{name}", daemon=True)
        self.slots.append(slot)
        slot.thread.start()

    def _loop(self, slot: _Slot) -> None:
        try:
            self._serve(slot)
        finally:
            slot.cpu_at_exit_s = time.thread_time()

    def _serve(self, slot: _Slot) -> None:
        try:
            while True:
                entry = self.work.get()
                if entry is None or self._stop[0]:
                    return
                task, job, dispatch = entry
                if isinstance(job, Generation):
                    self.results.put(("generated", slot, generate(self._solver, task, job, slot.name)))
                    continue
                slot.job = (task, job, dispatch)
                for _ in run_job(self._solver, task, dispatch, job, slot.rec, slot.watch):
                    self.results.put(("batch", slot, slot.rec.take()[0]))
                if slot.finished is not None or self._stop[0]:  # given up by the watcher, or the run ended
                    return
                slot.job = None
                self.results.put(("done", slot, slot.rec.take()[0] if len(slot.rec) else None))
        except BaseException as exc:  # a bug of perfkit's, or the solver ending the thread: never a hang
            self.results.put(("fatal", slot, f"{slot.name} stopped: {type(exc).__name__}: {exc}"))

    # -- jobs -----------------------------------------------------------------------------

    def capacity(self) -> int:
        return max(0, self._workers * JOBS_PER_THREAD - self._pending)

    def pending(self) -> int:
        return self._pending

    def submit(self, task: Task, job: Job) -> None:
        self._dispatched += 1
        self._pending += 1
        self.work.put((task, job, self._dispatched))

    def collect(self, wait_s: float) -> list[Event]:
        """Batches and generated candidates as the threads send them; overruns given up."""
        events: list[Event] = []
        entries = drain(self.results, min(wait_s, self._next_wake()))
        for kind, _slot, payload in entries:
            if kind == "fatal":
                raise WorkerFailure(payload)
            if kind in ("generated", "done"):
                self._pending -= 1
            if payload is not None:
                events.append(payload)
        events.extend(self._enforce_deadlines())
        return events

    def _next_wake(self) -> float:
        """Seconds until the next unit's deadline plus grace (at most WAKE_S; negative when it
        has passed, which :func:`drain` turns into its shortest wait)."""
        now, wake = time.monotonic(), WAKE_S  # a unit started meanwhile is seen within WAKE_S
        for token, slot in list(self.live.items()):
            if slot.job is not None:
                wake = min(wake, token[2] + slot.job[1].timeout_s + self.kill_grace_s - now)
        return wake

    def _enforce_deadlines(self) -> list[Event]:
        events: list[Event] = []
        now = time.monotonic()
        for token, slot in list(self.live.items()):
            job = slot.job
            if job is None or now <= token[2] + job[1].timeout_s + self.kill_grace_s:
                continue
            if self.live.pop(token, None) is None:  # the unit ended just now: its thread owns it
                continue
            events.extend(self._give_up(slot, token, now))
        return events

    def _give_up(self, slot: _Slot, token: tuple, now: float) -> list[Event]:
        """Record the unit in flight as a leaked timeout, take the thread's unsent outcomes,
        queue the rest of its item again and replace the thread."""
        _name, pos, started, cpu0 = token
        task, a, _dispatch = slot.job
        slot.abandoned = True
        self.slots.remove(slot)
        self._pending -= 1
        split, index, candidate = a.item.units[pos]
        deadline = started + a.timeout_s
        self.leaks.append(_Leak((a.item.task_id, split, index, candidate), deadline, cpu0, slot))
        leaked = Outcome(a.item.task_id, split, index, candidate, "timeout", error_type="ThreadLeaked",
                         error_message="the thread backend cannot stop a thread: its work kept running",
                         queued=a.queued, started=started, ended=now, wall_s=now - started, worker=slot.name,
                         chunk=a.item.chunk_of(pos), attempt=a.attempt, leaked=True, stage=a.item.stage)
        events: list[Event] = []
        if len(slot.rec):
            events.append(slot.rec.take()[0])
        uid = a.item.uids[pos] if a.item.uids else -1
        events.append(OutcomeBatch.from_outcomes([leaked], [uid]))
        # every unit before ``pos`` is in a batch already: only the rest runs again
        rest = a.after_loss(ran=pos, in_flight=pos, accounted=a.item.units[:pos])
        if rest:
            events.append(Requeued(list(rest)))
        if sum(1 for leak in self.leaks if leak.slot.finished is None) > self.max_leaked:
            raise WorkerFailure(f"thread backend: more than {self.max_leaked} timed-out units are still "
                                "running in threads that cannot be stopped; use the process backend")
        self._add_thread()
        return events

    def late_facts(self) -> list[tuple[tuple, dict[str, Any]]]:
        """For each leaked unit: how long its work ran past the deadline and the CPU it burned."""
        facts = []
        now = time.monotonic()
        for leak in self.leaks:
            if leak.slot.finished is not None:
                ended, cpu = leak.slot.finished
                facts.append((leak.key, {"leaked_s": ended - leak.deadline, "cpu_s": cpu}))
            else:
                total = _thread_cpu_s(leak.slot.thread)
                cpu = None if total is None else max(0.0, total - leak.cpu_at_start)  # /proc counts in ticks
                facts.append((leak.key, {"leaked_s": now - leak.deadline, "cpu_s": cpu,
                                         "error_message": "still running when the run ended"}))
        return facts

    def finish_run(self) -> list[WorkerUsage]:
        """Stop the threads: queued jobs are dropped (after Ctrl-C nothing more is dispatched), a
        running unit ends first; abandoned threads are daemons and cannot be stopped."""
        self._stop[0] = True
        while True:  # jobs never started (an interrupted run) are dropped, not run
            try:
                self.work.get_nowait()
            except queue.Empty:
                break
        for _ in self.slots:
            self.work.put(None)
        for s in self.slots:
            if s.thread is not None:
                s.thread.join(timeout=5.0)
        self._cpu_of_threads = self._cpu_beside_units(self.slots + [leak.slot for leak in self.leaks])
        self.slots = []
        kept = {id(leak) for leak in STRAYS}
        STRAYS.extend(leak for leak in self.leaks if leak.slot.finished is None and id(leak) not in kept)
        # threads share the parent's CPU account, which the run measures as a whole; the
        # programs their units ran (reaped child processes) are reported here
        since, self._children0 = self._children0, None
        return children_usage(since)

    def close(self) -> list[WorkerUsage]:
        return self.finish_run() if self.slots else []

    @staticmethod
    def _cpu_readings() -> tuple[float, float, float, float]:
        """(the process's CPU clock, the calling thread's, perfkit's own threads' and the
        threads earlier runs abandoned), seconds."""
        own = sum(filter(None, map(thread_cpu_s, own_thread_clocks())))
        return time.process_time(), time.thread_time(), own, stray_threads()[1]

    def _cpu_beside_units(self, slots: list[_Slot]) -> dict[str, float]:
        """What the process's CPU since :meth:`start` was made of, beside the runner's thread:
        ``worker_threads_cpu_s``, this run's threads (units, generation and perfkit's harness
        around them), and ``solver_threads_cpu_s``, every other thread but perfkit's own and
        earlier runs' strays — the solver's (numpy's OpenBLAS pool, a thread pool of its own):
        the units' calling threads cannot see that CPU, and it is not perfkit's either. Empty
        when the start was not read. Each thread reads its own clock as it ends (to the
        nanosecond); one still running (abandoned in a unit) is read from outside."""
        if self._cpu0 is None:
            return {}
        process, runner, own, strays = (b - a for a, b in zip(self._cpu0, self._cpu_readings()))
        threads = 0.0
        for slot in slots:
            cpu = slot.cpu_at_exit_s
            if cpu is None and slot.thread is not None and slot.thread.native_id is not None:
                # None when it ended meanwhile: its own reading is there by then
                cpu = thread_cpu_s(thread_clock_id(slot.thread.native_id)) or slot.cpu_at_exit_s
            threads += cpu or 0.0
        return {"worker_threads_cpu_s": threads,
                "solver_threads_cpu_s": max(0.0, process - runner - own - strays - threads)}

    def resources(self) -> dict[str, Any]:
        return {"threads_created": self.created, "processes": 0, "leaked_threads": len(self.leaks), "unit_cpu": THREAD_CPU,
                "max_leaked": self.max_leaked, "kill_grace_s": self.kill_grace_s, **self._cpu_of_threads}
