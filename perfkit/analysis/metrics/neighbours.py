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
    (units that did not end ok) left out; NaN where fewer than :data:`NEIGHBOURS` have one. What
    moved the units around it: a worker slower for a stretch of a run (markdown-it: every unit of
    one process worker 1.4–1.9× for a whole run, the other's 1.0×) moves them all."""
    t = pd.DataFrame({"r": ratio, "o": order, "w": worker}).sort_values(["w", "o"], kind="stable")
    r, w = t["r"].to_numpy(float), t["w"].to_numpy()
    level = np.full(len(t), np.nan)
    starts = np.flatnonzero(np.r_[True, w[1:] != w[:-1]]) if len(t) else np.array([], int)
    for lo, hi in zip(starts, np.r_[starts[1:], len(t)]):
        padded = np.pad(r[lo:hi], NEIGHBOURS, constant_values=np.nan)
        windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * NEIGHBOURS + 1)
        enough = (~np.isnan(windows)).sum(axis=1) >= NEIGHBOURS
        if enough.any():
            level[lo:hi][enough] = np.nanmedian(windows[enough], axis=1)
    return pd.Series(level, index=t.index).reindex(ratio.index)
