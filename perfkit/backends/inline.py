"""The inline backend: every item in the calling thread, one after another.

On the main thread a unit that overruns its deadline is interrupted with SIGALRM (like
pytest-timeout's signal method): it stops pure-Python loops and ``time.sleep`` alike, though
not a C call that never returns to the interpreter. Elsewhere an overrun is recorded when the
unit returns.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from typing import Any, Iterator

from perfkit.backends.base import KILL_GRACE_S, Assignment, SolverRef, WorkerUsage, build_solver
from perfkit.backends.unit import HardTimeout, iter_item
from perfkit.model import Outcome, Task


def _raise_hard_timeout(signum: int, frame: Any) -> None:
    # a signal delivered just as the unit ended runs its handler late: ignore it then
    if AlarmGuard.armed:
        raise HardTimeout("stopped by SIGALRM after its deadline")


class AlarmGuard:
    """Interrupts a unit with HardTimeout at its deadline + grace (monotonic seconds).

    Only arms and disarms the timer (two setitimer calls, ~1 µs): the handler is installed
    once per stage by :func:`alarm_handler`, and a generator-based context manager would cost
    more than a short unit.
    """

    armed = False

    @classmethod
    def arm(cls, deadline: float) -> None:
        cls.armed = True
        signal.setitimer(signal.ITIMER_REAL, max(1e-4, deadline - time.monotonic() + KILL_GRACE_S))

    @classmethod
    def disarm(cls) -> None:
        cls.armed = False
        signal.setitimer(signal.ITIMER_REAL, 0)


@contextlib.contextmanager
def alarm_handler() -> Iterator[None]:
    """Install the SIGALRM handler for the duration of a stage, then restore the previous one."""
    previous = signal.signal(signal.SIGALRM, _raise_hard_timeout)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class InlineBackend:
    """Runs in the caller's thread; the reference backend for ``sequential``."""

    name = "inline"

    def __init__(self, hard_timeouts: bool = True):
        self.hard_timeouts = hard_timeouts and threading.current_thread() is threading.main_thread() \
            and hasattr(signal, "setitimer")
        self._solver: Any = None
        self._cpu0 = 0.0

    def start(self, solver: SolverRef, workers: int) -> None:
        """Build the solver in this process."""
        self._solver = build_solver(solver)
        self._cpu0 = time.thread_time()

    def run_stage(self, task: Task, assignments: list[Assignment]) -> Iterator[Outcome]:
        """Run the assignments in order, yielding outcomes as each unit ends."""
        if not self.hard_timeouts:
            for a in assignments:
                for _unit, outcomes in iter_item(self._solver, task, a, "main"):
                    yield from outcomes
            return
        with alarm_handler():
            for a in assignments:
                for _unit, outcomes in iter_item(self._solver, task, a, "main", guard=AlarmGuard):
                    yield from outcomes

    def close(self) -> list[WorkerUsage]:
        """The inline 'worker' is the parent itself: its CPU is counted as the parent's."""
        return []

    def resources(self) -> dict[str, Any]:
        return {"threads": 0, "processes": 0, "hard_timeouts": self.hard_timeouts}
