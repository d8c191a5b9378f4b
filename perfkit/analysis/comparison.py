"""The comparison of stored runs: figures (metrics), answers checked against sequential and
the sequential reference checked against itself (answers), where the time goes (metrics), and
findings (rules → sentences). :func:`analyse` ties them into one :class:`Comparison`, the only
thing a comparison report renders.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Optional, Sequence

import pandas as pd

from perfkit.analysis.answers import (
    NOISE_KINDS,
    VARIES_ACROSS_REPEATS,
    AnswerCheck,
    ReferenceVariability,
    candidate_counts,
    check_answers,
    expected_answers,
    reference_variability,
    varying_candidates,
)
from perfkit.analysis.breakdown import Breakdown, group_breakdowns
from perfkit.analysis.findings import Finding, findings, recommendation
from perfkit.analysis.metrics.cost import COST_KEYS, cost_by, least_disturbed
from perfkit.analysis.metrics.groups import group_figures
from perfkit.analysis.metrics.run import RunFigures, figures_table, run_figures
from perfkit.analysis.text import count
from perfkit.store import Run


@dataclass
class Comparison:
    """Everything a report shows, computed once.

    ``table``: one row per run (see :class:`RunFigures`); ``groups``: one row per
    (strategy, backend, workers) with median/min/max over repeats and the speedup interval;
    ``answers``: one check per non-reference run, against the answers of its repeat's sequential
    run and, where that run gave none, another sequential run's; ``counts``: ok candidates per
    sample (rows) × group (columns, first repeat of each); ``variability``: the reference's runs
    compared with each other; ``cost``: where the reference's unit time goes, by candidate, sample and task
    (:func:`perfkit.analysis.metrics.cost.cost_by`); ``findings`` and ``recommendation``.
    """

    runs: list[Run]
    reference: Optional[Run]
    figures: list[RunFigures]
    table: pd.DataFrame
    groups: pd.DataFrame
    answers: list[AnswerCheck]
    counts: pd.DataFrame
    findings: list[Finding] = field(default_factory=list)
    recommendation: Optional[Finding] = None
    #: Runs without a single recorded unit (failed at start-up); left out of every figure.
    empty_runs: list[str] = field(default_factory=list)
    variability: Optional[ReferenceVariability] = None
    cost: dict[str, pd.DataFrame] = field(default_factory=dict)
    #: Each group's median measured wall beside its wall predicted from the reference alone
    #: (perfkit.analysis.prediction.predict.model_check); empty when not predicted.
    model: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: Whether the model used this machine's measured backend costs (False: built-in defaults).
    model_calibrated: bool = False
    #: Group name → where its whole command's time went (perfkit/analysis/breakdown.py).
    breakdowns: dict[str, Breakdown] = field(default_factory=dict)

    @property
    def differences(self) -> bool:
        """True when any run's answers differ from the sequential reference beyond the
        reference's own variability (perfkit/analysis/answers.py)."""
        return any(not a.agrees for a in self.answers)

    def headline(self) -> str:
        """The first line of every report: the answer check."""
        if self.reference is None:
            return "ANSWERS NOT CHECKED: no sequential run to compare with."
        if not self.answers:
            return "ANSWERS NOT CHECKED: no run besides the sequential reference."
        n_runs = len(self.answers)
        differing = [a for a in self.answers if not a.clean]
        if not differing:
            return (f"Answers identical: {'the run agrees' if n_runs == 1 else f'all {n_runs} runs agree'} "
                    "with sequential unit by unit.")
        bad = [a for a in differing if not a.agrees]
        if not bad:
            n = sum(a.n_differences for a in differing)
            # a variation only a strategy's repeats showed is not the reference's own
            own = not any(k == VARIES_ACROSS_REPEATS for a in differing for k in a.kind_counts())
            whose = "the reference's" if own else "the candidates'"
            return (f"Answers agree beyond {whose} own variability: "
                    f"{'the run agrees' if n_runs == 1 else f'all {n_runs} runs agree'} with sequential "
                    f"except {count(n, 'unit')} that {'varies' if n == 1 else 'vary'} "
                    f"{'between sequential runs too' if own else 'from run to run'} ({_kinds(differing, True)}).")
        n = sum(len(a.real) for a in bad)
        groups = sorted({a.group for a in bad})
        return (f"ANSWERS DIFFER: {len(bad)} of {n_runs} runs differ from sequential beyond its own variability "
                f"({count(n, 'unit difference')}: {_kinds(bad, False)}; {', '.join(groups)}).")

    def by_group(self) -> dict[tuple, list[RunFigures]]:
        """The figures of every run, by repeat group (strategy, backend, workers)."""
        out: dict[tuple, list[RunFigures]] = {}
        for f in self.figures:
            out.setdefault(f.group, []).append(f)
        return out

    def figures_of(self, group: tuple) -> list[RunFigures]:
        """The figures of the runs of one repeat group."""
        return [f for f in self.figures if f.group == group]

    def runs_of(self, group: tuple) -> list[Run]:
        """The runs of one repeat group."""
        return [r for r, f in zip(self.runs, self.figures) if f.group == group]

    def run_of(self, figure: RunFigures) -> Run:
        """The run a figure was computed from."""
        return self.runs[self.figures.index(figure)]

    def figure_of(self, run: Run) -> RunFigures:
        """The figures of a run."""
        return self.figures[[id(r) for r in self.runs].index(id(run))]

    def reference_for(self, run: Run) -> Optional[Run]:
        """The sequential run of the same repeat (else the first sequential run)."""
        return _reference_for(self.runs, run)


