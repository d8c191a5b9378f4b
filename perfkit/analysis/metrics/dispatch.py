"""Worker capacity spent outside the units: the dispatch overhead, the stages' tails, the units'
queue wait, and the work items handed to the workers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from perfkit.analysis.metrics.records import ran
from perfkit.analysis.metrics.slots import slot_lanes
from perfkit.store import Run


def stage_tail_idle_s(units: pd.DataFrame, slots: int) -> float:
    """Seconds of worker capacity spent waiting at the end of stages: for every stage of every
    task, each slot's time from its last unit of the stage to the stage's last end (the whole
    stage for a slot that ran none of it), less the time the slot spent meanwhile in units of
    other tasks. The slowest units of a stage (one sample's costly candidates under ``hybrid``,
    the task's tail under any strategy) keep the other slots idle, whatever the work items cost
    to dispatch."""
    r = ran(units)
    if r.empty or "stage" not in r or r["stage"].isna().all():
        return 0.0
    r = r.assign(lane=r["worker"].astype(str).map(slot_lanes(units)))
    # per lane, its units by start with the running largest end: the units that overlap a
    # window are one slice of them (two binary searches), not a pass over the lane per stage
    by_lane = {}
    for lane, g in r.groupby("lane"):
        spans = g[["started", "ended"]].to_numpy()
        spans = spans[np.argsort(spans[:, 0], kind="stable")]
        by_lane[lane] = (spans, np.maximum.accumulate(spans[:, 1]))
    idle = 0.0
    for _, stage in r.groupby(["task_id", "stage"], sort=False):
        first, end = float(stage["started"].min()), float(stage["ended"].max())
        last = stage.groupby("lane")["ended"].max()
        for lane in range(max(1, slots)):
            since = float(last.get(lane, first))
            busy = 0.0
            if lane in by_lane:
                spans, reach = by_lane[lane]
                seg = spans[np.searchsorted(reach, since, side="right"):np.searchsorted(spans[:, 0], end)]
                busy = float(np.clip(np.minimum(seg[:, 1], end) - np.maximum(seg[:, 0], since), 0, None).sum())
            idle += max(0.0, end - since - busy)
    return idle


def queue_wait(units: pd.DataFrame) -> pd.Series:
    """Per-unit queue wait ``started - queued`` in seconds (units that started)."""
    w = (units["started"] - units["queued"]).dropna()
    return w.clip(lower=0.0)


def dispatch_overhead(wall_s: float, slots: int, unit_wall_s: float) -> float:
    """Fraction of worker capacity (wall × slots) spent outside units, clipped to 0..1."""
    capacity = wall_s * max(1, slots)
    if capacity <= 0:
        return float("nan")
    return float(min(1.0, max(0.0, 1.0 - unit_wall_s / capacity)))


def work_items(run: Run) -> int:
    """Work items handed to the workers: the runner's count when one session ran (a joined item
    counts once), else the planned items the units record (``chunk``)."""
    s, u = run.summary, run.units
    if s.sessions == 1 and s.items_handed_out_this_session > 0:
        return int(s.items_handed_out_this_session)
    return int(u.groupby(["task_id", "chunk"]).ngroups) if len(u) else 0
