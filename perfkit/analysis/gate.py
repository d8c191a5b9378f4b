"""The regression gate's verdict: answers first, then speed, without crying wolf on a noisy
machine. Pure: two sides (perfkit/store/baseline.py) — and, for paired timing, the pairs
measured interleaved — in, a :class:`GateResult` out; measuring is perfkit/orchestration/gate.py.

1. Answers: every unit of the baseline must be in every repeat of the current side with the
   same status and output hash, beyond the baseline's own variability — its repeats against
   each other, the rule phases and compare's sequential runs use (perfkit/analysis/answers.py):
   a unit whose output differed between the baseline's repeats (an unseeded candidate) or that
   finished in one and timed out in another (a unit at its limit) may differ again. Any other
   lost or changed answer, in any current repeat, fails the gate, whatever the speed; one whose
   outputs differ between the current repeats themselves is named new nondeterminism, unless a
   repeat still gave the baseline's answer (then it is named varying, and passes). An answer
   gained (a unit the baseline timed out, raised on or got wrong, answered now) is reported,
   never failed. The headline counts the differences by kind (``answer_kinds``; answers.py
   ``tally``, the same roles the check fails by). A baseline file
   that kept one repeat's answers (formats 1 and 2) has no variability to judge by: its answers
   are judged as they are, and the report says so.
2. Instructions (``instructions``): valgrind's count of the run window, exact on one build (a
   coefficient of variation of ~1e-7, docs/benchmarks.md), so the verdict needs no statistics:
   ratio = median(current) / median(baseline), interval = the smallest and largest ratio of
   any two repeats, classified against the threshold as below. Counts of different builds are
   never compared (perfkit/store/baseline.py refuses).
3. Paired timing (``cpu``, ``unqueued``, ``wall`` of base and head measured in randomised
   interleaved pairs, one fresh process per sample; ``unqueued`` is the wall minus the time the
   run waited for a core, perfkit/orchestration/timed_run.py — next to busy processes the wall
   is mostly that wait, while a slowdown by sleeping or I/O stays in it whole): per pair the
   log ratio head / base; a one-sided Wilcoxon
   signed-rank test, Holm-corrected across the metrics and Bonferroni-corrected across the
   looks of early stopping, and the Hodges–Lehmann ratio with its interval
   (perfkit/analysis/statistics.py). ``regression`` when significant and the estimate reaches
   the practical floor (half the threshold: a slowdown of the threshold's size is caught, one
   well below it is not flagged); ``improvement`` the mirror image; ``unchanged`` when the
   interval lies within the floor's band (so that early stopping never settles a slowdown
   between the floor and the threshold as unchanged); else ``inconclusive`` with the figures.
4. Unpaired timing (``wall``, ``cpu`` of stored repeats): ratio = median(current) /
   median(baseline) with a 99 % bootstrap interval (with a single repeat a side, the ratio of
   the run windows and the relative spread of a paired bootstrap over tasks' unit sums around
   it: the sums themselves do not add up to the window when tasks overlap under a parallel
   strategy), classified against the threshold t:

   - ``regression``: the interval lies above 1 (significant) and reaches 1 + t;
   - ``improvement``: the mirror image, below 1 and reaching 1 / (1 + t);
   - ``unchanged``: the whole interval lies within [1 / (1 + t), 1 + t];
   - ``inconclusive``: anything else (too noisy to tell) — reported, not failed.

   Normalisation: when the two sides ran on different machines (CPU model or host differ) —
   or when asked — each figure is divided by its run's calibration CPU time before comparing.

Exit status of ``perfkit gate``: 0 pass, 1 regression or answer failure, 2 usage error.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Optional, Sequence

import numpy as np

from perfkit.analysis.answers import AnswerCheck, baseline_variability, check_repeats, expected_answers
from perfkit.analysis.metrics.machine import BUSY_OTHER_CORES
from perfkit.analysis.statistics import holm, paired_ratio_of_sums, paired_shift, pct_change, ratio_of_medians
from perfkit.model import ConfigError
from perfkit.store.baseline import Side

#: Timing metrics of stored repeats (the unpaired gate).
TIMING_METRICS = ("wall", "cpu")
#: Timing metrics of interleaved pairs, the paired gate's default first (docs/benchmarks.md §3:
#: under load ``unqueued`` detects a +10 % wall change that ``wall`` mostly calls inconclusive).
PAIRED_METRICS = ("unqueued", "cpu", "wall")
DEFAULT_PAIRED_METRICS = PAIRED_METRICS[:2]
METRICS = (*PAIRED_METRICS, "instructions")
CONFIDENCE = 0.99
#: Family-wise false-alarm rate of the paired timing test (one-sided), over metrics and looks.
ALPHA = 0.01
DEFAULT_THRESHOLD = 0.10
#: Instruction counts are exact: a tight threshold (what `make gate` uses) still never cries wolf.
DEFAULT_INSTRUCTION_THRESHOLD = 0.02
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
    #: ``s``, ``calibration units`` or ``instructions``.
    unit: str = "s"
    #: Paired timing: Holm-adjusted one-sided p-value (slower) and the number of pairs.
    p_value: Optional[float] = None
    pairs: int = 0

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
    #: Per task instructions: (task id, baseline, current, change %), the heaviest first.
    tasks: list[tuple[str, float, float, float]] = field(default_factory=list)
    #: What the reader must know about how the figures were obtained (fallbacks, builds).
    notes: list[str] = field(default_factory=list)
    instruction_threshold: float = DEFAULT_INSTRUCTION_THRESHOLD
    #: What the metrics compare: the run window (first dispatch to last outcome).
    figure: str = "run window"
    #: Shown beside, not judged: median whole-command wall and CPU per side (seconds; NaN for
    #: runs recorded before perfkit measured them), ``{"baseline": {"wall_s", "cpu_s"}, "current": ...}``.
    whole_command: dict[str, dict[str, float]] = field(default_factory=dict)
    #: Of ``answer_differences``: the units that fail the gate (lost or changed beyond the
    #: baseline's own variability), and those answered now that the baseline had no answer
    #: for (reported, never a failure); the rest are the baseline's own variability.
    answers_failed: int = 0
    answers_gained: int = 0
    #: The differences by kind (perfkit/analysis/answers.py ``KINDS``): how many units of each.
    answer_kinds: dict[str, int] = field(default_factory=dict)

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
        # the ratio is the run windows' (the figures shown beside it); the tasks give only its
        # spread: their unit sums do not add up to the window once tasks overlap (a parallel
        # strategy keeps several open, so their spans overlap: a sequential 930 ms against a
        # candidate-parallel 1.09 s read +449 % as a ratio of task spans)
        sums, low, high = paired_ratio_of_sums(current.repeats[0].per_task(metric, normalised),
                                               baseline.repeats[0].per_task(metric, normalised), CONFIDENCE)
        ratio = float(np.median(c) / np.median(b)) if np.median(b) > 0 else float("nan")
        low, high = (ratio * low / sums, ratio * high / sums) if sums > 0 else (float("nan"), float("nan"))
        method = (f"single repeat: ratio of the run windows, its {CONFIDENCE:.0%} interval from a paired bootstrap "
                  f"over tasks (unit sums)")
    verdict = "inconclusive" if np.isnan(low) or np.isnan(high) else classify(low, high, threshold)
    return MetricVerdict(metric, float(np.median(b)), float(np.median(c)), ratio, low, high, verdict, method,
                         len(b), len(c))


def judge_instructions(baseline: Side, current: Side, threshold: float) -> MetricVerdict:
    """The instruction verdict: exact counts, so the interval is the spread of the ratios of
    any two repeats (a point when each side has one run)."""
    b, c = baseline.instruction_counts, current.instruction_counts
    if not b or not c:
        missing = baseline.label if not b else current.label
        raise ConfigError("metrics", "instructions", f"{missing} has no instruction counts")
    ratio = float(np.median(c) / np.median(b))
    low, high = min(c) / max(b), max(c) / min(b)
    return MetricVerdict("instructions", float(np.median(b)), float(np.median(c)), ratio, low, high,
                         classify(low, high, threshold), f"instruction count under valgrind ({len(b)} vs {len(c)} runs)",
                         len(b), len(c), unit="instructions")


def task_instructions(baseline: Side, current: Side) -> list[tuple[str, float, float, float]]:
    """Per task: median instructions of each side and the change in percent, heaviest first."""
    rows = []
    for task in baseline.repeats[0].task_instructions if baseline.repeats else {}:
        b = [r.task_instructions[task] for r in baseline.repeats if task in r.task_instructions]
        c = [r.task_instructions[task] for r in current.repeats if task in r.task_instructions]
        if b and c:
            rows.append((task, float(np.median(b)), float(np.median(c)), pct_change(np.median(c), np.median(b))))
    return sorted(rows, key=lambda row: -row[1])


@dataclass
class PairedTiming:
    """Base and head measured in interleaved pairs: per metric (``cpu``, ``wall``), the
    seconds of each pair's base and head sample, in the order measured."""

    base: dict[str, list[float]]
    head: dict[str, list[float]]
    #: How many times the decision was looked at while measuring (early stopping).
    looks: int = 1

    @property
    def n(self) -> int:
        """Pairs measured."""
        return min((len(v) for v in self.base.values()), default=0)


