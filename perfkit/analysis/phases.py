"""Phase reports: the effect of every optimisation step, like the seed's "Performance Summary".

A phase is a labelled run (a run with label ``phase-2``) or a run folder; several runs with
the same label are its repeats. Phases are given in order, the first is the baseline. Each
phase gets its wall and CPU (medians over repeats), candidate counts, timeouts, the change
against the previous phase and against the baseline, and its answers checked against the
baseline. A phase is flagged ❌ when its answers differ from the baseline's or when it is
slower than the previous phase beyond the threshold (the gate's rule when both have repeats,
the plain ratio otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from perfkit.analysis.answers import check_answers
from perfkit.analysis.gate import DEFAULT_THRESHOLD, judge_metric
from perfkit.analysis.statistics import pct_change
from perfkit.model import ConfigError
from perfkit.store import Run
from perfkit.store.baseline import side_of_runs


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

    @property
    def ok(self) -> bool:
        return self.answers_ok and not self.slower


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
        check = check_answers(base.answers, side.answers, run_id=label, group=label, reference_id=base.label,
                              reference_name="the baseline")
        slower = False
        if i:
            verdict = judge_metric("wall", prev, side, threshold, normalised=False)
            slower = verdict.verdict == "regression" or (verdict.verdict == "inconclusive"
                                                         and wall > pwall * (1 + threshold))
        rows.append(Phase(
            label=label, run_ids=[r.run_id for r in side.repeats], wall_s=wall, cpu_s=cpu,
            candidates_ok=int((units["status"] == "ok").sum()), units=len(units),
            timeouts=int((units["status"] == "timeout").sum()), errors=int((units["status"] == "error").sum()),
            wall_vs_previous_pct=pct_change(wall, pwall) if i else 0.0, wall_vs_baseline_pct=pct_change(wall, bwall),
            cpu_vs_previous_pct=pct_change(cpu, pcpu) if i else 0.0, cpu_vs_baseline_pct=pct_change(cpu, bcpu),
            answers="baseline" if i == 0 else ("answers identical to the baseline" if check.clean else
                                                check.sentence()),
            answers_ok=check.clean, slower=slower, battery_scores=score_means(runs[0].scores)))
    return rows


def score_means(scores: Any) -> dict[str, float]:
    """Mean value per score name of a battery's scores (numbers and booleans; other values are
    left out), in the order the names first appear."""
    if scores is None or not len(scores):
        return {}
    values = scores["value"].map(lambda v: float(v) if isinstance(v, (bool, int, float)) else float("nan"))
    return {str(k): float(v) for k, v in values.groupby(scores["name"], sort=False).mean().dropna().items()}
