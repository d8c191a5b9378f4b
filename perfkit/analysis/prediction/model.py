"""What the simulator of :mod:`perfkit.analysis.prediction.simulator` is told, as plain data.

Four things decide how long a run takes besides the solver's own work:

- :class:`BackendCosts` — what a backend adds around each unit, each work item, each worker
  start and each timeout, on one machine (calibrated by a short measured run,
  :mod:`perfkit.orchestration.calibration`, and stored per machine);
- :class:`Machine` — the machine the prediction is for: cores, relative single-core speed,
  and for Dask how many machines;
- :class:`Execution` — how perfkit itself runs a configuration: candidate generation serial in
  the parent or overlapped with the units, a barrier between tasks or not, worker start-up
  paid by every run or once per comparison. The defaults are today's runner
  (``perfkit/runner.py``); each alternative is one field, so that a change of the runner is
  one switch here;
- :class:`SimConfig` — the configuration to predict: strategy, backend, workers, chunk size,
  timeout policy.

Every time is in seconds; "CPU seconds" are seconds of one core of the *reference* machine
(the one the calibration and the reference run were measured on); a :class:`Machine` with
``speed`` s runs them in ``1 / s`` seconds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Optional

from perfkit.backends.base import FLUSH_INTERVAL_S
from perfkit.backends.thread import LEAKED_PER_WORKER
from perfkit.model import TimeoutPolicy

#: How a backend hands work items to its workers.
#: ``prefetch``: the parent gives each worker, in the order of its worker list, up to
#: ``prefetch`` items (one running, the rest waiting in its pipe): process and Dask backends.
#: ``shared``: idle workers take the next item from one queue: thread and inline backends.
DISPATCH = ("prefetch", "shared")
#: Where the unfinished rest of a killed worker's item goes: the front of the queue (process
#: backend: it was first in line) or its end (threads, Dask resubmission).
REQUEUE = ("front", "back")
#: Backends whose workers are daemonic processes, which multiprocessing lets start no child
#: process (a unit starting one raises there): Dask's nanny starts its workers so by
#: ``distributed.worker.daemon`` (True). perfkit/backends/process.py's workers are not, as a
#: ProcessPoolExecutor's are not (``worker_main``).
DAEMONIC_BACKENDS = ("dask",)


@dataclass(frozen=True)
class Overhead:
    """CPU seconds a backend adds to each unit, or to each work item, outside the solver's call."""

    #: On the worker (a unit: timing, hashing, building and pickling the outcome; an item:
    #: receiving it, sending "done").
    worker_cpu_s: float = 0.0
    #: In the parent (a unit: receiving, de-duplicating, writing the outcome; an item:
    #: building, pickling and sending it).
    parent_cpu_s: float = 0.0


@dataclass(frozen=True)
class Behaviour:
    """How a backend hands out and stops work: facts of perfkit's backends, not measurements."""

    #: One of :data:`DISPATCH`.
    dispatch: str = "prefetch"
    #: Items a worker holds at once under ``prefetch`` dispatch.
    prefetch: int = 2
    #: One of :data:`REQUEUE`.
    requeue: str = "front"
    #: True: the workers' (and the parent's) Python code shares one core (threads: the GIL).
    gil: bool = False
    #: True: the runner's own thread is the only worker (inline): no parallelism at all.
    in_parent: bool = False
    #: True: an overrunning unit is stopped (killed, or interrupted inline); False: its work
    #: keeps running, abandoned, while a new worker takes the slot (threads).
    hard_stop: bool = True
    #: True: stopping a unit kills its worker (its prefetched items are re-queued and a
    #: replacement starts); False: the worker goes on (inline SIGALRM, threads).
    stop_kills_worker: bool = True
    #: Without ``hard_stop``: abandoned units still running that a run tolerates per worker; one
    #: more and the run stops (perfkit/backends/thread.py ``LEAKED_PER_WORKER``).
    leaked_per_worker: int = LEAKED_PER_WORKER

    def __post_init__(self) -> None:
        if self.dispatch not in DISPATCH:
            raise ValueError(f"dispatch={self.dispatch!r}: expected one of {DISPATCH}")
        if self.requeue not in REQUEUE:
            raise ValueError(f"requeue={self.requeue!r}: expected one of {REQUEUE}")


