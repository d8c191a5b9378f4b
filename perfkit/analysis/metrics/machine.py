"""The machine around a run: the cores other processes used during it, and whether it ran quiet
enough to tell a unit's waiting from waiting for a core.
"""

from __future__ import annotations

from typing import Any

from perfkit.analysis.metrics.records import summary_figure


#: Other processes using more than this many cores on average during a run: the machine was
#: not quiet (a quarter of a core taken from a run that wants every core is visible in its walls).
BUSY_OTHER_CORES = 0.25


def ran_quiet(others_cores: float, stray_threads: int) -> bool:
    """Whether a run ran quiet enough to tell a unit's waiting from waiting for a core: other
    processes under :data:`BUSY_OTHER_CORES` (NaN, unknown, is not quiet) and no thread an
    earlier thread run left running beside it (their GIL)."""
    return bool(others_cores < BUSY_OTHER_CORES and not stray_threads)


def others_cores(summary: Any) -> float:
    """Cores other processes used on average during a run (NaN when unknown)."""
    wall = summary_figure(summary.wall_s)
    return summary.others_cpu_s / wall if summary.others_cpu_s is not None and wall > 0 else float("nan")
