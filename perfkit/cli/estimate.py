"""How far a run has got and how long it has left: the arithmetic behind the progress bar,
on an injected clock so that it is tested without waiting.

The total is known from the start up to one unknown: each task's candidate count, known only
once its candidates are generated. Until then a task counts as its samples × the mean
candidates per task seen so far, so the bar's total is an estimate that settles as tasks start
(it never starts at 0/0), and it is exact once every task has started. The ETA is the remaining
units at the rate measured so far (units done / seconds since the first unit was planned).
"""

from __future__ import annotations

import time
from typing import Callable, Optional, Sequence


class RunEstimate:
    """Units and tasks done, the total (exact or estimated) and the ETA of one run."""

    def __init__(self, samples_per_task: Sequence[int], clock: Callable[[], float] = time.monotonic,
                 done_before: int = 0):
        self.samples = list(samples_per_task)
        self.clock = clock
        self.started: dict[int, int] = {}   # task index -> its units (known once it starts)
        self.candidates: list[int] = []     # candidates of every started task
        self.tasks_done = 0
        self.done = 0
        self.done_before = done_before      # a resumed run's units already recorded
        self.t0: Optional[float] = None

    @property
    def tasks(self) -> int:
        """How many tasks the run has."""
        return len(self.samples)

    def task_started(self, index: int, n_candidates: int, n_units: int) -> None:
        """Task ``index`` starts with ``n_candidates`` candidates and ``n_units`` units to run."""
        if self.t0 is None:
            self.t0 = self.clock()
        if index > 0:
            self.tasks_done = max(self.tasks_done, index)
        self.started[index] = n_units
        self.candidates.append(n_candidates)

    def outcomes(self, n: int) -> None:
        """``n`` more outcomes were recorded."""
        self.done += n

    def finished(self, units: int) -> None:
        """The run ended with ``units`` outcomes recorded this session: the last frame says so."""
        self.done = units
        self.tasks_done = self.tasks
        self.started = {i: 0 for i in range(self.tasks)}
        self.started[0] = units

    @property
    def total(self) -> int:
        """Units of the started tasks, plus samples × mean candidates for the others."""
        known = sum(self.started.values())
        rest = [n for i, n in enumerate(self.samples) if i not in self.started]
        if not rest:
            return known
        mean = sum(self.candidates) / len(self.candidates) if self.candidates else 0.0
        return known + round(sum(rest) * mean)

    @property
    def exact(self) -> bool:
        """True once every task's candidates are known."""
        return len(self.started) >= self.tasks

    def eta_s(self) -> Optional[float]:
        """Seconds left at the rate so far; None before the first outcome."""
        if self.t0 is None or self.done <= 0:
            return None
        elapsed = self.clock() - self.t0
        return max(0.0, (self.total - self.done) * elapsed / self.done)


def format_eta(seconds: Optional[float]) -> str:
    """``ETA 1:05``, ``ETA 1:02:03``; ``ETA –`` when unknown."""
    if seconds is None:
        return "ETA –"
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"ETA {h}:{m:02d}:{sec:02d}" if h else f"ETA {m}:{sec:02d}"