def practical_floor(threshold: float) -> float:
    """The smallest estimated slowdown the paired gate calls a regression: half the threshold,
    so that a true slowdown of the threshold's size is caught (its estimate lands above the
    floor) and one well below it is not flagged."""
    return threshold / 2.0


def judge_pairs(pairs: PairedTiming, metrics: Sequence[str], threshold: float) -> list[MetricVerdict]:
    """Paired verdicts for the timing metrics: Wilcoxon signed-rank on log ratios, Holm across
    the metrics, Bonferroni across ``pairs.looks``; see the module docstring."""
    shifts = [paired_shift(pairs.head[m], pairs.base[m], CONFIDENCE) for m in metrics]
    slower = holm([s.p_slower for s in shifts])
    faster = holm([s.p_faster for s in shifts])
    alpha, floor = ALPHA / max(pairs.looks, 1), practical_floor(threshold)
    verdicts = []
    for m, shift, p_slow, p_fast in zip(metrics, shifts, slower, faster):
        if np.isnan(shift.ratio):
            verdict = "inconclusive"
        elif p_slow < alpha and shift.ratio >= 1.0 + floor:
            verdict = "regression"
        elif p_fast < alpha and shift.ratio <= 1.0 / (1.0 + floor):
            verdict = "improvement"
        elif shift.low >= 1.0 / (1.0 + floor) and shift.high <= 1.0 + floor:
            verdict = "unchanged"  # no change as large as the floor: a slowdown near the threshold stays open
        else:
            verdict = "inconclusive"
        method = (f"{shift.n} interleaved pairs, Wilcoxon signed-rank (Holm over {len(metrics)} metrics, "
                  f"{pairs.looks} looks), Hodges–Lehmann {CONFIDENCE:.0%} interval, floor +{floor:.0%}")
        verdicts.append(MetricVerdict(m, float(np.median(pairs.base[m])), float(np.median(pairs.head[m])),
                                      shift.ratio, shift.low, shift.high, verdict, method, shift.n, shift.n,
                                      p_value=float(p_slow), pairs=shift.n))
    return verdicts


