"""Units looked up in the sequential reference: each unit's CPU and wall there, its cost over
the reference runs, and a run's CPU of each unit against it.
"""

from __future__ import annotations

from typing import Sequence

import pandas as pd

from perfkit.analysis.metrics.neighbours import worker_position
from perfkit.analysis.metrics.records import KEY, measured
from perfkit.analysis.metrics.stopped import after_stopped


def reference_cost(reference_units: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Per unit that ended ok in every reference run (index: the unit key): ``ref_low_s``,
    ``ref_high_s`` and ``ref_mid_s``, its fastest, slowest and median CPU there, ``ref_wall_s``
    its median wall,
    ``ref_position`` (:func:`worker_position`, in the first reference run), and, when a unit
    of a reference run raised, the columns of :func:`after_stopped` prefixed ``ref_`` (the first
    reference run's; ``ref_stopped_room_s`` the least over the reference runs, 0 where one had none)."""
    refs = [r[KEY + ["status", "cpu_s", "wall_s"]].drop_duplicates(KEY, keep="last") for r in reference_units]
    both = pd.concat(refs)
    ref = both.assign(ok=both["status"].eq("ok")).groupby(KEY, sort=False).agg(
        ok=("ok", "all"), runs=("ok", "size"), ref_low_s=("cpu_s", "min"), ref_high_s=("cpu_s", "max"),
        ref_mid_s=("cpu_s", "median"), ref_wall_s=("wall_s", "median"))
    ref = ref[ref["ok"] & (ref["runs"] == len(refs)) & (ref["ref_low_s"] > 0)].drop(columns=["ok", "runs"])
    first = reference_units[0].assign(ref_position=worker_position(reference_units[0]))
    ref = ref.join(first.drop_duplicates(KEY, keep="last").set_index(KEY)["ref_position"])
    if not any(r["status"].isin(["timeout", "error"]).any() for r in reference_units):
        return ref  # nothing raised: no unit ran after a unit that did
    stops = [after_stopped(r).set_axis(pd.MultiIndex.from_frame(r[KEY])) for r in reference_units]
    stops = [s[~s.index.duplicated(keep="last")] for s in stops]
    # the least room any reference run left: the aftermath it could have had in every one
    room = pd.concat([s["stopped_room_s"] for s in stops], axis=1).fillna(0.0).min(axis=1)
    return ref.join(stops[0].assign(stopped_room_s=room.reindex(stops[0].index)).add_prefix("ref_"))


def cost_against_reference(units: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """Each unit of ``units`` with a measured CPU (:func:`measured`; a timed-out unit's is what it
    used until it stopped, so no more than its work) and a :func:`reference_cost` row:
    ``status``, ``worker``, ``cpu_s``, ``wall_s``, ``position`` (:func:`worker_position`), ``started``
    and ``ended`` here beside the reference's columns. ``level_cpu_s`` is its CPU divided by the run's level: the median, over
    the units ok here, of their CPU over their median reference CPU — what the machine's speed,
    its load or two cores sharing memory bandwidth did to every unit alike, so what stands out
    beyond it is the unit's own. Empty when no unit is comparable."""
    # the columns read here only: every step below copies what it keeps, on runs of 10⁴–10⁵ units
    units = units[[c for c in KEY + ["status", "worker", "started", "ended", "wall_s", "cpu_s", "leaked"] if c in units]]
    mine = measured(units.assign(position=worker_position(units))).drop_duplicates(KEY, keep="last")
    out = mine[KEY + ["status", "worker", "cpu_s", "position"] + [c for c in ("wall_s", "started", "ended") if c in mine]].merge(
        reference.reset_index(), on=KEY)
    ok = out[out["status"] == "ok"]
    level = float((ok["cpu_s"] / ok["ref_mid_s"]).median()) if len(ok) else float("nan")
    if not level > 0:
        return out.iloc[:0].assign(level_cpu_s=pd.Series(dtype=float))
    return out.assign(level_cpu_s=out["cpu_s"] / level)


def reference_lookup(units: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """Each unit of ``units`` looked up in ``reference`` (aligned on ``units``; NaN where the
    reference lacks it): ``cpu_s``, its CPU there whatever its status, and ``wall_s``, its wall
    there when measured (:func:`measured`). :func:`unit_work`, :func:`unit_lane` and
    :func:`unit_wait` read these; a run's figures look them up once (on 10⁴ units each lookup
    is a MultiIndex built and reindexed)."""
    idx = pd.MultiIndex.from_frame(units[KEY])
    cpu = reference[KEY + ["cpu_s"]].drop_duplicates(KEY).set_index(KEY)["cpu_s"].reindex(idx)
    wall = measured(reference)[KEY + ["wall_s"]].drop_duplicates(KEY).set_index(KEY)["wall_s"].reindex(idx)
    return pd.DataFrame({"cpu_s": cpu.to_numpy(), "wall_s": wall.to_numpy()}, index=units.index)
