"""pytest-benchmark: dispatch overhead per backend and timeout overshoot (reported, not asserted).

    pytest tests/benchmarks --benchmark-only --benchmark-enable

``extra_info`` carries the per-unit figures; docs/benchmarks.md explains them.
"""

from __future__ import annotations

import numpy as np
import pytest
from builders import make_task

from perfkit import runner
from perfkit.model import RunConfig, TimeoutPolicy

EMPTY = {"candidates": 250, "cpu_ms": 0.0}


def _run(tmp_path, strategy, backend, workers, options, timeout=5.0, chunk=None, n_demo=7):
    config = RunConfig(solver="synthetic", tasks="bench", strategy=strategy, backend=backend, workers=workers,
                       chunk_size=chunk, timeout=TimeoutPolicy(timeout), solver_options=options)
    return runner.run(config, tmp_path, tasks=[make_task("bench", n_demo=n_demo, n_test=1)])


@pytest.mark.parametrize("backend,strategy,workers", [
    ("inline", "sequential", 1), ("thread", "candidate-parallel", 2), ("process", "candidate-parallel", 2)])
def test_dispatch_overhead_per_unit(benchmark, tmp_path, backend, strategy, workers):
    """Seconds per unit beyond the units' own running time, on empty units."""
    def once():
        return _run(tmp_path, strategy, backend, workers, EMPTY)

    run = benchmark.pedantic(once, rounds=3, iterations=1)
    units = run.units
    span = units.ended.max() - units.queued.min()
    overhead = (span * workers - units.wall_s.sum()) / len(units)
    benchmark.extra_info.update(units=len(units), overhead_us_per_unit=overhead * 1e6)
    assert len(units) == 250 * 8


@pytest.mark.parametrize("backend,kind", [("process", "hang_c"), ("process", "hang_py"), ("inline", "hang_py")])
def test_timeout_overshoot(benchmark, tmp_path, backend, kind):
    """How long after its deadline a hung unit is stopped (p50/p99 over the hangs of a run)."""
    options = {"candidates": 2, "cpu_ms": 0.1, "faults": f"{kind}:c001"}
    workers = 2 if backend == "process" else 1
    strategy = "candidate-parallel" if backend == "process" else "sequential"

    def once():
        return _run(tmp_path, strategy, backend, workers, options, timeout=0.2, chunk=2, n_demo=9)

    run = benchmark.pedantic(once, rounds=1, iterations=1)
    hung = run.units[run.units.candidate == "c001"]
    late_ms = ((hung.ended - hung.started) - 0.2) * 1000
    benchmark.extra_info.update(hangs=len(hung), p50_ms=float(np.percentile(late_ms, 50)),
                                p99_ms=float(np.percentile(late_ms, 99)))
    assert (hung.status == "timeout").all()
