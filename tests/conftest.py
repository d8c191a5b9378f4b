"""Shared fixtures: small hand-made tasks and a helper to run perfkit through its Python API."""

from __future__ import annotations

import numpy as np
import pytest

from perfkit.model import RunConfig, Sample, Task, TimeoutPolicy

KEY = ["task_id", "split", "index", "candidate"]


def make_task(task_id: str, n_demo: int = 3, n_test: int = 1, seed: int = 0) -> Task:
    """A task of random 4×4 grids whose outputs are the inputs rotated (candidate c000 solves it)."""
    rng = np.random.default_rng(seed)

    def sample(split: str, i: int) -> Sample:
        grid = rng.integers(0, 10, (4, 4)).astype(np.uint8)
        return Sample(task_id, split, i, grid, np.rot90(grid).astype(np.uint8))

    return Task(task_id, tuple(sample("demo", i) for i in range(n_demo)),
                tuple(sample("test", i) for i in range(n_test)))


@pytest.fixture
def tasks() -> list[Task]:
    return [make_task("t1", seed=1), make_task("t2", seed=2)]


def synthetic_config(strategy: str = "sequential", backend: str = "inline", workers: int = 2,
                     timeout_s: float = 1.0, **options) -> RunConfig:
    """A run of the synthetic solver with ``options`` (candidates, cpu_ms, faults, ...)."""
    opts = {"candidates": 8, "cpu_ms": 0.5}
    opts.update(options)
    return RunConfig(solver="synthetic", tasks="hand-made", strategy=strategy, backend=backend,
                     workers=1 if strategy == "sequential" and backend == "inline" else workers,
                     timeout=TimeoutPolicy(timeout_s), solver_options=opts)
