"""A discrete-event simulation of one perfkit run: the wall, the workers' time and every unit's
predicted start, end and status, from a reference run's unit costs.

What is replayed is perfkit's own execution (perfkit/runner.py and the backends), step by step:

- start-up: the backend starts its workers (serially, by the parent), unless a warm pool is
  reused (:class:`~perfkit.analysis.prediction.model.Execution`);
- per task: the parent generates the candidates (serial: while the workers wait), the
  strategy's plan — from the *same* planning function the runner calls,
  ``strategies.get(name).plan(samples, candidates, workers, chunk_size)`` — cuts the task into
  stages of work items; a stage's items are queued together, the next stage waits for the last
  outcome of this one (the barrier), and so does the next task (today);
- since issue 13 (``Execution.on_workers``, perfkit/runner/schedule.py): a task's candidate
  generation is a job on a worker, queued before every work item, for a window of tasks; ready
  jobs start by (generation first, then task, then stage), with no barrier between tasks;
- joining (``Execution.join_taper``): a work item taken from the queue takes the pieces of its
  stage queued right after it, up to the stage's ``join_limit``, while a later task is not done
  (the runner's one rule, perfkit/model/plan.py ``taper_joins``); not a re-queued rest, not
  under budgets;
- dispatch: each worker holds up to ``prefetch`` items, handed out in the order of the worker
  list (before issue 13) or each to the worker holding the fewest (since), or idle workers take
  the next item (threads, inline);
- a worker runs its item's units in order; a unit is its CPU (shared with every other
  runnable piece of CPU work on its machine: processor sharing, each of n runnable pieces gets
  min(1, cores / n) of a core, scaled by the machine's speed and slowed by the co-run factor of
  its busy cores, ``BackendCosts.corun_slowdown``; a unit that computed on several cores in the
  reference asks for that many, see :class:`_Host`) followed by its off-CPU wait (no core
  needed). The backend's per-unit and per-item CPU ride on the same cores; the parent's CPU
  per run, per unit and per batch of outcomes (receiving and recording them) is one more
  runnable piece, first in first out, and a stage ends only when the parent has recorded its
  last outcome;
- uneven sharing (threads): the GIL is handed over in switch intervals to whichever thread
  wakes, not in turn (:mod:`.gil`), so a unit among n runnable threads may wait far longer than
  the mean n × its CPU; each unit's chance to be still running at its deadline (from the share
  of the GIL it got) is summed as the units' CPU completes, and each time the sum passes a whole
  unit, that unit is *late*: it holds its worker until its deadline (its CPU taken as the fluid
  gave it) and times out — the expected count of late units, in a deterministic replay;
- hand-overs (threads): a solver whose units release the GIL pays for each hand-over among
  several runnable threads; every piece of CPU work sharing the GIL progresses ``f(n)`` times
  slower, ``f`` the workload's measured :class:`~.gil.Inflation` at ``n`` runnable pieces
  (none measured: 1, as for pure-Python units);
- timeouts: a unit still running at its deadline stops itself (cooperative solver), or is
  stopped after the backend's stop delay: its worker killed and replaced (process, Dask: the
  rest of its work re-queued), interrupted (inline), or abandoned while its work keeps
  running and keeps its share of the cores (threads) — unless (``gil_held``) its C call holds
  the GIL, when nothing can give it up: it runs to its end on its worker. A thread run stops
  (the backend's WorkerFailure) when more abandoned units are still running than it tolerates
  (``Behaviour.leaked_per_worker`` × workers): the units not yet recorded never run;
- budgets: a unit that would start after its sample's or task's budget is ``skipped``.

The fluid model of the cores (processor sharing) is what an OS scheduler does on average over
its time slices; it is why 16 sleeping workers fit on 2 cores and 4 CPU-bound ones do not.
Hand-written rather than a simulation library: the model is this file, and a generic library
(SimPy) would add an event per unit phase and a dependency for ~300 lines.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import pandas as pd

from perfkit import strategies
from perfkit.analysis.prediction.gil import Inflation, late_probability
from perfkit.analysis.prediction.model import BackendCosts, Execution, Machine, SimConfig
from perfkit.analysis.prediction.workload import TaskWork, UnitCost, Workload
from perfkit.model import UnitRef, join_limit, taper_joins

INF = math.inf
#: Work of a unit that timed out in the reference and would time out again: it runs until stopped.
UNBOUNDED = 1e12


class _Job:
    """A piece of CPU work on a host; ``callback(t)`` runs when it is done."""

    __slots__ = ("callback", "cancelled", "finish_v", "width")

    def __init__(self, callback: Callable[[float], None], finish_v: float, width: float):
        self.callback = callback
        self.cancelled = False
        self.finish_v = finish_v
        self.width = width


class _Width:
    """The runnable pieces of one width (cores they compute on at once) on a host.

    ``v`` is the work each of them has received since the start (reference CPU seconds); a
    piece started at ``v0`` with work ``w`` is done when ``v`` reaches ``v0 + w``, so one heap
    ordered by that value gives the class's next completion in O(log n).
    """

    __slots__ = ("width", "v", "heap", "n")

    def __init__(self, width: float):
        self.width = width
        self.v = 0.0
        self.heap: list = []
        self.n = 0


class _Host:
    """The cores of one machine (or of one process's GIL), shared by the pieces of CPU work
    runnable on it; one :class:`_Width` per width of piece (one for a solver computing on its
    calling thread alone: every piece is one core wide).

    Pieces ask for ``demand`` cores (Σ widths); each gets ``share = min(1, cores / demand)`` of
    what it asks. A piece of one core then runs at ``share`` (processor sharing). A piece wider
    than a core is a unit whose threads wait for each other (OpenBLAS's threads spin at their
    barriers), so it progresses only while all of them hold a core: with ``gang`` (each worker
    a process with its own thread pool) at ``share ** width`` of its pace alone (each thread on a
    core ``share`` of the time) — 2 workers × 2 threads on 2 cores: ¼ each, half the throughput
    of one unit at a time, as measured (docs/benchmarks.md, section 7, Session 12). With ``gil``
    (threads of one process, or inline's one thread): pieces of one core are Python holding
    the GIL and share one core; wider pieces computed outside it (only code without the GIL
    runs on two cores of one process) on the process's one thread pool, which shares the
    machine's cores with the thread holding the GIL and never runs more threads than it has.
    """

    __slots__ = ("cores", "speed", "t", "widths", "n", "demand", "wide_n", "wide", "seq", "slowdown",
                 "inflation", "gil", "gang", "_next")

    def __init__(self, cores: float, speed: float, slowdown: Optional[Callable[[float, float], float]] = None,
                 inflation: Optional[Inflation] = None, gil: bool = False, gang: bool = False):
        self.cores, self.speed = float(cores), float(speed)
        self.gil, self.gang = gil, gang and not gil
        #: The GIL's hand-over cost (threads), also read by the late-unit chance; None: none.
        self.inflation = None if inflation is None or inflation.neutral else inflation
        if self.inflation is not None:
            slowdown = lambda n, cores, f=self.inflation: f.at(n)  # noqa: E731
        #: (runnable pieces or, without the GIL, the cores they ask for; cores) → how much slower
        #: each piece's CPU progresses then: the co-run factor of busy cores
        #: (BackendCosts.corun_slowdown), or the GIL's hand-overs of a thread backend; None: never slower
        self.slowdown = slowdown
        self.t = 0.0
        self.widths: dict[float, _Width] = {}
        #: runnable pieces, the cores they ask for, and of them the pieces wider than a core
        self.n = 0
        self.demand = self.wide = 0.0
        self.wide_n = 0
        self.seq = 0
        self._next: Optional[_Width] = None

    def rate(self, width: float = 1.0) -> float:
        """Reference CPU seconds per second a runnable piece of ``width`` receives now."""
        if not self.n:
            return 0.0
        if self.gil:
            python = self.n - self.wide_n  # pieces holding (or waiting for) the GIL
            share = min(1.0, self.cores / (self.wide + min(1, python)))
            rate = self.speed * share * (width if width > 1.0 else 1.0 / max(1, python))
        else:
            share = min(1.0, self.cores / self.demand)
            rate = self.speed * width * share ** (width if self.gang else 1.0)
        return rate if self.slowdown is None else rate / self.slowdown(self.n if self.gil else self.demand, self.cores)

    def slowest_rate(self, width: float, pieces: int, widest: float) -> float:
        """A lower bound of :meth:`rate` for a piece of ``width`` among at most ``pieces``
        runnable pieces at most ``widest`` wide, before any slowdown."""
        if self.gil:
            share = min(1.0, self.cores / (pieces * widest + 1.0)) if widest > 1.0 else 1.0
            return self.speed * share * (width if width > 1.0 else 1.0 / max(1, pieces))
        share = min(1.0, self.cores / (pieces * widest))
        return self.speed * width * share ** (width if self.gang else 1.0)

    def advance(self, t: float) -> None:
        if self.n:
            dt = t - self.t
            for w in self.widths.values():
                if w.n:
                    w.v += self.rate(w.width) * dt
        self.t = t

    def next_time(self) -> float:
        best, self._next = INF, None
        for w in self.widths.values():
            heap = w.heap
            while heap and heap[0][2].cancelled:
                heapq.heappop(heap)
            if heap:
                at = self.t + max(0.0, heap[0][0] - w.v) / self.rate(w.width)
                if at < best:
                    best, self._next = at, w
        return best

    def start(self, work: float, callback: Callable[[float], None], width: float = 1.0) -> _Job:
        w = self.widths.get(width)
        if w is None:
            w = self.widths[width] = _Width(width)
        job = _Job(callback, w.v + work, width)
        self.seq += 1
        heapq.heappush(w.heap, (job.finish_v, self.seq, job))
        self._count(w, +1)
        return job

    def _count(self, w: _Width, step: int) -> None:
        w.n += step
        self.n += step
        self.demand += step * w.width
        if w.width > 1.0:
            self.wide_n += step
            self.wide += step * w.width

    def pop(self) -> _Job:
        """The piece :meth:`next_time` found next, done."""
        w = self._next
        job = heapq.heappop(w.heap)[2]
        self._count(w, -1)
        return job

    def cancel(self, job: Optional[_Job]) -> None:
        if job is not None and not job.cancelled:
            job.cancelled = True
            self._count(self.widths[job.width], -1)

    def received(self, job: _Job, work: float) -> float:
        """CPU seconds a live piece of ``work`` has received so far."""
        return max(0.0, work - (job.finish_v - self.widths[job.width].v))


class _Fifo:
    """A serial server on a host (the parent, a scheduler): pieces of work run one after
    another, each optionally with a callback when it is done."""

    def __init__(self, sim: "_Sim", host: _Host):
        self.sim, self.host = sim, host
        self.pending: deque = deque()  # [work, callback or None]; the first one is running
        self.job: Optional[_Job] = None
        self.busy_s = 0.0
        self._starting = False

    def add(self, work: float, callback: Optional[Callable[[float], None]] = None) -> None:
        """Queue ``work`` reference CPU seconds; consecutive pieces without callback merge
        (one piece of CPU work, not one per outcome)."""
        if callback is None and len(self.pending) > (0 if self.job is None else 1) \
                and self.pending[-1][1] is None:
            self.pending[-1][0] += work
        else:
            self.pending.append([work, callback])
        if self.job is None and not self._starting:
            self._next(self.sim.t)

    def _next(self, t: float) -> None:
        self._starting = True  # a callback below may queue more work: it waits its turn
        try:
            while self.pending and self.job is None:
                work, callback = self.pending[0]
                if work > 0:
                    self.busy_s += work
                    self.job = self.host.start(work, self._done)
                    return
                self.pending.popleft()
                if callback is not None:
                    callback(t)
        finally:
            self._starting = False

    def _done(self, t: float) -> None:
        _, callback = self.pending.popleft()
        self.job = None
        if callback is not None:
            self._starting = True
            try:
                callback(t)
            finally:
                self._starting = False
        self._next(t)


class _Queue:
    """Ready jobs in the order the runner starts them: by ``key`` (generation before work
    items, then by task and stage, for the runner of issue 13; one key for all before it, so
    first in first out), equals in arrival order; a re-queued job goes before its equals."""

    def __init__(self) -> None:
        self.heap: list = []
        self.seq = 0

    def push(self, key: tuple, job: "_Item", front: bool = False) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (key, -self.seq if front else self.seq, job))

    def pop(self) -> "_Item":
        return heapq.heappop(self.heap)[2]

    def __bool__(self) -> bool:
        return bool(self.heap)


@dataclass
class _Stage:
    task: int
    index: int
    units_left: int
    #: Units a joined item may hold (perfkit/model/plan.py ``join_limit``).
    join_limit: int = 0


class _Item:
    """A work item, or (``generation``) the job generating a task's candidates on a worker."""

    __slots__ = ("task", "stage", "units", "pos", "queued", "first", "waited", "generation", "requeued", "scheduled")

    def __init__(self, task: int, stage: Optional[_Stage], units: tuple, queued: float, generation: bool = False):
        self.task, self.stage, self.units, self.queued = task, stage, units, queued
        self.generation = generation
        #: Held by a killed worker and queued again (never joined: the runner re-queues an Assignment).
        self.requeued = False
        self.pos = 0
        self.first = True  # its per-item CPU not yet paid
        self.waited = False  # its hand-over latency not yet paid
        self.scheduled = True  # assigned by the cluster's scheduler (Dask), when there is one


class _Slot:
    __slots__ = ("name", "host", "items", "alive", "job", "token", "unit_start", "idle", "batch_at")

    def __init__(self, name: str, host: _Host, batch_at: float = INF):
        self.name, self.host = name, host
        #: When the worker's next unit to end sends a batch of outcomes (BackendCosts.batch_interval_s)
        self.batch_at = batch_at
        self.items: deque = deque()
        self.alive = True
        self.job: Optional[_Job] = None
        self.token = 0
        self.unit_start = 0.0
        #: True when the slot waits for an item (dispatch must start it); False while it runs one.
        self.idle = True


@dataclass(frozen=True)
class SimResult:
    """What one simulated run predicts (seconds; lane-seconds are summed over workers)."""

    config: SimConfig
    wall_s: float
    startup_s: float
    close_s: float
    #: Wall with no stage running (the workers wait: candidate generation, task changes).
    between_stages_s: float
    #: Lane-seconds of the workers, over the stages' running time: the solver's own work at
    #: full speed; perfkit's per-unit and per-item costs; slowdown from sharing cores;
    #: idle (no item); dead (a killed worker being replaced).
    work_lane_s: float
    harness_lane_s: float
    contention_lane_s: float
    idle_lane_s: float
    dead_lane_s: float
    parent_cpu_s: float
    ideal_wall_s: float
    critical_path_s: float
    #: Work items handed to the workers (taper pieces joined count once, a re-queued rest not again).
    work_items: int
    stages: int
    kills: int
    #: One row per unit: task_id, split, index, candidate, status, queued, started, ended,
    #: wall_s, worker, lower_bound (its cost was only a lower bound in the reference), cpu_s
    #: (the reference's), share (of a core it got on average while its CPU ran), late_chance (of
    #: still running at its deadline under the GIL's uneven hand-over, :mod:`.gil`), outcomes
    #: (a timeout of it is recorded as this many: one per candidate of an opaque solver's sample),
    #: cores (its CPU ran on at once, :class:`~.workload.UnitCost`; share is of its pace alone),
    #: endless (it runs until stopped, ``Workload.runs_past``), leaked (given up on threads while
    #: its work ran on) and leaked_s (how long past its deadline that work ran: its CPU left at
    #: its share of the GIL; nan when not given up, or still running when the run ends).
    units: pd.DataFrame = field(repr=False)
    #: How perfkit was taken to run it.
    execution: Execution = Execution()
    #: When the run stops early (seconds): a thread run abandons one unit more than it tolerates
    #: still running (:attr:`leak_limit`); None when it runs to its end.
    stopped_s: Optional[float] = None
    #: Abandoned units still running that the run tolerates (0: its backend stops every unit).
    leak_limit: int = 0
    #: Units of the plan with no outcome: the run stopped before recording them.
    never_run: int = 0
    #: The most abandoned units still running at once (threads).
    leaks_peak: int = 0

    @property
    def efficiency(self) -> float:
        """The ideal wall over the wall; nan for a run that stops early (its wall is where it
        stopped, its ideal all the work: 171–260 % on python-constraint2's threads)."""
        return self.ideal_wall_s / self.wall_s if self.wall_s > 0 and self.stopped_s is None else float("nan")

    @property
    def timeouts(self) -> pd.DataFrame:
        return self.units[self.units["status"] == "timeout"]

    @property
    def timed_out(self) -> int:
        """Timed-out units as the runner records them: an opaque solver's timed-out sample as
        one per declared candidate (perfkit/backends/unit.py ``per_declared_candidate``), so the
        count compares with a measured run's."""
        return int(self.timeouts["outcomes"].sum())

    @property
    def busy_s(self) -> dict[str, float]:
        """Seconds each worker spent in units (its lane in a timeline)."""
        return self.units.groupby("worker")["wall_s"].sum().to_dict()


class _Sim:
    """One run; see the module docstring. Use :func:`simulate`."""

    def __init__(self, workload: Workload, costs: BackendCosts, machine: Machine, execution: Execution,
                 config: SimConfig, cooperative: bool, gil_held: bool = False):
        self.w, self.c, self.m, self.x, self.cfg = workload, costs, machine, execution, config
        self.cooperative = cooperative
        #: Threads whose units hold the GIL for their whole call (see :func:`simulate`).
        self.gil_held = gil_held and costs.behaviour.gil and not cooperative
        self.t = 0.0
        self.events: list = []
        self.seq = 0
        speed = machine.speed
        workers = 1 if costs.behaviour.in_parent else config.workers
        self.workers = workers
        #: The most cores a unit computed on at once in the reference.
        self.widest = max((c.cores for t in workload.tasks for c in t.units.values()), default=1.0)
        if costs.behaviour.gil or costs.behaviour.in_parent:
            # one core for every Python thread of the process (the GIL), or one thread at all;
            # threads also pay the solver's hand-over cost at each release of the GIL (.gil);
            # a unit computing on several cores does so outside the GIL, on the machine's cores
            self.hosts = [_Host(machine.cores, speed, inflation=workload.gil if costs.behaviour.gil else None,
                                gil=True)]
            parent_host = self.hosts[0]
        else:
            # busy cores slow each other down (the co-run factor; none when it is 1)
            corun = None if costs.corun_cpu_factor == 1.0 else costs.corun_slowdown
            # each worker a process: a unit's threads are its own (a thread pool per worker)
            self.hosts = [_Host(machine.cores, speed, corun, gang=True) for _ in range(machine.machines)]
            if machine.parent_shares_cores:
                parent_host = self.hosts[0]
            else:
                parent_host = _Host(machine.cores, speed, corun, gang=True)
                self.hosts.append(parent_host)
        self.worker_hosts = self.hosts[: 1 if (costs.behaviour.gil or costs.behaviour.in_parent) else machine.machines]
        self.parent = _Fifo(self, parent_host)
        self.generator = _Fifo(self, parent_host) if execution.generation == "overlapped" else self.parent
        self.scheduler = _Fifo(self, parent_host) if costs.scheduler_item_cpu_s > 0 else None
        self.slots: list[_Slot] = []
        self.created = 0
        self.queue = _Queue()
        self.timeout = config.timeout.unit_timeout_s
        self.sample_deadlines: dict[tuple, float] = {}
        self.task_deadlines: dict[int, float] = {}
        self.records: list[tuple] = []
        self.kills = 0
        self.leaked = 0
        #: Abandoned units whose work still runs, and how many the run tolerates (threads).
        self.leaks_running = 0
        self.leak_limit = 0 if costs.behaviour.hard_stop else (
            config.max_leaked if config.max_leaked is not None else costs.behaviour.leaked_per_worker * workers)
        self.stopped_s: Optional[float] = None
        self.leaks_peak = 0
        #: (task, unit) of each unit given up while its work ran on, and when that work ends (absent:
        #: still running when the run ends)
        self.abandoned: set[tuple] = set()
        self.leak_ends: dict[tuple, float] = {}
        #: Σ of the units' chances to be late so far (:mod:`.gil`), less the late units drawn:
        #: starts at one half, so the late units are the sum rounded to the nearest whole unit.
        self.late_sum = 0.5
        #: (task, unit) → (share of a core while its CPU ran, chance of being late)
        self.shares: dict[tuple, tuple[float, float]] = {}
        self.harness_lane = 0.0
        self.work_lane = 0.0
        self.active_stages = 0
        self.stage_time = 0.0
        self._stage_t0 = 0.0
        self.end: Optional[float] = None
        self.plans = [self._plan(t) for t in workload.tasks]
        self.task_done = [False] * len(workload.tasks)
        #: The last task not done: a later task's work is queued or still to come while it is after a task.
        self.last_undone = len(workload.tasks) - 1
        self.task_dispatched = [False] * len(workload.tasks)
        self.generated = [False] * len(workload.tasks)
        self.next_task = 0
        #: generation on the workers: the first unfinished task and the tasks open after it
        self.frontier = 0
        self.opened = 0
        self.window = execution.window(config.strategy, workers)
        policy = config.timeout
        self.joins = execution.join_taper and execution.on_workers and policy.task_budget_s is None \
            and policy.sample_budget_s is None and strategies.get(config.strategy).tapers
        self.handed = 0

    # -- the event loop -------------------------------------------------------------------

    def at(self, t: float, fn: Callable[..., None], *args: Any) -> None:
        self.seq += 1
        heapq.heappush(self.events, (t, self.seq, fn, args))

    def run(self) -> None:
        self.at(0.0, self._start)
        hosts = self.hosts
        while self.end is None:
            t_event = self.events[0][0] if self.events else INF
            t_host, host = INF, None
            for h in hosts:
                nt = h.next_time()
                if nt < t_host:
                    t_host, host = nt, h
            t = min(t_event, t_host)
            if t == INF:
                raise RuntimeError("simulation stalled: no event left before the run ended")
            for h in hosts:
                h.advance(t)
            self.t = t
            if host is not None and t_host <= t_event:
                host.pop().callback(t)
            else:
                _, _, fn, args = heapq.heappop(self.events)
                fn(t, *args)

    # -- run, tasks, stages -----------------------------------------------------------------

    def _plan(self, task: TaskWork) -> tuple:
        # the runner plans for the configuration's workers, even when they share one slot (inline)
        plan = strategies.get(self.cfg.strategy).plan(list(task.samples), list(task.candidates), self.cfg.workers,
                                                      self.cfg.chunk_size)
        return plan.stages

    def _start(self, t: float) -> None:
        self.startup_s = 0.0
        if self.x.startup == "run":
            # each machine starts its own workers, the machines in parallel
            per_machine = math.ceil(self.workers / len(self.worker_hosts))
            self.startup_s = (self.c.start_cold_s if self.x.cold else 0.0) + self.c.start_per_worker_s * per_machine
            self.startup_s /= self.m.speed
        self.at(t + self.startup_s, self._ready)

    def _ready(self, t: float) -> None:
        if self.c.run_parent_cpu_s > 0:  # the parent's own work per run (planning, the store)
            self.parent.add(self.c.run_parent_cpu_s)
        for _ in range(self.workers):
            self._add_slot(t)
        if not self.w.tasks:
            self.stage_end, self.close_s = t, 0.0
            self.end = t
            return
        if self.x.on_workers:
            self._open_window(t)
        elif self.x.generation == "overlapped":
            for k in range(len(self.w.tasks)):
                self.generator.add(self.w.tasks[k].generate_s, lambda t, k=k: self._generated(t, k))
        else:
            self._generate(t, 0)

    def _generate(self, t: float, k: int) -> None:
        if k < len(self.w.tasks) and self.x.generation == "serial":
            self.parent.add(self.w.tasks[k].generate_s, lambda t, k=k: self._generated(t, k))

    def _generated(self, t: float, k: int) -> None:
        self.generated[k] = True
        if self.x.on_workers:  # within the window a task needs nothing but its candidates
            self._release(t, k, 0)
            return
        self._maybe_release(t)

    def _open_window(self, t: float) -> None:
        """Queue the generation job of each task that enters the window (perfkit/runner/schedule.py)."""
        while self.opened < min(len(self.w.tasks), self.frontier + self.window):
            k = self.opened
            self.opened += 1
            self.queue.push((0, k), _Item(k, None, (), t, generation=True))
        self._dispatch(t)

    def _maybe_release(self, t: float) -> None:
        """Release the next task's first stage when it is generated and the previous task allows."""
        k = self.next_task
        if k >= len(self.w.tasks) or not self.generated[k]:
            return
        if k > 0 and not (self.task_done[k - 1] if self.x.task_barrier else self.task_dispatched[k - 1]):
            return
        self.next_task += 1
        self._release(t, k, 0)

    def _release(self, t: float, k: int, s: int) -> None:
        stages = self.plans[k]
        if s >= len(stages):
            self._task_complete(t, k)
            return
        if s == len(stages) - 1:
            self.task_dispatched[k] = True
        units = sum(len(item) for item in stages[s])
        if units == 0:
            self._release(t, k, s + 1)
            return
        stage = _Stage(k, s, units, join_limit(max(len(item) for item in stages[s]), units, self.cfg.workers,
                                               self.cfg.chunk_size))
        if k not in self.task_deadlines and self.cfg.timeout.task_budget_s is not None:
            self.task_deadlines[k] = t + self.cfg.timeout.task_budget_s
        if self.active_stages == 0:
            self._stage_t0 = t
        self.active_stages += 1
        for unit_list in stages[s]:
            if unit_list:
                item = _Item(k, stage, tuple(unit_list), t)
                self.queue.push(self._key(item), item)
        self._dispatch(t)
        if s == len(stages) - 1 and not self.x.task_barrier and not self.x.on_workers:
            self._generate(t, k + 1)
            self._maybe_release(t)

    def _key(self, item: _Item) -> tuple:
        """The runner's order of ready jobs (see :class:`_Queue`)."""
        if not self.x.on_workers:
            return (0,)
        return (0, item.task) if item.generation else (1, item.task, item.stage.index)

    def _stage_units_done(self, t: float, stage: _Stage) -> None:
        # the stage ends when the parent has recorded its last outcome
        self.parent.add(0.0, lambda t, stage=stage: self._stage_complete(t, stage))

    def _stage_complete(self, t: float, stage: _Stage) -> None:
        self.active_stages -= 1
        if self.active_stages == 0:
            self.stage_time += t - self._stage_t0
        self._release(t, stage.task, stage.index + 1)

    def _task_complete(self, t: float, k: int) -> None:
        self.task_done[k] = True
        while self.last_undone >= 0 and self.task_done[self.last_undone]:
            self.last_undone -= 1
        if self.x.on_workers and not all(self.task_done):
            while self.frontier < len(self.w.tasks) and self.task_done[self.frontier]:
                self.frontier += 1
            self._open_window(t)
            return
        if all(self.task_done):
            self.stage_end = t
            self.close_s = self.c.close_s / self.m.speed if self.x.startup == "run" else 0.0
            self.at(t + self.close_s, self._finish)
            return
        if self.x.task_barrier:
            self._generate(t, k + 1)
        self._maybe_release(t)

    def _finish(self, t: float) -> None:
        self.end = t

    # -- workers ----------------------------------------------------------------------------

    def _add_slot(self, t: float) -> _Slot:
        host = self.worker_hosts[self.created % len(self.worker_hosts)]  # spread evenly over machines
        self.created += 1
        slot = _Slot(f"w{self.created}", host, self._next_batch(t))
        self.slots.append(slot)
        self._dispatch(t)
        return slot

    def _dispatch(self, t: float) -> None:
        prefetch = self.c.behaviour.prefetch
        if self.x.on_workers and self.c.behaviour.dispatch == "prefetch":
            # the runner of issue 13 submits job by job to the worker holding the fewest
            while self.queue:
                open_slots = [s for s in self.slots if s.alive and len(s.items) < prefetch]
                if not open_slots:
                    return
                self._hand(t, min(open_slots, key=lambda s: len(s.items)))
            return
        for slot in self.slots:
            while slot.alive and self.queue and len(slot.items) < prefetch:
                self._hand(t, slot)

    def _hand(self, t: float, slot: _Slot) -> None:
        """Give the next ready job to ``slot``."""
        item = self.queue.pop()
        if not item.generation and not item.requeued:  # (a rest keeps its item's chunk: counted once)
            self.handed += 1
            if self.joins and not self.w.tasks[item.task].sample_level:
                item = self._joined(item)
        slot.items.append(item)
        self.parent.add(self.c.item.parent_cpu_s)
        if self.scheduler is not None and not item.generation:
            # the runner submits the item as handed out (joined): the cluster's one scheduler
            # assigns it, one item after another, before its worker can start it
            item.scheduled = False
            self.scheduler.add(self.c.scheduler_item_cpu_s, lambda t, slot=slot, item=item: self._scheduled(t, slot, item))
        if slot.idle:
            slot.idle = False
            self._next_unit(t, slot)

    def _scheduled(self, t: float, slot: _Slot, item: _Item) -> None:
        """The scheduler has assigned ``item``: its worker may start it if it waits for it. An
        assignment to a worker killed meanwhile is void: the item, queued again, is assigned anew."""
        if not slot.alive:
            return
        item.scheduled = True
        if slot.idle and slot.items and slot.items[0] is item:
            slot.idle = False
            self._next_unit(t, slot)

    def _joined(self, item: _Item) -> _Item:
        """``item`` and the pieces of its stage queued right after it, joined by the runner's
        rule (perfkit/runner/schedule.py ``Schedule._joined``)."""
        key, heap = self._key(item), self.queue.heap
        pieces, held, later = [item], len(item.units), None
        while heap and heap[0][0] == key and not heap[0][2].requeued:
            if later is None:  # a later task not done: its work is queued or still to come
                later = self.last_undone > item.task
            if not taper_joins(held, len(heap[0][2].units), item.stage.join_limit, later):
                break
            pieces.append(self.queue.pop())
            held += len(pieces[-1].units)
        if len(pieces) == 1:
            return item
        return _Item(item.task, item.stage, tuple(u for piece in pieces for u in piece.units), item.queued)

    def _latency_over(self, t: float, slot: _Slot, token: int) -> None:
        if slot.alive and slot.token == token:
            self._next_unit(t, slot)

    def _next_unit(self, t: float, slot: _Slot) -> None:
        """Start the next unit of the slot's current item, or finish the item."""
        while True:
            if not slot.items:
                slot.idle = True
                return
            item = slot.items[0]
            if item.pos >= len(item.units) and not item.generation:
                slot.items.popleft()
                self._dispatch(t)
                continue
            if not item.scheduled:  # the scheduler has not assigned it yet: _scheduled starts it
                slot.idle = True
                return
            if item.first and self.c.item_latency_s > 0 and not item.waited:
                # the item's hand-over (pipe, wake-up) as measured per item by the calibration
                item.waited = True
                slot.token += 1
                self.at(t + self.c.item_latency_s, self._latency_over, slot, slot.token)
                return
            if item.generation:
                self._start_generation(t, slot, item)
                return
            unit = item.units[item.pos]
            cost = self.w.tasks[item.task].units.get(unit, _MISSING)
            overhead = self.c.unit.worker_cpu_s + (self.c.item.worker_cpu_s if item.first else 0.0)
            item.first = False
            reason = self._budget_spent(item, unit, t)
            if reason is not None:
                self._record(item, unit, "skipped", t, None, None, slot, cost)
                self.parent.add(self.c.unit.parent_cpu_s)
                item.pos += 1
                self._unit_accounted(t, item)
                if overhead > 0:
                    slot.job = slot.host.start(overhead, lambda t, s=slot: self._next_unit(t, s))
                    return
                continue
            self._start_unit(t, slot, item, unit, cost, overhead)
            return

    def _start_generation(self, t: float, slot: _Slot, item: _Item) -> None:
        """A task's candidate generation on ``slot``: the reference's generation seconds
        (CPU, at the backend's unit CPU factor) plus the job's cost on the worker."""
        work = self.w.tasks[item.task].generate_s * self.c.unit_cpu_factor + self.c.item.worker_cpu_s
        self.harness_lane += self.c.item.worker_cpu_s / self.m.speed
        slot.token += 1
        token = slot.token

        def done(t: float) -> None:
            if slot.token != token:
                return
            slot.job = None
            slot.items.popleft()
            # the parent receives the candidates and plans the task
            self.parent.add(self.c.item.parent_cpu_s, lambda t, k=item.task: self._generated(t, k))
            self._dispatch(t)
            self._next_unit(t, slot)

        slot.job = slot.host.start(work, done)

    def _budget_spent(self, item: _Item, unit: UnitRef, t: float) -> Optional[str]:
        policy = self.cfg.timeout
        deadline = self.task_deadlines.get(item.task)
        if deadline is not None and t >= deadline:
            return "task budget spent"
        if policy.sample_budget_s is not None:
            key = (item.task, unit[0], unit[1])
            deadline = self.sample_deadlines.setdefault(key, t + policy.sample_budget_s)
            if t >= deadline:
                return "sample budget spent"
        return None

    def _start_unit(self, t: float, slot: _Slot, item: _Item, unit: UnitRef, cost: UnitCost, overhead: float) -> None:
        slot.token += 1
        token = slot.token
        slot.unit_start = t
        reruns = self.w.runs_past(cost, self.timeout)
        cpu, wait = cost.cpu_s * self.c.unit_cpu_factor, cost.wait_s
        # it timed out at this timeout or a longer one: it runs until stopped — or, holding the
        # GIL, until its call returns, at least what the reference measured
        if reruns and not self.gil_held:
            if cpu / cost.cores >= wait:
                cpu = UNBOUNDED
            else:
                wait = UNBOUNDED
        self.harness_lane += overhead / self.m.speed
        self.work_lane += min(cpu / cost.cores / self.m.speed + wait, self.timeout)
        # ..., late (uneven sharing), its deadline event queued, it runs until stopped
        state = [item, unit, cost, cpu + overhead, wait, False, False, reruns, False]  # [8]: abandoned
        # (perfkit's per-unit CPU rides at the unit's width: microseconds beside a unit on several cores)
        slot.job = slot.host.start(cpu + overhead, lambda t: self._cpu_done(t, slot, token, state), cost.cores)
        if math.isfinite(self.timeout) and not self.gil_held:  # (held: nothing can stop or give it up)
            # a unit can only be late if its slowest possible pace could take it past the deadline
            slowest = slot.host.slowest_rate(cost.cores, len(self.slots) + 3 + self.leaked, self.widest)
            slowest /= max(1.0, self.c.corun_cpu_factor)  # with every core busy
            if reruns or (cpu + overhead) / slowest + wait >= self.timeout:
                self._arm_deadline(slot, token, state)

    def _arm_deadline(self, slot: _Slot, token: int, state: list) -> None:
        """Queue the unit's stop: at its deadline (a cooperative solver) or the backend's stop after it."""
        if not state[6]:
            state[6] = True
            stop = self.timeout if self.cooperative else self.timeout + self.c.stop_delay_s
            self.at(slot.unit_start + stop, self._deadline, slot, token, state)

    def _late(self, t: float, slot: _Slot, token: int, state: list) -> None:
        """The unit's CPU is done at the fluid's pace: record the share of a core it got and,
        under the GIL, its chance to have been still running at its deadline (:mod:`.gil`);
        when the running sum of chances passes a whole unit, this one is late."""
        work_s = state[3] / self.m.speed
        elapsed = t - slot.unit_start
        width = state[2].cores
        share = min(1.0, work_s / width / elapsed) if elapsed > 0 else 1.0  # of its pace alone
        chance = 0.0
        # (past its deadline the fluid times it out; a unit on several cores ran outside the GIL)
        if self.c.behaviour.gil and elapsed < self.timeout and not state[7] and width == 1.0 and not self.gil_held:
            chance = self._late_chance(slot, work_s, state[4], share)
            self.late_sum += chance
            if self.late_sum >= 1.0:
                self.late_sum -= 1.0
                state[5] = True
                self._arm_deadline(slot, token, state)
        self.shares[(state[0].task, state[1])] = (share, chance)

    def _late_chance(self, slot: _Slot, work_s: float, wait_s: float, share: float) -> float:
        """:func:`.gil.late_probability` of a unit; under a hand-over cost (``f``), of ``f ×`` its
        CPU at ``f ×`` the share of the GIL it got (the same mean wall, the turns counted right)."""
        inflation = slot.host.inflation
        if inflation is None:
            return late_probability(work_s, wait_s, self.timeout, share)
        f = inflation.of_share(share)
        return late_probability(work_s * f, wait_s, self.timeout, min(1.0, share * f))

    def _cpu_done(self, t: float, slot: _Slot, token: int, state: list) -> None:
        if slot.token != token:
            if state[8] and state[4] > 0:  # abandoned (thread backend): its work ran on, nobody waits for it
                self.at(t + state[4], self._abandoned_done, state)
            elif state[8]:
                self._abandoned_done(t, state)
            return
        slot.job = None
        self._late(t, slot, token, state)
        wait = state[4]
        if wait > 0:
            self.at(t + wait, self._unit_done, slot, token, state)
        else:
            self._unit_done(t, slot, token, state)

    def _unit_done(self, t: float, slot: _Slot, token: int, state: list) -> None:
        if slot.token != token:
            if state[8]:  # abandoned during its wait: that ends now
                self._abandoned_done(t, state)
            return
        if state[5]:
            return  # late: still waiting for its turns at the GIL until its deadline (_deadline)
        item, unit, cost = state[0], state[1], state[2]
        late = t - slot.unit_start >= self.timeout
        status = "timeout" if late else (cost.status if cost.status in ("error", "crashed") else "ok")
        self._end_unit(t, slot, item, unit, status, cost)
        slot.token += 1
        self._next_unit(t, slot)

    def _end_unit(self, t: float, slot: _Slot, item: _Item, unit: UnitRef, status: str, cost: UnitCost) -> None:
        self._record(item, unit, status, t, slot.unit_start, t, slot, cost)
        self.parent.add(self.c.unit.parent_cpu_s)
        item.pos += 1
        self._batch(t, slot, item)
        self._unit_accounted(t, item)

    def _next_batch(self, t: float) -> float:
        costs = self.c
        return t + costs.batch_interval_s if costs.batch_interval_s > 0 and costs.batch_parent_cpu_s > 0 else INF

    def _batch(self, t: float, slot: _Slot, item: _Item) -> None:
        """The worker's batches of outcomes (perfkit/backends/unit.py ``run_job``): a unit
        ending ``batch_interval_s`` after the last batch sends one, which wakes the parent
        (``batch_parent_cpu_s``); an item's end sends one too, paid in its per-item cost.
        (The other rule, every FLUSH_UNITS outcomes, is left out: 1 024 units take longer than
        the interval in every workload measured.)"""
        if t >= slot.batch_at:
            self.parent.add(self.c.batch_parent_cpu_s)
            slot.batch_at = self._next_batch(t)
        if item.pos >= len(item.units):
            slot.batch_at = self._next_batch(t)

    def _unit_accounted(self, t: float, item: _Item) -> None:
        item.stage.units_left -= 1
        if item.stage.units_left == 0:
            self._stage_units_done(t, item.stage)

    def _deadline(self, t: float, slot: _Slot, token: int, state: list) -> None:
        """The unit is still running at its stop time: it stops itself, is stopped, or leaks."""
        if slot.token != token or not slot.alive:
            return
        item, unit, cost = state[0], state[1], state[2]
        if slot.job is not None and not slot.job.cancelled:  # still on the CPU: the share it got so far
            got_s = slot.host.received(slot.job, state[3]) / self.m.speed / cost.cores
            self.shares[(item.task, unit)] = (min(1.0, got_s / max(t - slot.unit_start, 1e-12)), 0.0)
        slot.token += 1  # its pending CPU or wait completion no longer concerns the slot
        if self.cooperative or (self.c.behaviour.hard_stop and not self.c.behaviour.stop_kills_worker):
            slot.host.cancel(slot.job)
            self._end_unit(t, slot, item, unit, "timeout", cost)
            self._next_unit(t, slot)
            return
        if self.c.behaviour.hard_stop:  # the worker is killed and replaced; the rest of its work re-queued
            slot.host.cancel(slot.job)
            self.kills += 1
        else:  # threads: the abandoned unit's CPU keeps its share of the cores until it ends
            self.leaked += 1
            if not state[5]:  # (a late unit's work is done: it only held its worker to its deadline)
                state[8] = True
                self.abandoned.add((item.task, unit))
                self.leaks_running += 1
                self.leaks_peak = max(self.leaks_peak, self.leaks_running)
                if self.leaks_running > self.leak_limit:
                    self._stop(t)  # perfkit/backends/thread.py: WorkerFailure, this unit unrecorded
                    return
        self._end_unit(t, slot, item, unit, "timeout", cost)
        slot.alive = False
        self.slots.remove(slot)
        requeue = []
        if item.pos < len(item.units):
            rest = _Item(item.task, item.stage, item.units[item.pos:], item.queued)
            requeue.append(rest)
        requeue += list(slot.items)[1:]
        slot.items.clear()
        for job in requeue:
            job.requeued = True
        front = self.c.behaviour.requeue == "front"
        for job in (reversed(requeue) if front else requeue):  # the last pushed to the front goes first
            self.queue.push(self._key(job), job, front=front)
        self.at(t + self.c.replace_s, self._add_slot)
        self._dispatch(t)

    def _abandoned_done(self, t: float, state: list) -> None:
        self.leaks_running -= 1
        self.leak_ends[(state[0].task, state[1])] = t

    def _stop(self, t: float) -> None:
        """The run stops now (the backend gave up): its window closes, nothing more is recorded."""
        if self.active_stages:
            self.stage_time += t - self._stage_t0
        self.stopped_s = self.stage_end = t
        self.close_s = self.c.close_s / self.m.speed if self.x.startup == "run" else 0.0
        self.end = t + self.close_s

    def _record(self, item: _Item, unit: UnitRef, status: str, t: float, started: Optional[float],
                ended: Optional[float], slot: _Slot, cost: UnitCost) -> None:
        split, index, candidate = unit
        share, chance = self.shares.get((item.task, unit), (float("nan"), 0.0))
        self.records.append((self.w.tasks[item.task].task_id, split, index, candidate, status, item.queued,
                             started, ended, slot.name, cost.lower_bound, cost.cpu_s, share, chance, cost.outcomes,
                             cost.cores, self.w.runs_past(cost, self.timeout), item.task))

    # -- the result -------------------------------------------------------------------------

    def result(self) -> SimResult:
        units = pd.DataFrame.from_records(self.records, columns=[
            "task_id", "split", "index", "candidate", "status", "queued", "started", "ended", "worker",
            "lower_bound", "cpu_s", "share", "late_chance", "outcomes", "cores", "endless", "task"])
        units["wall_s"] = units["ended"] - units["started"]
        keys = list(zip(units["task"], units[["split", "index", "candidate"]].itertuples(index=False, name=None)))
        units["leaked"] = [key in self.abandoned for key in keys]
        units["leaked_s"] = [self.leak_ends.get(key, math.nan) - start - self.timeout
                             for key, start in zip(keys, units["started"])]
        units = units.drop(columns="task")
        lanes = self.stage_time * self.workers
        busy = float(units["wall_s"].sum())
        dead = sum(min(self.c.replace_s, self.stage_time) for _ in range(self.kills))
        contention = max(0.0, busy - self.work_lane - self.harness_lane)
        idle = max(0.0, lanes - busy - dead)
        stops = self.c.behaviour.hard_stop or self.cooperative  # (threads: an abandoned unit's CPU runs on)
        ideal, critical = ideal_bound(self.w, self.plans, self.workers, self.m, self.c, self.x,
                                      self.timeout if stops else math.inf)
        return SimResult(
            config=self.cfg, wall_s=self.end, startup_s=self.startup_s, close_s=self.close_s,
            between_stages_s=max(0.0, self.stage_end - self.startup_s - self.stage_time),
            work_lane_s=self.work_lane, harness_lane_s=self.harness_lane, contention_lane_s=contention,
            idle_lane_s=idle, dead_lane_s=dead, parent_cpu_s=self.parent.busy_s / self.m.speed,
            ideal_wall_s=ideal, critical_path_s=critical,
            work_items=self.handed,
            stages=sum(len(plan) for plan in self.plans), kills=self.kills, units=units, execution=self.x,
            stopped_s=self.stopped_s, leak_limit=self.leak_limit, leaks_peak=self.leaks_peak,
            never_run=sum(len(item) for plan in self.plans for stage in plan for item in stage) - len(units))


_MISSING = UnitCost(0.0, 0.0, "skipped", unknown=True)


def ideal_bound(workload: Workload, plans: list, workers: int, machine: Machine,
                costs: BackendCosts, execution: Execution = Execution(),
                stop_s: float = math.inf) -> tuple[float, float]:
    """``(ideal_wall_s, critical_path_s)`` of a configuration on ``machine``: per stage the
    largest of its CPU over the cores it can use, its lane time (a unit's CPU over the cores it
    computed on, :class:`~.workload.UnitCost`) + waits over the workers, and its largest work
    item (which cannot be split); plus candidate generation, serial. The cores a stage can keep
    busy are so min(cores, workers × a unit's cores). Under the GIL (threads, inline) the CPU
    of units on one core shares one core; wider units' CPU, outside the GIL, the machine's. With
    generation on the workers and no barrier between tasks (perfkit/analysis/metrics/bound.py
    ``ideal_bound`` of the runner of issue 13): the larger of all the work (generation
    included) over the slots and the longest single task. A unit longer than ``stop_s`` (the
    timeout of a backend that stops it) counts up to it, its CPU in proportion: the GIL probe
    may have run a stopped unit to 10× its timeout, which no run that stops it pays."""
    speed = machine.speed
    gil = costs.behaviour.gil or costs.behaviour.in_parent
    cores = machine.cores if gil else machine.cores * machine.machines
    lanes = max(1, workers)

    def spread(python: float, wide: float, occupied: float) -> float:
        # python: CPU of one-core units (one core under the GIL); wide: CPU of wider units
        on_one = python if gil else 0.0
        return max((python + wide) / cores, on_one, occupied / lanes)

    ideal = critical = 0.0
    total_python = total_wide = total_occupied = longest_task = 0.0
    for task, stages in zip(workload.tasks, plans):
        ideal += task.generate_s / speed
        total_python += task.generate_s / speed
        total_occupied += task.generate_s / speed
        task_ideal = task.generate_s / speed
        for stage in stages:
            python = wide = occupied = biggest = 0.0
            for item in stage:
                item_time = 0.0
                for unit in item:
                    c = task.units.get(unit, _MISSING)
                    unit_time = c.lane_s / speed + c.wait_s
                    kept = min(1.0, stop_s / unit_time) if unit_time > 0 else 1.0
                    if c.cores > 1.0:
                        wide += kept * c.cpu_s / speed
                    else:
                        python += kept * c.cpu_s / speed
                    item_time += kept * unit_time
                occupied += item_time
                biggest = max(biggest, item_time)
            critical += biggest
            stage_ideal = max(spread(python, wide, occupied), biggest)
            ideal += stage_ideal
            task_ideal += stage_ideal
            total_python += python
            total_wide += wide
            total_occupied += occupied
        longest_task = max(longest_task, task_ideal)
    if execution.on_workers:
        return max(spread(total_python, total_wide, total_occupied), longest_task), critical
    return ideal, critical


def simulate(workload: Workload, config: SimConfig, costs: BackendCosts, machine: Machine,
             execution: Execution = Execution(), cooperative: Optional[bool] = None,
             gil_held: Optional[bool] = None) -> SimResult:
    """Predict one run of ``config`` on ``machine`` from ``workload`` (a reference run's units).

    ``cooperative``: whether the solver stops itself at its deadline (None: what the reference
    showed, else False — the backend has to stop it). ``gil_held`` (threads, a solver that does
    not stop itself): each unit is one C call holding the GIL to its end (CPython's ``re``), so
    the watcher cannot give a unit up at its deadline: it runs to its end on its worker, a unit
    stopped in the reference for what the GIL probe measured of it alone, else for at least what
    it was stopped at (a lower bound: :meth:`~.workload.Workload.with_gil`), and the GIL's
    switch-interval turns (:mod:`.gil`) do not apply. Its CPU still shares the one core as the
    others' (the same work on one core, in the order the calls take the GIL). None: what the GIL
    probe showed (``Inflation.holds_gil``), not held when it did not measure it.
    """
    if cooperative is None:
        cooperative = bool(workload.cooperative)
    if gil_held is None:
        gil_held = workload.gil is not None and workload.gil.holds_gil is True
    sim = _Sim(workload, costs, machine, execution, config, cooperative, gil_held)
    sim.run()
    return sim.result()
