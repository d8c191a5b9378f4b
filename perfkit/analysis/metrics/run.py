"""The figures of one run (:class:`RunFigures`), computed from it and its sequential reference,
and the table of many runs' figures.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Iterable, Optional, Sequence

import pandas as pd

from perfkit.analysis.metrics.bound import (
    generation_work,
    ideal_bound,
    unit_lane,
    unit_wait,
    waits_from,
)
from perfkit.analysis.metrics.contention import contention
from perfkit.analysis.metrics.dispatch import (
    dispatch_overhead,
    queue_wait,
    stage_tail_idle_s,
    work_items,
)
from perfkit.analysis.metrics.gil import gil_wait_s
from perfkit.analysis.metrics.machine import others_cores
from perfkit.analysis.metrics.memory import memory_figures
from perfkit.analysis.metrics.records import ran, summary_figure
from perfkit.analysis.metrics.reference import reference_lookup
from perfkit.analysis.metrics.slots import lanes_of, slots_of
from perfkit.analysis.metrics.solved import tasks_solved
from perfkit.analysis.metrics.unit_cpu import missed_cpu, seen_whole
from perfkit.model import STATUSES
from perfkit.store import Run


@dataclass(frozen=True)
class RunFigures:
    """The figures of one stored run (seconds; fractions 0..1)."""

    run_id: str
    strategy: str
    backend: str
    workers: int
    repeat: int
    chunk_size: Optional[int]
    timeout_s: float
    cores: int
    slots: int
    units: int
    statuses: dict[str, int]
    wall_s: float
    cpu_s: float
    parallelism: float
    unit_cpu_s: float
    unit_wall_s: float
    queue_wait_median_s: float
    queue_wait_p95_s: float
    queue_wait_max_s: float
    dispatch_overhead: float
    #: Worker capacity spent waiting at the end of stages for their slowest units (seconds,
    #: :func:`stage_tail_idle_s`): part of the dispatch overhead's time, not a cost per item.
    stage_tail_idle_s: float
    #: Seconds of the run outside the first queued → last ended span (start-up, teardown).
    startup_s: float
    #: Seconds the solver's candidates() took (wall, on the workers, overlapping the units).
    generate_s: float
    #: The work of candidate generation: its CPU seconds in the sequential reference (its own when
    #: no reference is given), counted like a unit's work (:func:`generation_work`).
    generate_work_s: float
    contention: float
    work_s: float
    #: Seconds the units hold a worker off the CPU (sleep, I/O: :func:`unit_wait`), counted in
    #: the ideal bound beside ``work_s``; 0 for units that compute.
    wait_s: float
    critical_path_s: float
    ideal_wall_s: float
    efficiency: float
    work_items: int
    tasks: int
    tasks_solved: int
    leaked_s: float
    #: Cores other processes used on average during the run (others' CPU / wall); NaN when unknown.
    others_cores: float = float("nan")
    #: The machine's 1-minute load average at the end of the run; NaN when unknown.
    load_avg_1m: float = float("nan")
    #: Threads abandoned by earlier thread-backend runs of the same process that still ran beside
    #: this run, and the cores they used on average (their CPU / wall; part of ``others_cores``).
    stray_threads: int = 0
    stray_cores: float = 0.0
    #: Peak resident memory of any worker (bytes; NaN when not measured).
    peak_rss_bytes: float = float("nan")
    #: Median and largest peak resident memory of the run's work items (bytes; NaN when not measured).
    item_rss_median_bytes: float = float("nan")
    item_rss_max_bytes: float = float("nan")
    #: The whole command around the run window (docs/design.md, "The whole command"); NaN
    #: for a run recorded before perfkit measured it.
    command_wall_s: float = float("nan")
    command_cpu_s: float = float("nan")
    #: Workers lost in the run (a unit stopped with its worker, or a worker that died) and the
    #: units that ran again because their outcomes died with one (``attempt`` > 1), with the wall
    #: seconds of those last runs: time the lost runs and the replacements took is outside units.
    lost_workers: int = 0
    reruns: int = 0
    rerun_wall_s: float = 0.0
    #: Seconds the units hold a worker while they compute (:func:`unit_lane`): ``work_s``, less
    #: what units computing on several threads at once (a BLAS pool) or in a child process save.
    lane_s: float = float("nan")
    #: Thread runs: slot capacity spent between units while a thread held the GIL
    #: (:func:`gil_wait_s`); part of the dispatch overhead's time, not a cost per item.
    gil_wait_s: float = 0.0

    @property
    def group(self) -> tuple[str, str, int]:
        """The repeat group: (strategy, backend, workers)."""
        return (self.strategy, self.backend, self.workers)

    @property
    def name(self) -> str:
        """Readable group name such as ``sample-parallel/process×4``."""
        return group_name(self.group)


def group_name(group: Sequence[Any]) -> str:
    """``strategy/backend×workers``."""
    strategy, backend, workers = group
    return f"{strategy}/{backend}×{workers}"


def run_figures(run: Run, reference: Optional[Run] = None) -> RunFigures:
    """All figures of one run; ``reference`` (the sequential run) supplies the work per unit."""
    cfg, s, u = run.config, run.summary, run.units
    wall = summary_figure(s.wall_s)
    cpu = summary_figure(s.cpu_s)
    r = ran(u)
    unit_wall, unit_cpu = float(r["wall_s"].sum()), float(r["cpu_s"].fillna(0).sum())
    qw = queue_wait(u)
    slots = slots_of(cfg, run.cores)
    generate = generation_work(s, reference.summary if reference is not None else None)
    ref_units = None if reference is None else reference.units
    # a run that saw only its units' calling threads (the thread backend) beside a reference that
    # saw their whole process: its own lesser CPU is what it did not see, not less work
    bounded = seen_whole(run, reference) if reference is not None and missed_cpu(run, reference) else u
    # the reference's CPU and wall of each unit, looked up once for the bound, the lanes and the waits
    looked = reference_lookup(bounded, ref_units) if ref_units is not None and not ref_units.empty else None
    wait_units, quiet = waits_from(run, reference)
    waits = unit_wait(bounded, wait_units, quiet, looked if wait_units is ref_units else None)
    work, cp, ideal = ideal_bound(bounded, slots, ref_units, generate, workers=lanes_of(cfg), wait=waits,
                                  cores=max(1, run.cores), looked=looked)
    span = float(u["ended"].max() - u["queued"].min()) if len(u) and u["ended"].notna().any() else wall
    return RunFigures(
        run_id=run.run_id,
        strategy=cfg.strategy, backend=cfg.backend, workers=int(cfg.workers),
        repeat=int(cfg.repeat), chunk_size=cfg.chunk_size,
        timeout_s=float(cfg.timeout.unit_timeout_s),
        cores=run.cores, slots=slots, units=int(len(u)),
        statuses={k: int(v) for k, v in u["status"].value_counts().items()},
        wall_s=wall, cpu_s=cpu, parallelism=cpu / wall if wall > 0 else float("nan"),
        unit_cpu_s=unit_cpu, unit_wall_s=unit_wall,
        queue_wait_median_s=float(qw.median()) if len(qw) else 0.0,
        queue_wait_p95_s=float(qw.quantile(0.95)) if len(qw) else 0.0,
        queue_wait_max_s=float(qw.max()) if len(qw) else 0.0,
        # candidate generation is the solver's work on the workers (generate_s), not overhead
        dispatch_overhead=dispatch_overhead(wall, slots, unit_wall + summary_figure(s.generate_s)),
        stage_tail_idle_s=stage_tail_idle_s(u, slots),
        gil_wait_s=gil_wait_s(u, slots, float(cfg.timeout.unit_timeout_s)) if cfg.backend == "thread" else 0.0,
        startup_s=max(0.0, wall - span), generate_s=summary_figure(s.generate_s), generate_work_s=generate, contention=contention(u),
        work_s=work, wait_s=float(waits.sum()), critical_path_s=cp, ideal_wall_s=ideal,
        lane_s=float(unit_lane(bounded, ref_units, looked).sum()),
        efficiency=ideal / wall if wall > 0 else float("nan"),
        work_items=work_items(run),
        tasks=int(u["task_id"].nunique()), tasks_solved=tasks_solved(u),
        leaked_s=float(u.loc[u["leaked"], "leaked_s"].fillna(0).sum()) if "leaked" in u else 0.0,
        others_cores=others_cores(s),
        load_avg_1m=float("nan") if s.load_avg_1m is None else float(s.load_avg_1m),
        stray_threads=int(s.stray_threads), stray_cores=float(s.stray_cpu_s) / wall if wall > 0 else 0.0,
        **memory_figures(run),
        command_wall_s=float(s.command_wall_s), command_cpu_s=float(s.command_cpu_s),
        **_losses(u),
    )


def _losses(u: pd.DataFrame) -> dict[str, Any]:
    """Workers lost and units run again (see :class:`RunFigures`)."""
    lost = u["status"].eq("crashed") | u["error_type"].isin(LOST_WORKER_ERRORS)
    again = u["attempt"].fillna(1) > 1 if "attempt" in u else pd.Series(False, index=u.index)
    return {"lost_workers": int(lost.sum()), "reruns": int(again.sum()),
            "rerun_wall_s": float(u.loc[again, "wall_s"].fillna(0).sum())}


#: The error types of a unit stopped with its worker (process, Dask) or whose worker died.
LOST_WORKER_ERRORS = ("WorkerKilled", "WorkerDied")


def figures_table(figures: Iterable[RunFigures]) -> pd.DataFrame:
    """One row per run (the statuses dict becomes ``n_<status>`` columns)."""
    rows = []
    for f in figures:
        row = asdict(f)
        statuses = row.pop("statuses")
        for k in STATUSES:
            row[f"n_{k}"] = statuses.get(k, 0)
        row["group"] = f.name
        rows.append(row)
    return pd.DataFrame(rows)
