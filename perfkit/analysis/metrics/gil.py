"""The GIL of a thread run: the units that may have held it, the slot capacity spent between
units while one did, and which unit held it while another waited.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from perfkit.analysis.metrics.records import KEY, ran
from perfkit.analysis.metrics.slots import slot_lanes
from perfkit.model import sample_label


#: CPython's default switch interval (``sys.getswitchinterval()``), seconds: a thread running
#: Python hands the GIL over this often (while others wait, it is asked to drop it after this
#: long), so only a longer unit can hold the other threads out. Written here, the lower of the
#: two: perfkit/analysis/prediction/ imports it (prediction imports metrics, never the reverse).
SWITCH_INTERVAL_S = 0.005


def gil_holders(units: pd.DataFrame, timeout_s: float, min_share: float = 0.5) -> pd.DataFrame:
    """The units of a thread run that may have held the GIL, with the span they held it: those
    that ran at ``min_share`` of a core or more for at least a switch interval (pure Python hands
    the GIL over every :data:`SWITCH_INTERVAL_S`; a C call such as ``re``'s matcher does not), and
    those given up at their timeout whose thread ran on at that share until it ended
    (``leaked_s`` past the deadline: from the unit's start to then). Columns: the unit's,
    ``held_from`` and ``held_to`` (seconds on the run's clock)."""
    r = ran(units)
    r = r[r["cpu_s"].notna()]
    leaked = r["leaked"].fillna(False).astype(bool) & r["leaked_s"].notna()
    until = np.where(leaked, r["started"] + timeout_s + r["leaked_s"].fillna(0), r["ended"])
    span = until - r["started"]
    keep = (r["cpu_s"] >= min_share * span) & (span >= SWITCH_INTERVAL_S) & (~r["leaked"].fillna(False).astype(bool) | leaked)
    return r.assign(held_from=r["started"], held_to=until)[keep]


def gil_wait_s(units: pd.DataFrame, slots: int, timeout_s: float, min_share: float = 0.5) -> float:
    """Seconds of slot capacity a thread run spent between units while another thread held the
    GIL (:func:`gil_holders`), for every slot: on the thread backend a thread that holds the GIL
    in a C call (``re``'s matcher) keeps the others from even taking their next unit, so this is
    the GIL's time, not dispatch. Disjoint holders' overlaps with each slot's gaps add up."""
    r = ran(units)
    if r.empty:
        return 0.0
    held = gil_holders(units, timeout_s, min_share)[["held_from", "held_to"]].to_numpy(float)
    if not len(held):
        return 0.0
    held = held[np.argsort(held[:, 0])]
    merged = [list(held[0])]
    for a, b in held[1:]:  # union of the holders' spans: overlapping holders count once
        if a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    first, last = float(r["started"].min()), float(r["ended"].max())
    lanes = r["worker"].astype(str).map(slot_lanes(units))
    total = 0.0
    for lane in range(max(1, slots)):
        spans = r.loc[lanes == lane, ["started", "ended"]].to_numpy(float)
        spans = spans[np.argsort(spans[:, 0])] if len(spans) else spans
        reach = np.maximum.accumulate(spans[:, 1]) if len(spans) else spans
        gap_start = np.concatenate([[first], reach]) if len(spans) else np.array([first])
        gap_end = np.concatenate([spans[:, 0], [last]]) if len(spans) else np.array([last])
        keep = gap_end > gap_start
        gs, ge = gap_start[keep], gap_end[keep]
        for a, b in merged:
            total += float(np.clip(np.minimum(ge, b) - np.maximum(gs, a), 0, None).sum())
    return total


def held_by_others(units: pd.DataFrame, waiting: pd.DataFrame, timeout_s: float, min_share: float) -> pd.DataFrame:
    """For each unit of ``waiting`` (rows of ``units``' run), the unit of another worker that
    held the GIL longest while it waited (:func:`gil_holders`: on the thread backend, a C call
    that never releases it, such as ``re``'s matcher, or a thread given up at its timeout that
    ran on). Columns: the waiting unit's KEY, and ``holder`` (``task/sample candidate``),
    ``holder_cpu_s`` and ``overlap_s``; a waiting unit with no such unit is left out."""
    m = gil_holders(units, timeout_s, min_share)
    rows = []
    for w in waiting.itertuples(index=False):
        o = m[(m["worker"] != w.worker) & (m["held_from"] < w.ended) & (m["held_to"] > w.started)]
        if o.empty:
            continue
        overlap = np.minimum(o["held_to"], w.ended) - np.maximum(o["held_from"], w.started)
        best = o.loc[overlap.idxmax()]
        if overlap.max() < 0.5 * w.wall_s:  # it overlapped, but did not fill the wait
            continue
        rows.append((w.task_id, w.split, w.index, w.candidate,
                     f"{best.task_id}/{sample_label(best.split, best['index'])} {best.candidate}",
                     float(best.cpu_s), float(overlap.max())))
    return pd.DataFrame(rows, columns=KEY + ["holder", "holder_cpu_s", "overlap_s"])
