"""Where the time goes: unit wall summed by candidate, sample or task, each unit counted with its
least disturbed reference run.
"""

from __future__ import annotations

from typing import Sequence

import pandas as pd

from perfkit.analysis.metrics.records import KEY, SAMPLE, ran
from perfkit.model import sample_label


def least_disturbed(unit_tables: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """One row per unit: its fastest run among ``unit_tables`` (repeats of one configuration),
    the least disturbed measure of what the unit costs (pyperf takes minimums for the same
    reason); a unit timed out there only when it timed out in every run."""
    both = pd.concat(list(unit_tables), ignore_index=True)
    return both.sort_values("wall_s", kind="stable", na_position="last").drop_duplicates(KEY).sort_index()


#: What :func:`cost_by` can sum unit time by.
COST_KEYS = ("candidate", "sample", "task")


def cost_by(units: pd.DataFrame, by: str) -> pd.DataFrame:
    """Where the time goes: unit wall time (seconds) of the units that ran, summed per
    ``by`` (one of :data:`COST_KEYS`; candidates are pooled over tasks by id), most expensive
    first. Columns: ``name``, ``wall_s``, ``share`` and ``cumulative`` (fractions of all unit
    time), ``units``, ``timeouts`` (how many of them timed out) and ``timeout_wall_s``."""
    r = ran(units)
    columns = ["name", "wall_s", "share", "cumulative", "units", "timeouts", "timeout_wall_s"]
    if r.empty or not r["wall_s"].sum() > 0:
        return pd.DataFrame(columns=columns)
    keys = {"candidate": ["candidate"], "sample": SAMPLE, "task": ["task_id"]}[by]
    df = r[keys + ["wall_s"]].copy()
    timed_out = r["status"].eq("timeout")
    df["timeout"], df["timeout_wall_s"] = timed_out, r["wall_s"].where(timed_out, 0.0)
    t = df.groupby(keys, sort=False).agg(wall_s=("wall_s", "sum"), units=("wall_s", "size"),
                                         timeouts=("timeout", "sum"), timeout_wall_s=("timeout_wall_s", "sum"))
    t = t.sort_values("wall_s", ascending=False, kind="stable").reset_index()
    if by == "sample":
        many = t["task_id"].nunique() > 1
        t["name"] = [sample_label(s, i, k if many else None) for k, s, i in t[SAMPLE].itertuples(index=False)]
    else:
        t["name"] = t[keys[0]].astype(str)
    total = float(t["wall_s"].sum())
    t["share"] = t["wall_s"] / total
    t["cumulative"] = t["share"].cumsum()
    t["timeouts"] = t["timeouts"].astype(int)
    return t[columns]
