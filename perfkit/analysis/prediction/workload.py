"""The work of a run, read from one measured (reference) run: what the simulator replays.

Per unit: its CPU (``cpu_s``, seconds of the reference machine's core), the cores it computed on
at once (``cores``: its CPU over its wall when that is more than one — numpy's OpenBLAS splits a
product over threads of its own; a process worker's and the inline backend's unit CPU is the
whole process's, perfkit/backends/unit.py ``PROCESS_CPU``) and its off-CPU wait (its wall less
its CPU's lane time ``cpu_s / cores``: sleeping, blocking I/O, waiting for a GPU — time that does
not need a core, so that 16 sleeping workers fit on 2 cores). A thread backend's unit CPU is its
calling thread's: a thread reference shows no unit on more than one core. Per task: its samples and candidates in the
order the solver gave them (the order of the reference's records), and the seconds the solver
took to generate its candidates.

A unit that timed out in the reference only tells a lower bound of its cost (it was stopped):
it is marked ``lower_bound`` and every prediction that depends on it says so — unless the GIL
probe ran it alone to its end (:meth:`Workload.with_gil`, ``probed``). A unit skipped in the
reference (a budget ran out) has no cost at all: ``unknown``.

A unit may compute on several cores through child processes (counted when reaped), which the
workers of :data:`DAEMONIC_BACKENDS` cannot start: the daemon probe
(perfkit/orchestration/daemon_probe.py) runs such units in a daemonic process, and on those
backends a unit whose outcome differs there takes its outcome and cost from it
(:meth:`Workload.on`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Optional

import numpy as np
import pandas as pd

from perfkit.analysis.prediction.gil import Inflation
from perfkit.analysis.prediction.model import DAEMONIC_BACKENDS
from perfkit.model import WHOLE_SAMPLE, UnitRef, finished_late, sample_level_run
from perfkit.store import Run

#: Statuses whose cost the reference measured in full.
MEASURED = ("ok", "error")
#: A unit's cores are read to a tenth of a core: one unit's CPU over its wall scatters by about
#: ±0.05 between runs (blas_work: 1.99–2.05), and the simulator keeps one clock per width.
CORES_STEP = 0.1


@dataclass(frozen=True)
class UnitCost:
    """One unit's cost on the reference machine (seconds)."""

    cpu_s: float
    wait_s: float
    #: Status in the reference run.
    status: str
    #: Timed out (or crashed) in the reference: the real cost is at least this.
    lower_bound: bool = False
    #: Never ran in the reference (skipped): cost unknown, taken as 0.
    unknown: bool = False
    #: Outcomes a timeout of this unit is recorded as: 1, or for an opaque solver's whole
    #: sample one per candidate — as many as the reference recorded for the sample, which for a
    #: sample that failed there are the candidates the solver declares (perfkit/backends/unit.py
    #: ``per_declared_candidate``), and otherwise the ones that gave an output (a lower bound).
    outcomes: int = 1
    #: Cores its CPU ran on at once in the reference (1: one thread's worth; see the module docstring).
    cores: float = 1.0
    #: Stopped in the reference, run alone by the GIL probe: its cost is the probe's (a lower
    #: bound still when the probe's cap stopped it too).
    probed: bool = False

    @property
    def lane_s(self) -> float:
        """Seconds its CPU held its worker alone in the reference (CPU over its cores)."""
        return self.cpu_s / self.cores


def cores_of(cpu_s: float, lane_s: float, cores: int) -> float:
    """The cores a unit's ``cpu_s`` of CPU kept busy during ``lane_s`` seconds of it (its
    wall): ``cpu_s / lane_s`` to :data:`CORES_STEP`, at least 1, at most the machine's ``cores``."""
    if lane_s <= 0 or cpu_s <= lane_s:
        return 1.0
    return max(1.0, min(float(cores), round(cpu_s / lane_s / CORES_STEP) * CORES_STEP))


