"""What a strategy produces: a task's units cut into work items, grouped into stages.

Stages run one after another (a barrier between them); the work items of one stage may run in
parallel. A work item runs its units in order on one worker.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Collection, Optional, Sequence

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
    #: The stage of its task's plan the item belongs to; every outcome of the item records it.
    stage: int = 0
    #: The run's identity of each unit (aligned with ``units``): the runner de-duplicates and
    #: counts a batch of outcomes by these integers, never unit by unit (perfkit/runner/run.py).
    uids: Sequence[int] = ()
    #: For an item the runner joined from several planned items (``taper_joins``): each unit's
    #: planned item, aligned with ``units``; empty otherwise (every unit's is ``chunk``). Every
    #: outcome records its planned item, so that the figures built on the items — the ideal
    #: bound above all — are the plan's, not the joining's (docs/design.md, "Strategies").
    chunks: Sequence[int] = ()

    def chunk_of(self, pos: int) -> int:
        """The planned item (``chunk``) of the unit at position ``pos``."""
        return self.chunks[pos] if self.chunks else self.chunk

    def planned_chunks(self) -> tuple[int, ...]:
        """The planned items this item holds, in order (one unless it was joined)."""
        return tuple(dict.fromkeys(self.chunks)) if self.chunks else (self.chunk,)

    def pieces_after_loss(self, ran: int, in_flight: Optional[int] = None,
                          accounted: Collection[UnitRef] = ()) -> tuple[Optional["WorkItem"], Optional["WorkItem"]]:
        """What to queue again when the worker running this item was lost (killed or dead).

        ``units[:ran]`` had run, but their results died with the worker unless ``accounted``
        (already received): they run again as a new attempt. ``units[ran:]`` had not started:
        they run with the same attempt. The unit ``in_flight`` (its position), already recorded
        by the backend as ``timeout`` or ``crashed``, is in neither. Returns
        ``(rerun, rest)``, each None when empty. This is the one requeue rule of every backend.
        """
        skip = set(accounted)
        if in_flight is not None and 0 <= in_flight < len(self.units):
            skip.add(self.units[in_flight])
        return self._keep(range(ran), skip), self._keep(range(ran, len(self.units)), skip)

    def _keep(self, positions: range, skip: set) -> Optional["WorkItem"]:
        """The item reduced to the units at ``positions`` not in ``skip`` (their uids kept aligned)."""
        kept = [i for i in positions if self.units[i] not in skip]
        if not kept:
            return None
        uids = tuple(self.uids[i] for i in kept) if self.uids else ()
        chunks = tuple(self.chunks[i] for i in kept) if self.chunks else ()
        return replace(self, units=tuple(self.units[i] for i in kept), uids=uids, chunks=chunks)


@dataclass(frozen=True)
class Plan:
    """The stages of one task: ``stages[i]`` is a tuple of unit tuples (one per work item)."""

    stages: tuple[tuple[tuple[UnitRef, ...], ...], ...]


def auto_chunk_size(n_units: int, workers: int) -> int:
    """Default chunk: about 8 work items per worker, so the tail balances while the per-item
    dispatch cost is shared by many units; never more than 256 units (a killed worker then
    re-runs at most that many)."""
    return max(1, min(256, math.ceil(n_units / max(1, workers * 8))))


def chunked(units: Sequence[UnitRef], size: int) -> tuple[tuple[UnitRef, ...], ...]:
    """Consecutive chunks of ``size`` units."""
    return tuple(tuple(units[i : i + size]) for i in range(0, len(units), size))


def tapered(units: Sequence[UnitRef], size: int, workers: int) -> tuple[tuple[UnitRef, ...], ...]:
    """Consecutive chunks of ``size`` units until fewer than ``2 × workers`` such chunks are
    left, then shrinking (what is left / (2 × workers), down to ``size / 16``), so that the
    workers run out of work together: the idle tail at the end of a stage is a small chunk
    instead of up to a whole one (guided self-scheduling; a chunk costs ~0.1 ms,
    docs/benchmarks.md)."""
    out, i, n = [], 0, len(units)
    smallest = max(1, size // 16)
    while i < n:
        k = max(smallest, min(size, math.ceil((n - i) / (2 * max(1, workers)))))
        out.append(tuple(units[i : i + k]))
        i += k
    return tuple(out)


#: How far a joined work item may grow, in the stage's largest planned items. Each item costs
#: ~0.2–0.5 ms of CPU (the parent's and the worker's: sending it, sealing and reading its
#: batches) on top of its units; the planned chunk of a many-unit stage is sized for an even
#: tail (``auto_chunk_size``), which only the run's last stage needs. 4 cut the main job's
#: items handed out 145 → 59 and lifted its candidate-parallel efficiency 0.777 → 0.815 (median,
#: side by side; docs/benchmarks.md, "Joined items up to four planned chunks").
JOIN_LIMIT_ITEMS = 4


def join_limit(largest_units: int, stage_units: int, workers: int, chunk_size: Optional[int] = None) -> int:
    """Units a joined work item of a stage may hold: up to ``JOIN_LIMIT_ITEMS`` of its largest
    planned item, but not past half of a worker's even share of the stage (for automatic chunks
    below their 256-unit cap the two agree), so that a stage is never one worker's long item
    while the others wait; and never less than the largest planned item. A chunk size the user
    gave (``chunk_size``, "units per work item") is kept: only pieces smaller than the largest
    item join, up to it. (The figures stay the plan's either way: each unit records its planned
    item, ``WorkItem.chunk_of``.)"""
    if chunk_size:
        return largest_units
    return max(largest_units, min(JOIN_LIMIT_ITEMS * largest_units, stage_units // (2 * max(1, workers))))


def taper_joins(held_units: int, next_units: int, limit_units: int, later_work: bool) -> bool:
    """Whether the next queued piece of a stage (``next_units`` units) joins the work item
    being handed out (``held_units`` units so far) — the one rule of the runner
    (perfkit/runner/schedule.py ``Schedule.pop``) and of its simulation
    (perfkit/analysis/prediction/simulator.py).

    :func:`tapered` shrinks a stage's last pieces so that the workers run out of work together,
    and :func:`auto_chunk_size` plans ~8 items per worker for the same reason. While work of a
    later task is queued or still to come (``later_work``) nobody runs out, and each item only
    costs its own dispatch (docs/benchmarks.md §9): consecutive pieces of one stage then go out
    as one item, up to the stage's :func:`join_limit` (``limit_units``). The run's last stage
    keeps its plan."""
    return later_work and held_units + next_units <= limit_units
