"""Runs: tasks → solver → strategy → backend → outcomes → store.

``run(config)`` is the Python API behind ``perfkit run``; ``resume(path)`` finishes an
interrupted run without re-running the units it recorded. The runner feeds the backend from a
:class:`perfkit.runner.schedule.Schedule` — candidate generation on the workers, several tasks
open at once, a strategy's stages in order inside each task — and records what comes back a
batch at a time. Each work item carries the stage of its task, which every outcome records, so
that analysis can compute the ideal bound from the plan itself (perfkit/analysis/metrics/bound.py).
"""

from __future__ import annotations

import gc
import importlib
import os
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from perfkit import strategies
from perfkit.backends import (
    Assignment,
    Budget,
    Generated,
    Requeued,
    SolverRef,
    StartTable,
    WarmBackends,
    WorkerFailure,
    check_backend,
    check_backend_options,
    get_backend,
    stray_threads,
)
from perfkit.backends.thread import LEAKED_PER_WORKER
from perfkit.backends.unit import per_declared_candidate
from perfkit.model import (
    UNIT_KEY,
    WHOLE_SAMPLE,
    ConfigError,
    Outcome,
    OutcomeBatch,
    PerfkitError,
    RunConfig,
    RunInterrupted,
    RunStopped,
    StoreError,
    Task,
)
from perfkit.model.command import IMPORTS, RUN_FOLDER, RUN_WINDOW, SOLVER, STOPPING, STORE, TASKS, WORKER_START
from perfkit.runner import calibration, command, environment, machine
from perfkit.runner.interrupts import Interrupts
from perfkit.runner.meter import Meter
from perfkit.runner.process_tree import SOURCE as CPU_SOURCE
from perfkit.runner.schedule import Schedule, unit_filter
from perfkit.solvers import is_opaque, load_solver, with_run_folder
from perfkit.store import DEFAULT_STORE, Run, RunSummary, RunWriter, load_run, new_run_id, read_json, read_units_jsonl
from perfkit.store.layout import META, UNITS_JSONL
from perfkit.store.lock import RunLock
from perfkit.store.run import run_config
from perfkit.store.writer import amend_summary

#: Longest the runner waits for the backend in one call (seconds); the backend returns as soon
#: as anything arrives, and looks at its workers' deadlines on its own schedule.
WAIT_S = 0.1


class Observer:
    """Hooks for progress display; the CLI passes a rich progress bar, a notebook nothing."""

    def tasks_planned(self, tasks: list[Task]) -> None:
        """The run's tasks, before the first starts (a progress bar's total is estimated from them)."""

    def add_units(self, n: int) -> None:
        """``n`` more units are planned."""

    def batch(self, batch: OutcomeBatch) -> None:
        """A batch of outcomes was recorded (``len(batch)`` of them; ``batch.status_counts()``)."""

    def outcome(self, outcome: Outcome) -> None:
        """One outcome was recorded (observers that count one by one; the runner sends batches)."""

    def task_started(self, task: Task, n_candidates: int) -> None:
        """A task's candidates are known and its units are about to run."""


@dataclass
class RunState:
    """What the runner learns while a run goes: counts, generation time, duplicates."""

    recorded: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    generate_s: float = 0.0
    generate_cpu_s: float = 0.0
    proposed: int = 0
    duplicates: int = 0
    #: Work items handed to the backend this session (a joined item once, a requeued rest again).
    items_handed_out: int = 0
    #: (task id, start, end) of each task's candidate generation, on time.monotonic().
    generation: list[list[Any]] = field(default_factory=list)
    #: time.monotonic() when the run window of this session opened and closed.
    started: float = 0.0
    ended: float = 0.0
    #: One record per work item the backend ran to its end (task_id, chunk, worker, peak_rss_bytes;
    #: a joined item lists its planned items in chunks).
    items: list[dict[str, Any]] = field(default_factory=list)