@dataclass(frozen=True)
class DaemonCost:
    """One unit of the reference run inside a daemonic process, as a Dask worker runs it:
    its outcome there and its cost (seconds: process CPU with reaped children, wall)."""

    task_id: str
    split: str
    index: int
    candidate: str
    #: ``ok``, ``error`` or ``timeout`` (the run's unit timeout reached).
    status: str
    error_type: Optional[str]
    error_message: Optional[str]
    cpu_s: float
    wall_s: float

    @property
    def unit(self) -> tuple[str, str, int, str]:
        return self.task_id, self.split, self.index, self.candidate


@dataclass(frozen=True)
class TaskWork:
    """One task of the reference: its unit grid and its candidate generation (seconds)."""

    task_id: str
    samples: tuple[tuple[str, int], ...]
    candidates: tuple[str, ...]
    generate_s: float
    units: dict[UnitRef, UnitCost] = field(repr=False)
    #: An opaque solver's task: the unit of work is the whole sample.
    sample_level: bool = False


@dataclass(frozen=True)
class Workload:
    """Everything the simulator needs from a reference run."""

    tasks: tuple[TaskWork, ...]
    reference_wall_s: float
    reference_strategy: str
    reference_backend: str
    reference_workers: int
    reference_cores: int
    reference_timeout_s: float
    #: Whether the solver stops itself at its deadline (its timeouts were ``DeadlineExceeded``);
    #: None when the reference shows no timeout to tell.
    cooperative: Optional[bool]
    run_id: str = ""
    #: Cores other processes used on average during the reference (0 when unknown): on a busy
    #: machine a unit's off-CPU time includes waiting for a core, which the simulator takes
    #: for a wait that needs none.
    reference_others_cores: float = 0.0
    #: CPU seconds of the calibration workload around the reference (its summary's
    #: ``calibration_cpu_s``): the machine's single-core speed then; None when not recorded.
    reference_yardstick_cpu_s: Optional[float] = None
    #: The solver's GIL hand-over cost on threads of this machine (perfkit/orchestration/gil_probe.py);
    #: None: not measured, taken as none.
    gil: Optional[Inflation] = None
    #: The reference's outcomes by status, as the run recorded them (one per unit).
    reference_statuses: dict[str, int] = field(default_factory=dict)
    #: Of its timeouts, those whose unit returned by itself after its deadline (``finished_late``):
    #: a timeout like the others, its cost measured in full.
    reference_late: int = 0
    #: The units the daemon probe ran in a daemonic process (:class:`DaemonCost`); () when none.
    in_daemon: tuple[DaemonCost, ...] = ()

    @property
    def n_units(self) -> int:
        return sum(len(t.units) for t in self.tasks)

    @property
    def cpu_s(self) -> float:
        """Σ unit CPU (reference seconds)."""
        return sum(c.cpu_s for t in self.tasks for c in t.units.values())

    @property
    def generate_s(self) -> float:
        return sum(t.generate_s for t in self.tasks)

    @property
    def unit_cores(self) -> float:
        """The cores a unit computed on at once in the reference, weighted by CPU (1 for a
        solver computing on its calling thread alone)."""
        costs = [c for t in self.tasks for c in t.units.values()]
        cpu = sum(c.cpu_s for c in costs)
        return sum(c.cpu_s * c.cores for c in costs) / cpu if cpu > 0 else 1.0

    @property
    def lower_bounds(self) -> int:
        """Units whose cost is only known to be at least what was measured."""
        return sum(c.lower_bound for t in self.tasks for c in t.units.values())

    @property
    def stopped(self) -> int:
        """Units the reference stopped at their deadline (timeouts that did not return by themselves)."""
        return sum(c.status == "timeout" and (c.lower_bound or c.probed) for t in self.tasks for c in t.units.values())

    def with_gil(self, gil: Optional[Inflation]) -> "Workload":
        """This workload with the GIL probe ``gil`` (None: none), and the cost of each unit the
        reference stopped that the probe ran alone taken from it: its CPU and wall there, a
        lower bound only where the probe's cap stopped it too."""
        measured = {c.unit: c for c in (gil.stopped or ())} if gil is not None else {}
        tasks = []
        for task in self.tasks:
            units = dict(task.units)
            for unit, cost in task.units.items():
                alone = measured.get((task.task_id, *unit))
                if alone is not None and cost.lower_bound:
                    # (never below what the reference measured of it: the machine's speed may have moved)
                    cpu, wall = max(alone.cpu_s, cost.cpu_s), max(alone.wall_s, cost.cpu_s / cost.cores + cost.wait_s)
                    width = cores_of(cpu, wall, self.reference_cores)
                    units[unit] = replace(cost, cpu_s=cpu, wait_s=max(0.0, wall - cpu / width),
                                          lower_bound=alone.capped, probed=True, cores=width)
            tasks.append(replace(task, units=units))
        return replace(self, gil=gil, tasks=tuple(tasks))

    def changed_in_daemon(self) -> dict[tuple[str, str, int, str], DaemonCost]:
        """The units whose outcome in the daemon probe's daemonic process differs from the
        reference's (a unit starting child processes raises there), by (task, split, index,
        candidate)."""
        reference = {(t.task_id, *unit): cost.status for t in self.tasks for unit, cost in t.units.items()}
        return {d.unit: d for d in self.in_daemon if d.unit in reference and reference[d.unit] != d.status}

    def on(self, backend: str) -> "Workload":
        """This workload as ``backend`` runs it: on :data:`DAEMONIC_BACKENDS`, each unit whose
        outcome in a daemonic process differs from the reference's takes that outcome and cost
        (the child processes it computed on never start); elsewhere unchanged."""
        changed = self.changed_in_daemon() if backend in DAEMONIC_BACKENDS else {}
        if not changed:
            return self
        tasks = []
        for task in self.tasks:
            units = dict(task.units)
            for unit in task.units:
                d = changed.get((task.task_id, *unit))
                if d is not None:
                    units[unit] = UnitCost(d.cpu_s, max(0.0, d.wall_s - d.cpu_s), d.status,
                                           lower_bound=d.status == "timeout")
            tasks.append(replace(task, units=units))
        return replace(self, tasks=tuple(tasks))

    @property
    def unknown(self) -> int:
        return sum(c.unknown for t in self.tasks for c in t.units.values())

    def runs_past(self, cost: UnitCost, timeout_s: float) -> bool:
        """Whether the unit of ``cost`` runs on until it is stopped at a ``timeout_s`` deadline:
        its cost is a lower bound (stopped in the reference, or at the GIL probe's cap or budget)
        at least as long as that timeout, or the reference's own timeout is at least as long.
        Nothing measured says when such a unit would end, so none is invented: it never ends
        by itself (given up on threads, its work runs on to the run's end)."""
        return cost.lower_bound and timeout_s <= max(self.reference_timeout_s, cost.lane_s + cost.wait_s)


