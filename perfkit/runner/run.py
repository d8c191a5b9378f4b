"""Runs: tasks → solver → strategy → backend → outcomes → store.

``run(config)`` is the Python API behind ``perfkit run``; ``resume(path)`` finishes an
interrupted run without re-running the units it recorded. Tasks of a run go one after another;
within a task the strategy's stages run one after another. Each outcome is stamped with the
stage of its task it belonged to, so that analysis can compute the ideal bound from the plan
itself (perfkit/analysis/metrics.py).
"""

from __future__ import annotations

import importlib
import resource
import signal
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

from perfkit import strategies
from perfkit.backends import Assignment, SolverRef, WorkerFailure, check_backend, get_backend
from perfkit.model import (
    UNIT_KEY,
    WHOLE_SAMPLE,
    ConfigError,
    Outcome,
    PerfkitError,
    RunConfig,
    RunInterrupted,
    Task,
    WorkItem,
)
from perfkit.runner import calibration, environment, machine
from perfkit.solvers import is_opaque, load_solver, with_run_folder
from perfkit.store import DEFAULT_STORE, Run, RunSummary, RunWriter, load_run, new_run_id, read_json, read_units_jsonl


class Observer:
    """Hooks for progress display; the CLI passes a rich progress bar, a notebook nothing."""

    def tasks_planned(self, tasks: list[Task]) -> None:
        """The run's tasks, before the first starts (a progress bar's total is estimated from them)."""

    def add_units(self, n: int) -> None:
        """``n`` more units are planned."""

    def outcome(self, outcome: Outcome) -> None:
        """One outcome was recorded."""

    def task_started(self, task: Task, n_candidates: int) -> None:
        """A task's candidates are known and its units are about to run."""


@dataclass
class RunState:
    """What the runner learns while a run goes: counts and per-sample first starts."""

    recorded: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    generate_s: float = 0.0
    sample_deadlines: dict[tuple[str, str, int], float] = field(default_factory=dict)
    proposed: int = 0
    duplicates: int = 0
    #: (task id, start, end) of each task's candidate generation, on time.monotonic().
    generation: list[list[Any]] = field(default_factory=list)
    #: time.monotonic() when the run window of this session opened and closed.
    started: float = 0.0
    ended: float = 0.0


def _cpu_self_s() -> float:
    """CPU of this process, every thread included (seconds)."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM ends a run like Ctrl-C: workers stopped, outcomes kept, run marked interrupted."""
    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt("SIGTERM")

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _import_plugins(plugins: tuple[str, ...]) -> None:
    for module in plugins:
        try:
            importlib.import_module(module)
        except Exception as exc:
            raise ConfigError("plugins", module, f"cannot import: {type(exc).__name__}: {exc}") from None


def _unit_grid(task: Task, solver: Any) -> tuple[list[tuple[str, int]], list[str], bool]:
    samples = [(s.split, s.index) for s in task.samples]
    if is_opaque(solver):
        return samples, [WHOLE_SAMPLE], True
    try:
        candidates = [str(c) for c in solver.candidates(task)]
    except Exception as exc:  # the solver's own failure: one clear line, the run stopped cleanly
        raise WorkerFailure(f"task {task.id!r}: the solver's candidates() raised "
                            f"{type(exc).__name__}: {exc}") from None
    if len(set(candidates)) != len(candidates):
        raise WorkerFailure(f"task {task.id!r}: the solver's candidates() returned duplicate ids")
    return samples, candidates, False


def _check(config: RunConfig) -> None:
    """The one check of a run's values and registered names, before anything is loaded."""
    config.validate()
    check_backend(config.backend)
    _import_plugins(config.plugins)  # a plugin may register the strategy
    strategies.get(config.strategy)


def _strategy_for(config: RunConfig, solver: Any) -> strategies.Strategy:
    """The run's strategy, when it suits the solver (an opaque solver needs a sample-level one)."""
    strategy = strategies.get(config.strategy)
    if is_opaque(solver) and not strategy.sample_level:
        raise ConfigError(
            "strategy", config.strategy, f"the solver {config.solver!r} is opaque (solve_sample only); use a "
            "sample-level strategy: " + ", ".join(s for s in strategies.names() if strategies.get(s).sample_level))
    return strategy


def _is_recorded(done: set[tuple], task_id: str, unit: tuple[str, int, str]) -> bool:
    split, index, candidate = unit
    if candidate == WHOLE_SAMPLE:  # an opaque sample is done once any of its outcomes is in
        return (task_id, split, index) in done
    return (task_id, split, index, candidate) in done


