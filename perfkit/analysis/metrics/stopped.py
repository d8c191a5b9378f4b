"""What a unit stopped by an exception, or given up at its timeout, leaves to the units after it
on its worker or beside it in its interpreter.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from perfkit.model import sample_label


def beside_given_up(units: pd.DataFrame, timeout_s: float) -> pd.Series:
    """Per unit of a run (aligned on ``units``): it ran while a thread the thread backend had
    given up at its timeout (``leaked``) still ran on in the same interpreter, from that unit's
    deadline to ``leaked_s`` past it. The garbage collector runs on whichever thread allocates and
    walks the objects of every thread: beside a given-up arc-dsl thread building a 300 MB
    structure, a 25 ms unit took 80 ms of its own thread's CPU, 16 ms with the collector off."""
    r = units[units["leaked"].fillna(False).astype(bool) & units["leaked_s"].notna()]
    gone_from = (r["started"] + timeout_s).to_numpy(float)
    gone_to = gone_from + r["leaked_s"].to_numpy(float)
    start, end = units["started"].to_numpy(float)[:, None], units["ended"].to_numpy(float)[:, None]
    hit = ((start < gone_to) & (end > gone_from)).any(axis=1) if len(r) else np.zeros(len(units), bool)
    return pd.Series(hit, index=units.index)


def after_stopped(units: pd.DataFrame) -> pd.DataFrame:
    """Per unit of a run (aligned on ``units``), the unit before it on its worker that ended by an
    exception (stopped at its timeout, or raised) and whose CPU reaches furthest past this unit's
    start, counted in the worker's CPU: ``stopped`` (its ``task/sample candidate`` label),
    ``stopped_status``, ``stopped_cpu_s``, ``stopped_gap`` (units between them) and
    ``stopped_room_s``, its CPU less the CPU run between them; NaN where none reaches past it.
    An exception holds the unit's frames, and what they hold, until its outcome is recorded, past
    the unit's window, and a process that goes on (the inline backend's hard timeout) pays inside
    the units after it for what it leaves behind: arc-dsl's 91413438, stopped at 1.7 s with 215 MB
    resident, gave 130 MB back to the system inside the next 50 ms of units, which took up to 3×
    their CPU (docs/benchmarks.md "Session 14"). That aftermath costs less than the unit did."""
    columns = ["stopped", "stopped_status", "stopped_cpu_s", "stopped_gap", "stopped_room_s"]
    if not units["status"].isin(["timeout", "error"]).any():
        return pd.DataFrame(np.nan, index=units.index, columns=columns)
    u = units.sort_values("started", kind="stable")
    by = u["worker"].to_numpy()
    cpu = u["cpu_s"].fillna(0.0)
    done = cpu.groupby(by, sort=False).cumsum()  # the worker's CPU up to this unit's end
    raised = u["status"].isin(["timeout", "error"])
    reach = (done + cpu).where(raised)  # how far, in the worker's CPU, its aftermath may last
    best = reach.groupby(by, sort=False).cummax().groupby(by, sort=False).ffill()  # cummax leaves NaN rows NaN
    at = pd.Series(np.arange(len(u)), index=u.index).where(raised & reach.eq(best))
    at = at.groupby(by, sort=False).ffill()
    best, at = best.groupby(by, sort=False).shift(1), at.groupby(by, sort=False).shift(1)
    room = best - (done - cpu)
    keep = room.gt(0).to_numpy() & at.notna().to_numpy()
    rows = at[keep].astype(int).to_numpy()
    s = u.iloc[rows]
    out = pd.DataFrame({
        "stopped": [f"{t}/{sample_label(sp, i)} {c}" for t, sp, i, c in
                    zip(s["task_id"], s["split"], s["index"], s["candidate"])],
        "stopped_status": s["status"].to_numpy(), "stopped_cpu_s": s["cpu_s"].to_numpy(),
        "stopped_gap": np.flatnonzero(keep) - rows - 1, "stopped_room_s": room[keep].to_numpy()},
        index=u.index[keep])
    return out.reindex(units.index)
