"""Phase reports: the effect of every optimisation step, like the seed's "Performance Summary".

A phase is a labelled run (a run with label ``phase-2``) or a run folder; several runs with
the same label are its repeats. Phases are given in order, the first is the baseline. Each
phase gets its wall and CPU (medians over repeats), candidate counts, timeouts, the change
against the previous phase and against the baseline, and its answers checked against the
baseline. A phase is flagged ❌ when the answers of any of its runs differ from the baseline's
beyond the baseline's own variability (its repeats against each other, as a comparison's
sequential runs: nondeterministic candidates, units at their limit; the gate's rule,
perfkit/analysis/gate.py ``judge_answers``) — an answer it gained is named, never flagged — or
when it is
slower than the previous phase by the gate's rule (its interval above 1 and reaching the
threshold). Each speed verdict says how many runs it rests on, and none is given with fewer
than :data:`MIN_VERDICT_RUNS` runs on either side: one run cannot tell a slower phase from a
busy minute.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from perfkit.analysis.gate import DEFAULT_THRESHOLD, judge_answers, judge_metric
from perfkit.analysis.statistics import pct_change
from perfkit.analysis.text import count
from perfkit.model import ConfigError
from perfkit.store import Run
from perfkit.store.baseline import side_of_runs

#: Runs each of two phases needs before their speeds are judged.
MIN_VERDICT_RUNS = 2
#: The gate's verdicts as a phase report words them.
_SPEED = {"regression": "slower", "improvement": "faster", "unchanged": "unchanged", "inconclusive": "inconclusive"}


@dataclass
class Phase:
    """One phase's figures (seconds) and how it compares."""

    label: str
    run_ids: list[str]
    wall_s: float
    cpu_s: float
    candidates_ok: int
    units: int
    timeouts: int
    errors: int
    wall_vs_previous_pct: float
    wall_vs_baseline_pct: float
    cpu_vs_previous_pct: float
    cpu_vs_baseline_pct: float
    answers: str
    answers_ok: bool
    slower: bool
    #: A battery solver's own scores: mean value per score name (first run of the phase).
    battery_scores: dict[str, float] = field(default_factory=dict)
    #: The speed verdict against the previous phase: slower, faster, unchanged, inconclusive,
    #: "no verdict" (too few runs) or "baseline".
    speed: str = "baseline"
    #: What the speed verdict rests on ("3 vs 3 runs, …"), or why there is none.
    basis: str = ""
    #: Units answered here that the baseline had no answer for (named, never flagged).
    gained: int = 0

    @property
    def ok(self) -> bool:
        """True when the answers agree with the baseline and the phase is not judged slower."""
        return self.answers_ok and not self.slower

    @property
    def judged(self) -> bool:
        """True when the speed verdict is a verdict (not "no verdict", "inconclusive")."""
        return self.speed in ("baseline", "slower", "faster", "unchanged")


def phase_table(phases: Sequence[tuple[str, list[Run]]], threshold: float = DEFAULT_THRESHOLD) -> list[Phase]:
    """The rows of the phase report, in the order given (the first phase is the baseline)."""
    if len(phases) < 2:
        raise ConfigError("phases", [label for label, _ in phases], "give at least two phases (the first is the baseline)")
    sides = [side_of_runs(label, runs) for label, runs in phases]
    base = sides[0]
    rows: list[Phase] = []
    for i, (side, (label, runs)) in enumerate(zip(sides, phases)):
        prev = sides[i - 1] if i else side
        units = runs[0].units
        wall = float(np.median([r.wall_s for r in side.repeats]))
        cpu = float(np.median([r.cpu_s for r in side.repeats]))
        pwall = float(np.median([r.wall_s for r in prev.repeats]))
        pcpu = float(np.median([r.cpu_s for r in prev.repeats]))
        bwall = float(np.median([r.wall_s for r in base.repeats]))
        bcpu = float(np.median([r.cpu_s for r in base.repeats]))
        check, _ = judge_answers(base, side, group=label)
        speed, basis = _speed(prev, side, threshold) if i else ("baseline", count(len(side.repeats), "run"))
        rows.append(Phase(
            label=label, run_ids=[r.run_id for r in side.repeats], wall_s=wall, cpu_s=cpu,
            candidates_ok=int((units["status"] == "ok").sum()), units=len(units),
            timeouts=int((units["status"] == "timeout").sum()), errors=int((units["status"] == "error").sum()),
            # the baseline has no previous phase: no change to show ("–"), not +0.0 %
            wall_vs_previous_pct=pct_change(wall, pwall) if i else math.nan, wall_vs_baseline_pct=pct_change(wall, bwall),
            cpu_vs_previous_pct=pct_change(cpu, pcpu) if i else math.nan, cpu_vs_baseline_pct=pct_change(cpu, bcpu),
            answers="baseline" if i == 0 else ("answers identical to the baseline" if check.clean else
                                                check.sentence()),
            answers_ok=check.agrees, slower=speed == "slower", speed=speed, basis=basis, gained=len(check.gained),
            battery_scores=score_means(runs[0].scores)))
    return rows


def _speed(prev, side, threshold: float) -> tuple[str, str]:
    """The speed verdict of ``side`` against the phase before it, and what it rests on."""
    n_prev, n_cur = len(prev.repeats), len(side.repeats)
    runs = f"{n_prev} vs {n_cur} runs"
    if min(n_prev, n_cur) < MIN_VERDICT_RUNS:
        return "no verdict", f"{runs}: at least {MIN_VERDICT_RUNS} each are needed"
    verdict = judge_metric("wall", prev, side, threshold, normalised=False)
    return _SPEED[verdict.verdict], f"{runs}, wall ratio {verdict.ratio:.2f} ({verdict.low:.2f}–{verdict.high:.2f})"


def score_means(scores: Any) -> dict[str, float]:
    """Mean value per score name of a battery's scores (numbers and booleans; other values are
    left out), in the order the names first appear."""
    if scores is None or not len(scores):
        return {}
    values = scores["value"].map(lambda v: float(v) if isinstance(v, (bool, int, float)) else float("nan"))
    return {str(k): float(v) for k, v in values.groupby(scores["name"], sort=False).mean().dropna().items()}
