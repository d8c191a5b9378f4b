"""Change points in a metric's history: where a series of measurements over commits shifted.

An after-merge view, not a gate: the series (perfkit/store/history.py) is split by Apache
Otava's change-point detector (e-divisive means with a Student t significance test, the method
MongoDB published for its performance CI), a maintained library rather than hand-written
statistics. Otava is an optional dependency (``perfkit[history]``): without it the series is
still shown, with a sentence saying how to get change points.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from perfkit.analysis.statistics import pct_change
from perfkit.store.history import HistoryRecord

#: Significance of a change point (Otava's ``max_pvalue``), the window it looks across, and
#: the smallest relative shift reported (instruction counts move by a few instructions between
#: commits that change nothing: without a floor, any drift would be "significant").
CHANGE_POINT_PVALUE = 0.001
CHANGE_POINT_WINDOW = 50
CHANGE_POINT_MIN_SHIFT = 0.01


@dataclass(frozen=True)
class ChangePoint:
    """The series shifted at ``index`` (the first record after the change)."""

    index: int
    commit: str
    before: float
    after: float
    p_value: float

    @property
    def change_pct(self) -> float:
        """After against before, in percent."""
        return pct_change(self.after, self.before)


@dataclass
class History:
    """One metric of one benchmark over commits, with its change points."""

    metric: str
    benchmark: str
    records: list[HistoryRecord]
    change_points: list[ChangePoint]
    #: Why change points are missing, when they are (no library, too few records).
    note: Optional[str] = None


def change_points(values: Sequence[float], commits: Sequence[str]) -> tuple[list[ChangePoint], Optional[str]]:
    """Otava's change points of ``values`` (in order), or none and the reason."""
    if len(values) < 3:
        return [], "too few measurements for change points (at least 3)"
    try:
        from otava.analysis import compute_change_points
    except ImportError:
        return [], "change points need Apache Otava: pip install 'perfkit[history]'"
    found, _ = compute_change_points([float(v) for v in values], window_len=CHANGE_POINT_WINDOW,
                                     max_pvalue=CHANGE_POINT_PVALUE, min_magnitude=CHANGE_POINT_MIN_SHIFT)
    return [ChangePoint(int(cp.index), commits[int(cp.index)], float(cp.stats.mean_1), float(cp.stats.mean_2),
                        float(cp.stats.pvalue)) for cp in found], None


def history(records: Sequence[HistoryRecord], metric: str, benchmark: str) -> History:
    """The series of ``metric`` for ``benchmark`` (records in the order measured, one value per
    record) and its change points."""
    series = [r for r in records if r.metric == metric and r.benchmark == benchmark]
    points, note = change_points([r.value for r in series], [r.commit for r in series])
    return History(metric, benchmark, series, points, note)
