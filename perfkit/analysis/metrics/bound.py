"""The ideal bound (``ideal_wall_s``, see the package docstring): the work of units and of
candidate generation, the time units hold a worker while they compute (lane) and wait, and
the bound over a run's tasks and stages.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import pandas as pd

from perfkit.analysis.metrics.machine import others_cores, ran_quiet
from perfkit.analysis.metrics.records import KEY, measured, summary_figure
from perfkit.analysis.metrics.reference import reference_lookup
from perfkit.store import Run


#: A unit of a quiet sequential reference whose wall is at least this many times its CPU waits
#: on something else (sleep, I/O, a GPU, a subprocess) rather than computes: the time it holds
#: its worker off the CPU is work no schedule removes (:func:`unit_wait`), and the GIL does not
#: bind it. Below it, wall beyond CPU is taken for noise (a clock read, an interrupt), never work.
WAITING_CONTENTION = 1.5


def unit_work(units: pd.DataFrame, reference: Optional[pd.DataFrame],
              looked: Optional[pd.DataFrame] = None) -> pd.Series:
    """Work per unit (seconds of CPU) aligned on ``units``: the reference run's CPU of the same
    unit when known, or the unit's own CPU here when that is less (else its own CPU); 0 for
    units that never ran here (``skipped``: a budget ran out), whatever the reference spent on
    them. A unit that needed more CPU here than under sequential (two busy cores, a cold cache)
    counts its reference CPU, so what parallelism cost shows as lost efficiency; one that
    needed less (the machine's faster speed state, a warm cache) counts what it needed here:
    no perfect schedule of this run is slower than its bound (the main job read 102 % when a
    repeat's parallel run fell in the faster state and its reference in the slower one).
    ``looked``: :func:`reference_lookup` of these units, when already made."""
    own = units["cpu_s"]
    if reference is None or reference.empty:
        return own.fillna(0.0)
    ref_cpu = (reference_lookup(units, reference) if looked is None else looked)["cpu_s"]
    work = ref_cpu.where(~(own < ref_cpu), own).fillna(own).fillna(0.0)
    return work.where(units["status"].ne("skipped"), 0.0)


def unit_wait(units: pd.DataFrame, reference: Optional[pd.DataFrame], quiet: bool,
              looked: Optional[pd.DataFrame] = None) -> pd.Series:
    """Seconds each unit holds its worker off the CPU (aligned on ``units``): the sequential
    reference's wall − CPU of the same unit when that wall is at least :data:`WAITING_CONTENTION`
    times its CPU, else 0. All 0 unless the reference ran ``quiet`` (:func:`waits_from`): beside
    other work, a unit waiting for a core reads the same as one waiting on I/O, and no share of
    the machine tells them apart (markdown-it's 1–6 ms units read 2.1× their CPU beside 1.5
    cores of other work: a fair share of the cores would explain 1.27×).

    A unit waits no longer than the rest of its wall in ``units`` themselves, beyond the CPU the
    bound counts as its work (:func:`unit_work`; 0 when it never ran), so that no unit holds its
    worker in the bound for longer than it did here: a sleep is in every run's wall, while a
    reference unit preempted by a burst of other work, reading a file the page cache later held,
    or computing slower than here (numpy's 2 MB arrays page-fault afresh in a process's main
    thread, not in a worker thread) would otherwise lift the bound above what a perfect schedule
    of this run reaches (efficiency over 100 %). ``looked`` as for :func:`unit_work`."""
    zero = pd.Series(0.0, index=units.index)
    if not quiet or reference is None or reference.empty:
        return zero
    r = measured(reference).drop_duplicates(KEY).set_index(KEY)
    waits = (r["wall_s"] - r["cpu_s"]).where(r["wall_s"] >= WAITING_CONTENTION * r["cpu_s"], 0.0)
    if not waits.any():
        return zero
    idx = pd.MultiIndex.from_frame(units[KEY])
    off_cpu = (units["wall_s"] - unit_work(units, reference, looked)).clip(lower=0.0).fillna(0.0)
    return np.minimum(pd.Series(waits.reindex(idx).fillna(0.0).to_numpy(), index=units.index), off_cpu)


def even_share_s(work_s: Any, held_s: Any, cores: int, lanes: int) -> Any:
    """Seconds of ``work_s`` (CPU) and ``held_s`` (worker time: each unit's lane time and wait,
    :func:`unit_lane`, :func:`unit_wait`) spread evenly: the CPU over the cores or the worker time
    over the lanes, whichever is longer (numbers or Series). For units that compute on one thread
    (held ≥ work) this is ``work / min(lanes, cores)`` = ``work / slots``."""
    return np.maximum(work_s / max(1, cores), held_s / max(1, lanes))


def unit_lane(units: pd.DataFrame, reference: Optional[pd.DataFrame],
              looked: Optional[pd.DataFrame] = None) -> pd.Series:
    """Seconds each unit holds its worker while it computes (aligned on ``units``): its work
    (:func:`unit_work`), or its wall under the reference or here when that is less. A unit whose
    CPU runs on several threads at once (OpenBLAS's pool, the solver's own threads) or in a
    child process beside it finishes sooner than its CPU: its CPU needs the cores, its wall the
    worker (docs/design.md, "Figures"). For a unit on one thread this is its work. ``looked`` as
    for :func:`unit_work`."""
    if reference is not None and not reference.empty and looked is None:
        looked = reference_lookup(units, reference)
    work = unit_work(units, reference, looked)
    lane = work.where(~(units["wall_s"] < work), units["wall_s"]) if "wall_s" in units else work
    if reference is not None and not reference.empty:
        ref_wall = looked["wall_s"]
        lane = lane.where(~(ref_wall < lane), ref_wall)
    return lane.fillna(0.0)


def ideal_bound(units: pd.DataFrame, slots: int, reference: Optional[pd.DataFrame] = None,
                generate_s: float = 0.0, workers: Optional[int] = None,
                wait: Optional[pd.Series] = None, cores: Optional[int] = None,
                looked: Optional[pd.DataFrame] = None) -> tuple[float, float, float]:
    """``(work_s, critical_path_s, ideal_wall_s)`` of a run; see the package docstring.

    ``units`` needs the key columns, ``stage`` and ``chunk`` (the work item); ``reference`` is
    the sequential run's units (their CPU is the work of each unit); ``generate_s`` the seconds
    of candidate generation, work the slots share; ``wait`` the seconds each unit holds a worker
    off the CPU (:func:`unit_wait`; none by default), ``workers`` how many units can run at once
    (``slots`` by default) and ``cores`` how many cores their CPU shares (``slots`` by default).
    A unit holds its worker for its lane time (:func:`unit_lane`) and its wait.
    ``critical_path_s`` is the largest over tasks of the sum of their stages' largest work items
    (lane time + wait). ``looked``: :func:`reference_lookup` of ``units``, when already made.
    """
    lanes = max(1, slots if workers is None else workers)
    cores = max(1, slots if cores is None else cores)
    if units.empty:
        return 0.0, 0.0, float(generate_s) / max(1, min(lanes, cores))
    df = units[KEY + ["stage", "chunk"]].copy()
    if reference is not None and not reference.empty and looked is None:
        looked = reference_lookup(units, reference)
    df["work"] = unit_work(units, reference, looked).to_numpy()
    df["held"] = unit_lane(units, reference, looked).to_numpy() + (0.0 if wait is None else wait.to_numpy())
    items = df.groupby(["task_id", "stage", "chunk"], sort=False)[["work", "held"]].sum().reset_index()
    stages = items.groupby(["task_id", "stage"], sort=False).agg(
        work=("work", "sum"), held=("held", "sum"), biggest=("held", "max"))
    shared = even_share_s(stages["work"], stages["held"], cores, lanes)
    per_task = np.maximum(shared, stages["biggest"]).groupby(level="task_id").sum()
    work, held = float(df["work"].sum()), float(df["held"].sum())
    ideal = max(even_share_s(work + generate_s, held + generate_s, cores, lanes), float(per_task.max()))
    return work, float(stages["biggest"].groupby(level="task_id").sum().max()), ideal


def generation_work(summary: Any, reference: Any = None) -> float:
    """Seconds of work in a run's candidate generation: the CPU of its candidates() calls in the
    sequential ``reference`` (a run's summary), or in the run itself when that is less, as for a
    unit (:func:`unit_work`; docs/design.md, "Figures"); their wall for a run recorded before
    that CPU was (``generate_cpu_s`` 0 while ``generate_s`` is not)."""
    own = _generation_cpu(summary)
    if reference is None:
        return own
    ref = _generation_cpu(reference)
    return min(ref, own) if own > 0 else ref


def _generation_cpu(summary: Any) -> float:
    cpu = summary_figure(getattr(summary, "generate_cpu_s", 0.0))
    return cpu if cpu > 0 else summary_figure(summary.generate_s)


def waits_from(run: Run, reference: Optional[Run]) -> tuple[Optional[pd.DataFrame], bool]:
    """The units whose waits count in ``run``'s bound (the sequential reference's; a sequential
    run's own without one) and whether that run was quiet: other processes under
    :data:`BUSY_OTHER_CORES` and no thread an earlier thread run left running (their GIL)."""
    source = reference if reference is not None else run if run.config.strategy == "sequential" else None
    if source is None:
        return None, False
    s = source.summary
    return source.units, ran_quiet(others_cores(s), int(s.stray_threads or 0))
