"""Breadth-first enumeration of programs, pruned by observational equivalence on the demos.

Two programs that produce the same outputs on every demo input cannot be told apart by the
task, so only the first one found (shortest, then registry order) is kept and extended. A
program that fails on some demo input, or that leaves every demo input unchanged, is dropped
too. Equivalence keys are tuples of :func:`perfkit.model.grid_hash` strings, which are the
same in every process (unlike ``hash()``, which depends on PYTHONHASHSEED); they are only
used for membership, never iterated, so the order of the result is the deterministic BFS
order: depth 1 in registry order, then each kept program extended in registry order.
"""

from __future__ import annotations

import itertools
from typing import Iterable, Optional, Sequence

import numpy as np

from perfkit.model import grid_hash
from perfkit.solvers.arc.dsl import PRIMITIVES, TaskContext
from perfkit.solvers.arc.program import Program

#: Depth giving a few hundred to a couple of thousand candidates per task with the DSL.
DEFAULT_DEPTH = 2


def outputs_key(outputs: Iterable[np.ndarray]) -> tuple[str, ...]:
    """The observational-equivalence key of a tuple of outputs (stable across processes)."""
    return tuple(grid_hash(o) for o in outputs)


def enumerate_programs(
    inputs: Sequence[np.ndarray],
    ctx: TaskContext | None = None,
    depth: int = DEFAULT_DEPTH,
    *,
    prune: bool = True,
    limit: Optional[int] = None,
    names: Optional[Sequence[str]] = None,
) -> list[Program]:
    """Programs of 1..``depth`` primitives, in BFS order.

    With ``prune`` (the default) each program is run on ``inputs`` (the demo inputs) and kept
    only when it succeeds on all of them, is not the identity on all of them and produces
    outputs no earlier program produced; only kept programs are extended. Without ``prune``
    every composition is listed and nothing runs (the size of the unpruned space). ``limit``
    stops after that many programs; ``names`` restricts the primitives (registry order is kept
    when it is None).
    """
    if depth < 1:
        raise ValueError(f"depth must be >= 1, not {depth}")
    names = list(PRIMITIVES) if names is None else list(names)
    if not prune:
        out: list[Program] = []
        for d in range(1, depth + 1):
            for program in itertools.product(names, repeat=d):
                if limit is not None and len(out) >= limit:
                    return out
                out.append(program)
        return out

    grids = [np.asarray(g, dtype=np.uint8) for g in inputs]
    # Seeding with the inputs' key drops every program that is the identity on all demos.
    seen: set[tuple[str, ...]] = {outputs_key(grids)}
    kept: list[Program] = []
    frontier: list[tuple[Program, list[np.ndarray]]] = [((), grids)]
    for _ in range(depth):
        next_frontier: list[tuple[Program, list[np.ndarray]]] = []
        for prefix, prefix_outputs in frontier:
            for name in names:
                prim = PRIMITIVES[name]
                try:
                    outputs = [prim(g, ctx) for g in prefix_outputs]
                except ValueError:
                    continue  # fails on a demo input: can never solve the task
                key = outputs_key(outputs)
                if key in seen:
                    continue
                seen.add(key)
                program = prefix + (name,)
                kept.append(program)
                if limit is not None and len(kept) >= limit:
                    return kept
                next_frontier.append((program, outputs))
        frontier = next_frontier
    return kept