def _cpu_self_s() -> float:
    """CPU of this process, every thread included (seconds)."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def import_plugins(plugins: Sequence[str]) -> None:
    """Import every plugin module (one may register a strategy); a ConfigError on ``plugins``
    naming the module that fails."""
    for module in plugins:
        try:
            importlib.import_module(module)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # SystemExit at import time is the module's failure too
            raise ConfigError("plugins", module, f"cannot import: {type(exc).__name__}: {exc}") from None


def _text(exc: BaseException) -> str:
    """An exception's message, even when its ``__str__`` raises (a solver's exception)."""
    try:
        return str(exc)
    except Exception:
        return f"<{type(exc).__name__} whose message cannot be shown>"


def check(config: RunConfig) -> None:
    """The one check of a run's values, registered names and backend options, before anything
    is loaded or written; raises ConfigError naming the field."""
    config.validate()
    check_backend(config.backend)
    check_backend_options(config.backend, config.backend_options)
    import_plugins(config.plugins)  # a plugin may register the strategy
    strategies.get(config.strategy)


def check_all(configs: list[RunConfig]) -> None:
    """Check several configurations (an experiment) before the first of them runs: values,
    names, and that each strategy suits its solver (each solver built once)."""
    solvers: dict[str, Any] = {}
    for config in configs:
        check(config)
        key = repr((config.solver, sorted(config.solver_options.items())))
        if key not in solvers:
            solvers[key] = load_solver(config.solver, config.solver_options)
        _strategy_for(config, solvers[key])


def _strategy_for(config: RunConfig, solver: Any) -> strategies.Strategy:
    """The run's strategy, when it suits the solver (an opaque solver needs a sample-level one)."""
    strategy = strategies.get(config.strategy)
    if is_opaque(solver) and not strategy.sample_level:
        raise ConfigError(
            "strategy", config.strategy, f"the solver {config.solver!r} is opaque (solve_sample only); use a "
            "sample-level strategy: " + ", ".join(strategies.sample_level_names()))
    return strategy


def lookahead(config: RunConfig) -> int:
    """How many tasks may be open at once (perfkit/runner/schedule.py): two per worker, so that
    the candidates of the tasks to come are generated (one worker per task) while the frontier
    task's units run, and a worker that reaches the end of a task or of a stage always finds
    generated work; one for ``sequential``, which runs everything in order on one slot (the
    rule of perfkit/analysis/metrics/slots.py ``slots_of``)."""
    return 1 if config.strategy == "sequential" else 2 * max(1, config.workers)


