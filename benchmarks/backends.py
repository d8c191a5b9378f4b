"""Backend benchmarks behind docs/benchmarks.md: efficiency on CPU-bound units, dispatch overhead
per unit, and how quickly a hung unit is stopped.

    python benchmarks/backends.py efficiency     # strategies × unit sizes vs ProcessPoolExecutor.map
    python benchmarks/backends.py overhead       # per-unit dispatch cost of every backend
    python benchmarks/backends.py hangs          # p50/p99 stop latency over 50 hangs

Each prints a Markdown table. Figures come from perfkit's own run store (unit CPU, run wall),
so the benchmark measures exactly what the reports show.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from perfkit import runner  # noqa: E402
from perfkit.model import RunConfig, Sample, Task, TimeoutPolicy, grid_hash  # noqa: E402
from perfkit.runner.environment import usable_cores  # noqa: E402
from perfkit.solvers.synthetic import SyntheticSolver  # noqa: E402


def make_tasks(n_tasks: int, n_samples: int) -> list[Task]:
    rng = np.random.default_rng(0)
    out = []
    for t in range(n_tasks):
        tid = f"b{t:03d}"
        samples = [Sample(tid, "demo", i, rng.integers(0, 10, (6, 6)).astype(np.uint8)) for i in range(n_samples)]
        out.append(Task(tid, tuple(samples), ()))
    return out


def perfkit_run(store: Path, tasks, strategy, backend, workers, options, chunk=None, timeout=5.0):
    config = RunConfig(solver="synthetic", tasks="bench", strategy=strategy, backend=backend, workers=workers,
                       chunk_size=chunk, timeout=TimeoutPolicy(timeout), solver_options=options)
    return runner.run(config, store, tasks=tasks)


_SOLVER = None


def _pool_init(options):
    global _SOLVER
    _SOLVER = SyntheticSolver(**options)


def _pool_unit(args):
    task, split, index, cand = args
    out = _SOLVER.evaluate(task, task.sample(split, index), cand, time.monotonic() + 60)
    return grid_hash(out)


def pool_map_wall(tasks, options, workers) -> float:
    """The hand-written baseline: ProcessPoolExecutor.map with chunksize = units / (8 × workers)."""
    solver = SyntheticSolver(**options)
    t0 = time.monotonic()
    with ProcessPoolExecutor(workers, initializer=_pool_init, initargs=(options,)) as pool:
        for task in tasks:
            args = [(task, s.split, s.index, c) for s in task.samples for c in solver.candidates(task)]
            list(pool.map(_pool_unit, args, chunksize=max(1, len(args) // (8 * workers))))
    return time.monotonic() - t0


def efficiency(store: Path) -> None:
    workers = usable_cores()
    print(f"| unit CPU (measured, sequential) | units | strategy | sequential CPU s | ideal s | wall s | efficiency | "
          f"ProcessPoolExecutor.map wall s |")
    print("|---|---|---|---|---|---|---|---|")
    for cpu_ms, n_candidates, n_samples in [(0.015, 2000, 50), (0.3, 500, 20), (5.0, 40, 15)]:
        tasks = make_tasks(1, n_samples)
        options = {"candidates": n_candidates, "cpu_ms": cpu_ms}
        seq = perfkit_run(store, tasks, "sequential", "inline", 1, options)
        seq_cpu = seq.units.cpu_s.sum()
        ideal = seq_cpu / min(workers, usable_cores())
        pool_wall = pool_map_wall(tasks, options, workers)
        for strategy in ["candidate-parallel", "hybrid", "sample-parallel"]:
            run = perfkit_run(store, tasks, strategy, "process", workers, options)
            wall = run.summary["wall_s"]
            print(f"| {seq_cpu / len(seq.units) * 1e6:.0f} µs | {len(seq.units)} | {strategy} | {seq_cpu:.2f} | {ideal:.2f} | "
                  f"{wall:.2f} | {ideal / wall:.2f} | {pool_wall:.2f} |")


def overhead(store: Path) -> None:
    """Per-unit cost of getting a unit done beyond its own running time: (wall × workers −
    Σ unit wall) / units, on empty units (cpu_ms = 0)."""
    workers = usable_cores()
    tasks = make_tasks(1, 40)
    options = {"candidates": 500, "cpu_ms": 0.0}
    print("| backend | strategy | chunk | units | wall s | overhead µs/unit (amortised) |")
    print("|---|---|---|---|---|---|")
    for backend, strategy, chunk, w in [("inline", "sequential", None, 1), ("thread", "candidate-parallel", None, workers),
                                        ("process", "candidate-parallel", None, workers),
                                        ("process", "candidate-parallel", 1, workers),
                                        ("process", "candidate-parallel", 64, workers),
                                        ("process", "candidate-parallel", 1024, workers)]:
        if chunk == 1:
            small = make_tasks(1, 4)
            run = perfkit_run(store, small, strategy, backend, w, {"candidates": 500, "cpu_ms": 0.0}, chunk)
        else:
            run = perfkit_run(store, tasks, strategy, backend, w, options, chunk)
        units = run.units
        stage_wall = units.ended.max() - units.queued.min()  # the units' own span: start-up excluded
        per_unit = (stage_wall * w - units.wall_s.sum()) / len(units)
        print(f"| {backend} | {strategy} | {chunk or 'auto'} | {len(units)} | {run.summary['wall_s']:.2f} | "
              f"{per_unit * 1e6:.1f} |")


def hangs(store: Path, n: int = 50, timeout_s: float = 0.2) -> None:
    """``n`` units that sleep for an hour (blocked in C) and ``n`` that spin in Python: how long
    after the deadline is each stopped, and what does it cost the run."""
    workers = usable_cores()
    print("| backend | hang | hangs | timeout s | stop after deadline p50 ms | p99 ms | max ms | run wall s |")
    print("|---|---|---|---|---|---|---|---|")
    for backend in ["process", "inline"]:
        for kind in ["hang_c", "hang_py"]:
            tasks = make_tasks(1, n)
            options = {"candidates": 2, "cpu_ms": 0.1, "faults": f"{kind}:c001"}
            w = workers if backend == "process" else 1
            strategy = "candidate-parallel" if backend == "process" else "sequential"
            run = perfkit_run(store, tasks, strategy, backend, w, options, chunk=2, timeout=timeout_s)
            hung = run.units[run.units.candidate == "c001"]
            late = ((hung.ended - hung.started) - timeout_s) * 1000
            q = np.percentile(late, [50, 99])
            print(f"| {backend} | {kind} | {len(hung)} | {timeout_s} | {q[0]:.1f} | {q[1]:.1f} | {late.max():.1f} | "
                  f"{run.summary['wall_s']:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["efficiency", "overhead", "hangs", "all"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp)
        for name in (["efficiency", "overhead", "hangs"] if args.what == "all" else [args.what]):
            print(f"\n## {name}\n")
            globals()[name](store)


if __name__ == "__main__":
    main()
