"""How many units a run holds at once (lanes) and runs on a core each (slots), which lane each
worker incarnation held, and each slot's time in units.
"""

from __future__ import annotations

import pandas as pd

from perfkit.analysis.metrics.records import ran
from perfkit.model import RunConfig


#: The backend that runs every work item in the calling thread, one after another.
INLINE = "inline"


def lanes_of(config: RunConfig) -> int:
    """How many units a run's workers hold at once: its workers; 1 for the sequential strategy
    and for the inline backend (one lane: its ``workers`` run nothing at once)."""
    if config.strategy == "sequential" or config.backend == INLINE:
        return 1
    return max(1, int(config.workers))


def slots_of(config: RunConfig, cores: int) -> int:
    """How many units can run at once on a core each: min(lanes, cores) (:func:`lanes_of`; an
    inline×2 group read "ideal 1.19 s, 35 % of the physical limit, workers waiting at the end of
    stages" beside a sequential run of 2.5 s, docs/benchmarks.md "Session 10")."""
    return max(1, min(lanes_of(config), cores))


def slot_lanes(units: pd.DataFrame) -> dict[str, int]:
    """Worker id → slot (lane) number: incarnations of one slot share its lane.

    A backend replaces a killed worker with a new process (a new id) in the same slot
    (docs/design.md, "slot"). Incarnations whose busy spans (first start to last end) never
    overlap are packed onto as few lanes as possible, in order of their first unit — greedy
    interval partitioning, which is optimal — so a run on 2 workers with 20 kills has 2 lanes,
    not 22, whatever the backend named its workers.
    """
    r = units[units["started"].notna()]
    if r.empty:
        return {}
    spans = r.groupby(r["worker"].astype(str)).agg(first=("started", "min"), last=("ended", "max"))
    spans["last"] = spans["last"].fillna(spans["first"])
    lanes: dict[str, int] = {}
    free_at: list[float] = []  # per lane, when its current incarnation's last unit ended
    for worker, span in spans.sort_values(["first", "last"]).iterrows():
        reusable = [i for i, end in enumerate(free_at) if end <= span["first"]]
        lane = min(reusable, key=lambda i: free_at[i]) if reusable else len(free_at)
        if lane == len(free_at):
            free_at.append(span["last"])
        free_at[lane] = max(free_at[lane], span["last"])
        lanes[str(worker)] = lane
    return lanes


def busy_by_slot(units: pd.DataFrame) -> pd.Series:
    """Seconds each slot spent in units (unit wall of every incarnation of the slot)."""
    r = ran(units)
    lanes = slot_lanes(units)
    return r["wall_s"].groupby(r["worker"].astype(str).map(lanes)).sum().rename(lambda i: f"slot {i}")