@dataclass(frozen=True)
class BackendCosts:
    """What one backend adds to the solver's work on one machine.

    CPU costs (``*_cpu_s``) compete for the cores like the units do; wall costs do not.
    """

    backend: str
    #: Wall of the first start of this backend in a process (forkserver, cluster), workers excluded.
    start_cold_s: float = 0.0
    #: Wall per worker started and stopped (fork, build the solver, stop, join), paid serially
    #: by the parent.
    start_per_worker_s: float = 0.0
    #: Wall per run to start and stop a pool, besides its workers.
    close_s: float = 0.0
    #: CPU per unit outside the solver's call.
    unit: Overhead = field(default_factory=Overhead)
    #: CPU per work item.
    item: Overhead = field(default_factory=Overhead)
    #: Wall between handing an item to an idle worker and its first unit starting.
    item_latency_s: float = 0.0
    #: CPU of the same unit on this backend's workers / in the reference (inline) run: a
    #: worker process is not the parent (another address space, a parent waking it).
    unit_cpu_factor: float = 1.0
    #: CPU of the same work with every core of the machine busy / with one core busy (shared
    #: caches, memory bandwidth, SMT siblings, a lower turbo): the calibration workload in one
    #: process per core at once against one alone (:mod:`perfkit.orchestration.calibration`).
    #: The simulator slows every piece of CPU on a host by :meth:`corun_slowdown` of its busy
    #: cores; 1.0: no slowdown (docs/benchmarks.md, section 7, "Backend costs").
    corun_cpu_factor: float = 1.0
    #: Parent CPU per run besides its units, items and batches (planning, the store's files).
    run_parent_cpu_s: float = 0.0
    #: Parent CPU per batch of outcomes a worker sends before its item ends (every
    #: ``batch_interval_s`` of a running item: perfkit/backends/base.py ``FLUSH_INTERVAL_S``);
    #: the batch at an item's end is in ``item.parent_cpu_s``. Waking the parent for it is
    #: most of the cost.
    batch_parent_cpu_s: float = 0.0
    #: Seconds of a running item between two of its batches (0: one batch per item).
    batch_interval_s: float = 0.0
    #: Serial CPU per work item in a scheduler (Dask: one scheduler for the whole cluster).
    scheduler_item_cpu_s: float = 0.0
    #: Wall after a unit's deadline until the backend stops it (grace + how late it notices).
    stop_delay_s: float = 0.0
    #: Wall until a killed worker's replacement takes work (0: nothing is killed).
    replace_s: float = 0.0
    #: How it hands out and stops work.
    behaviour: Behaviour = field(default_factory=Behaviour)
    #: True when measured on this machine; False: the built-in defaults (uncalibrated).
    calibrated: bool = False
    #: CPU seconds of the calibration workload (perfkit/runner/calibration.py) while these
    #: costs were measured: the machine's single-core speed then (None: not known).
    yardstick_cpu_s: Optional[float] = None

    def corun_slowdown(self, busy: float, cores: float) -> float:
        """How much slower a piece of CPU runs while ``busy`` of a machine's ``cores`` are busy:
        1 with one core busy, ``corun_cpu_factor`` with all of them, linear in between (a
        machine of another core count than the calibration's is taken to share the same way)."""
        if self.corun_cpu_factor == 1.0 or cores <= 1 or busy <= 1:
            return 1.0
        return 1.0 + (self.corun_cpu_factor - 1.0) * (min(busy, cores) - 1.0) / (cores - 1.0)

    def at_yardstick(self, yardstick_cpu_s: Optional[float]) -> "BackendCosts":
        """These costs when the calibration workload takes ``yardstick_cpu_s`` (a run's
        ``calibration_cpu_s``): this machine's single-core speed flips between states ~2×
        apart (docs/benchmarks.md, section 7), and perfkit's own per-unit and per-item work
        is CPU like the solver's, so it scales with the same yardstick. Waits (hand-over
        latency, stop delay, replacement) are wake-ups and timers: left as measured."""
        if not yardstick_cpu_s or not self.yardstick_cpu_s:
            return self
        factor, record = float(yardstick_cpu_s) / float(self.yardstick_cpu_s), self.to_record()
        return self.changed(yardstick_cpu_s=float(yardstick_cpu_s), **{key: record[key] * factor for key in CPU_COSTS})

    def changed(self, **fields: Any) -> "BackendCosts":
        """These costs with some fields changed, named as in :meth:`to_record`
        (``unit_worker_cpu_s=...``, ``prefetch=...``)."""
        unknown = set(fields) - set(self.to_record())
        if unknown:
            raise TypeError(f"BackendCosts has no field {', '.join(sorted(unknown))}")
        return self.from_record({**self.to_record(), **fields})

    def to_record(self) -> dict[str, Any]:
        """A flat JSON-ready dict (the calibration file stores one per backend): the unit's and
        the item's overhead as ``unit_worker_cpu_s``, ``item_parent_cpu_s``, ...; the behaviour's
        fields by their own names."""
        record = asdict(self)
        for group in OVERHEADS:
            record.update({f"{group}_{name}": value for name, value in record.pop(group).items()})
        record.update(record.pop("behaviour"))
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "BackendCosts":
        """Rebuild from :meth:`to_record` (unknown keys ignored, so older files still load)."""
        # measured figures may arrive as numpy scalars: plain floats keep the record JSON-ready
        plain = {k: (float(v) if hasattr(v, "item") and not isinstance(v, bool) else v) for k, v in record.items()}
        groups = {group: Overhead(**{name: plain.pop(f"{group}_{name}") for name in Overhead.__dataclass_fields__
                                     if f"{group}_{name}" in plain})
                  for group in OVERHEADS}
        behaviour = Behaviour(**{k: plain.pop(k) for k in Behaviour.__dataclass_fields__ if k in plain})
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in plain.items() if k in known}, **groups, behaviour=behaviour)


