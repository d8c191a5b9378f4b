"""The regression gate: answers first, then speed, without crying wolf on a noisy machine.

A *side* (baseline or current) is a set of repeats of one experiment: run folders, or a
baseline file written by ``perfkit baseline save`` (``reports/baselines/NAME.json``, committed).

1. Answers: every unit of the baseline must be in the current side with the same status and
   output hash. Any lost or changed answer fails the gate, whatever the speed.
2. Speed, per metric (``wall``, ``cpu``): ratio = median(current) / median(baseline) with a 99 %
   bootstrap interval. With fewer than two repeats on a side the interval comes from a paired
   bootstrap over tasks instead (the same tasks measured on both sides). Verdict, for a
   threshold t:

   - ``regression``: the interval lies above 1 (significant) and reaches 1 + t (the slowdown
     may be as large as the threshold);
   - ``improvement``: the mirror image, below 1 and reaching 1 / (1 + t);
   - ``unchanged``: the whole interval lies within [1 / (1 + t), 1 + t];
   - ``inconclusive``: anything else (too noisy to tell) — reported, not failed.

3. Normalisation: every run measures a calibration workload (perfkit.calibration). When the
   two sides ran on different machines (CPU model or host differ) — or when asked — each
   figure is divided by its run's calibration CPU time before comparing.

Exit status of ``perfkit gate``: 0 pass, 1 regression or answer failure, 2 usage error.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd

from perfkit import environment
from perfkit.analysis.answers import check_answers
from perfkit.errors import PerfkitError
from perfkit.store import KEY_COLUMNS, load_run

BASELINE_DIR = Path("reports/baselines")
BASELINE_FORMAT = "perfkit-baseline/1"
METRICS = ("wall", "cpu")
CONFIDENCE = 0.99
BOOTSTRAP_SAMPLES = 4000
BOOTSTRAP_SEED = 20261128
DEFAULT_THRESHOLD = 0.10


@dataclass
class Repeat:
    """One run's figures (seconds) as the gate needs them."""

    run_id: str
    wall_s: float
    cpu_s: float
    calibration_cpu_s: Optional[float]
    #: Per task: sum of unit CPU and span of unit wall (seconds), for the paired bootstrap.
    task_cpu_s: dict[str, float] = field(default_factory=dict)
    task_wall_s: dict[str, float] = field(default_factory=dict)

    def value(self, metric: str, normalised: bool) -> float:
        """The metric in seconds, or in calibration units when ``normalised``."""
        v = self.wall_s if metric == "wall" else self.cpu_s
        return v / self.calibration_cpu_s if normalised and self.calibration_cpu_s else v

    def per_task(self, metric: str, normalised: bool) -> dict[str, float]:
        d = self.task_wall_s if metric == "wall" else self.task_cpu_s
        scale = self.calibration_cpu_s if normalised and self.calibration_cpu_s else 1.0
        return {k: v / scale for k, v in d.items()}


@dataclass
class Side:
    """Repeats of one experiment plus its answers (a DataFrame of key, status, output_hash)."""

    label: str
    repeats: list[Repeat]
    answers: pd.DataFrame
    environment: dict[str, Any]
    config: dict[str, Any]


@dataclass
class MetricVerdict:
    """The speed verdict on one metric."""

    metric: str
    baseline: float
    current: float
    ratio: float
    low: float
    high: float
    verdict: str
    method: str
    n_baseline: int
    n_current: int

    @property
    def change_pct(self) -> float:
        return (self.ratio - 1.0) * 100.0


@dataclass
class GateResult:
    """Everything the gate decided, ready to render as Markdown or JSON."""

    baseline: str
    current: str
    threshold: float
    normalised: bool
    normalise_reason: str
    answers_ok: bool
    answer_summary: str
    answer_differences: int
    metrics: list[MetricVerdict]
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.answers_ok and not any(m.verdict == "regression" for m in self.metrics)

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    def to_json(self) -> dict[str, Any]:
        """The machine-readable verdict."""
        data = asdict(self)
        data["passed"] = self.passed
        data["verdict"] = "pass" if self.passed else ("answers" if not self.answers_ok else "regression")
        for m in data["metrics"]:
            m["change_pct"] = (m["ratio"] - 1.0) * 100.0
        return data


