"""How good is the gate? False alarms on identical code, detection of injected slowdowns, and
what it costs — for the instruction gate and the paired timing gate, on this machine.

    python benchmarks/gate_quality.py instructions [--runs 10]
    python benchmarks/gate_quality.py timing [--rounds 40] [--gates 400]
    python benchmarks/gate_quality.py whole [--base HEAD]

``instructions``: the synthetic solver (pure-Python CPU units) counted under valgrind: ``--runs``
runs of the same code (A), and ``--runs // 3`` each with 10 % and 3 % more work per unit
(``slowdown``) and with a sleep added to every unit (+10 % wall, no CPU). Every (A, A) pair of
runs is an A/A gate, every (A, B) an A/B gate, judged as `make gate` judges (±2 %). Also: the
coefficient of variation of A's count, and the cost: valgrind's slowdown of the run window and
of the whole process, against the same run measured plainly in a fresh process.

``timing``: ``--rounds`` rounds of four fresh-process samples in random order — A, A', B (+10 %
CPU work per unit) and S (+10 % wall from a sleep, no CPU) — give real A/A, A/B and A/S pairs.
``--gates`` simulated gates each draw pairs from those (with replacement) and run the paired
gate's sequential procedure exactly (looks at 10, 15, 20, 25 pairs, Holm over cpu and wall,
Bonferroni over the looks). Samples of one round are at most three samples apart, so their
drift is at least that of a real gate's adjacent pair: the rates are conservative.

``whole``: the time of ``perfkit gate --base REF --baseline ci-arc`` (answers, instructions of
base and head, paired timing) on the default CI benchmark, start to end.

Prints Markdown tables for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from itertools import permutations, product
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from perfkit.analysis import gate as g  # noqa: E402
from perfkit.model import RunConfig, TimeoutPolicy  # noqa: E402
from perfkit.orchestration.gate import looks  # noqa: E402
from perfkit.orchestration.instructions import Target, measure_instructions, start  # noqa: E402

EXPERIMENT = RunConfig(solver="synthetic", tasks="synthetic:1x3+1", strategy="sequential", backend="inline",
                       workers=1, timeout=TimeoutPolicy(5.0), solver_options={"candidates": 32, "cpu_ms": 4.0})


def variant(**options: float) -> RunConfig:
    """EXPERIMENT with more solver options (slowdown, sleep_ms)."""
    return replace(EXPERIMENT, solver_options={**EXPERIMENT.solver_options, **options})


ARMS = {"A": EXPERIMENT, "B10": variant(slowdown=0.10), "B3": variant(slowdown=0.03),
        "S10": variant(sleep_ms=0.4)}


def instructions(runs: int) -> None:
    """The instruction gate's quality and cost (see the module docstring)."""
    threshold = g.DEFAULT_INSTRUCTION_THRESHOLD
    counts: dict[str, list[int]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.monotonic()
        for arm, config in ARMS.items():
            n = runs if arm == "A" else max(2, runs // 3)
            counts[arm] = [c.instructions for _, c in
                           measure_instructions(config, Path(tmp), [Target(f"{arm}{i}") for i in range(n)])]
        counting_s = time.monotonic() - t0
        total_runs = sum(len(v) for v in counts.values())
        t1 = time.monotonic()
        (_, one), = measure_instructions(EXPERIMENT, Path(tmp), [Target("cost")], parallel=1)
        valgrind_wall = time.monotonic() - t1
        t2 = time.monotonic()
        plain = start(Target("plain"), EXPERIMENT, Path(tmp), Path(tmp) / "plain", valgrind=False).wait()
        plain_wall = time.monotonic() - t2
    a = np.array(counts["A"], float)
    print(f"\nthreshold ±{threshold:.0%}; {runs} runs of A; {total_runs} counted runs in {counting_s:.0f} s "
          f"(2 at a time)\n")
    print("| comparison | gates | regression (alarm) | unchanged | improvement | median change |")
    print("|---|---|---|---|---|---|")
    for name, arm in [("A/A (same code)", "A"), ("A/B (+10 % work)", "B10"), ("A/B (+3 % work)", "B3"),
                      ("A/S (+10 % wall by sleeping)", "S10")]:
        pairs = list(permutations(counts["A"], 2)) if arm == "A" else list(product(counts["A"], counts[arm]))
        verdicts = [g.classify(c / b, c / b, threshold) for b, c in pairs]
        change = np.median([c / b - 1 for b, c in pairs]) * 100
        rate = {v: verdicts.count(v) / len(verdicts) for v in ("regression", "unchanged", "improvement")}
        print(f"| {name} | {len(pairs)} | {rate['regression']:.1%} | {rate['unchanged']:.1%} | "
              f"{rate['improvement']:.1%} | {change:+.3f} % |")
    print(f"\nA's count over {len(a)} runs: mean {a.mean():,.0f}, sd {a.std(ddof=1):,.1f}, coefficient of variation "
          f"{a.std(ddof=1) / a.mean():.2e} ({100 * a.std(ddof=1) / a.mean():.5f} %), range {a.max() - a.min():,.0f}")
    print(f"cost of one count: {valgrind_wall:.1f} s wall under valgrind vs {plain_wall:.1f} s for the same fresh "
          f"process without ({valgrind_wall / plain_wall:.1f}× the whole process); start-up {one.startup:,}, "
          f"set-up {one.setup:,}, work {one.instructions:,}, teardown {one.teardown:,} instructions; plain run "
          f"window {plain['wall_s']:.2f} s")


def simulate(pairs: list[tuple[dict, dict]], gates: int, threshold: float, seed: int) -> dict[str, dict[str, float]]:
    """Verdict rates per metric over ``gates`` simulated paired gates (sequential procedure)."""
    rng = random.Random(seed)
    planned = looks()
    counts: dict[str, dict[str, int]] = {m: {} for m in g.TIMING_METRICS}
    stopped_at = []
    for _ in range(gates):
        drawn = [rng.choice(pairs) for _ in range(planned[-1])]
        for n in planned:
            timing = g.PairedTiming({m: [b[m] for b, _ in drawn[:n]] for m in g.TIMING_METRICS},
                                    {m: [h[m] for _, h in drawn[:n]] for m in g.TIMING_METRICS}, looks=len(planned))
            verdicts = g.judge_pairs(timing, list(g.TIMING_METRICS), threshold)
            if g.decided(verdicts) or n == planned[-1]:
                break
        stopped_at.append(n)
        for v in verdicts:
            counts[v.metric][v.verdict] = counts[v.metric].get(v.verdict, 0) + 1
    rates = {m: {k: c / gates for k, c in per.items()} for m, per in counts.items()}
    rates["_pairs"] = {"mean": float(np.mean(stopped_at))}
    return rates


def timing(rounds: int, gates: int, saved: Path | None) -> None:
    """The paired timing gate's quality over simulated gates drawn from real pairs (measured,
    or read back from ``saved`` when it exists; written there otherwise)."""
    arms = {"A": EXPERIMENT, "A'": EXPERIMENT, "B10": ARMS["B10"], "S10": ARMS["S10"]}
    if saved is not None and saved.exists():
        data = json.loads(saved.read_text())
        samples, rounds, sample_s = data["samples"], data["rounds"], data["sample_s"]
    else:
        samples, sample_s = measure_rounds(arms, rounds)
        if saved is not None:
            saved.write_text(json.dumps({"samples": samples, "rounds": rounds, "sample_s": sample_s}))
    report_timing(samples, rounds, gates, sample_s)


def measure_rounds(arms: dict[str, RunConfig], rounds: int) -> tuple[dict[str, list[dict]], float]:
    """Rounds of one fresh-process sample per arm, in random order; seconds per sample."""
    samples: dict[str, list[dict]] = {a: [] for a in arms}
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.monotonic()
        for i in range(rounds):
            order = list(arms)
            rng.shuffle(order)
            for arm in order:
                result = start(Target(arm), replace(arms[arm], label=f"q{i}"), Path(tmp),
                               Path(tmp) / f"{i}-{arm}", valgrind=False).wait()
                samples[arm].append({"cpu": result["cpu_s"], "wall": result["wall_s"]})
            print(f"round {i + 1}/{rounds}", file=sys.stderr)
        sample_s = (time.monotonic() - t0) / (len(arms) * rounds)
    return samples, sample_s


def report_timing(samples: dict[str, list[dict]], rounds: int, gates: int, sample_s: float) -> None:
    """Print the rates of the simulated gates for A/A, A/B and A/S."""
    base = samples["A"]
    spread = {m: float(np.std([np.log(h[m] / b[m]) for b, h in zip(base, samples["A'"])], ddof=1))
              for m in g.TIMING_METRICS}
    raw = {m: float(np.std(np.log([b[m] for b in base]), ddof=1)) for m in g.TIMING_METRICS}
    print(f"\n{rounds} rounds of 4 fresh-process samples ({sample_s:.2f} s each); {gates} simulated gates per "
          f"comparison; timing threshold {g.DEFAULT_THRESHOLD:.0%} (floor +{g.practical_floor(g.DEFAULT_THRESHOLD):.0%})"
          f", α {g.ALPHA}; A/A log-ratio spread: cpu {spread['cpu']:.3f}, wall {spread['wall']:.3f} "
          f"(one side alone: cpu {raw['cpu']:.3f}, wall {raw['wall']:.3f})\n")
    print("| comparison | metric | effect over all pairs | regression (alarm) | unchanged | inconclusive | "
          "improvement | mean pairs |")
    print("|---|---|---|---|---|---|---|---|")
    for name, arm in [("A/A (same code)", "A'"), ("A/B (+10 % CPU work)", "B10"), ("A/S (+10 % wall, sleeping)", "S10")]:
        pairs = list(zip(base, samples[arm]))
        rates = simulate(pairs, gates, g.DEFAULT_THRESHOLD, seed=7)
        for m in g.TIMING_METRICS:
            r = rates[m]
            effect = float(np.exp(np.median([np.log(h[m] / b[m]) for b, h in pairs]))) - 1
            print(f"| {name} | {m} | {effect:+.1%} | {r.get('regression', 0):.1%} | {r.get('unchanged', 0):.1%} | "
                  f"{r.get('inconclusive', 0):.1%} | {r.get('improvement', 0):.1%} | {rates['_pairs']['mean']:.1f} |")


def whole(base: str) -> None:
    """Time the whole gate against a base revision on the default CI benchmark."""
    perfkit = Path(sys.executable).with_name("perfkit")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.monotonic()
        done = subprocess.run([str(perfkit), "gate", "--base", base, "--baseline", "ci-arc", "--store", tmp],
                              capture_output=True, text=True)
        elapsed = time.monotonic() - t0
    print(done.stdout)
    print(f"exit {done.returncode}; whole gate (answers + instructions of base and head + paired timing): "
          f"{elapsed:.0f} s wall")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("instructions", "timing", "whole"))
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--gates", type=int, default=400)
    parser.add_argument("--base", default="HEAD")
    parser.add_argument("--samples", type=Path, help="timing: read the measured samples from this JSON file "
                        "when it exists, else measure and write them there")
    args = parser.parse_args()
    if args.mode == "instructions":
        instructions(args.runs)
    elif args.mode == "timing":
        timing(args.rounds, args.gates, args.samples)
    else:
        whole(args.base)


if __name__ == "__main__":
    main()
