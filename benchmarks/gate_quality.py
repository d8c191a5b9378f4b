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
import math
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
from perfkit.orchestration.gate import MAX_PAIRS, looks, sample_seconds  # noqa: E402
from perfkit.orchestration.instructions import Target, measure_instructions, start  # noqa: E402

EXPERIMENT = RunConfig(solver="synthetic", tasks="synthetic:1x3+1", strategy="sequential", backend="inline",
                       workers=1, timeout=TimeoutPolicy(5.0), solver_options={"candidates": 32, "cpu_ms": 4.0})


def variant(**options: float) -> RunConfig:
    """EXPERIMENT with more solver options (slowdown, sleep_ms)."""
    return replace(EXPERIMENT, solver_options={**EXPERIMENT.solver_options, **options})


ARMS = {"A": EXPERIMENT, "B10": variant(slowdown=0.10), "B3": variant(slowdown=0.03),
        "S10": variant(sleep_ms=0.4)}
#: A workload whose wall is half sleeping (2 ms of CPU and a 2 ms sleep per unit), and the
#: change that adds 10 % to its wall by sleeping longer, its CPU work unchanged.
WALL_EXPERIMENT = variant(cpu_ms=2.0, sleep_ms=2.0)
WALL_SLEEP = variant(cpu_ms=2.0, sleep_ms=2.4)
WALL_ARMS = {"W": WALL_EXPERIMENT, "WS": WALL_SLEEP}


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
          f"process without ({valgrind_wall / plain_wall:.1f}× the whole process); "
          + ", ".join(f"{name} {'not counted' if n is None else f'{n:,}'}" for name, n in
                      (("start-up", one.startup), ("set-up", one.setup), ("work", one.instructions),
                       ("teardown", one.teardown)))
          + f" instructions ({one.tool}); plain run window {plain['wall_s']:.2f} s")


def wall_instructions(runs: int) -> None:
    """The sleep change seen by the instruction gate: ``runs`` counts each of W and WS, every
    (W, WS) pair judged as `make gate` judges (±2 %)."""
    threshold = g.DEFAULT_INSTRUCTION_THRESHOLD
    with tempfile.TemporaryDirectory() as tmp:
        counts = {arm: [c.instructions for _, c in measure_instructions(
            config, Path(tmp), [Target(f"{arm}{i}") for i in range(runs)])] for arm, config in WALL_ARMS.items()}
    pairs = list(product(counts["W"], counts["WS"]))
    verdicts = [g.classify(c / b, c / b, threshold) for b, c in pairs]
    print(f"\nW {counts['W']}, WS {counts['WS']}: median change "
          f"{np.median([c / b - 1 for b, c in pairs]) * 100:+.3f} %; verdicts at ±{threshold:.0%}: "
          + ", ".join(f"{v} {verdicts.count(v)}/{len(verdicts)}" for v in sorted(set(verdicts))))


def simulate(pairs: list[tuple[dict, dict]], gates: int, threshold: float, seed: int,
             metrics: tuple[str, ...] = g.DEFAULT_PAIRED_METRICS, max_pairs: int = MAX_PAIRS) -> dict[str, dict[str, float]]:
    """Verdict rates per metric over ``gates`` simulated paired gates (sequential procedure,
    Holm over ``metrics``: the gate's default family unless told)."""
    rng = random.Random(seed)
    planned = looks(max_pairs)
    counts: dict[str, dict[str, int]] = {m: {} for m in metrics}
    stopped_at = []
    for _ in range(gates):
        # a pair drawn twice is jittered by ~1e-9 (far below the clocks' resolution) so that it
        # does not tie with itself: real samples never tie, and on ties scipy's signed-rank test
        # switches from its exact distribution to a permutation test ~200× slower
        drawn = [(b, {m: h[m] * math.exp(rng.gauss(0.0, JITTER)) for m in metrics})
                 for b, h in (rng.choice(pairs) for _ in range(planned[-1]))]
        for n in planned:
            timing = g.PairedTiming({m: [b[m] for b, _ in drawn[:n]] for m in metrics},
                                    {m: [h[m] for _, h in drawn[:n]] for m in metrics}, looks=len(planned))
            verdicts = g.judge_pairs(timing, list(metrics), threshold)
            if g.decided(verdicts) or n == planned[-1]:
                break
        stopped_at.append(n)
        for v in verdicts:
            counts[v.metric][v.verdict] = counts[v.metric].get(v.verdict, 0) + 1
    rates = {m: {k: c / gates for k, c in per.items()} for m, per in counts.items()}
    rates["_pairs"] = {"mean": float(np.mean(stopped_at))}
    return rates


#: Relative jitter of a resampled pair (see simulate).
JITTER = 1e-9
#: The timing arms: the CPU workload (A, A' the same code, B10 +10 % CPU work per unit) and the
#: wall workload (W, W' the same code, WS the sleep change).
TIMING_ARMS = {"A": EXPERIMENT, "A'": EXPERIMENT, "B10": ARMS["B10"], "W": WALL_EXPERIMENT, "W'": WALL_EXPERIMENT,
               "WS": WALL_SLEEP}
#: (name, base arm, head arm) of every comparison reported.
COMPARISONS = [("A/A (same code, CPU workload)", "A", "A'"), ("A/B (+10 % CPU work)", "A", "B10"),
               ("W/W (same code, wall workload)", "W", "W'"), ("W/S (+10 % wall, sleeping)", "W", "WS")]


