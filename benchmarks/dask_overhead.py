"""Dispatch overhead per unit and efficiency: the Dask backend vs the process backend.

    python benchmarks/dask_overhead.py                 # the table of docs/benchmarks-dask.md
    python benchmarks/dask_overhead.py --units 1024 --chunks 1 16 --backends dask

For each backend × chunk size it runs the synthetic solver under ``candidate-parallel`` with 2
workers through the real runner, twice: ``cpu_ms=0`` (pure dispatch: every unit is ~50 µs of
output hashing) and ``cpu_ms=1``. Times come from the stored units, so cluster start-up is
excluded: stage wall = last ``ended`` - first ``queued``.

- overhead per unit = (stage wall - ideal) / units, ideal = Σ unit CPU / min(workers, cores)
- efficiency = ideal / stage wall
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from perfkit import runner  # noqa: E402
from perfkit.model import RunConfig, Sample, Task, TimeoutPolicy  # noqa: E402


def make_tasks(n_samples: int) -> list[Task]:
    rng = np.random.default_rng(0)
    samples = []
    for i in range(n_samples):
        g = rng.integers(0, 10, (6, 6)).astype(np.uint8)
        samples.append(Sample("bench", "demo", i, g, np.rot90(g).copy()))
    return [Task("bench", tuple(samples), ())]


def measure(backend: str, chunk: int, units: int, cpu_ms: float, workers: int, store: Path) -> dict:
    n_samples = 2
    candidates = units // n_samples
    cfg = RunConfig(solver="synthetic", tasks="bench", strategy="candidate-parallel", backend=backend,
                    workers=workers, chunk_size=chunk, timeout=TimeoutPolicy(30.0),
                    solver_options={"candidates": candidates, "cpu_ms": cpu_ms})
    t0 = time.monotonic()
    run = runner.run(cfg, store_dir=store, tasks=make_tasks(n_samples))
    total = time.monotonic() - t0
    u = run.units
    assert len(u) == units and (u.status == "ok").all(), u.status.value_counts()
    wall = u.ended.max() - u.queued.min()
    ideal = u.cpu_s.sum() / min(workers, os.cpu_count() or 1)
    return {"backend": backend, "chunk": chunk, "cpu_ms": cpu_ms, "units": units, "stage_wall_s": wall,
            "ideal_s": ideal, "overhead_us": (wall - ideal) / units * 1e6, "efficiency": ideal / wall,
            "run_wall_s": total}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--units", type=int, default=2048)
    ap.add_argument("--chunks", type=int, nargs="+", default=[1, 16, 128, 1024])
    ap.add_argument("--backends", nargs="+", default=["process", "dask"])
    ap.add_argument("--cpu-ms", type=float, nargs="+", default=[0.0, 1.0])
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    logging.getLogger("distributed").setLevel(logging.ERROR)
    print(f"cores={os.cpu_count()} workers={args.workers} units={args.units} strategy=candidate-parallel")
    print(f"{'backend':8} {'chunk':>5} {'cpu_ms':>6} {'stage wall s':>12} {'ideal s':>8} "
          f"{'overhead µs/unit':>16} {'efficiency':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        for cpu_ms in args.cpu_ms:
            for backend in args.backends:
                for chunk in args.chunks:
                    r = measure(backend, chunk, args.units, cpu_ms, args.workers, Path(tmp))
                    print(f"{r['backend']:8} {r['chunk']:>5} {r['cpu_ms']:>6g} {r['stage_wall_s']:>12.3f} "
                          f"{r['ideal_s']:>8.3f} {r['overhead_us']:>16.0f} {r['efficiency']:>10.2f}", flush=True)


if __name__ == "__main__":
    main()