class Runner:
    """One run's loop. Prefer the functions ``run`` and ``resume``."""

    def __init__(self, config: RunConfig, strategy: strategies.Strategy, writer: RunWriter,
                 observer: Optional[Observer] = None, done: Optional[set[tuple]] = None,
                 warm: Optional[WarmBackends] = None, meter: Optional[Meter] = None, last_chunk: int = 0):
        self.config = config
        #: The largest work item number recorded by earlier sessions: a resumed session numbers
        #: its items after it (tasks may be planned in another order), so none is reused.
        self.last_chunk = last_chunk
        self.meter = meter or Meter.since_now()
        self.strategy = strategy
        self.writer = writer
        self.observer = observer or Observer()
        # an observer that counts one by one gets each row as an Outcome, at its own cost; one
        # that takes batches gets only those (building ~20 000 Outcomes per run in the parent
        # cost the main job's candidate-parallel runs ~0.06 s of CPU, docs/benchmarks.md §9)
        kind = type(self.observer)
        self._per_outcome = kind.outcome is not Observer.outcome and kind.batch is Observer.batch
        self.done = done or set()
        self.warm = warm
        self.state = RunState()
        self.interrupts = Interrupts()
        self._starts: Optional[StartTable] = None
        self._next_slot = 0
        self._recorded = np.zeros(1024, dtype=bool)  # uid -> an outcome is recorded
        self._declaring: Optional[tuple[Any, dict[str, Task]]] = None

    def execute(self, tasks: list[Task], solver: Any) -> None:
        """Run every task; on Ctrl-C/SIGTERM, a worker failure, a store that refuses to write
        or anything a solver raises outside a unit, stop and keep a consistent record of what
        was recorded (docs/design.md, "The run store"). Workers that could not go on once they
        ran raise :class:`RunStopped` (a comparison goes on without the run), other failures
        PerfkitError.

        The run's window (wall_s, the parent's CPU) opens once the workers are ready: starting
        them is measured apart (summary ``startup_s``), and a warm pool pays it once for many
        runs (perfkit/orchestration/compare.py)."""
        options = with_run_folder(solver, self.config.solver_options, self.writer.path)
        ref = SolverRef(self.config.solver, options, tuple(self.config.plugins))
        state, usage, error, crash, backend = "complete", [], None, None, None
        workers_failed = False
        self.startup_s = 0.0
        with self.interrupts as interrupts:
            calibration_before = calibration.measure()
            self.meter.mark(RUN_FOLDER)
            wall0, cpu0, busy0 = time.monotonic(), _cpu_self_s(), machine.busy_cpu_s()
            strays0 = stray_threads()
            self.state.started = wall0
            try:
                if _uses_budgets(self.config):
                    self._starts = StartTable.create(sum(1 + len(t.samples) for t in tasks))
                # inside the try: a backend that cannot start leaves the run "failed", not "running"
                backend = self._started_backend(ref)
                self.startup_s = time.monotonic() - wall0
                self.meter.mark(WORKER_START)
                # perfkit's own heap (pandas, pyarrow, rich: ~10⁶ objects) is left out of the
                # cyclic collector's full passes while the run goes: each pass would cost ~30 ms
                # of the parent's time, taken from the units of the inline backend
                gc.freeze()
                wall0, cpu0, busy0 = time.monotonic(), _cpu_self_s(), machine.busy_cpu_s()
                strays0 = stray_threads()
                self.state.started = wall0
                self.observer.tasks_planned(tasks)
                self._loop(tasks, solver, backend)
            except KeyboardInterrupt:  # Ctrl-C, SIGTERM (a solver's own is stopped at its unit's boundary)
                interrupts.hold()
                state = "interrupted"
            except WorkerFailure as exc:
                interrupts.hold()
                # once the workers ran (not a backend that could not start: a setup problem)
                state, error, workers_failed = "failed", str(exc), backend is not None
            except StoreError as exc:
                interrupts.hold()
                state, error = "failed", str(exc)
            except Exception as exc:  # a perfkit bug: keep the store consistent, then let it surface
                interrupts.hold()
                state, error, crash = "failed", f"{type(exc).__name__}: {exc}", exc
            except BaseException as exc:  # SystemExit, GeneratorExit, ... raised by solver code
                interrupts.hold()
                state, error = "failed", _escaped(exc)
            finally:
                for span in (WORKER_START, RUN_WINDOW):  # a failed start has an empty window
                    if span not in (s.name for s in self.meter.spans):
                        self.meter.mark(span)
                interrupts.hold()  # from here on a second Ctrl-C cannot tear the record
                # the window closes when the work is done; stopping the workers is not the run's
                self.state.ended = time.monotonic()
                wall_s, cpu_parent_s = self.state.ended - wall0, _cpu_self_s() - cpu0
                # threads abandoned by earlier runs of this process ran beside this one: their
                # CPU is other work, not this run's (perfkit/backends/thread.py)
                strays = (strays0[0], max(0.0, stray_threads()[1] - strays0[1]))
                cpu_parent_s = max(0.0, cpu_parent_s - strays[1])
                gc.unfreeze()
                usage, closing_error = self._close(backend)
                if closing_error and state == "complete":
                    state, error = "failed", closing_error
            self.busy_window = (busy0, machine.busy_cpu_s())  # before the calibration below
            self.calibration_s = min(calibration_before, calibration.measure())
            self.meter.mark(STOPPING)
            self._finish(state, wall_s, cpu_parent_s, usage, _resources(backend), error, strays)
        if crash is not None:
            raise crash
        if error:
            if workers_failed:
                raise RunStopped(self.writer.path, error)
            raise PerfkitError(f"{self.writer.path}: run stopped: {error}")
        if state == "interrupted":
            raise RunInterrupted(self.writer.path)

    def _started_backend(self, ref: SolverRef) -> Any:
        """The run's backend (the warm one when lent), started; a backend that cannot start (a
        bad scheduler address, no worker could be created) is a WorkerFailure: one line, the run
        marked failed."""
        config = self.config
        if self.warm is not None:
            backend = self.warm.backend(config.backend, config.backend_options)
        else:
            backend = get_backend(config.backend, **config.backend_options)
        try:
            backend.start(ref, config.workers)
        except (KeyboardInterrupt, WorkerFailure, PerfkitError):
            backend.close()
            raise
        except Exception as exc:
            backend.close()
            raise WorkerFailure(f"the {config.backend} backend could not start: {type(exc).__name__}: {exc}") from None
        return backend

    def _close(self, backend: Any) -> tuple[list, Optional[str]]:
        """Stop the run on the backend (and the backend itself unless a warm pool keeps it),
        write what it learnt late; never raises (the run's end must still be written): returns
        the workers' usage and what went wrong, if anything."""
        usage, problem = [], None
        try:
            if backend is not None:
                usage = backend.finish_run()
                self.state.items = list(getattr(backend, "items", ()))  # each work item's peak memory, when measured
                if self.warm is None or not backend.reusable:
                    usage += backend.close()
                for key, facts in getattr(backend, "late_facts", list)():
                    self.writer.amend(key, **facts)
        except StoreError as exc:
            problem = str(exc)
        except Exception as exc:
            problem = f"stopping the {self.config.backend} backend failed: {type(exc).__name__}: {exc}"
        finally:
            if self._starts is not None:
                self._starts.close()
        return usage, problem

    def _budget(self, task: Task) -> Optional[Budget]:
        """The task's budgets: one slot for the task and one per sample in the run's table of
        first starts (perfkit/backends/budget.py holds the rule). Called for each task in the
        order of the task list."""
        if self._starts is None:
            return None
        base = self._next_slot
        self._next_slot += 1 + len(task.samples)
        slots = {(s.split, s.index): base + 1 + i for i, s in enumerate(task.samples)}
        policy = self.config.timeout
        return Budget(self._starts, base, slots, policy.task_budget_s, policy.sample_budget_s)

    def _loop(self, tasks: list[Task], solver: Any, backend: Any) -> None:
        """Keep the backend fed from the schedule and record what comes back, until every task
        is done."""
        # a resumed run's stages hold what is left of each item, and a strategy that does not
        # taper means its items as planned: neither is joined
        sched = Schedule(tasks, lookahead(self.config), self.config.timeout, self._plan, is_opaque(solver),
                         self._budget, join_taper=not self.done and self.strategy.tapers, workers=self.config.workers,
                         chunk_size=self.config.chunk_size, first_chunk=self.last_chunk)
        sched.open_window()
        # under budgets a job is handed over only when a worker is free: which units a budget
        # skips depends on the order units start in, which must then be the plan's (a job
        # queued behind a worker's current one would start after later jobs on other workers)
        in_flight = self.config.workers if _uses_budgets(self.config) else None
        # an opaque solver's sample stopped with its worker is named by the parent: one outcome
        # per declared candidate, as the worker names a sample that fails inside it
        self._declaring = (solver, {t.id: t for t in tasks}) if is_opaque(solver) else None
        while not sched.finished():
            self._announce(sched)
            while backend.capacity() > 0 and (in_flight is None or backend.pending() < in_flight):
                job = sched.pop()
                if job is None:
                    break
                backend.submit(*job)
                self.state.items_handed_out += isinstance(job[1], Assignment)
            why = sched.failure()
            if why is not None:
                raise WorkerFailure(why)
            if not backend.pending() and not sched.ready():  # nothing runs, nothing waits: a bug, not a hang
                raise RuntimeError("the schedule has unfinished tasks but nothing to run")
            for event in backend.collect(WAIT_S):
                if isinstance(event, OutcomeBatch):
                    self._record(event, sched)
                    self.interrupts.check()  # a Ctrl-C that a solver swallowed still stops the run
                elif isinstance(event, Generated):
                    self.state.generate_s += event.wall_s
                    self.state.generate_cpu_s += event.cpu_s
                    self.state.generation.append([event.job.task_id, event.started, event.started + event.wall_s])
                    sched.candidates(sched.task_of(event.job.task_id), event.candidates, event.error)
                elif isinstance(event, Requeued):
                    sched.requeue(event.jobs)
        self._announce(sched)

    def _plan(self, task: Task, candidates: Optional[list[str]]) -> list[list[tuple]]:
        """The strategy's stages for ``task``, units already recorded left out (resume)."""
        samples = [(s.split, s.index) for s in task.samples]
        plan = self.strategy.plan(samples, candidates if candidates is not None else [WHOLE_SAMPLE],
                                  self.config.workers, self.config.chunk_size)
        if not self.done:
            return [list(stage) for stage in plan.stages]
        todo = unit_filter(self.done, candidates is None)
        return [[tuple(u for u in units if todo(task.id, u)) for units in stage] for stage in plan.stages]

    def _announce(self, sched: Schedule) -> None:
        """Tell the observer about tasks planned since the last call."""
        for t in sched.opened:
            n = sum(len(i.units) for stage in t.stages for i in stage)
            self.state.proposed += n
            self.observer.task_started(t.task, t.n_candidates)
            self.observer.add_units(n)
        sched.opened.clear()

    def _record(self, batch: OutcomeBatch, sched: Schedule) -> None:
        """Store a batch: rows of units already recorded are dropped (invariant 1: never
        written twice; only a re-run after a lost worker can bring them), all with numpy over
        the batch's uids, never unit by unit."""
        if self._declaring is not None:
            batch = self._per_declared_candidate(batch)
        uids = batch.uids
        if not len(uids):
            return
        if uids.max() >= len(self._recorded):
            grown = np.zeros(max(int(uids.max()) + 1, 2 * len(self._recorded)), dtype=bool)
            grown[:len(self._recorded)] = self._recorded
            self._recorded = grown
        fresh = ~self._recorded[uids]
        if not fresh.all():
            self.state.duplicates += int((~fresh).sum())
            batch = batch.take(fresh)
            uids = batch.uids
            if not len(uids):
                return
        self._recorded[uids] = True
        self.writer.append_batch(batch)
        self.state.recorded += len(batch)
        for status, n in batch.status_counts().items():
            self.state.by_status[status] = self.state.by_status.get(status, 0) + n
        # a unit has several rows only for an opaque solver (one per candidate)
        sched.recorded(uids if len(uids) < 2 or (uids[1:] > uids[:-1]).all() else np.unique(uids))
        self.observer.batch(batch)
        if self._per_outcome:
            for outcome in batch.outcomes():
                self.observer.outcome(outcome)

    def _per_declared_candidate(self, batch: OutcomeBatch) -> OutcomeBatch:
        """``batch`` with each whole-sample unit stopped from outside its worker (killed at its
        deadline, lost with it) as one row per declared candidate (perfkit/backends/unit.py
        ``per_declared_candidate``); batches without a stopped unit pass as they are."""
        counts = batch.status_counts()
        if not counts.get("timeout") and not counts.get("crashed"):
            return batch
        if WHOLE_SAMPLE not in batch.columns["candidate"]:
            return batch
        solver, tasks = self._declaring
        outcomes, uids = [], []
        for o, uid in zip(batch.outcomes(), batch.uids.tolist()):
            for each in per_declared_candidate(solver, tasks[o.task_id], [o]):
                outcomes.append(each)
                uids.append(uid)
        return OutcomeBatch.from_outcomes(outcomes, uids)

    def _finish(self, state: str, wall_s: float, cpu_parent_s: float, usage: list, resources: dict,
                error: Optional[str], strays: tuple[int, float] = (0, 0.0)) -> None:
        workers_cpu = sum(u.cpu_s for u in usage)
        previous = self.writer.meta.get("previous_sessions", [])
        load = machine.load_figures(*self.busy_window, cpu_parent_s + workers_cpu)
        # a resumed run's figures cover every session: wall, CPU (hence parallelism) and generation
        before = {k: sum(p.get(k, 0.0) for p in previous)
                  for k in ("wall_s", "cpu_parent_s", "cpu_workers_s", "generate_s", "generate_cpu_s")}
        summary = RunSummary(
            state=state,
            wall_s=wall_s + before["wall_s"],
            cpu_parent_s=cpu_parent_s + before["cpu_parent_s"],
            cpu_workers_s=workers_cpu + before["cpu_workers_s"],
            cpu_s=cpu_parent_s + workers_cpu + before["cpu_parent_s"] + before["cpu_workers_s"],
            generate_s=self.state.generate_s + before["generate_s"],
            generate_cpu_s=self.state.generate_cpu_s + before["generate_cpu_s"],
            started=self.state.started,
            ended=self.state.ended,
            generation=self.state.generation,
            sessions=len(previous) + 1,
            startup_s=self.startup_s,
            calibration_cpu_s=self.calibration_s,
            units_recorded_this_session=self.state.recorded,
            units_planned_this_session=self.state.proposed,
            items_handed_out_this_session=self.state.items_handed_out,
            duplicates_dropped=self.state.duplicates,
            workers=[dict(u.__dict__) for u in usage],
            items=self.state.items,
            resources=resources,
            error=error,
            # over every session too: their CPU is part of others_cpu_s, summed over sessions
            stray_threads=max([strays[0]] + [p.get("stray_threads", 0) for p in previous]),
            stray_cpu_s=strays[1] + sum(p.get("stray_cpu_s", 0.0) for p in previous),
            load_avg_1m=load["load_avg_1m"],
            # over every session, as the wall they are set against: a busy first session must not
            # read as quiet beside a resumed session's wall (the ideal bound's waits count only then)
            **{k: _over_sessions(load[k], previous, k) for k in MACHINE_FIGURES},
        )
        self.writer.meta.setdefault("previous_sessions", []).append(
            {"wall_s": wall_s, "cpu_parent_s": cpu_parent_s, "cpu_workers_s": workers_cpu,
             "generate_s": self.state.generate_s, "generate_cpu_s": self.state.generate_cpu_s, "state": state,
             "stray_threads": strays[0], "stray_cpu_s": strays[1], **{k: load[k] for k in MACHINE_FIGURES}})
        self.writer.meta["resources"] = resources  # what the backend created, next to its limits
        self.writer.finish(summary, last=self._close_command)

    def _close_command(self) -> dict[str, Any]:
        """End the last span of the teardown (the units table is written); the whole command's
        fields. When the run is the whole command, its exit span is added at the exit."""
        self.meter.mark(STORE)
        cmd = command.current()
        if cmd is not None and cmd.meter is self.meter:
            path = self.writer.path
            cmd.on_exit(lambda span, meter: amend_summary(path, **_command_fields(meter)))
        return _command_fields(self.meter)