def timing(rounds: int, gates: int, saved: Path | None, busy: int, max_pairs: int = MAX_PAIRS) -> None:
    """The paired timing gate's quality over simulated gates drawn from real pairs (measured,
    next to ``busy`` busy loops, or read back from ``saved`` when it exists; written there
    otherwise)."""
    if saved is not None and saved.exists():
        data = json.loads(saved.read_text())
        samples, rounds, sample_s, busy = data["samples"], data["rounds"], data["sample_s"], data.get("busy", 0)
    else:
        loops = [subprocess.Popen(["sh", "-c", "while :; do :; done"]) for _ in range(busy)]
        try:
            samples, sample_s = measure_rounds(TIMING_ARMS, rounds)
        finally:
            for loop in loops:
                loop.kill()
                loop.wait()
        if saved is not None:
            saved.write_text(json.dumps({"samples": samples, "rounds": rounds, "sample_s": sample_s, "busy": busy}))
    report_timing(samples, rounds, gates, sample_s, busy, max_pairs)


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
                samples[arm].append({m: sample_seconds(result, m) for m in g.PAIRED_METRICS})
            print(f"round {i + 1}/{rounds}", file=sys.stderr)
        sample_s = (time.monotonic() - t0) / (len(arms) * rounds)
    return samples, sample_s


def report_timing(samples: dict[str, list[dict]], rounds: int, gates: int, sample_s: float, busy: int,
                  max_pairs: int = MAX_PAIRS) -> None:
    """Print the rates of the simulated gates for every comparison, under the gate's rule
    (unqueued and cpu), and the wall workload's under the rule before it (wall and cpu)."""
    def spread(a: str, b: str, m: str) -> float:
        return float(np.std([np.log(h[m] / x[m]) for x, h in zip(samples[a], samples[b])], ddof=1))

    print(f"\n{rounds} rounds of {len(samples)} fresh-process samples ({sample_s:.2f} s each) next to {busy} busy "
          f"loops; {gates} simulated gates per comparison; timing threshold {g.DEFAULT_THRESHOLD:.0%} (floor "
          f"+{g.practical_floor(g.DEFAULT_THRESHOLD):.0%}), α {g.ALPHA}. Same-code log-ratio spread: CPU workload "
          + ", ".join(f"{m} {spread('A', chr(65) + chr(39), m):.3f}" for m in g.PAIRED_METRICS)
          + "; wall workload " + ", ".join(f"{m} {spread('W', 'W' + chr(39), m):.3f}" for m in g.PAIRED_METRICS)
          + "\n")
    print("| comparison | rule | metric | effect over all pairs | regression (alarm) | unchanged | inconclusive | "
          "improvement | mean pairs |")
    print("|---|---|---|---|---|---|---|---|---|")
    rules = {"gate": g.DEFAULT_PAIRED_METRICS, "before": g.TIMING_METRICS}
    for name, base, head in COMPARISONS:
        pairs = list(zip(samples[base], samples[head]))
        for rule, metrics in rules.items():
            if rule == "before" and base != "W":
                continue
            rates = simulate(pairs, gates, g.DEFAULT_THRESHOLD, seed=7, metrics=metrics, max_pairs=max_pairs)
            for m in metrics:
                r = rates[m]
                effect = float(np.exp(np.median([np.log(h[m] / b[m]) for b, h in pairs]))) - 1
                print(f"| {name} | {rule} | {m} | {effect:+.1%} | {r.get('regression', 0):.1%} | "
                      f"{r.get('unchanged', 0):.1%} | {r.get('inconclusive', 0):.1%} | {r.get('improvement', 0):.1%} | "
                      f"{rates['_pairs']['mean']:.1f} |", flush=True)


def whole(base: str) -> None:
    """Time the whole gate against a base revision on the default CI benchmark."""
    perfkit = Path(sys.executable).with_name("perfkit")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.monotonic()
        verdict = Path(tmp) / "verdict.json"
        done = subprocess.run([str(perfkit), "gate", "--base", base, "--baseline", "ci-arc", "--store", tmp,
                               "--json", str(verdict), "--no-progress"], capture_output=True, text=True)
        elapsed = time.monotonic() - t0
        metrics = json.loads(verdict.read_text())["metrics"] if verdict.exists() else []
    print(done.stdout[-2000:], done.stderr[-2000:])
    for m in metrics:
        print(f"{m['metric']}: {m['verdict']} {m['change_pct']:+.1f} % ({m['low']:.3f}…{m['high']:.3f}), "
              f"{m['pairs'] or m['n_current']} pairs/runs")
    print(f"exit {done.returncode}; whole gate (answers + instructions of base and head + paired timing): "
          f"{elapsed:.0f} s wall")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("instructions", "timing", "whole"))
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--gates", type=int, default=400)
    parser.add_argument("--base", default="HEAD")
    parser.add_argument("--pairs", type=int, default=MAX_PAIRS, help="timing: at most this many pairs per gate")
    parser.add_argument("--busy", type=int, default=0, help="timing: busy loops running beside the samples")
    parser.add_argument("--workload", choices=("cpu", "wall"), default="cpu",
                        help="instructions: the CPU workload's arms, or the wall workload's (W, WS)")
    parser.add_argument("--samples", type=Path, help="timing: read the measured samples from this JSON file "
                        "when it exists, else measure and write them there")
    args = parser.parse_args()
    if args.mode == "instructions":
        instructions(args.runs) if args.workload == "cpu" else wall_instructions(args.runs)
    elif args.mode == "timing":
        timing(args.rounds, args.gates, args.samples, args.busy, args.pairs)
    else:
        whole(args.base)


if __name__ == "__main__":
    main()
