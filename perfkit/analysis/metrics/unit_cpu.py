"""Which CPU a run charged its units with, and whether a thread run's units missed part of the
CPU their reference saw.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import pandas as pd

from perfkit.analysis.metrics.bound import unit_work
from perfkit.analysis.metrics.records import ran, summary_figure
from perfkit.backends.unit import THREAD_CPU  # a run whose units' CPU is their calling thread's only
from perfkit.store import Run


#: A thread run whose whole CPU is at least this many times its units' CPU computed elsewhere
#: (:func:`missed_cpu`): perfkit's own share beside units of a millisecond is a few per cent
#: (docs/benchmarks.md §9); numpy's two OpenBLAS threads made it 1.5×, gzip children 10×.
SEEN_ELSEWHERE = 1.25


def unit_cpu_of(run: Run) -> str:
    """Which CPU a run charged its units with (perfkit/backends/unit.py): ``process`` (every
    thread of the process that ran one unit at a time, and its reaped child processes) or
    ``thread`` (the calling thread's only: the thread backend, and every run recorded before
    perfkit told them apart)."""
    return str((run.summary.resources or {}).get("unit_cpu") or THREAD_CPU)


def missed_cpu(run: Run, reference: Optional[Run]) -> bool:
    """Whether ``run`` timed its units on their calling threads (:func:`unit_cpu_of`) beside a
    reference that saw their whole process, and its units' CPU missed part of theirs: the run's
    own CPU (every thread, the programs its units ran) is at least :data:`SEEN_ELSEWHERE` times
    its units' (numpy's OpenBLAS pool, a solver's threads, a child process computed it). A run
    whose CPU is its units' saw it all, even where the reference's units took more."""
    if reference is None or unit_cpu_of(run) != THREAD_CPU or unit_cpu_of(reference) == THREAD_CPU:
        return False
    units_cpu = float(ran(run.units)["cpu_s"].fillna(0.0).sum()) + summary_figure(run.summary.generate_cpu_s)
    return summary_figure(run.summary.cpu_s) >= SEEN_ELSEWHERE * units_cpu


def seen_whole(run: Run, reference: Run) -> pd.DataFrame:
    """The units of a run that missed CPU (:func:`missed_cpu`) with each unit's CPU as the
    reference saw it, all scaled down to the run's own CPU beyond candidate generation when that
    is less (gzip children on threads took 0.93× their reference's CPU, and the bound read 105 %):
    the run's CPU is what it did, the reference's how the units shared it."""
    u = run.units
    seen = unit_work(u.assign(cpu_s=np.nan), reference.units)
    total = float(seen.sum())
    own = summary_figure(run.summary.cpu_s) - summary_figure(run.summary.generate_cpu_s)
    return u.assign(cpu_s=seen * (min(1.0, own / total) if total > 0 else 1.0))
