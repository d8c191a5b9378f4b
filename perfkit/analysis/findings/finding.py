"""A finding (one sentence with its evidence) and what every rule of the package reads.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Optional

import pandas as pd

from perfkit.analysis.metrics.reference import cost_against_reference, reference_cost

if TYPE_CHECKING:  # pragma: no cover
    from perfkit.analysis.comparison import Comparison


#: How many units, candidates or runs a finding's evidence lists.
EVIDENCE_ROWS = 8

SEVERITIES = ("problem", "warning", "info")


@dataclass(frozen=True)
class Finding:
    """One sentence with its evidence. ``severity``: problem, warning, info or recommendation."""

    rule: str
    severity: str
    group: str
    sentence: str
    evidence: tuple[str, ...] = field(default_factory=tuple)


def runs_by_group(c: "Comparison"):
    """Each group of the comparison's runs: its name and its runs' figures."""
    for group, figs in c.by_group().items():
        yield group, figs


def upper_median(values: list[float]) -> float:
    """The median of ``values``, the upper of the middle two for an even count (a figure one
    run measured); NaN for none."""
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else float("nan")


def times_range(ratios: list[float]) -> str:
    """``1.61–3.99×``, or ``2.00×`` when the lowest and highest read alike."""
    low, high = f"{min(ratios):.2f}", f"{max(ratios):.2f}"
    return f"{low}×" if low == high else f"{low}–{high}×"


#: What several rules read of one comparison, made once while :func:`findings` runs (None
#: outside it: a rule called on its own computes afresh): keyed by what it is and the run's id().
SHARED_FIGURES: ContextVar[Optional[dict]] = ContextVar("perfkit_findings_shared", default=None)


def shared_figure(key: tuple, make: Callable[[], object]):
    """``make()``, once per :func:`findings` call for each ``key`` (a run's CPU against its
    reference's is read by warm-state, cold-state and cpu-off-thread; carried-state's cost
    tables by carried-state and contention-timeouts; each run's units against the reference,
    :func:`unit_costs`, by carried-state and uneven-workers)."""
    memo = SHARED_FIGURES.get()
    if memo is None:
        return make()
    if key not in memo:
        memo[key] = make()
    return memo[key]


def reference_costs(c: "Comparison") -> pd.DataFrame:
    """Each unit's CPU in the sequential reference's runs (metrics/reference.py ``reference_cost``), made
    once per :func:`findings` call."""
    ref_group = c.figure_of(c.reference).group
    return shared_figure(("reference_cost",), lambda: reference_cost([r.units for r in c.runs_of(ref_group)]))


def unit_costs(c: "Comparison", run) -> pd.DataFrame:
    """``run``'s units beside their CPU in the reference (metrics/reference.py ``cost_against_reference``),
    made once per :func:`findings` call."""
    return shared_figure(("unit_cost", id(run)), lambda: cost_against_reference(run.units, reference_costs(c)))