# -- loading sides ---------------------------------------------------------------------------


def repeat_of_run(run: Any) -> Repeat:
    """A stored run's figures for the gate."""
    units = run.units
    ran = units[units["started"].notna()]
    task_cpu = ran.groupby("task_id")["cpu_s"].sum().to_dict()
    span = ran.groupby("task_id").agg(first=("queued", "min"), last=("ended", "max"))
    task_wall = (span["last"] - span["first"]).to_dict()
    s = run.summary
    return Repeat(run.meta.get("run_id", run.path.name), float(s.get("wall_s", np.nan)), float(s.get("cpu_s", np.nan)),
                  s.get("calibration_cpu_s"), {k: float(v) for k, v in task_cpu.items()},
                  {k: float(v) for k, v in task_wall.items()})


def answers_of(units: pd.DataFrame) -> pd.DataFrame:
    """The answer columns of a units table (key, status, output hash)."""
    return units[KEY_COLUMNS + ["status", "output_hash"]].reset_index(drop=True)


def resolve_baseline(spec: str) -> Path:
    """A baseline argument as a path: a run folder, a JSON file, or a NAME in reports/baselines."""
    path = Path(spec)
    if path.exists():
        return path
    named = BASELINE_DIR / f"{spec}.json"
    if named.exists():
        return named
    raise PerfkitError(f"--baseline {spec}: no such run folder, baseline file or baseline name in {BASELINE_DIR}")


def load_side(specs: Sequence[str | Path], label: str) -> Side:
    """Load run folders and/or one baseline file as one side."""
    if not specs:
        raise PerfkitError(f"--{label}: give at least one run folder or baseline file")
    paths = [resolve_baseline(str(s)) for s in specs]
    files = [p for p in paths if p.is_file()]
    if files:
        if len(paths) > 1:
            raise PerfkitError(f"--{label}: a baseline file stands alone; got {len(paths)} arguments")
        return load_baseline_file(files[0], label)
    runs = [load_run(p) for p in paths]
    configs = {json.dumps(_comparable(r.config), sort_keys=True) for r in runs}
    if len(configs) > 1:
        raise PerfkitError(f"--{label}: the runs are of different experiments; a side is repeats of one")
    return side_of_runs(", ".join(p.name for p in paths), runs)


def side_of_runs(label: str, runs: Sequence[Any]) -> Side:
    """Stored runs (repeats of one experiment) as a side."""
    return Side(label, [repeat_of_run(r) for r in runs], answers_of(runs[0].units),
                runs[0].meta.get("environment", {}), runs[0].config)


def _comparable(config: dict[str, Any]) -> dict[str, Any]:
    """The parts of a config that make two runs repeats of one experiment."""
    return {k: v for k, v in config.items() if k not in ("repeat", "label")}