class Runner:
    """One run's loop. Prefer the functions ``run`` and ``resume``."""

    def __init__(self, config: RunConfig, strategy: strategies.Strategy, writer: RunWriter,
                 observer: Optional[Observer] = None, done: Optional[set[tuple]] = None):
        self.config = config
        self.strategy = strategy
        self.writer = writer
        self.observer = observer or Observer()
        self.done = done or set()
        self.state = RunState()
        self._chunk = 0
        self._stage_of: dict[int, int] = {}  # work item (chunk) -> stage of its task

    def execute(self, tasks: list[Task], solver: Any) -> None:
        """Run every task; on Ctrl-C/SIGTERM or a worker failure, stop and keep what was recorded."""
        strategy = self.strategy
        options = with_run_folder(solver, self.config.solver_options, self.writer.path)
        ref = SolverRef(self.config.solver, options, tuple(self.config.plugins))
        calibration_before = calibration.measure()
        wall0, cpu0, busy0 = time.monotonic(), _cpu_self_s(), machine.busy_cpu_s()
        self.state.started = wall0
        state, usage, error, crash, backend = "complete", [], None, None, None
        with _sigterm_as_interrupt():
            try:
                # inside the try: a backend that cannot start leaves the run "failed", not "running"
                backend = _started_backend(self.config, ref)
                self.observer.tasks_planned(tasks)
                for task in tasks:
                    self._run_task(task, solver, strategy, backend)
            except KeyboardInterrupt:
                state = "interrupted"
            except WorkerFailure as exc:
                state, error = "failed", str(exc)
            except Exception as exc:  # a perfkit bug: keep the store consistent, then let it surface
                state, error, crash = "failed", f"{type(exc).__name__}: {exc}", exc
            finally:
                if backend is not None:
                    usage = backend.close()
                    for key, facts in getattr(backend, "late_facts", list)():
                        self.writer.amend(key, **facts)
        self.state.ended = time.monotonic()
        wall_s, cpu_parent_s = self.state.ended - wall0, _cpu_self_s() - cpu0
        self.busy_window = (busy0, machine.busy_cpu_s())  # before the calibration below
        self.calibration_s = min(calibration_before, calibration.measure())
        self._finish(state, wall_s, cpu_parent_s, usage, backend.resources() if backend is not None else {}, error)
        if crash is not None:
            raise crash
        if error:
            raise PerfkitError(f"{self.writer.path}: run stopped: {error}")
        if state == "interrupted":
            raise RunInterrupted(self.writer.path)

    def _run_task(self, task: Task, solver: Any, strategy: strategies.Strategy, backend: Any) -> None:
        t0 = time.monotonic()
        samples, candidates, sample_level = _unit_grid(task, solver)
        t1 = time.monotonic()
        self.state.generate_s += t1 - t0
        self.state.generation.append([task.id, t0, t1])
        plan = strategy.plan(samples, candidates, self.config.workers, self.config.chunk_size)
        self.observer.task_started(task, 0 if sample_level else len(candidates))
        budget = self.config.timeout
        task_deadline = None
        for stage_index, stage in enumerate(plan.stages):
            items = []
            for units in stage:
                self._chunk += 1
                self._stage_of[self._chunk] = stage_index
                todo = tuple(u for u in units if not _is_recorded(self.done, task.id, u))
                if todo:
                    items.append(WorkItem(self._chunk, task.id, todo, sample_level))
            if not items:
                continue
            n_units = sum(len(i.units) for i in items)
            self.state.proposed += n_units
            self.observer.add_units(n_units)
            now = time.monotonic()
            if budget.task_budget_s is not None and task_deadline is None:
                task_deadline = now + budget.task_budget_s
            assignments = [Assignment(item, now, budget.unit_timeout_s, task_deadline=task_deadline,
                                      sample_budget_s=budget.sample_budget_s,
                                      sample_deadlines=self._known_sample_deadlines(task.id, item))
                           for item in items]
            for outcome in backend.run_stage(task, assignments):
                self._record(outcome)
            self.writer.flush()

    def _known_sample_deadlines(self, task_id: str, item: WorkItem) -> dict[tuple[str, int], float]:
        keys = {(s, i) for s, i, _ in item.units}
        return {(s, i): d for (t, s, i), d in self.state.sample_deadlines.items() if t == task_id and (s, i) in keys}

    def _record(self, outcome: Outcome) -> None:
        key = outcome.key
        if key in self.done:
            self.state.duplicates += 1  # never written twice: invariant 1
            return
        self.done.add(key)
        self.done.add(key[:3])
        outcome.stage = self._stage_of.get(outcome.chunk, 0)
        self.writer.append([outcome])
        self.state.recorded += 1
        self.state.by_status[outcome.status] = self.state.by_status.get(outcome.status, 0) + 1
        budget = self.config.timeout.sample_budget_s
        if budget is not None and outcome.started is not None:
            skey = (outcome.task_id, outcome.split, outcome.index)
            self.state.sample_deadlines.setdefault(skey, outcome.started + budget)
        self.observer.outcome(outcome)

    def _finish(self, state: str, wall_s: float, cpu_parent_s: float, usage: list, resources: dict,
                error: Optional[str]) -> None:
        workers_cpu = sum(u.cpu_s for u in usage)
        previous = self.writer.meta.get("previous_sessions", [])
        # a resumed run's figures cover every session: wall, CPU (hence parallelism) and generation
        before = {k: sum(p.get(k, 0.0) for p in previous)
                  for k in ("wall_s", "cpu_parent_s", "cpu_workers_s", "generate_s")}
        summary = RunSummary(
            state=state,
            wall_s=wall_s + before["wall_s"],
            cpu_parent_s=cpu_parent_s + before["cpu_parent_s"],
            cpu_workers_s=workers_cpu + before["cpu_workers_s"],
            cpu_s=cpu_parent_s + workers_cpu + before["cpu_parent_s"] + before["cpu_workers_s"],
            generate_s=self.state.generate_s + before["generate_s"],
            started=self.state.started,
            ended=self.state.ended,
            generation=self.state.generation,
            sessions=len(previous) + 1,
            calibration_cpu_s=self.calibration_s,
            units_recorded_this_session=self.state.recorded,
            units_planned_this_session=self.state.proposed,
            duplicates_dropped=self.state.duplicates,
            workers=[dict(u.__dict__) for u in usage],
            resources=resources,
            error=error,
            **machine.load_figures(*self.busy_window, cpu_parent_s + workers_cpu),
        )
        self.writer.meta.setdefault("previous_sessions", []).append(
            {"wall_s": wall_s, "cpu_parent_s": cpu_parent_s, "cpu_workers_s": workers_cpu,
             "generate_s": self.state.generate_s, "state": state})
        self.writer.meta["resources"] = resources  # what the backend created, next to its limits
        self.writer.finish(summary)


