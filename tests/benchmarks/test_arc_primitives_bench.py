"""pytest-benchmark: every ARC DSL primitive on one fixed 12×12 grid of objects (reported, not
asserted). ``--benchmark-compare-fail`` on these catches a primitive that got slower."""

from __future__ import annotations

import numpy as np
import pytest

from perfkit.model import Sample, Task
from perfkit.solvers.arc.dsl import PRIMITIVES
from perfkit.solvers.arc.solver import task_context


def _grid() -> np.ndarray:
    rng = np.random.default_rng(7)
    grid = np.zeros((12, 12), np.uint8)
    for _ in range(6):  # a few rectangles of colour: objects for the object primitives
        r, c = rng.integers(0, 9, 2)
        h, w = rng.integers(1, 4, 2)
        grid[r:r + h, c:c + w] = rng.integers(1, 10)
    return grid


GRID = _grid()
TASK = Task("bench", (Sample("bench", "demo", 0, GRID, np.rot90(GRID).copy()),), ())


@pytest.mark.parametrize("name", list(PRIMITIVES))
def test_primitive(benchmark, name):
    prim = PRIMITIVES[name]
    ctx = task_context(TASK)

    def once():
        try:
            return prim(GRID, ctx)
        except ValueError:  # a primitive may refuse this grid: that refusal is what it costs
            return None

    out = benchmark(once)
    assert out is None or (out.dtype == np.uint8 and out.ndim == 2)