#: The machine's load figures a resumed run sums over its sessions (perfkit/runner/machine.py).
MACHINE_FIGURES = ("machine_cpu_s", "others_cpu_s")


def _over_sessions(value: Optional[float], previous: list[dict], key: str) -> Optional[float]:
    """``value`` of this session plus every earlier session's; None when any session's is
    unknown (not measured, or a session recorded before perfkit kept it)."""
    earlier = [p.get(key) for p in previous]
    if value is None or any(v is None for v in earlier):
        return None
    return value + sum(earlier)


def _command_fields(meter: Meter) -> dict[str, Any]:
    """The RunSummary fields of the whole command measured by ``meter``."""
    return {"command_origin": meter.origin, "command_wall_s": meter.wall_s, "command_cpu_s": meter.cpu_s,
            "command_spans": [s.to_record() for s in meter.spans], "command_cpu_source": CPU_SOURCE}


def _meter(whole_command: bool) -> Meter:
    """The meter of the whole command when this run is it (``perfkit run``: the process is a
    command, perfkit/runner/command.py, and no run measured itself against it yet), else a
    meter from now."""
    cmd = command.current()
    if whole_command and cmd is not None and not cmd.meter.spans:
        cmd.meter.mark(IMPORTS)
        return cmd.meter
    return Meter.since_now()