def _generation_per_task(u: pd.DataFrame, order: list[str], generate_s: float) -> dict[str, float]:
    """Split the run's candidate generation over its tasks (runs stored before each task's
    generation was recorded in summary.json): the parent generates a task's
    candidates between the previous task's last outcome and the task's first dispatch, so each
    gap measures one task's generation (plus a little planning); the first task gets the rest."""
    if not order:
        return {}
    if len(order) == 1 or generate_s <= 0:
        return {t: generate_s / len(order) for t in order}
    first_queued = u.groupby("task_id")["queued"].min()
    last_ended = u.groupby("task_id")["ended"].max()
    gaps = {}
    for prev, task in zip(order, order[1:]):
        gap = first_queued.get(task, np.nan) - last_ended.get(prev, np.nan)
        gaps[task] = max(0.0, float(gap)) if np.isfinite(gap) else 0.0
    rest = generate_s - sum(gaps.values())
    mean_gap = sum(gaps.values()) / len(gaps)
    gaps[order[0]] = rest if rest > 0 else mean_gap
    scale = generate_s / sum(gaps.values()) if sum(gaps.values()) > 0 else 0.0
    return {t: gaps[t] * scale for t in order}


def _cooperative(u: pd.DataFrame) -> Optional[bool]:
    t = u[(u["status"] == "timeout") & ~u["finished_late"]]  # a late finisher tells nothing of stopping
    if t.empty:
        return None
    return bool((t["error_type"] == "DeadlineExceeded").mean() >= 0.5)


