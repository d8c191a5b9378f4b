"""The regression gate's verdict: answers first, then speed, without crying wolf on a noisy
machine. Pure: two sides (perfkit/store/baseline.py) in, a :class:`GateResult` out; measuring
the current code is perfkit/orchestration/gate.py.

1. Answers: every unit of the baseline must be in the current side with the same status and
   output hash. Any lost or changed answer fails the gate, whatever the speed.
2. Speed, per metric (``wall``, ``cpu``): ratio = median(current) / median(baseline) with a 99 %
   bootstrap interval (perfkit/analysis/statistics.py). With fewer than two repeats on a side
   the interval comes from a paired bootstrap over tasks instead (the same tasks measured on
   both sides). Verdict, for a threshold t:

   - ``regression``: the interval lies above 1 (significant) and reaches 1 + t (the slowdown
     may be as large as the threshold);
   - ``improvement``: the mirror image, below 1 and reaching 1 / (1 + t);
   - ``unchanged``: the whole interval lies within [1 / (1 + t), 1 + t];
   - ``inconclusive``: anything else (too noisy to tell) — reported, not failed.

3. Normalisation: every run measures a calibration workload (perfkit/runner/calibration.py).
   When the two sides ran on different machines (CPU model or host differ) — or when asked —
   each figure is divided by its run's calibration CPU time before comparing.

Exit status of ``perfkit gate``: 0 pass, 1 regression or answer failure, 2 usage error.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from perfkit.analysis.answers import check_answers
from perfkit.analysis.statistics import paired_ratio_of_sums, pct_change, ratio_of_medians
from perfkit.model import ConfigError
from perfkit.store.baseline import Side

METRICS = ("wall", "cpu")
CONFIDENCE = 0.99
DEFAULT_THRESHOLD = 0.10
NORMALISE_MODES = ("auto", "yes", "no")


@dataclass
class MetricVerdict:
    """The speed verdict on one metric (figures in seconds, or calibration units)."""

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
        """Current against baseline, in percent (from the ratio, so paired ratios count too)."""
        return pct_change(self.ratio, 1.0)


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
        """True when the answers agree and no metric regressed."""
        return self.answers_ok and not any(m.verdict == "regression" for m in self.metrics)

    @property
    def exit_code(self) -> int:
        """0 pass, 1 fail."""
        return 0 if self.passed else 1

    def to_json(self) -> dict[str, Any]:
        """The machine-readable verdict."""
        data = asdict(self)
        data["passed"] = self.passed
        data["verdict"] = "pass" if self.passed else ("answers" if not self.answers_ok else "regression")
        for record, m in zip(data["metrics"], self.metrics):
            record["change_pct"] = m.change_pct
        return data


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


def judge_metric(metric: str, baseline: Side, current: Side, threshold: float, normalised: bool) -> MetricVerdict:
    """Ratio, interval and verdict for one metric."""
    b = [r.value(metric, normalised) for r in baseline.repeats]
    c = [r.value(metric, normalised) for r in current.repeats]
    if len(b) >= 2 and len(c) >= 2:
        ratio, low, high = ratio_of_medians(c, b, CONFIDENCE)
        method = f"ratio of medians over repeats ({len(b)} vs {len(c)}), {CONFIDENCE:.0%} bootstrap"
    else:
        ratio, low, high = paired_ratio_of_sums(current.repeats[0].per_task(metric, normalised),
                                                baseline.repeats[0].per_task(metric, normalised), CONFIDENCE)
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
            raise ConfigError("metrics", m, f"expected one of {', '.join(METRICS)}")
    if not threshold > 0:
        raise ConfigError("threshold", threshold, "must be positive")
    if normalise not in NORMALISE_MODES:
        raise ConfigError("normalise", normalise, f"expected one of {', '.join(NORMALISE_MODES)}")
    check = check_answers(baseline.answers, current.answers, run_id=current.label, group="current",
                          reference_id=baseline.label, reference_name="the baseline")
    normalised, reason = should_normalise(baseline, current, normalise)
    verdicts = [judge_metric(m, baseline, current, threshold, normalised) for m in metrics]
    return GateResult(baseline.label, current.label, threshold, normalised, reason, check.clean, check.sentence(),
                      check.n_differences, verdicts, time.monotonic() - t0)


def parse_threshold(text: str) -> float:
    """``10%`` or ``0.1`` → 0.1."""
    try:
        return float(text[:-1]) / 100.0 if text.endswith("%") else float(text)
    except ValueError:
        raise ConfigError("threshold", text, "expected a percentage like 10% or a fraction like 0.1") from None