def decided(verdicts: Sequence[MetricVerdict]) -> bool:
    """True when measuring more pairs cannot change the outcome much: every metric is a
    regression or clearly within the threshold band (early stopping)."""
    return all(v.verdict in ("regression", "unchanged", "improvement") for v in verdicts)


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


def check_metrics(metrics: Sequence[str], threshold: float, instruction_threshold: float, paired: bool = True) -> None:
    """The gate's options, checked once (ConfigError naming the field); ``paired``: timing is
    measured in interleaved pairs (only they measure ``unqueued``)."""
    for m in metrics:
        if m not in METRICS:
            raise ConfigError("metrics", m, f"expected one of {', '.join(METRICS)}")
        if m not in TIMING_METRICS and m != "instructions" and not paired:
            raise ConfigError("metrics", m, "measured only in interleaved pairs against a base revision")
    for name, value in (("threshold", threshold), ("instruction_threshold", instruction_threshold)):
        if not value > 0:
            raise ConfigError(name, value, "must be positive")


def gate(baseline: Side, current: Side, threshold: float = DEFAULT_THRESHOLD, metrics: Sequence[str] = TIMING_METRICS,
         normalise: str = "auto", *, instruction_threshold: float = DEFAULT_INSTRUCTION_THRESHOLD,
         pairs: Optional[PairedTiming] = None, notes: Sequence[str] = ()) -> GateResult:
    """Decide: answers first, then each metric. Timing metrics are judged on ``pairs`` when
    given (paired, interleaved), else on the sides' repeats (unpaired). Pure: no measuring."""
    t0 = time.monotonic()
    check_metrics(metrics, threshold, instruction_threshold, paired=pairs is not None)
    if normalise not in NORMALISE_MODES:
        raise ConfigError("normalise", normalise, f"expected one of {', '.join(NORMALISE_MODES)}")
    check, answer_notes = judge_answers(baseline, current)
    normalised, reason = should_normalise(baseline, current, normalise)
    timing = [m for m in metrics if m in PAIRED_METRICS]
    if pairs is not None:
        normalised, reason = False, "paired: base and head measured in the same job"
        verdicts = judge_pairs(pairs, timing, threshold) if timing else []
    else:
        verdicts = [judge_metric(m, baseline, current, threshold, normalised) for m in timing]
    tasks = []
    if "instructions" in metrics:
        verdicts.insert(0, judge_instructions(baseline, current, instruction_threshold))
        tasks = task_instructions(baseline, current)
    # other work on the machine moves timing only: said when a timing metric is judged
    notes = list(notes) + answer_notes + (busy_machine(baseline, current) if timing else [])
    cut = cut_short(check.status_changed)
    if cut and any(v.verdict == "improvement" for v in verdicts):
        verdicts = [_not_credited(v) if v.verdict == "improvement" else v for v in verdicts]
        notes.append(f"No improvement credited: the current side stopped {cut} units at their timeout that ran to "
                     f"the end in the baseline, so it did less work, not the same work faster.")
    return GateResult(baseline.label, current.label, threshold, normalised, reason, check.agrees, check.sentence(),
                      check.n_differences, verdicts, time.monotonic() - t0, tasks, notes, instruction_threshold,
                      whole_command={"baseline": whole_command(baseline), "current": whole_command(current)},
                      answers_failed=len(check.real), answers_gained=len(check.gained),
                      answer_kinds=check.kind_counts())


