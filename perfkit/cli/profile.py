"""``perfkit profile``: a run under pyinstrument (in-process, every thread) or py-spy (process tree)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from perfkit.cli import options as opt
from perfkit.cli.app import app, console, out


@app.command()
def profile(
    profiler: str = typer.Option("pyinstrument", help="pyinstrument (inline/thread backends) or py-spy (any backend)"),
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
    out_dir: Optional[Path] = typer.Option(None, "--out", help="output folder (default reports/profiles/<timestamp>)"),
    store: Optional[Path] = typer.Option(None, help="run store folder (default <out>/runs)"),
    baseline: bool = typer.Option(True, "--baseline/--no-baseline",
                                  help="also run once without the profiler to measure its overhead"),
    interval: float = typer.Option(0.001, help="pyinstrument: seconds between samples"),
    rate: int = typer.Option(200, help="py-spy: samples per second"),
    gil: bool = typer.Option(False, "--gil", help="py-spy: only samples of threads holding the GIL"),
    idle: bool = typer.Option(False, "--idle", help="py-spy: include idle (waiting) threads"),
    nonblocking: bool = typer.Option(False, "--nonblocking", help="py-spy: do not pause the processes to sample"),
    top: int = typer.Option(15, help="how many top frames to list"),
) -> None:
    """Profile a run inside its workers; print the overhead and the top frames by self time."""
    from perfkit.profiling import profile as run_profile

    config = opt.run_config(solver, solver_opt, plugin, tasks, strategy, backend, workers, chunk_size, timeout,
                            sample_budget, task_budget, label)
    console.print(f"profiling with {profiler}" + (" (a plain run first, to measure the overhead)" if baseline else ""),
                  highlight=False)
    result = run_profile(config, profiler, out_dir, store_dir=store, baseline=baseline, interval=interval,
                         rate=rate, gil=gil, idle=idle, nonblocking=nonblocking, top=top)
    console.print(result.summary(top), highlight=False, markup=False, soft_wrap=True)
    for kind, path in result.files.items():
        console.print(f"{kind:>10}: {path}", highlight=False, markup=False, soft_wrap=True)
    out.print(str(result.out_dir), soft_wrap=True, highlight=False)
