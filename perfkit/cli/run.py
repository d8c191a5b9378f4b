"""``perfkit run``, ``perfkit tasks``, ``perfkit strategies``."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import List, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from perfkit.cli import options as opt
from perfkit.cli.app import app, console, interrupted, out, tasks_app
from perfkit.errors import RunInterrupted
from perfkit.model import STATUSES, Outcome, Task


class ProgressObserver:
    """A rich progress bar over the units of a run, with a live count of bad outcomes."""

    #: Redraw at most this often (seconds): an update per unit would cost more than a short unit.
    REFRESH_S = 0.1

    def __init__(self, progress: Progress):
        self.progress = progress
        self.bar = progress.add_task("units", total=0, bad="")
        self.counts: dict[str, int] = {}
        self.unshown = 0
        self.last = 0.0

    def add_units(self, n: int) -> None:
        self.progress.update(self.bar, total=(self.progress.tasks[0].total or 0) + n)

    def task_started(self, task: Task, n_candidates: int) -> None:
        label = f"{task.id}" + (f" ({n_candidates} candidates)" if n_candidates else "")
        self.progress.update(self.bar, description=label)

    def outcome(self, outcome: Outcome) -> None:
        self.counts[outcome.status] = self.counts.get(outcome.status, 0) + 1
        self.unshown += 1
        now = time.monotonic()
        if now - self.last >= self.REFRESH_S:
            bad = " ".join(f"{s}={n}" for s, n in self.counts.items() if s != "ok")
            self.progress.update(self.bar, advance=self.unshown, bad=bad)
            self.unshown, self.last = 0, now


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[bad]}"), TimeElapsedColumn(), console=console,
                    disable=not console.is_terminal and os.environ.get("PERFKIT_PROGRESS") != "1")


def print_run_summary(path: Path) -> None:
    """The short table printed after a run."""
    from perfkit.store import load_run

    run = load_run(path)
    s = run.summary
    table = Table(title=f"run {run.meta.get('run_id', path.name)} ({s.get('state')})")
    for col in ["units", *STATUSES, "wall s", "cpu s", "parallelism"]:
        table.add_column(col, justify="right")
    counts = s.get("status_counts", {})
    wall, cpu = s.get("wall_s", 0.0), s.get("cpu_s", 0.0)
    table.add_row(str(s.get("units", 0)), *(str(counts.get(k, 0)) for k in STATUSES),
                  f"{wall:.3f}", f"{cpu:.3f}", f"{cpu / wall:.2f}" if wall else "-")
    console.print(table)


@app.command()
def run(
    solver: opt.Solver = "arc",
    solver_opt: opt.SolverOpt = [],
    plugin: opt.Plugin = [],
    tasks: opt.Tasks = "default",
    strategy: opt.Strategy = "sequential",
    backend: opt.Backend = "inline",
    workers: opt.Workers = None,
    chunk_size: opt.ChunkSize = None,
    timeout: opt.Timeout = 1.0,
    sample_budget: opt.SampleBudget = None,
    task_budget: opt.TaskBudget = None,
    label: opt.Label = None,
    scheduler: opt.Scheduler = None,
    store: Path = typer.Option(Path("reports/runs"), help="run store folder"),
    resume: Optional[Path] = typer.Option(None, help="finish this interrupted run folder"),
) -> None:
    """Run a solver on a task set under one strategy and backend; print the run folder."""
    from perfkit import runner

    with _progress() as progress:
        observer = ProgressObserver(progress)
        try:
            if resume is not None:
                path = runner.resume(resume, observer=observer)
            else:
                config = opt.run_config(solver, solver_opt, plugin, tasks, strategy, backend, workers, chunk_size,
                                        timeout, sample_budget, task_budget, label, scheduler)
                path = runner.run(config, store, observer=observer)
        except RunInterrupted as exc:
            raise interrupted(exc) from None
    print_run_summary(path)
    out.print(str(path), soft_wrap=True, highlight=False)


@tasks_app.command("validate")
def tasks_validate(path: Path = typer.Argument(..., help="a task file, a folder, or a challenges file")) -> None:
    """Check ARC JSON files without running anything."""
    from perfkit.tasks import validate_path

    found = validate_path(path)
    out.print(f"ok: {len(found)} tasks from {path}", highlight=False)


@tasks_app.command("list")
def tasks_list(spec: str = typer.Argument("default", help="a task spec as for --tasks")) -> None:
    """List the tasks a spec selects, with their sample counts."""
    from perfkit.tasks import load_tasks

    for task in load_tasks(spec):
        out.print(f"{task.id}\tdemo={len(task.demo)}\ttest={len(task.test)}", highlight=False)


@app.command("strategies")
def strategies_list() -> None:
    """List the registered strategies."""
    from perfkit import strategies

    for name in strategies.names():
        s = strategies.get(name)
        out.print(f"{name}\t{'sample-level' if s.sample_level else 'candidate-level'}\t{s.description}",
                  highlight=False)