def _meta(config: RunConfig, tasks: list[Task]) -> dict[str, Any]:
    return {
        "config": config.to_record(),
        "environment": environment.capture(),
        "task_ids": [t.id for t in tasks],
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "clock": "time.monotonic (seconds, one clock for every process of the machine)",
        "limits": _limits(config),
    }


def _limits(config: RunConfig) -> dict[str, Any]:
    """What the backend may create: bounded by the configuration, never by the work."""
    w = config.workers
    leaked = config.backend_options.get("max_leaked")  # the thread backend's own default when not given
    return {
        "backend": config.backend,
        "worker_processes": w if config.backend in ("process", "dask") else 0,
        "replacements": "one per worker killed or lost (never more than one live worker per slot)",
        "worker_threads": w if config.backend == "thread" else 0,
        "max_leaked_threads": (LEAKED_PER_WORKER * w if leaked is None else leaked) if config.backend == "thread" else 0,
        "nested_pools": False,
    }


def _uses_budgets(config: RunConfig) -> bool:
    return config.timeout.sample_budget_s is not None or config.timeout.task_budget_s is not None


def _resources(backend: Any) -> dict[str, Any]:
    try:
        return backend.resources() if backend is not None else {}
    except Exception as exc:  # a backend that cannot describe itself must not lose the run's end
        return {"error": f"{type(exc).__name__}: {exc}"}


