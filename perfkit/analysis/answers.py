"""Answers checked against a reference run, unit by unit (docs/design.md, invariant 3).

A unit is identified by :data:`perfkit.model.UNIT_KEY`. Compared with the reference:
*missing* (no outcome here), *extra* (no outcome in the reference), *status changed* (e.g.
ok → timeout: a candidate lost), *output changed* (ok in both, different output hash).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import pandas as pd

from perfkit.model import SAMPLE_KEY, UNIT_KEY, sample_label

KEY, SAMPLE = list(UNIT_KEY), list(SAMPLE_KEY)


@dataclass(frozen=True)
class AnswerCheck:
    """Differences of one run from the reference; each table holds the unit keys plus the
    reference and this run's ``status``/``output_hash`` (``_ref`` and ``_run`` suffixes)."""

    run_id: str
    group: str
    reference_id: str
    missing: pd.DataFrame
    extra: pd.DataFrame
    status_changed: pd.DataFrame
    output_changed: pd.DataFrame
    #: How sentences name the reference ("sequential", "the baseline").
    reference_name: str = "sequential"

    @property
    def clean(self) -> bool:
        """True when every unit agrees with the reference."""
        return not (len(self.missing) or len(self.extra) or len(self.status_changed) or len(self.output_changed))

    @property
    def n_differences(self) -> int:
        """How many units differ, of every kind."""
        return len(self.missing) + len(self.extra) + len(self.status_changed) + len(self.output_changed)

    def sentence(self) -> str:
        """One line: what differs, with the samples it hits."""
        if self.clean:
            return f"{self.group} ({self.run_id}): answers identical to {self.reference_name}."
        parts = []
        for name, df in (("missing", self.missing), ("extra", self.extra),
                         ("status changed", self.status_changed), ("output changed", self.output_changed)):
            if len(df):
                parts.append(f"{len(df)} {name} ({_where(df)})")
        return f"{self.group} ({self.run_id}) differs from {self.reference_name}: " + "; ".join(parts) + "."


def _where(df: pd.DataFrame, limit: int = 4) -> str:
    samples = df.groupby(SAMPLE, sort=False).size()
    many_tasks = df["task_id"].nunique() > 1
    items = [f"{sample_label(s, i, t if many_tasks else None)}×{n}" for (t, s, i), n in samples.items()]
    return ", ".join(items[:limit]) + (f", … {len(items) - limit} more samples" if len(items) > limit else "")


def check_answers(reference: pd.DataFrame, units: pd.DataFrame, run_id: str = "", group: str = "",
                  reference_id: str = "", reference_name: str = "sequential") -> AnswerCheck:
    """Compare ``units`` with the ``reference`` units (both tidy unit tables)."""
    cols = KEY + ["status", "output_hash"]
    ref = reference[cols].drop_duplicates(KEY)
    run = units[cols].drop_duplicates(KEY)
    both = ref.merge(run, on=KEY, how="outer", suffixes=("_ref", "_run"), indicator=True)
    missing = both[both["_merge"] == "left_only"].drop(columns="_merge").reset_index(drop=True)
    extra = both[both["_merge"] == "right_only"].drop(columns="_merge").reset_index(drop=True)
    common = both[both["_merge"] == "both"].drop(columns="_merge")
    status = common[common["status_ref"] != common["status_run"]].reset_index(drop=True)
    ok = common[(common["status_ref"] == "ok") & (common["status_run"] == "ok")]
    output = ok[ok["output_hash_ref"].fillna("") != ok["output_hash_run"].fillna("")].reset_index(drop=True)
    return AnswerCheck(run_id, group, reference_id, missing, extra, status, output, reference_name)


def new_timeouts(units: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """The units that timed out in ``units`` but not in ``reference`` ("timed out here, not in
    the reference"): the one definition every finding and verdict uses."""
    t = units[units["status"] == "timeout"]
    if t.empty:
        return t
    ref_status = reference.drop_duplicates(KEY).set_index(KEY)["status"]
    looked = ref_status.reindex(pd.MultiIndex.from_frame(t[KEY])).to_numpy()
    return t[looked != "timeout"]


def candidate_counts(units_by_name: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The seed's "149 vs 126" table: per sample (rows, plus a ``total`` row), the number of
    candidates with an ``ok`` outcome under each named run (columns)."""
    cols = {}
    for name, units in units_by_name.items():
        ok = units[units["status"] == "ok"]
        counts = ok.groupby(SAMPLE, sort=False).size()
        allsamples = units.groupby(SAMPLE, sort=False).size()
        cols[name] = counts.reindex(allsamples.index, fill_value=0)
    table = pd.DataFrame(cols).fillna(0).astype(int)
    many_tasks = table.index.get_level_values(0).nunique() > 1
    table.index = [sample_label(s, i, t if many_tasks else None) for t, s, i in table.index]
    table.loc["total"] = table.sum()
    table.index.name = "sample"
    return table
