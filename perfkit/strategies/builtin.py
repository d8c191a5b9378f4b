"""The four built-in strategies (docs/design.md, "Strategies"). Each is a pure function of the task's grid of units."""

from __future__ import annotations

from typing import Optional, Sequence

from perfkit.model import Plan, UnitRef, auto_chunk_size, chunked, tapered

Samples = Sequence[tuple[str, int]]


def _grid(samples: Samples, candidates: Sequence[str]) -> list[list[UnitRef]]:
    return [[(split, index, c) for c in candidates] for split, index in samples]


def sequential(samples: Samples, candidates: Sequence[str], workers: int, chunk_size: Optional[int]) -> Plan:
    """Everything in order as one work item: the reference for speedups and answers."""
    units = tuple(u for row in _grid(samples, candidates) for u in row)
    return Plan(stages=((units,),))


def sample_parallel(samples: Samples, candidates: Sequence[str], workers: int, chunk_size: Optional[int]) -> Plan:
    """One work item per sample with all its candidates in order; samples run in parallel."""
    return Plan(stages=(tuple(tuple(row) for row in _grid(samples, candidates)),))


def candidate_parallel(samples: Samples, candidates: Sequence[str], workers: int, chunk_size: Optional[int]) -> Plan:
    """Chunks of (sample, candidate) units over the whole task; no barrier between samples.
    The automatic chunks shrink towards the end of the task so the workers finish together."""
    units = [u for row in _grid(samples, candidates) for u in row]
    return Plan(stages=(_chunks(units, workers, chunk_size),))


def _chunks(units: Sequence[UnitRef], workers: int, chunk_size: Optional[int]) -> tuple[tuple[UnitRef, ...], ...]:
    """The given chunk size as it is; the automatic one tapered at the end of the stage."""
    if chunk_size:
        return chunked(units, chunk_size)
    return tapered(units, auto_chunk_size(len(units), workers), workers)


def hybrid(samples: Samples, candidates: Sequence[str], workers: int, chunk_size: Optional[int]) -> Plan:
    """Samples one after another (a barrier after each); a sample's candidates in parallel chunks."""
    stages = []
    for row in _grid(samples, candidates):
        stages.append(_chunks(row, workers, chunk_size))
    return Plan(stages=tuple(stages))
