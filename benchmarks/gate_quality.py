"""How good is the gate? False alarms on A/A, detection of an injected 10 % slowdown, and the
time one gate takes — with the default number of repeats, on this machine.

    python benchmarks/gate_quality.py [--pool 30] [--trials 2000]

Method: three pools of real runs of one small experiment (the synthetic solver, sequential
inline, ~2 s of pure-Python CPU per run) are measured interleaved (A1, A2, B, A1, A2, B, …)
so machine drift hits all alike: A1 and A2 are the same code, B has ``slowdown=0.1`` (every
unit does 10 % more work). Each trial draws DEFAULT_REPEATS runs without replacement from two
pools and asks the gate for a verdict; the rates are over the trials. Trials share runs (a pool
is finite), so the rates carry the pool's sampling error too: with a pool of 30 runs, treat a
rate as ± a few percent. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from perfkit import runner  # noqa: E402
from perfkit.analysis import gate as g  # noqa: E402
from perfkit.model import RunConfig, TimeoutPolicy  # noqa: E402
from perfkit.orchestration.gate import DEFAULT_REPEATS, measure  # noqa: E402
from perfkit.store import load_run  # noqa: E402
from perfkit.store.baseline import Repeat, Side, repeat_of_run, side_of_runs  # noqa: E402

EXPERIMENT = RunConfig(solver="synthetic", tasks="synthetic:2x5+1", strategy="sequential", backend="inline",
                       workers=1, timeout=TimeoutPolicy(5.0), solver_options={"candidates": 32, "cpu_ms": 5.0})


def measure_pools(n: int, store: Path) -> dict[str, list[Repeat]]:
    pools: dict[str, list] = {"A1": [], "A2": [], "B": []}
    configs = {"A1": EXPERIMENT, "A2": EXPERIMENT,
               "B": replace(EXPERIMENT, solver_options={**EXPERIMENT.solver_options, "slowdown": 0.1})}
    for i in range(n):
        for name, config in configs.items():
            run = runner.run(replace(config, label=name, repeat=i), store)
            pools[name].append(repeat_of_run(run))
        print(f"measured {i + 1}/{n}", file=sys.stderr)
    return pools


def rates(pool_a, pool_b, trials: int, k: int, metric: str, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    counts: dict[str, int] = {}
    for _ in range(trials):
        a = [pool_a[i] for i in rng.choice(len(pool_a), k, replace=False)]
        b = [pool_b[i] for i in rng.choice(len(pool_b), k, replace=False)]
        verdict = g.judge_metric(metric, Side("a", a, None, {}, {}), Side("b", b, None, {}, {}),
                                 g.DEFAULT_THRESHOLD, normalised=False).verdict
        counts[verdict] = counts.get(verdict, 0) + 1
    return {v: counts.get(v, 0) / trials for v in ("regression", "unchanged", "inconclusive", "improvement")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pool", type=int, default=30)
    parser.add_argument("--trials", type=int, default=2000)
    args = parser.parse_args()
    k = DEFAULT_REPEATS
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.monotonic()
        pools = measure_pools(args.pool, Path(tmp))
        per_run = (time.monotonic() - t0) / (3 * args.pool)
        t1 = time.monotonic()
        side = measure(EXPERIMENT, k, Path(tmp))
        baseline = side_of_runs("b", [load_run(Path(tmp) / r.run_id) for r in side.repeats])
        g.gate(baseline, side)
        one_gate = time.monotonic() - t1
    print(f"\nrepeats per side: {k}; threshold {g.DEFAULT_THRESHOLD:.0%}; pool {args.pool} runs per arm; "
          f"{args.trials} trials; mean run {per_run:.2f} s; one gate (measure {k} repeats + decide) {one_gate:.1f} s\n")
    print("| comparison | metric | regression (alarm) | unchanged | inconclusive | improvement |")
    print("|---|---|---|---|---|---|")
    for name, a, b in [("A/A (same code)", "A1", "A2"), ("A/B (+10 % work)", "A1", "B")]:
        for metric in ("cpu", "wall"):
            r = rates(pools[a], pools[b], args.trials, k, metric, seed=1)
            print(f"| {name} | {metric} | {r['regression']:.1%} | {r['unchanged']:.1%} | {r['inconclusive']:.1%} | "
                  f"{r['improvement']:.1%} |")
    spread = {n: np.std([r.cpu_s for r in p]) / np.mean([r.cpu_s for r in p]) for n, p in pools.items()}
    true = np.median([r.cpu_s for r in pools["B"]]) / np.median([r.cpu_s for r in pools["A1"]])
    print(f"\nrun-to-run CPU spread (sd/mean): " + ", ".join(f"{n} {s:.1%}" for n, s in spread.items())
          + f"; B/A1 median CPU ratio over the whole pool: {true:.3f}")


if __name__ == "__main__":
    main()