#: The :class:`BackendCosts` fields that are an :class:`Overhead` (per unit, per work item).
OVERHEADS = ("unit", "item")
#: The keys of :meth:`BackendCosts.to_record` that are CPU work (they scale with the machine's speed).
CPU_COSTS = ("start_cold_s", "start_per_worker_s", "close_s", "unit_worker_cpu_s", "unit_parent_cpu_s",
             "item_worker_cpu_s", "item_parent_cpu_s", "scheduler_item_cpu_s", "run_parent_cpu_s",
             "batch_parent_cpu_s")


#: Built-in costs, used when no calibration of this machine is stored: as the reference 2-core
#: machine's calibration measured them on 30 Nov 2026, after issue 13's hot path
#: (`benchmarks/predict_accuracy.py calibration`, docs/benchmarks.md section 7; a Dask
#: replacement's 1 s is not measured there: a restart takes seconds), with the calibration
#: workload's CPU then, so that they scale to the speed of the run they predict
#: (``BackendCosts.at_yardstick``). Until then the defaults were the costs before issue 13
#: (45 µs per inline unit against 2.5 µs): a fresh clone's report predicted the main job's
#: sequential run at 1.94 s for 1.09 s measured. The behaviour (dispatch, prefetch, requeue,
#: gil, ...) is a fact of perfkit's backends, not a measurement: perfkit/backends/process.py
#: (ITEMS_PER_WORKER, the front re-queue), thread.py (one queue, abandoned threads), inline.py
#: (SIGALRM), dask.py (nanny restarts).
DEFAULT_COSTS: dict[str, BackendCosts] = {
    "inline": BackendCosts("inline", unit=Overhead(worker_cpu_s=2.5e-6), stop_delay_s=0.05, yardstick_cpu_s=0.0062,
                           behaviour=Behaviour(dispatch="shared", prefetch=1, stop_kills_worker=False,
                                               in_parent=True)),
    "process": BackendCosts("process", start_cold_s=0.15, start_per_worker_s=6e-5, close_s=0.0022,
                            unit=Overhead(worker_cpu_s=3.5e-6, parent_cpu_s=1.0e-6),
                            item=Overhead(worker_cpu_s=143e-6, parent_cpu_s=86e-6), unit_cpu_factor=1.02,
                            corun_cpu_factor=1.01, stop_delay_s=0.054, replace_s=0.011, run_parent_cpu_s=0.001,
                            batch_parent_cpu_s=343e-6, batch_interval_s=FLUSH_INTERVAL_S, yardstick_cpu_s=0.0058),
    "thread": BackendCosts("thread", start_cold_s=0.0035, start_per_worker_s=2.6e-5, close_s=0.0008,
                           unit=Overhead(worker_cpu_s=3.4e-6), item=Overhead(worker_cpu_s=125e-6),
                           item_latency_s=0.00011, stop_delay_s=0.05, yardstick_cpu_s=0.0058,
                           behaviour=Behaviour(dispatch="shared", prefetch=1, requeue="back", gil=True,
                                               hard_stop=False, stop_kills_worker=False)),
    "dask": BackendCosts("dask", start_cold_s=0.66, start_per_worker_s=0.0012, close_s=0.016,
                         unit=Overhead(worker_cpu_s=14e-6, parent_cpu_s=10e-6), item=Overhead(worker_cpu_s=0.0033),
                         item_latency_s=0.0007, unit_cpu_factor=0.95, corun_cpu_factor=1.01,
                         scheduler_item_cpu_s=0.0017, stop_delay_s=0.06, replace_s=1.0, yardstick_cpu_s=0.0056,
                         behaviour=Behaviour(requeue="back")),
}


