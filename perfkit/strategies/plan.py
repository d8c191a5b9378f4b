"""What a strategy produces: a task's units cut into work items, grouped into stages.

Stages run one after another (a barrier between them); the work items of one stage may run in
parallel. A work item runs its units in order on one worker.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

#: (split, index, candidate): one unit of a task.
UnitRef = tuple[str, int, str]


@dataclass(frozen=True)
class WorkItem:
    """A chunk of units of one task that one worker runs in order."""

    chunk: int
    task_id: str
    units: tuple[UnitRef, ...]
    #: Opaque solvers: each unit is a whole sample (``candidate == WHOLE_SAMPLE``).
    sample_level: bool = False

    def without(self, done: set[UnitRef]) -> "WorkItem":
        """The same item minus the units already accounted for."""
        return WorkItem(self.chunk, self.task_id, tuple(u for u in self.units if u not in done), self.sample_level)


@dataclass(frozen=True)
class Plan:
    """The stages of one task: ``stages[i]`` is a list of unit lists (one per work item)."""

    stages: tuple[tuple[tuple[UnitRef, ...], ...], ...]

    @property
    def unit_count(self) -> int:
        return sum(len(item) for stage in self.stages for item in stage)


def auto_chunk_size(n_units: int, workers: int) -> int:
    """Default chunk: about 8 work items per worker, so the tail balances while the per-item
    dispatch cost is shared by many units; never more than 256 units (a killed worker then
    re-runs at most that many)."""
    return max(1, min(256, math.ceil(n_units / max(1, workers * 8))))


def chunked(units: Sequence[UnitRef], size: int) -> tuple[tuple[UnitRef, ...], ...]:
    """Consecutive chunks of ``size`` units."""
    return tuple(tuple(units[i : i + size]) for i in range(0, len(units), size))