def _kinds(checks: list[AnswerCheck], noise: bool) -> str:
    """``lost unit ×2, boundary flip ×5``: the kinds of difference over ``checks`` (the noise
    kinds when ``noise``, the others otherwise)."""
    total: dict[str, int] = {}
    for a in checks:
        for kind, n in a.kind_counts().items():
            if (kind in NOISE_KINDS) == noise:
                total[kind] = total.get(kind, 0) + n
    return ", ".join(f"{kind} ×{n}" for kind, n in total.items())


def _is_reference(run: Run) -> bool:
    return run.config.strategy == "sequential"


def _reference_for(runs: Sequence[Run], run: Run) -> Optional[Run]:
    refs = [r for r in runs if _is_reference(r)]
    if not refs:
        return None
    preferred = [r for r in refs if r.config.backend == "inline"] or refs
    same = [r for r in preferred if r.config.repeat == run.config.repeat]
    return (same or preferred)[0]


def reference_of(runs: Sequence[Run]) -> Optional[Run]:
    """The run a comparison of ``runs`` measures work, speedups and answers against (its
    ``reference``): the sequential run of the first sequential run's repeat, inline preferred;
    runs without units are left out. None without a sequential run."""
    with_units = [r for r in runs if len(r.units)]
    refs = [r for r in with_units if _is_reference(r)]
    return _reference_for(with_units, refs[0]) if refs else None


def analyse(runs: Sequence[Run]) -> Comparison:
    """Analyse stored runs. The sequential runs are the reference for work, speedup and
    answers; without one, figures use each run's own CPU and answers are not checked."""
    all_runs = list(runs)
    runs = [r for r in all_runs if len(r.units)]
    shell = Comparison(runs, None, [], pd.DataFrame(), pd.DataFrame(), [], pd.DataFrame())
    shell.empty_runs = [r.run_id for r in all_runs if not len(r.units)]
    shell.reference = reference_of(runs)
    shell.figures = [run_figures(r, shell.reference_for(r)) for r in runs]
    shell.table = figures_table(shell.figures)
    ref_group = shell.figure_of(shell.reference).group if shell.reference is not None else None
    shell.groups = group_figures(shell.table, ref_group)
    ref_runs = shell.runs_of(ref_group) if ref_group is not None else []
    if ref_runs:
        v = reference_variability([r.units for r in ref_runs], [r.run_id for r in ref_runs],
                                  shell.reference.config.timeout.unit_timeout_s)
        # a candidate whose answers differ between a strategy's own repeats varies from run to
        # run: where two sequential runs happened to agree (python-constraint2's min_conflicts),
        # its difference from sequential is no evidence that the strategy changed it
        # (the gate's rule: outputs that differ with none of them sequential's are the strategy's)
        others = {figs[0].name: [r.units for r in shell.runs_of(group)] for group, figs in shell.by_group().items()
                  if group != ref_group}
        seen = varying_candidates(expected_answers([r.units for r in ref_runs]), others, v)
        shell.variability = replace(v, elsewhere=seen)
    expected_of: dict[str, pd.DataFrame] = {}  # per sequential repeat: each strategy of that repeat uses it
    for run, fig in zip(runs, shell.figures):
        ref = shell.reference_for(run)
        if ref is None or ref is run:
            continue
        # a unit its own repeat's sequential run timed out and another answered is expected to give that answer
        if ref.run_id not in expected_of:
            expected_of[ref.run_id] = expected_answers([ref.units] + [r.units for r in ref_runs if r is not ref])
        expected = expected_of[ref.run_id]
        shell.answers.append(check_answers(expected, run.units, fig.run_id, fig.name,
                                           shell.figure_of(ref).run_id, variability=shell.variability))
    cost_units = least_disturbed([r.units for r in (ref_runs or runs[:1])]) if runs else pd.DataFrame()
    shell.cost = {by: cost_by(cost_units, by) for by in COST_KEYS} if len(cost_units) else {}
    firsts: dict[str, pd.DataFrame] = {}
    order = sorted(zip(runs, shell.figures), key=lambda rf: rf[0] is not shell.reference)
    for run, fig in order:
        firsts.setdefault(fig.name, run.units)
    shell.counts = candidate_counts(firsts) if firsts else pd.DataFrame()
    shell.breakdowns = group_breakdowns({figs[0].name: shell.runs_of(group) for group, figs in shell.by_group().items()})
    shell.findings = findings(shell)
    shell.recommendation = recommendation(shell)
    return shell
