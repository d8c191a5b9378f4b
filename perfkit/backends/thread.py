"""The thread backend: N threads in the parent process.

Python cannot stop a running thread. A unit past its deadline + grace is therefore recorded as
a ``timeout`` marked ``leaked``; its thread is abandoned (it keeps running, and keeps the GIL
busy if it is pure Python) and a replacement thread takes its place, so the run goes on. When
the run ends, each leaked unit is amended with how long its work kept running after the
deadline and the CPU it burned (read from the thread's own CPU clock). The number of leaked
threads is bounded: past ``max_leaked`` the run stops with a clear error.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

import psutil

from perfkit.backends.base import KILL_GRACE_S, Assignment, SolverRef, WorkerFailure, WorkerUsage, build_solver
from perfkit.backends.unit import iter_item
from perfkit.model import Outcome, Task

#: Longest the watcher waits without looking at the slots (seconds).
WAKE_S = 0.03


@dataclass
class _Slot:
    name: str
    assignment: Optional[Assignment] = None
    pos: int = -1
    started: float = 0.0
    abandoned: bool = False
    thread: Optional[threading.Thread] = None
    accounted: set = field(default_factory=set)
    #: Set when an abandoned unit finally returns: (ended, thread CPU seconds of the unit).
    finished: Optional[tuple[float, float]] = None
    cpu_at_start: float = 0.0
    #: Makes "the unit ended" (thread) and "the unit is abandoned" (watcher) mutually exclusive.
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class _Leak:
    key: tuple
    deadline: float
    slot: _Slot


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

    def __init__(self, kill_grace_s: float = KILL_GRACE_S, max_leaked: Optional[int] = None):
        self.kill_grace_s = kill_grace_s
        self.max_leaked = max_leaked
        self.work: queue.Queue = queue.Queue()
        self.results: queue.Queue = queue.Queue()
        self.slots: list[_Slot] = []
        self.leaks: list[_Leak] = []
        self.created = 0
        self._solver: Any = None
        self._task: Optional[Task] = None
        #: Set at close: threads finish the unit they run and take no further unit or item.
        self._stopping = threading.Event()

    def start(self, solver: SolverRef, workers: int) -> None:
        """Build the solver once and start ``workers`` threads."""
        self._solver = build_solver(solver)
        self.max_leaked = self.max_leaked if self.max_leaked is not None else 4 * workers
        for _ in range(workers):
            self._add_thread()

    def _add_thread(self) -> None:
        self.created += 1
        slot = _Slot(f"thread-{self.created}")
        slot.thread = threading.Thread(target=self._loop, args=(slot,), name=f"perfkit-{slot.name}", daemon=True)
        self.slots.append(slot)
        slot.thread.start()

    def _loop(self, slot: _Slot) -> None:
        while True:
            a = self.work.get()
            if a is None or self._stopping.is_set():
                return
            slot.assignment, slot.accounted = a, set()

            def on_start(pos: int, started: float) -> None:
                with slot.lock:
                    slot.pos, slot.started, slot.cpu_at_start = pos, started, time.thread_time()

            for unit, outcomes in iter_item(self._solver, self._task, a, slot.name, on_start):
                if self._stopping.is_set():  # the run is over (Ctrl-C): its outcome has no reader
                    return
                with slot.lock:
                    if slot.abandoned:  # declared a timeout meanwhile: note how it ended, then leave
                        slot.finished = (time.monotonic(), time.thread_time() - slot.cpu_at_start)
                        return
                    slot.started = 0.0
                    self.results.put(("unit", slot, (unit, outcomes)))

    def run_stage(self, task: Task, assignments: list[Assignment]) -> Iterator[Outcome]:
        """Queue the stage's items and yield outcomes until every unit is accounted for."""
        self._task = task
        remaining = {a.item.chunk: len(a.item.units) for a in assignments}
        outstanding = sum(remaining.values())
        for a in assignments:
            self.work.put(a)
        while outstanding:
            try:
                kind, slot, payload = self.results.get(timeout=self._next_wake())
            except queue.Empty:
                kind = None
            if kind == "unit":  # sent before any abandonment (the slot lock orders the two)
                unit, outcomes = payload
                slot.accounted.add(unit)
                outstanding -= 1
                yield from outcomes
            for o in self._enforce_deadlines():
                outstanding -= 1
                yield o

    def _next_wake(self) -> float:
        now, wake = time.monotonic(), WAKE_S  # a unit started meanwhile is seen within WAKE_S
        for s in self.slots:
            if s.started and not s.abandoned and s.assignment is not None:
                wake = min(wake, s.started + s.assignment.timeout_s + self.kill_grace_s - now)
        return max(0.001, wake)

    def _enforce_deadlines(self) -> Iterator[Outcome]:
        now = time.monotonic()
        for s in list(self.slots):
            with s.lock:
                a, started, pos = s.assignment, s.started, s.pos
                if a is None or not started or now <= started + a.timeout_s + self.kill_grace_s:
                    continue
                s.abandoned = True
            self.slots.remove(s)
            split, index, candidate = a.item.units[pos]
            deadline = started + a.timeout_s
            self.leaks.append(_Leak((a.item.task_id, split, index, candidate), deadline, s))
            yield Outcome(a.item.task_id, split, index, candidate, "timeout", error_type="ThreadLeaked",
                          error_message="the thread backend cannot stop a thread: its work kept running",
                          queued=a.queued, started=started, ended=now, wall_s=now - started, worker=s.name,
                          chunk=a.item.chunk, attempt=a.attempt, leaked=True)
            # a thread's results are never lost: every unit before ``pos`` is accounted for
            for piece in a.after_loss(ran=pos, in_flight=pos, accounted=s.accounted):
                self.work.put(piece)
            if sum(1 for leak in self.leaks if leak.slot.finished is None) > self.max_leaked:
                raise WorkerFailure(f"thread backend: more than {self.max_leaked} timed-out units are still "
                                    "running in threads that cannot be stopped; use the process backend")
            self._add_thread()

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
                cpu = None if total is None else max(0.0, total - leak.slot.cpu_at_start)  # /proc counts in ticks
                facts.append((leak.key, {"leaked_s": now - leak.deadline, "cpu_s": cpu,
                                         "error_message": "still running when the run ended"}))
        return facts

    def close(self) -> list[WorkerUsage]:
        """Stop the threads: queued items are dropped (after Ctrl-C nothing more is dispatched),
        a running unit ends first; abandoned threads are daemons and cannot be stopped."""
        self._stopping.set()
        while True:
            try:
                self.work.get_nowait()
            except queue.Empty:
                break
        for _ in self.slots:
            self.work.put(None)
        for s in self.slots:
            if s.thread is not None:
                s.thread.join(timeout=5.0)
        self.slots = []
        return []  # threads share the parent's CPU account, which the run measures as a whole

    def resources(self) -> dict[str, Any]:
        return {"threads_created": self.created, "processes": 0, "leaked_threads": len(self.leaks),
                "max_leaked": self.max_leaked, "kill_grace_s": self.kill_grace_s}
