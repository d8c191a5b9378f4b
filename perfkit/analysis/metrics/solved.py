"""Tasks solved: a candidate whose output matches on every sample with a known output.
"""

from __future__ import annotations

import pandas as pd

from perfkit.analysis.metrics.records import KEY


def tasks_solved(units: pd.DataFrame) -> int:
    """Tasks with a candidate whose output matches on every demo sample and on every test sample
    with a known output (a sample's output is known when any unit on it has a ``match`` value)."""
    if units.empty:
        return 0
    df = units[KEY + ["match"]].copy()
    df["known"] = df["match"].notna()
    df["hit"] = df["match"].map(lambda m: m is True or m == True)  # noqa: E712 (numpy bools)
    solved = 0
    for task_id, t in df.groupby("task_id", sort=False):
        known = t.groupby(["split", "index"])["known"].any()
        needed = {k for k, v in known.items() if v or k[0] == "demo"}
        if not needed:
            continue
        hits: dict[str, set] = {}
        for cand, split, index in t.loc[t["hit"], ["candidate", "split", "index"]].itertuples(index=False):
            hits.setdefault(cand, set()).add((split, index))
        if any(needed <= s for s in hits.values()):
            solved += 1
    return solved
