"""pytest-benchmark: dispatch overhead per backend and timeout overshoot (reported, not asserted).

    pytest tests/benchmarks --benchmark-only --benchmark-enable

``extra_info`` carries the per-unit figures; docs/benchmarks.md explains them.
"""

from __future__ import annotations

import numpy as np
import pytest
from builders import make_task

from perfkit import runner
from perfkit.backends.unit import BatchRecorder, run_job
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


# -- the hot path, piece by piece (per unit; docs/benchmarks.md "Harness cost per unit") ------

def _empty_job(n_units: int = 1024):
    """A trivial solver (returns a constant 4×4 grid) and one job of ``n_units`` units."""
    import time as _time

    from perfkit.backends import Assignment
    from perfkit.model import Sample, Task, WorkItem

    grid = np.zeros((4, 4), np.uint8)

    class Constant:
        def evaluate(self, task, sample, candidate, deadline):
            return grid

    task = Task("t", tuple(Sample("t", "demo", i, grid, grid) for i in range(4)), ())
    units = tuple(("demo", i % 4, f"c{i:04d}") for i in range(n_units))
    item = WorkItem(1, "t", units, False, 0, range(n_units))
    return Constant(), task, Assignment(item, _time.monotonic(), 60.0)


def _recorded(solver, task, a):
    """A recorder holding every unit of ``a`` run by the worker's loop (none sent)."""
    rec = BatchRecorder("w", flush_interval_s=3600.0, flush_units=1 << 30)
    for _ in run_job(solver, task, 1, a, rec):
        pass
    return rec


def test_unit_loop_per_unit(benchmark):
    """The worker's loop: time, run, hash, record into columns (no send), per 1024 units."""
    rec = benchmark(_recorded, *_empty_job())
    assert len(rec) == 1024
    benchmark.extra_info.update(units=1024)


def test_batch_take_per_unit(benchmark):
    """Turning 1024 recorded units into a columnar batch (keys, constants, arrays)."""
    job = _empty_job()
    batch, _ = benchmark.pedantic(lambda rec: rec.take(), setup=lambda: ((_recorded(*job),), {}), rounds=50)
    assert len(batch) == 1024


def test_store_append_batch_per_unit(benchmark, tmp_path):
    """The parent's store write of a 1024-unit batch (one units.jsonl line)."""
    from perfkit.store import RunWriter

    batch, _ = _recorded(*_empty_job()).take()
    writer = RunWriter.create(tmp_path, "run", {})
    benchmark(writer.append_batch, batch)


def test_output_hash(benchmark):
    """Validating and hashing one 6×6 output grid (the same hash as grid_hash)."""
    from perfkit.model import grid_hash, output_hash

    grid = np.random.default_rng(0).integers(0, 10, (6, 6)).astype(np.uint8)
    assert benchmark(output_hash, grid) == grid_hash(grid)


def test_parent_reads_a_rows_message(benchmark):
    """The parent's side of one 1024-unit batch on the process backend, as a worker sends it
    since session 16 (its rows as recorded, ``BatchRecorder.rows``; the sealed batch it sent
    before is the Dask workers' only): the worker's single write (_Post), then the parent's
    non-blocking read and unpickling (read_messages)."""
    import socket

    from perfkit.backends.process import _Post, read_messages

    msg = ("rows", _recorded(*_empty_job()).rows(), (1,), None, 0.0)
    parent, child = socket.socketpair()
    post = _Post(child)
    inbox, scratch = bytearray(), bytearray(1 << 18)

    def one():
        post(msg)
        return read_messages(parent, inbox, scratch)[0]

    messages = benchmark(one)
    assert len(messages) == 1 and len(messages[0][1][2]) == 1024 and not inbox
    for s in (parent, child, post.sock):
        s.close()


@pytest.mark.parametrize("units", [32, 1024])
def test_parent_makes_encodes_and_counts_a_batch_from_rows(benchmark, units):
    """What the process backend's parent does with each batch of rows (docs/benchmarks.md,
    "Session 17: the parent's cost per batch"): make the batch from the job it holds
    (``rows_batch``), encode it for units.jsonl and count its statuses. 32 units is about a
    20 ms batch of ~0.5 ms units; 1024 is FLUSH_UNITS, a batch of empty units."""
    from perfkit.backends.unit import rows_batch

    solver, task, a = _empty_job(units)
    rows = _recorded(solver, task, a).rows()

    def once():
        batch, _progress = rows_batch(rows, {1: a}.__getitem__)
        return batch, batch.encode(), batch.status_counts()

    batch, _encoded, counts = benchmark(once)
    assert counts == {"ok": units}
    benchmark.extra_info.update(units=units)