def judge_answers(baseline: Side, current: Side, group: str = "current") -> tuple[AnswerCheck, list[str]]:
    """Every repeat of the current side against the baseline's answers beyond the baseline's
    own variability — a unit fails when it fails in any repeat, and one whose outputs differ
    between the current repeats themselves is new nondeterminism —, answers gained reported and
    never failed (the gate's and the phase report's one rule; perfkit/analysis/answers.py
    ``check_repeats``), and notes on what that variability rests on."""
    runs = len(baseline.repeat_answers)
    variability = baseline_variability(baseline.repeat_answers,
                                       [f"{baseline.label} repeat {i + 1}" for i in range(runs)], baseline.timeout_s)
    answers = expected_answers(baseline.repeat_answers) if runs else baseline.answers
    # a side read from a baseline file of format 1 or 2 kept its first repeat's answers only
    check = check_repeats(answers, current.repeat_answers or [current.answers], run_id=current.label, group=group,
                          reference_id=baseline.label, reference_name="the baseline", variability=variability,
                          gains=True)
    if variability is None:
        # no label: `make gate` measures the baseline file's revision as "base", the file is still its answers
        return check, ["The baseline carries no variability: its file keeps one repeat's "
                       "answers (baseline format 1 or 2), judged as they are, so an unseeded candidate or a unit "
                       "at its limit fails as a changed answer; save it again (perfkit baseline save) to keep "
                       "every repeat's answers."]
    if runs == 1 and not check.clean:
        return check, ["The baseline's variability rests on 1 repeat: units near their limit are known, "
                       "nondeterministic candidates are not; save it with more repeats to tell them apart."]
    return check, []


def busy_machine(baseline: Side, current: Side) -> list[str]:
    """A note when other work used at least ``BUSY_OTHER_CORES`` cores during a repeat of
    either side (perfkit/analysis/findings/machine.py, the comparison's busy-machine finding): wall and
    CPU verdicts then include waiting for it; instruction counts do not."""
    # the side by its role: a side of run folders is labelled by their names, the run id again
    busy = [(role, r) for role, side in (("baseline", baseline), ("current", current)) for r in side.repeats
            if r.others_cores >= BUSY_OTHER_CORES]
    if not busy:
        return []
    role, most = max(busy, key=lambda b: b[1].others_cores)
    return [f"Measured on a busy machine: other work used up to {most.others_cores:.2f} cores during {len(busy)} "
            f"repeat{'s' if len(busy) > 1 else ''} ({role} run {most.run_id}): wall and CPU verdicts include waiting "
            "for it, instruction counts do not; gate again on a quiet machine before trusting a timing verdict."]


def cut_short(status_changed: Any) -> int:
    """Units ok in the baseline and timed out in the current side (an answer check's status
    changes): the current side stopped them at their limit, so its CPU, wall and instructions
    cover less work than the baseline's."""
    if not len(status_changed):
        return 0
    return int(((status_changed["status_ref"] == "ok") & (status_changed["status_run"] == "timeout")).sum())


def _not_credited(v: MetricVerdict) -> MetricVerdict:
    """An improvement that less work explains: inconclusive (see :func:`cut_short`)."""
    return replace(v, verdict="inconclusive", method=v.method + "; not credited: units cut at their timeout")


def whole_command(side: Side) -> dict[str, float]:
    """Median whole-command wall and CPU of a side's repeats (seconds; NaN when unmeasured)."""
    def median(values: list[float]) -> float:
        known = [v for v in values if not np.isnan(v)]
        return float(np.median(known)) if known else float("nan")

    return {"wall_s": median([r.command_wall_s for r in side.repeats]),
            "cpu_s": median([r.command_cpu_s for r in side.repeats])}


def parse_threshold(text: str, field: str = "threshold") -> float:
    """``10%`` or ``0.1`` → 0.1 (``field`` names the option in the error, with the text as
    written). A threshold is the size of a change in either direction (a regression above
    1 + t, an improvement below 1 / (1 + t)), so zero or a negative one is refused, not read as
    "faster by": it would leave no band for "unchanged" and call every slower run a regression."""
    try:
        value = float(text[:-1]) / 100.0 if text.endswith("%") else float(text)
    except ValueError:
        raise ConfigError(field, text, "expected a percentage like 10% or a fraction like 0.1") from None
    if not value > 0:
        raise ConfigError(field, text, "must be positive: the smallest change that matters, either way")
    return value
