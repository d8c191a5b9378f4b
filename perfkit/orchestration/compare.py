"""Running an experiment: every configuration of it, repeat-major (every configuration once,
then again) so that machine drift hits all alike, the sequential inline reference first in
each repeat (perfkit/orchestration/experiment.py plans them), each reference in a fresh
process, spawned a few together ahead of their turn (perfkit/orchestration/reference.py says
why); a solver that asks for it (perfkit.solvers.REFERENCE_ATTR) gets that reference run's
folder in the other runs of the repeat. Optionally a profile of each configuration. Rendering
the report is perfkit/api.py's job.

Warm pools and interleaving. Worker start-up (forking, importing the solver: ~0.2 s on the
2-core box) is not what a strategy is compared on, so it is paid once per experiment, not per
run: the experiment keeps its worker pools warm (``WarmBackends``) for its whole length, and
each run borrows one. A pool's identity is what its workers are made of — backend and backend
options; the solver is rebuilt fresh in every worker for every run (so no cache the solver
object holds carries over; a module's global state does — sympy's cache, docs/benchmarks.md
"Session 9: sympy" — while each reference starts cold) and a run with w workers uses the first
w of the pool. Hence one pool serves every
strategy and every repeat of a worker count, and the runs keep their repeat-major
interleaving unchanged: keeping a pool per configuration instead would hold strategies × pool
size idle processes (each ~70 MB with numpy and the solver), and restarting pools to follow
the interleaving would pay start-up in every run again. Each run still records what it paid
(summary ``startup_s``, ``resources.processes_created``): the first run of a pool pays the
forks, the others only the solver build. The reference runs stay out of the pools: each one
is meant to start cold.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional, Sequence

from perfkit.analysis.metrics.run import group_name
from perfkit.analysis.runset import NOT_RUN, LeftOut
from perfkit.backends import WarmBackends, stray_threads
from perfkit.model import REFERENCE, RunConfig, RunStopped, Task
from perfkit.orchestration.experiment import Experiment, plan_runs, plan_warmup
from perfkit.orchestration.reference import References
from perfkit.runner import Observer, check_all, run
from perfkit.solvers import REFERENCE_ATTR, solver_attribute
from perfkit.store import Run, load_run


class Progress:
    """Hooks for the terminal; ``run_started`` may return a runner Observer for the run's units."""

    def run_started(self, index: int, total: int, config: RunConfig) -> Optional[Observer]:
        """Run ``index`` of ``total`` is about to start."""
        return None

    def run_finished(self, index: int, total: int, path: Path) -> None:
        """Run ``index`` of ``total`` is stored in ``path``."""

    def runs_done(self) -> None:
        """Every run has ended; the report comes next. A display that draws from a thread of
        its own stops it here: the report forks (perfkit/orchestration/forked.py) only while no
        other thread runs."""


@dataclass
class Experimented:
    """What :func:`run_experiment` did: the stored ``runs`` in the order they ran, and the
    configurations it did not run (``not_run``: why, for the report's left-out list)."""

    runs: list[Run]
    not_run: list[LeftOut] = field(default_factory=list)


class _Stopped:
    """The configurations an experiment no longer runs once a run of theirs stopped on its
    workers (:class:`perfkit.model.RunStopped`)."""

    def __init__(self) -> None:
        self.groups: dict[str, str] = {}
        self.backends: dict[str, str] = {}

    def add(self, config: RunConfig, run_id: str, reason: str) -> None:
        """``config``'s run ``run_id`` stopped for ``reason``."""
        self.groups[config.group] = f"its run {run_id} stopped: {reason}"
        self.backends[config.backend] = run_id

    def why_not(self, config: RunConfig) -> Optional[str]:
        """Why ``config`` is not run, or None. Not its group once one of its runs stopped: the
        same solver stops it again. Not its backend while threads a stopped run of that backend
        left running still run (only the thread backend leaves any): another run would add to
        those threads, which nothing can stop and which slow every later run."""
        if config.group in self.groups:
            return self.groups[config.group]
        if config.backend in self.backends and stray_threads()[0]:
            return (f"the {config.backend} run {self.backends[config.backend]} stopped, leaving threads that cannot be "
                    f"stopped still running; another {config.backend} run would add to them")
        return None


