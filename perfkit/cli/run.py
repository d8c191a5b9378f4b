"""``perfkit run``, ``perfkit tasks``, ``perfkit strategies``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from perfkit.analysis.text import duration, number
from perfkit.cli import options as opt
from perfkit.cli.command import app, console, out, tasks_app
from perfkit.cli.output import print_notes, print_paths, set_quiet, solver_output_on_stderr
from perfkit.cli.progress import UnitsBar, progress_display
from perfkit.cli.tables import show
from perfkit.model import DEFAULT_STORE, STATUSES, RunConfig


def print_run_summary(run: Any) -> None:
    """The short table printed after a run (its units, statuses, wall, CPU and parallelism over
    every session of the run)."""
    s = run.summary
    sessions = f", {s.sessions} sessions" if s.sessions > 1 else ""
    row = (str(s.units), *(str(s.status_counts.get(k, 0)) for k in STATUSES), duration(s.wall_s), duration(s.cpu_s),
           number(s.cpu_s / s.wall_s, ".2f") if s.wall_s else "–")
    show(console, f"run {run.run_id} ({s.state}{sessions})", ("units", *STATUSES, "wall", "CPU", "parallelism"),
         [row], left=0)
    if s.spans:
        spans = ", ".join(f"{span.name} {duration(span.wall_s)}" for span in s.spans)
        console.print(f"whole command so far: wall {duration(s.command_wall_s)} ({spans}), "
                      f"CPU {duration(s.command_cpu_s)} (every process of the command)", highlight=False)


@app.command()
@opt.run_options
def run(
    config: RunConfig,
    store: Path = typer.Option(DEFAULT_STORE, metavar="DIR", help="run store folder"),
    resume: Optional[Path] = typer.Option(None, metavar="RUN_DIR", help="finish this interrupted run folder"),
    quiet: opt.Quiet = False,
    no_progress: opt.NoProgress = False,
    instructions: bool = typer.Option(False, "--instructions", help="run under valgrind (inline backend) and "
                                      "record its instruction count, per task (instructions.json)"),
) -> None:
    """Run a solver on a task set under one strategy and backend; print the run folder."""
    import perfkit

    set_quiet(quiet)
    if instructions:
        with solver_output_on_stderr():
            stored = perfkit.count_instructions(config, store)
        print_run_summary(stored)
        print_paths([stored.path])
        return
    with solver_output_on_stderr(), progress_display(not (quiet or no_progress)) as progress:
        observer = UnitsBar(progress)
        if resume is not None:
            stored = perfkit.resume(resume, observer=observer, whole_command=True)
        else:
            stored = perfkit.run(config, store, observer=observer, whole_command=True)
        observer.finished(stored.summary)  # the last frame agrees with the table below
    print_run_summary(stored)
    print_notes(stored.notes)
    print_paths([stored.path])


@tasks_app.command("validate")
def tasks_validate(path: Path = typer.Argument(..., metavar="PATH",
                                               help="a task file, a folder, or a challenges file")) -> None:
    """Check ARC JSON files without running anything."""
    import perfkit
    from perfkit.analysis.text import count

    found = perfkit.validate_tasks(path)
    out.print(f"ok: {count(len(found), 'task')} from {path}", highlight=False)


@tasks_app.command("list")
def tasks_list(spec: str = typer.Argument("default", metavar="SPEC", help="a task spec as for --tasks")) -> None:
    """List the tasks a spec selects, with their sample counts."""
    import perfkit

    for task in perfkit.load_tasks(spec):
        out.print(f"{task.id}\tdemo={len(task.demo)}\ttest={len(task.test)}", highlight=False)


@app.command("strategies")
def strategies_list(plugin: opt.Plugin = []) -> None:
    """List the registered strategies (with --plugin: also those a module registers)."""
    from perfkit import strategies
    from perfkit.runner import import_plugins

    import_plugins(plugin)
    for name in strategies.names():
        s = strategies.get(name)
        out.print(f"{name}\t{'sample-level' if s.sample_level else 'candidate-level'}\t{s.description}",
                  highlight=False)