def _escaped(exc: BaseException) -> str:
    return (f"the solver raised {type(exc).__name__}({_text(exc)}) outside any unit; perfkit stopped the run "
            "(it never exits with a status a solver chose)")


def run(config: RunConfig, store_dir: str | Path = DEFAULT_STORE, observer: Optional[Observer] = None,
        tasks: Optional[list[Task]] = None, warm: Optional[WarmBackends] = None,
        whole_command: bool = False) -> Run:
    """Run ``config`` and store it under ``store_dir``; returns the stored run.

    ``tasks`` replaces loading ``config.tasks`` (hand-made tasks). ``warm`` lends the run a
    backend whose workers are already up (and keeps them up afterwards); without it the run
    starts and stops its own. ``whole_command``: this run is the whole process's command
    (``perfkit run``), its figures start at the process start when the process is one
    (docs/design.md, "The whole command"); otherwise at this call. Bad input raises a
    PerfkitError (a ConfigError naming the field) before anything is written.
    """
    meter = _meter(whole_command)
    check(config)
    store = Path(os.path.abspath(store_dir))  # taken once: a solver's chdir cannot move the store
    tasks, solver, strategy = _prepared(config, tasks, meter)
    run_id = new_run_id(config.label, config.strategy, config.backend, config.workers, config.repeat)
    writer = RunWriter.create(store, run_id, _meta(config, tasks))
    Runner(config, strategy, writer, observer, warm=warm, meter=meter).execute(tasks, solver)
    return load_run(writer.path)


