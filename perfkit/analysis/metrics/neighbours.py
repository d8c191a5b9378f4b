"""A unit's place on its worker and the level of the units around it there: what moved a
stretch of a worker's units alike.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def worker_position(units: pd.DataFrame) -> pd.Series:
    """How many units the unit's worker had started before it in its run (0 for its first):
    what ran before it there. A worker replaced after a kill is a new worker, and starts at 0."""
    return units.sort_values("started", kind="stable").groupby("worker", sort=False).cumcount().reindex(units.index)


#: A unit's neighbourhood on its worker: this many units run before it and after it there.
NEIGHBOURS = 10


def neighbour_level(ratio: pd.Series, order: pd.Series, worker: pd.Series) -> pd.Series:
    """Per unit (aligned on ``ratio``): the median ``ratio`` of the units within
    :data:`NEIGHBOURS` places of it in ``order`` on its ``worker`` (itself among them), NaN ratios
    (units that did not end ok) left out; NaN where fewer than :data:`NEIGHBOURS` have one, and
    for a unit with no worker. What moved the units around it: a worker slower for a stretch of
    a run (markdown-it: every unit of one process worker 1.4–1.9× for a whole run, the other's
    1.0×) moves them all."""
    # workers as integer codes: comparing 10⁴ worker strings cost more than the medians
    codes = pd.factorize(worker)[0]
    by = np.lexsort((order.to_numpy(float), codes))  # stable: by worker, then by order on it
    r, w = ratio.to_numpy(float)[by], codes[by]
    level = np.full(len(r), np.nan)
    starts = np.flatnonzero(np.r_[True, w[1:] != w[:-1]]) if len(r) else np.array([], int)
    for lo, hi in zip(starts, np.r_[starts[1:], len(r)]):
        padded = np.pad(r[lo:hi], NEIGHBOURS, constant_values=np.nan)
        windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * NEIGHBOURS + 1)
        level[lo:hi] = _window_medians(windows)
    out = np.empty(len(r))
    out[by] = np.where(w < 0, np.nan, level)  # a unit with no worker has no neighbours on it
    return pd.Series(out, index=ratio.index)


def _window_medians(windows: np.ndarray) -> np.ndarray:
    """Per row of ``windows``, the median of its values that are not NaN (the mean of the two
    middle ones when they are even, as ``np.nanmedian``); NaN where fewer than
    :data:`NEIGHBOURS` are. One sort of every row: ``np.nanmedian`` masks each row and cost
    most of the uneven-workers finding on the main job (10⁴ units a run)."""
    have = (~np.isnan(windows)).sum(axis=1)
    ranked = np.sort(windows, axis=1)  # NaN sorts last
    rows = np.arange(len(ranked))
    low, high = ranked[rows, np.maximum(have - 1, 0) // 2], ranked[rows, have // 2]
    return np.where(have >= NEIGHBOURS, (low + high) / 2, np.nan)
