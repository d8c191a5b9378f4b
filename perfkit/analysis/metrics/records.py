"""What every figure reads of a stored run: the unit key, the units that ran and those whose CPU
was measured over their wall, and a summary figure (0 when missing).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from perfkit.model import RAN_STATUSES, SAMPLE_KEY, UNIT_KEY

KEY, SAMPLE = list(UNIT_KEY), list(SAMPLE_KEY)


def ran(units: pd.DataFrame) -> pd.DataFrame:
    """Units that ran (ok, error, timeout) with a wall and CPU time."""
    return units[units["status"].isin(RAN_STATUSES) & units["wall_s"].notna()]


def measured(units: pd.DataFrame) -> pd.DataFrame:
    """Units that ran and whose CPU was measured over their wall: a unit without a recorded CPU
    (its worker was killed before it could say) is left out of every CPU ratio, never counted as
    0 s; so is a thread the thread backend could not stop (``leaked``), whose CPU runs on past
    its wall, to the end of the run (a ratio with it would understate the contention)."""
    r = ran(units)
    keep = r["cpu_s"].notna()
    if "leaked" in r:
        keep &= ~r["leaked"].fillna(False).astype(bool)
    return r[keep]


def summary_figure(value: Any) -> float:
    """A summary figure as a float, 0.0 when it is missing (a run killed before its summary)."""
    return 0.0 if value is None or (isinstance(value, float) and np.isnan(value)) else float(value)