def _cost(row: Any, cores: int) -> UnitCost:
    """One unit's cost from its record, on a machine of ``cores`` usable cores."""
    status = row.status
    if status == "skipped" or not np.isfinite(row.wall_s if row.wall_s is not None else np.nan):
        return UnitCost(0.0, 0.0, status, unknown=True)
    cpu = float(row.cpu_s) if row.cpu_s is not None and np.isfinite(row.cpu_s) else 0.0
    wall = float(row.wall_s)
    width = cores_of(cpu, wall, cores)
    cpu = min(cpu, wall * width) if wall > 0 else cpu
    return UnitCost(cpu, max(0.0, wall - cpu / width), status,
                    lower_bound=status not in MEASURED and not row.finished_late, cores=width)


def workload_of(run: "Run") -> Workload:
    """The workload of a stored run.

    The run should be sequential (units uncontended, in the solver's order); any run works,
    but a parallel one's unit times carry its own contention.
    """
    u = run.units
    config = run.config
    # the store keeps records in arrival order: for a sequential run, the solver's order
    u = u.reset_index(drop=True)
    u = u[u["attempt"] == u.groupby(["task_id", "split", "index", "candidate"])["attempt"].transform("max")]
    u = u.assign(finished_late=finished_late(u))
    order = list(dict.fromkeys(u["task_id"]))
    recorded = {str(task): float(end) - float(start) for task, start, end in run.summary.generation}
    generate = recorded if set(order) <= set(recorded) else \
        _generation_per_task(u, order, float(run.summary.generate_s or 0.0))  # a run stored before they were
    level = sample_level_run(u)
    tasks = []
    for task_id in order:
        t = u[u["task_id"] == task_id]
        samples = sorted({(s, int(i)) for s, i in zip(t["split"], t["index"])},
                         key=lambda si: (si[0] != "demo", si[1]))
        if level:
            costs = {}
            for (split, index), g in t.groupby(["split", "index"], sort=False):
                parts = [_cost(r, run.cores) for r in g.itertuples(index=False)]
                cpu, lane = sum(p.cpu_s for p in parts), sum(p.lane_s for p in parts)
                width = cores_of(cpu, lane, run.cores)
                status = g["status"].mode().iloc[0]
                costs[(split, int(index), WHOLE_SAMPLE)] = UnitCost(
                    cpu, sum(p.wait_s for p in parts) + max(0.0, lane - cpu / width), status,
                    lower_bound=any(p.lower_bound for p in parts), unknown=all(p.unknown for p in parts),
                    outcomes=max(1, len(g)), cores=width)
            candidates: tuple[str, ...] = (WHOLE_SAMPLE,)
        else:
            costs = {(r.split, int(r.index), r.candidate): _cost(r, run.cores) for r in t.itertuples(index=False)}
            candidates = tuple(dict.fromkeys(t["candidate"]))
        tasks.append(TaskWork(task_id, tuple(samples), candidates, generate.get(task_id, 0.0), costs, level))
    return Workload(
        tasks=tuple(tasks), reference_wall_s=float(run.summary.wall_s), reference_strategy=config.strategy,
        reference_backend=config.backend, reference_workers=config.workers, reference_cores=run.cores,
        reference_timeout_s=float(config.timeout.unit_timeout_s), cooperative=_cooperative(u), run_id=run.run_id,
        reference_others_cores=_others_cores(run),
        reference_statuses={str(k): int(v) for k, v in u["status"].value_counts().items()},
        reference_late=int(u["finished_late"].sum()),
        reference_yardstick_cpu_s=float(run.summary.calibration_cpu_s) if run.summary.calibration_cpu_s else None)


def _others_cores(run: "Run") -> float:
    s = run.summary
    return float(s.others_cpu_s) / float(s.wall_s) if s.others_cpu_s is not None and s.wall_s else 0.0
