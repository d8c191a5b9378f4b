"""Compact views of a comparison's units for people: a per-task summary of one run, and the
samples whose candidate counts differ between strategies (the only ones worth a look when the
answers differ). Pure: tables in, tables out."""

from __future__ import annotations

import pandas as pd

from perfkit.analysis.metrics.solved import tasks_solved
from perfkit.model import STATUSES


def task_table(units: pd.DataFrame) -> pd.DataFrame:
    """One row per task (in order of appearance): samples, candidates, units, a count per
    status, and whether the task is solved (perfkit/analysis/metrics/solved.py ``tasks_solved``)."""
    rows = []
    for task_id, t in units.groupby("task_id", sort=False):
        status = t["status"].value_counts()
        rows.append({"task": str(task_id), "samples": int(t.groupby(["split", "index"]).ngroups),
                     "candidates": int(t["candidate"].nunique()), "units": int(len(t)),
                     **{s: int(status.get(s, 0)) for s in STATUSES}, "solved": bool(tasks_solved(t))})
    return pd.DataFrame(rows, columns=["task", "samples", "candidates", "units", *STATUSES, "solved"])


def differing_samples(counts: pd.DataFrame) -> pd.DataFrame:
    """The rows of a candidates-per-sample table (perfkit/analysis/answers.py
    ``candidate_counts``) whose counts are not the same under every strategy, total row
    excluded."""
    t = counts.drop(index="total", errors="ignore")
    if t.empty or len(t.columns) < 2:
        return t.iloc[0:0]
    return t[t.nunique(axis=1) > 1]