def _prepared(config: RunConfig, tasks: Optional[list[Task]], meter: Any) -> tuple[list[Task], Any, Any]:
    """The tasks (loaded from ``config.tasks`` unless given), the solver and the strategy, each
    step marked on the whole command's meter."""
    if tasks is None:
        from perfkit.tasks import load_tasks

        tasks = load_tasks(config.tasks)
    elif not isinstance(tasks, (list, tuple)):
        # a generator: meta.json lists the ids before the run takes them, so it is read once
        # here (a list is kept as given: a counted run's list marks each task it yields)
        tasks = list(tasks)
    meter.mark(TASKS)
    solver = load_solver(config.solver, config.solver_options)
    meter.mark(SOLVER)
    return tasks, solver, _strategy_for(config, solver)


def resume(path: str | Path, observer: Optional[Observer] = None, tasks: Optional[list[Task]] = None,
           whole_command: bool = False) -> Run:
    """Finish an interrupted run: only the units without a recorded outcome run. Returns it.
    ``tasks`` replaces loading the run's task spec (the hand-made tasks it ran with).
    ``whole_command`` as for :func:`run` (the figures are this session's).

    The run's lock is taken first: a run that another perfkit is still writing is refused
    (RunLocked), and the torn tail of an interrupted units.jsonl is cut before appending."""
    meter = _meter(whole_command)
    path = Path(os.path.abspath(path))
    meta = read_json(path / META)  # also: is this a run folder at all
    lock = RunLock.acquire(path)
    try:
        meta = read_json(path / META)  # again, now that nobody else writes it
        if meta.get("state") == "complete":
            raise PerfkitError(f"{path}: the run is complete; nothing to resume")
        config = run_config(path, meta)
        check(config)
        tasks, solver, strategy = _prepared(config, tasks, meter)
        writer = RunWriter.reopen(path, lock)
    except BaseException:
        lock.release()
        raise
    done: set[tuple] = set()
    skipped: list[str] = []
    recorded = read_units_jsonl(path / UNITS_JSONL, skipped)
    # a torn record amid whole ones (the tail was cut above) is not an outcome: said, as the cut is
    writer.notes += [f"{note} (resume: any unit it held ran again)" for note in skipped]
    for key in recorded[list(UNIT_KEY)].itertuples(index=False, name=None):
        done.add(tuple(key))
        done.add(tuple(key)[:3])
    last_chunk = int(recorded["chunk"].max()) if len(recorded) else 0
    Runner(config, strategy, writer, observer, done=done, meter=meter, last_chunk=last_chunk).execute(tasks, solver)
    return load_run(path)