def _started_backend(config: RunConfig, ref: SolverRef) -> Any:
    """The run's backend, started; a backend that cannot start (a bad scheduler address, no
    worker could be created) is a WorkerFailure: one line, the run marked failed."""
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
    return {
        "backend": config.backend,
        "worker_processes": w if config.backend in ("process", "dask") else 0,
        "replacements": "one per worker killed or lost (never more than one live worker per slot)",
        "worker_threads": w if config.backend == "thread" else 0,
        "max_leaked_threads": 4 * w if config.backend == "thread" else 0,
        "nested_pools": False,
    }


def run(config: RunConfig, store_dir: str | Path = DEFAULT_STORE, observer: Optional[Observer] = None,
        tasks: Optional[list[Task]] = None) -> Run:
    """Run ``config`` and store it under ``store_dir``; returns the stored run.

    ``tasks`` replaces loading ``config.tasks`` (hand-made tasks). Bad input raises a
    PerfkitError (a ConfigError naming the field) before anything is written.
    """
    _check(config)
    if tasks is None:
        from perfkit.tasks import load_tasks

        tasks = load_tasks(config.tasks)
    solver = load_solver(config.solver, config.solver_options)
    strategy = _strategy_for(config, solver)
    run_id = new_run_id(config.label, config.strategy, config.backend, config.workers, config.repeat)
    writer = RunWriter.create(Path(store_dir), run_id, _meta(config, tasks))
    Runner(config, strategy, writer, observer).execute(tasks, solver)
    return load_run(writer.path)


def resume(path: str | Path, observer: Optional[Observer] = None, tasks: Optional[list[Task]] = None) -> Run:
    """Finish an interrupted run: only the units without a recorded outcome run. Returns it.
    ``tasks`` replaces loading the run's task spec (the hand-made tasks it ran with)."""
    path = Path(path)
    meta = read_json(path / "meta.json")
    if meta.get("state") == "complete":
        raise PerfkitError(f"{path}: the run is complete; nothing to resume")
    config = RunConfig.from_record(meta["config"])
    _check(config)
    if tasks is None:
        from perfkit.tasks import load_tasks

        tasks = load_tasks(config.tasks)
    solver = load_solver(config.solver, config.solver_options)
    strategy = _strategy_for(config, solver)
    done: set[tuple] = set()
    for key in read_units_jsonl(path / "units.jsonl")[list(UNIT_KEY)].itertuples(index=False, name=None):
        done.add(tuple(key))
        done.add(tuple(key)[:3])
    writer = RunWriter.reopen(path)
    Runner(config, strategy, writer, observer, done=done).execute(tasks, solver)
    return load_run(path)
