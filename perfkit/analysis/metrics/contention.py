"""The share of a core units got while they ran: contention (wall over CPU), the core share,
and the share over a given-up thread's life.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from perfkit.analysis.metrics.records import measured, ran


def core_share(units: pd.DataFrame) -> float:
    """Σ unit CPU / Σ unit wall over units with a measured CPU: the share of a core they got
    while running (NaN when none was measured)."""
    m = measured(units)
    wall = m["wall_s"].sum()
    return float(m["cpu_s"].sum() / wall) if wall > 0 else float("nan")


def life_share(units: pd.DataFrame, timeout_s: float) -> float:
    """Σ unit CPU / Σ the span its thread ran over units with a measured CPU: their wall, or for a
    thread the thread backend gave up at its timeout (``leaked``) its timeout plus ``leaked_s``,
    the time its thread ran on — the share of a core it got from its start to its thread's end
    (NaN when none was measured). A given-up unit is no CPU gap: its thread's CPU was read at its end."""
    r = ran(units)
    r = r[r["cpu_s"].notna()]
    gone = r["leaked"].fillna(False).astype(bool) if "leaked" in r else pd.Series(False, index=r.index)
    r, gone = r[~gone | r["leaked_s"].notna()], gone[~gone | r["leaked_s"].notna()]
    span = np.where(gone, timeout_s + r["leaked_s"].fillna(0), r["wall_s"]).sum()
    return float(r["cpu_s"].sum() / span) if span > 0 else float("nan")


def contention(units: pd.DataFrame) -> float:
    """Σ unit wall / Σ unit CPU over units with a measured CPU (NaN when none was measured)."""
    r = measured(units)
    cpu = r["cpu_s"].sum()
    return float(r["wall_s"].sum() / cpu) if cpu > 0 else float("nan")
