"""Figures summarised over the repeats of a group, with the speedup against the reference group.
"""

from __future__ import annotations

from typing import Any, Optional

import pandas as pd

from perfkit.analysis.metrics.run import group_name
from perfkit.analysis.statistics import ratio_of_medians, spread
from perfkit.model import STATUSES


#: Figures summarised over repeats (median, min, max) by :func:`group_figures`.
REPEATED = ("wall_s", "cpu_s", "parallelism", "unit_cpu_s", "queue_wait_median_s", "queue_wait_max_s",
            "dispatch_overhead", "contention", "ideal_wall_s", "efficiency", "command_wall_s", "command_cpu_s")
#: Confidence of the speedup interval.
SPEEDUP_CONFIDENCE = 0.95


def group_figures(table: pd.DataFrame, reference_group: Optional[tuple[str, str, int]] = None) -> pd.DataFrame:
    """Per (strategy, backend, workers): repeats, ``<figure>_median|_min|_max`` and the rest of its
    spread over repeats (``_mean|_sd|_q1|_q3|_iqr|_outliers|_cv|_unstable|_why``, see
    perfkit/analysis/statistics.py ``spread``) for each figure of :data:`REPEATED`, and ``speedup``, ``speedup_low``, ``speedup_high`` versus the reference group
    (median sequential wall / median wall, bootstrap 95 % interval); per status ``n_<status>_max``
    over repeats and ``n_<status>_worst``, the counts of the repeat with the fewest ok units."""
    keys = ["strategy", "backend", "workers"]
    if table.empty:
        return pd.DataFrame()
    ref_walls = None
    if reference_group is not None:
        mask = (table[keys] == pd.Series(reference_group, index=keys)).all(axis=1)
        ref_walls = table.loc[mask, "wall_s"].to_numpy()
    rows = []
    order = list(dict.fromkeys(map(tuple, table[keys].itertuples(index=False, name=None))))
    if reference_group in order:  # the reference first, then in order of appearance
        order.remove(reference_group)
        order.insert(0, reference_group)
    parts = dict(iter(table.groupby(keys, sort=False)))
    for group in order:
        g = parts[group]
        row: dict[str, Any] = dict(zip(keys, group))
        row["group"] = group_name(group)
        row["repeats"] = int(len(g))
        row["slots"] = int(g["slots"].iloc[0])
        row["chunk_size"] = g["chunk_size"].iloc[0]
        for col in REPEATED:
            v = g[col].astype(float)
            row[f"{col}_median"], row[f"{col}_min"], row[f"{col}_max"] = v.median(), v.min(), v.max()
            # the rest of the figure's spread (mean, sd, IQR, outliers, unstable): statistics.spread
            stats = spread(v.to_numpy())
            for key in ("mean", "sd", "q1", "q3", "iqr", "outliers", "cv", "unstable", "why"):
                row[f"{col}_{key}"] = getattr(stats, key)
        worst = _worst_repeat(g)
        for k in STATUSES:
            row[f"n_{k}_max"] = int(g[f"n_{k}"].max())
            row[f"n_{k}_worst"] = int(worst[f"n_{k}"])
        row["tasks_solved_min"] = int(g["tasks_solved"].min())
        row["tasks"] = int(g["tasks"].max())
        if ref_walls is not None and len(ref_walls):
            row["speedup"], row["speedup_low"], row["speedup_high"] = ratio_of_medians(
                ref_walls, g["wall_s"].to_numpy(), SPEEDUP_CONFIDENCE)
        else:
            row["speedup"] = row["speedup_low"] = row["speedup_high"] = float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def _worst_repeat(g: pd.DataFrame) -> pd.Series:
    """The repeat with the fewest ``ok`` units (then the most timeouts): its status counts add
    up to its units, where each status's maximum over repeats may not (one repeat's 109
    timeouts beside another's 192 ok, out of 192 units)."""
    return g.sort_values(["n_ok", "n_timeout"], ascending=[True, False], kind="stable").iloc[0]