@dataclass(frozen=True)
class Machine:
    """The machine a prediction is for.

    ``cores``: usable cores per machine; ``speed``: its single-core speed relative to the
    reference machine (0.5 = half as fast); ``machines``: how many such machines share the
    workers (Dask; workers are spread evenly); ``parent_shares_cores``: whether the parent
    (and a Dask scheduler) runs on the first worker machine, competing with its workers.
    """

    cores: int
    speed: float = 1.0
    machines: int = 1
    parent_shares_cores: bool = True

    def __post_init__(self) -> None:
        if self.cores < 1 or self.machines < 1 or not self.speed > 0:
            raise ValueError(f"machine: cores and machines must be ≥ 1 and speed > 0 (got {self})")


@dataclass(frozen=True)
class Execution:
    """How perfkit runs a configuration. Defaults: the runner before issue 13 (parent-side
    generation, a barrier between tasks); :data:`PIPELINED` is the runner of issue 13.

    ``generation``: ``"serial"`` — the parent generates a task's candidates while every worker
    waits; ``"overlapped"`` — the parent generates the next tasks' candidates while the workers
    run the current one (a task's units still wait for its own generation); ``"workers"`` —
    generation is a job on a worker like a work item, queued before every work item
    (perfkit/runner/schedule.py), for the tasks of a window of ``lookahead`` tasks.
    ``task_barrier``: True — a task's first work item is handed out only when the previous
    task's last outcome is in; False — as soon as the previous task's last stage is handed out
    (``"workers"``: as soon as the task's candidates are in, within the window).
    ``startup``: ``"run"`` — every run starts its workers inside its wall (and pays the
    backend's cold start when ``cold``); ``"compare"`` — start-up is outside the run's wall (a
    warm pool reused across a comparison, or a runner that measures start-up apart).
    ``lookahead``: tasks open at once with ``generation="workers"``; None: the runner's rule,
    2 per worker and 1 for ``sequential`` (perfkit/runner/run.py ``lookahead``).
    With ``generation="workers"`` the runner hands each job to the worker holding the fewest
    (the process backend's ``submit``); otherwise the parent fills the workers in list order.
    ``join_taper`` (read with ``generation="workers"`` only): a stage's tapered pieces handed out
    joined, up to the stage's largest item, while a later task's work is queued or still to
    come (perfkit/model/plan.py ``taper_joins``; perfkit/runner/schedule.py); not under budgets.
    """

    generation: str = "serial"
    task_barrier: bool = True
    startup: str = "run"
    cold: bool = True
    lookahead: Optional[int] = None
    join_taper: bool = False

    def __post_init__(self) -> None:
        if self.generation not in GENERATION:
            raise ValueError(f"generation={self.generation!r}: expected one of {GENERATION}")
        if self.startup not in ("run", "compare"):
            raise ValueError(f"startup={self.startup!r}: expected 'run' or 'compare'")
        if self.lookahead is not None and self.lookahead < 1:
            raise ValueError(f"lookahead={self.lookahead!r}: expected at least 1 task")

    @property
    def on_workers(self) -> bool:
        """Candidate generation is a job on the workers (the runner of issue 13)."""
        return self.generation == "workers"

    def window(self, strategy: str, workers: int) -> int:
        """Tasks open at once (generation on the workers)."""
        if self.lookahead is not None:
            return self.lookahead
        return 1 if strategy == "sequential" else 2 * max(1, workers)


#: Where candidate generation runs (:class:`Execution`).
GENERATION = ("serial", "overlapped", "workers")
#: The runner of issue 13: generation on the workers, no barrier between tasks, start-up
#: measured apart from the run's wall.
PIPELINED = Execution(generation="workers", task_barrier=False, startup="compare")
#: How perfkit's runner executes today: what ``perfkit predict`` and the model column of
#: ``perfkit compare`` assume unless told otherwise — issue 13's runner, its taper pieces joined
#: while later work waits (perfkit/runner/schedule.py, since commit a0572fa).
RUNNER = replace(PIPELINED, join_taper=True)


@dataclass(frozen=True)
class SimConfig:
    """One configuration to predict."""

    strategy: str
    backend: str
    workers: int
    chunk_size: Optional[int] = None
    timeout: TimeoutPolicy = field(default_factory=TimeoutPolicy)
    #: Abandoned units still running that a thread run tolerates in all, one more and it stops:
    #: the thread backend's ``max_leaked`` option (perfkit/backends/thread.py); None: its default,
    #: ``Behaviour.leaked_per_worker`` × workers. Read only where the backend abandons units.
    max_leaked: Optional[int] = None

    @property
    def name(self) -> str:
        """``strategy/backend×workers`` (with the chunk size when one is set)."""
        chunk = f" chunk {self.chunk_size}" if self.chunk_size else ""
        return f"{self.strategy}/{self.backend}×{self.workers}{chunk}"

    def with_timeout(self, seconds: float) -> "SimConfig":
        """The same configuration under another per-unit timeout."""
        return replace(self, timeout=replace(self.timeout, unit_timeout_s=seconds))