def run_experiment(exp: Experiment, store: Path, progress: Optional[Progress] = None,
                   task_list: Optional[list[Task]] = None) -> Experimented:
    """Run every configuration of ``exp`` into ``store`` (after ``exp.warmup`` warm-up repeats,
    which are stored but not returned); ``task_list`` replaces loading ``exp.tasks`` (hand-made
    tasks).

    A run that stops because its workers could not go on (:class:`perfkit.model.RunStopped`:
    threads of a solver that never returns piling up, workers that keep dying) is stored as
    failed and the experiment goes on without its configuration (:class:`_Stopped` says which
    runs it skips then); the report leaves the run out of every figure and names what was not
    run, saying why. Other runs that stop (a reference, a store that refuses to write) stop the
    experiment."""
    configs = plan_runs(exp)
    check_all(configs)  # every configuration valid before the first run folder is made
    progress = progress or Progress()
    done = Experimented([])
    stopped = _Stopped()
    reference_key = solver_attribute(exp.solver, REFERENCE_ATTR)
    reference: Optional[Run] = None
    references = References([c for c in configs if c.group == REFERENCE], store, task_list)
    with WarmBackends() as warm, references:  # see the module docstring
        for config in plan_warmup(exp):  # run first, stored, left out of what is compared
            run(config, store, tasks=task_list, warm=warm)
        for i, config in enumerate(configs):
            is_reference = config.group == REFERENCE
            why = None if is_reference else stopped.why_not(config)
            if why is not None:
                done.not_run.append(LeftOut(f"{group_name(config.group)} repeat {config.repeat}", NOT_RUN, 0, why))
                continue
            if reference_key and reference is not None and not is_reference:  # the solver asks for it
                config = replace(config, solver_options={**config.solver_options, reference_key: str(reference.path)})
            observer = progress.run_started(i, len(configs), config)
            if is_reference:
                stored = references.run(config, observer)
                reference = stored
            else:
                try:
                    stored = run(config, store, observer=observer, tasks=task_list, warm=warm)
                except RunStopped as exc:  # kept, failed: the report names it and leaves it out
                    stored = load_run(exc.path)
                    stopped.add(config, stored.run_id, exc.reason)
            done.runs.append(stored)
            progress.run_finished(i, len(configs), stored.path)
    progress.runs_done()
    return done


def profile_configs(runs: Sequence[Run], folder: Path,
                    task_list: Optional[list[Task]] = None) -> list[tuple[str, str, str]]:
    """Profile one run of each distinct configuration into ``folder/profiles``; returns report
    links ``(title, href relative to folder, note)``.

    The profiler's overhead is measured against the median wall of that configuration's runs
    already made (no extra plain run).
    """
    from perfkit.orchestration.profiling import profile

    walls: dict[tuple, list[float]] = {}
    firsts: dict[tuple, RunConfig] = {}
    for r in runs:
        walls.setdefault(r.config.group, []).append(float(r.summary.wall_s))
        firsts.setdefault(r.config.group, r.config)
    links = []
    for key, config in firsts.items():
        name = "-".join(str(k) for k in key)
        profiler = "pyinstrument" if config.backend in ("inline", "thread") else "py-spy"
        result = profile(replace(config, label=f"profile-{name}"), profiler, folder / "profiles" / name,
                         tasks=task_list, plain_wall_s=statistics.median(walls[key]))
        main = next((p for k, p in result.files.items() if str(p).endswith((".html", ".svg"))),
                    next(iter(result.files.values())))
        top = result.top_frames[0].function if result.top_frames else "no samples"
        links.append((f"{config.strategy}/{config.backend}×{config.workers} ({profiler})",
                      str(main.relative_to(folder)), f"top frame {top}; {result.overhead_line}"))
    return links


__all__ = ["Experimented", "Progress", "profile_configs", "run_experiment"]
