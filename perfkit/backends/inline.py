"""The inline backend: every job in the calling thread, one after another.

On the main thread a unit that overruns its deadline is interrupted with SIGALRM (like
pytest-timeout's signal method): it stops pure-Python loops and ``time.sleep`` alike, though
not a C call that never returns to the interpreter. Elsewhere an overrun is recorded when the
unit returns.

One alarm, not two timer syscalls per unit: the interval timer is armed once and re-arms itself
from its handler (:func:`_on_alarm`). When it fires it looks at the unit in flight (an attribute
the unit loop sets, :class:`AlarmWatch`): past its deadline + grace, the unit gets HardTimeout;
otherwise the timer is set for exactly that unit's deadline + grace. Every arming is "now +
limit" or "a running unit's deadline + grace", both no later than the deadline + grace of any
unit that starts afterwards, so a hang is stopped exactly at deadline + KILL_GRACE_S (the bound
of docs/benchmarks.md, "A hung unit"), while a run of short units pays one alarm per
deadline-length of time instead of ~1 µs per unit.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import deque
from typing import Any, Iterator, Optional

from perfkit.backends.base import KILL_GRACE_S, Assignment, Event, Generation, Job, SolverRef, WorkerUsage, build_solver
from perfkit.backends import unit
from perfkit.backends.own_threads import own_thread_clocks
from perfkit.backends.thread import stray_threads
from perfkit.backends.usage import children_cpu_s, children_usage
from perfkit.backends.unit import PROCESS_CPU, THREAD_CPU, BatchRecorder, HardTimeout, Watch, generate, run_job
from perfkit.model import Task

#: The code of perfkit's own unit loop: a second alarm that finds it running, after the first
#: stopped the unit, is between that unit's end and its end mark.
_UNIT_LOOP = frozenset(f.__code__ for f in (run_job, unit._run_sample_level, Watch.begin, Watch.end))


class AlarmWatch(Watch):
    """The unit in flight, as the SIGALRM handler sees it: the unit loop writes its start
    into ``slot[2]`` (monotonic seconds; 0 between units)."""

    def __init__(self) -> None:
        self.slot = [0.0, -1.0, 0.0, 0.0]
        self.limit_s = 1.0 + KILL_GRACE_S
        #: The start of the unit the handler last raised HardTimeout in (0: none yet).
        self.stopped = 0.0


_WATCH: Optional[AlarmWatch] = None


def _on_alarm(signum: int, frame: Any) -> None:
    w = _WATCH
    if w is None:
        return
    started = w.slot[2]
    if not started:  # between units (or in the runner): look again one limit from now
        signal.setitimer(signal.ITIMER_REAL, w.limit_s)
        return
    left = started + w.limit_s - time.monotonic()
    if left > 0:
        signal.setitimer(signal.ITIMER_REAL, left)
        return
    # again after another grace, in case the solver swallows this one (a bare ``except:``)
    signal.setitimer(signal.ITIMER_REAL, KILL_GRACE_S)
    if w.stopped == started and frame is not None and frame.f_code in _UNIT_LOOP:
        # the HardTimeout already raised in this unit has reached perfkit's unit loop, which is
        # recording it: an overrun unit whose unwinding outlasted the grace (freeing a large
        # result on a loaded machine) had this second alarm land in the loop's own handler,
        # and it ended the whole run (docs/benchmarks.md, "Session 9")
        return
    w.stopped = started
    raise HardTimeout("stopped by SIGALRM after its deadline")


class InlineBackend:
    """Runs in the caller's thread; the reference backend for ``sequential``."""

    name = "inline"
    reusable = False

    def __init__(self, hard_timeouts: bool = True):
        self.hard_timeouts = hard_timeouts and threading.current_thread() is threading.main_thread() \
            and hasattr(signal, "setitimer")
        self._solver: Any = None
        self._jobs: deque[tuple[Task, Job]] = deque()
        self._current: Optional[Iterator[Event]] = None
        self._rec = BatchRecorder("main")
        self._watch = AlarmWatch() if self.hard_timeouts else Watch()
        self._previous_handler: Any = None
        self._dispatched = 0
        #: Which CPU is a unit's (perfkit/backends/unit.py): the process's, as on a process
        #: worker, since this process runs one unit at a time; the calling thread's while threads
        #: an earlier thread run could not stop still run here, whose CPU is not the units'.
        self.unit_cpu = PROCESS_CPU
        #: The CPU clocks of perfkit's own threads in this process (a live progress display's
        #: refresh: perfkit/backends/own_threads.py), taken out of the process's CPU per unit.
        self._beside: tuple[int, ...] = ()
        self._children0: Optional[float] = None

    def start(self, solver: SolverRef, workers: int) -> None:
        """Build the solver in this process."""
        self.unit_cpu = THREAD_CPU if stray_threads()[0] else PROCESS_CPU
        self._beside = own_thread_clocks() if self.unit_cpu == PROCESS_CPU else ()
        self._children0 = children_cpu_s()
        self._solver = build_solver(solver)

    def capacity(self) -> int:
        """One job at a time: the runner chooses the next one when this one is done."""
        return 0 if (self._jobs or self._current is not None) else 1

    def pending(self) -> int:
        return len(self._jobs) + (self._current is not None)

    def submit(self, task: Task, job: Job) -> None:
        self._jobs.append((task, job))

    def collect(self, wait_s: float) -> list[Event]:
        """Run the current job until it has a batch to hand over (FLUSH_INTERVAL_S of units, or
        its end), then return it: outcomes reach the store while a long job goes on."""
        while True:
            if self._current is None:
                if not self._jobs:
                    return []
                task, job = self._jobs.popleft()
                self._current = self._run(task, job)
            try:
                return [next(self._current)]
            except StopIteration:
                self._current = None

    def _run(self, task: Task, job: Job) -> Iterator[Event]:
        if isinstance(job, Generation):
            yield generate(self._solver, task, job, "main", self.unit_cpu, self._beside)
            return
        a: Assignment = job
        self._dispatched += 1
        if self.hard_timeouts:
            self._arm(a.timeout_s)
        for _ in run_job(self._solver, task, self._dispatched, a, self._rec, self._watch, self.unit_cpu,
                         self._beside):
            yield self._rec.take()[0]
        if len(self._rec):
            yield self._rec.take()[0]

    def _arm(self, timeout_s: float) -> None:
        """Install the handler and start the self-re-arming alarm (once per run)."""
        global _WATCH
        self._watch.limit_s = timeout_s + KILL_GRACE_S
        if self._previous_handler is None:
            self._previous_handler = signal.signal(signal.SIGALRM, _on_alarm)
            _WATCH = self._watch
            signal.setitimer(signal.ITIMER_REAL, self._watch.limit_s)

    def _disarm(self) -> None:
        global _WATCH
        if self._previous_handler is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._previous_handler)
            self._previous_handler = None
            _WATCH = None

    def finish_run(self) -> list[WorkerUsage]:
        """The inline 'worker' is the parent itself: its CPU is counted as the parent's; the
        programs its units ran (reaped child processes) are reported here."""
        self._disarm()
        self._jobs.clear()
        self._current = None
        since, self._children0 = self._children0, None
        return children_usage(since)

    def close(self) -> list[WorkerUsage]:
        return self.finish_run()

    def resources(self) -> dict[str, Any]:
        return {"threads": 0, "processes": 0, "hard_timeouts": self.hard_timeouts, "unit_cpu": self.unit_cpu,
                "perfkit_threads_beside": len(self._beside)}