def load_baseline_file(path: Path, label: str = "baseline") -> Side:
    """Read ``reports/baselines/NAME.json``; a malformed file is one clear line."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise PerfkitError(f"{path}: malformed JSON at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(data, dict) or data.get("format") != BASELINE_FORMAT:
        raise PerfkitError(f"{path}: field 'format': expected {BASELINE_FORMAT!r}")
    for key in ("repeats", "answers", "config"):
        if key not in data:
            raise PerfkitError(f"{path}: missing field {key!r}")
    try:
        repeats = [Repeat(**r) for r in data["repeats"]]
        answers = pd.DataFrame(data["answers"], columns=KEY_COLUMNS + ["status", "output_hash"])
    except (TypeError, ValueError) as exc:
        raise PerfkitError(f"{path}: field 'repeats' or 'answers': {exc}") from None
    return Side(data.get("name", Path(path).stem), repeats, answers, data.get("environment", {}), data["config"])


def save_baseline(name: str, run_dirs: Sequence[str | Path], directory: Path = BASELINE_DIR) -> Path:
    """Write ``directory/NAME.json`` from repeats of one experiment, with its environment."""
    if not name or "/" in name or name.startswith("."):
        raise PerfkitError(f"baseline name {name!r}: use a plain file name")
    side = load_side([str(p) for p in run_dirs], "runs")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    answers = side.answers.astype(object).where(side.answers.notna(), None)
    payload = {
        "format": BASELINE_FORMAT,
        "name": name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "environment": side.environment,
        "config": side.config,
        "repeats": [asdict(r) for r in side.repeats],
        "answers": answers.values.tolist(),
    }
    # compact: a baseline is committed, and its answers are one row per unit
    path.write_text(json.dumps(payload, separators=(",", ":"), default=str) + "\n", encoding="utf-8")
    return path


# -- deciding ----------------------------------------------------------------------------------


def classify(low: float, high: float, threshold: float) -> str:
    """The verdict for a ratio interval [low, high] (current / baseline); see the module docstring."""
    up, down = 1.0 + threshold, 1.0 / (1.0 + threshold)
    if low > 1.0 and high >= up:
        return "regression"
    if high < 1.0 and low <= down:
        return "improvement"
    if low >= down and high <= up:
        return "unchanged"
    return "inconclusive"


def ratio_interval(baseline: Sequence[float], current: Sequence[float], confidence: float = CONFIDENCE,
                   n: int = BOOTSTRAP_SAMPLES, seed: int = BOOTSTRAP_SEED) -> tuple[float, float, float]:
    """median(current) / median(baseline) and its bootstrap interval (each side resampled)."""
    b, c = np.asarray(baseline, float), np.asarray(current, float)
    point = float(np.median(c) / np.median(b))
    rng = np.random.default_rng(seed)
    bs = np.median(rng.choice(b, size=(n, len(b))), axis=1)
    cs = np.median(rng.choice(c, size=(n, len(c))), axis=1)
    alpha = (1.0 - confidence) / 2.0
    ratios = cs / bs
    return point, float(np.quantile(ratios, alpha)), float(np.quantile(ratios, 1.0 - alpha))


def paired_task_interval(baseline: dict[str, float], current: dict[str, float], confidence: float = CONFIDENCE,
                         n: int = BOOTSTRAP_SAMPLES, seed: int = BOOTSTRAP_SEED) -> tuple[float, float, float]:
    """sum(current) / sum(baseline) over the tasks both sides measured, with a bootstrap over
    tasks (pairs kept together)."""
    tasks = sorted(set(baseline) & set(current))
    if not tasks:
        return float("nan"), float("nan"), float("nan")
    b = np.array([baseline[t] for t in tasks])
    c = np.array([current[t] for t in tasks])
    point = float(c.sum() / b.sum())
    if len(tasks) < 2:
        return point, float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(tasks), size=(n, len(tasks)))
    ratios = c[idx].sum(axis=1) / b[idx].sum(axis=1)
    alpha = (1.0 - confidence) / 2.0
    return point, float(np.quantile(ratios, alpha)), float(np.quantile(ratios, 1.0 - alpha))


def judge_metric(metric: str, baseline: Side, current: Side, threshold: float, normalised: bool) -> MetricVerdict:
    """Ratio, interval and verdict for one metric."""
    b = [r.value(metric, normalised) for r in baseline.repeats]
    c = [r.value(metric, normalised) for r in current.repeats]
    if len(b) >= 2 and len(c) >= 2:
        ratio, low, high = ratio_interval(b, c)
        method = f"ratio of medians over repeats ({len(b)} vs {len(c)}), {CONFIDENCE:.0%} bootstrap"
    else:
        ratio, low, high = paired_task_interval(baseline.repeats[0].per_task(metric, normalised),
                                                current.repeats[0].per_task(metric, normalised))
        method = f"single repeat: paired {CONFIDENCE:.0%} bootstrap over tasks (unit sums)"
    verdict = "inconclusive" if np.isnan(low) or np.isnan(high) else classify(low, high, threshold)
    return MetricVerdict(metric, float(np.median(b)), float(np.median(c)), ratio, low, high, verdict, method,
                         len(b), len(c))


def should_normalise(baseline: Side, current: Side, mode: str) -> tuple[bool, str]:
    """Whether to divide by the calibration workload, and why."""
    if mode == "yes":
        return True, "asked for"
    if mode == "no":
        return False, "not asked for"
    fields = ("cpu_model", "hostname", "python")
    differ = [f for f in fields if baseline.environment.get(f) != current.environment.get(f)]
    calibrated = all(r.calibration_cpu_s for r in baseline.repeats + current.repeats)
    if differ and calibrated:
        return True, "the machines differ (" + ", ".join(differ) + ")"
    if differ:
        return False, "the machines differ (" + ", ".join(differ) + ") but a side has no calibration"
    return False, "same machine"


def gate(baseline: Side, current: Side, threshold: float = DEFAULT_THRESHOLD, metrics: Sequence[str] = METRICS,
         normalise: str = "auto") -> GateResult:
    """Decide: answers first, then each metric. Pure: no measuring here."""
    t0 = time.monotonic()
    for m in metrics:
        if m not in METRICS:
            raise PerfkitError(f"--metric {m!r}: expected one of {', '.join(METRICS)}")
    if not threshold > 0:
        raise PerfkitError(f"--threshold {threshold}: must be positive")
    check = check_answers(baseline.answers, current.answers, run_id=current.label, group="current",
                          reference_id=baseline.label)
    summary = check.sentence().replace("differs from sequential", "differs from the baseline").replace(
        "identical to sequential", "identical to the baseline")
    normalised, reason = should_normalise(baseline, current, normalise)
    verdicts = [judge_metric(m, baseline, current, threshold, normalised) for m in metrics]
    return GateResult(baseline.label, current.label, threshold, normalised, reason, check.clean, summary,
                      check.n_differences, verdicts, time.monotonic() - t0)


def parse_threshold(text: str) -> float:
    """``10%`` or ``0.1`` → 0.1."""
    try:
        return float(text[:-1]) / 100.0 if text.endswith("%") else float(text)
    except ValueError:
        raise PerfkitError(f"--threshold {text!r}: expected a percentage like 10% or a fraction like 0.1") from None


# -- measuring the current code ---------------------------------------------------------------

DEFAULT_REPEATS = 5


def measure(config: Any, repeats: int, store: Path, label: str = "gate-current") -> Side:
    """Run ``config`` (a RunConfig) ``repeats`` times with the code installed now."""
    from dataclasses import replace

    from perfkit import runner

    if repeats < 1:
        raise PerfkitError(f"--repeats {repeats}: must be at least 1")
    runs = [load_run(runner.run(replace(config, label=label, repeat=i), store)) for i in range(repeats)]
    return side_of_runs(label, runs)


def measure_interleaved(config_a: Any, config_b: Any, repeats: int, store: Path) -> tuple[Side, Side]:
    """A/B repeats in ABBA order, so that drift of the machine hits both sides alike."""
    from dataclasses import replace

    from perfkit import runner

    runs: dict[str, list[Any]] = {"a": [], "b": []}
    for i in range(repeats):
        order = [("a", config_a), ("b", config_b)] if i % 2 == 0 else [("b", config_b), ("a", config_a)]
        for side, config in order:
            runs[side].append(load_run(runner.run(replace(config, label=f"gate-{side}", repeat=i), store)))
    return side_of_runs("A", runs["a"]), side_of_runs("B", runs["b"])


def config_of_side(side: Side) -> Any:
    """The RunConfig a side was measured with (to measure the current code the same way)."""
    from perfkit.model import RunConfig

    try:
        return RunConfig.from_record(side.config)
    except TypeError as exc:
        raise PerfkitError(f"baseline {side.label}: field 'config' is not a run configuration: {exc}") from None
