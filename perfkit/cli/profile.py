"""``perfkit profile``: a run under pyinstrument (in-process, every thread) or py-spy (process tree)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from perfkit.cli.app import app, console, out, parse_options
from perfkit.model import RunConfig, TimeoutPolicy


@app.command()
def profile(
    profiler: str = typer.Option("pyinstrument", help="pyinstrument (inline/thread backends) or py-spy (any backend)"),
    solver: str = typer.Option("arc", help="arc, synthetic, or package.module:attr"),
    solver_opt: List[str] = typer.Option([], "--solver-opt", help="KEY=VALUE passed to the solver (repeatable)"),
    plugin: List[str] = typer.Option([], "--plugin", help="module imported first, also in workers (repeatable)"),
    tasks: str = typer.Option("default", help="dataset[:N|:ID,ID], synthetic:NxD+T, or a path"),
    strategy: str = typer.Option("sequential", help="sequential, sample-parallel, candidate-parallel, hybrid"),
    backend: str = typer.Option("inline", help="inline, thread, process, dask"),
    workers: Optional[int] = typer.Option(None, help="worker count (default: usable cores)"),
    chunk_size: Optional[int] = typer.Option(None, help="units per work item (default: automatic)"),
    timeout: float = typer.Option(1.0, help="per-unit running-time limit, seconds"),
    sample_budget: Optional[float] = typer.Option(None, help="seconds per sample, then skip"),
    task_budget: Optional[float] = typer.Option(None, help="seconds per task, then skip"),
    label: Optional[str] = typer.Option(None, help="a name for the runs (phase, experiment)"),
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
    from perfkit.environment import usable_cores
    from perfkit.profiling import profile as run_profile

    config = RunConfig(
        solver=solver, tasks=tasks, strategy=strategy, backend=backend,
        workers=workers or (1 if strategy == "sequential" else usable_cores()),
        chunk_size=chunk_size, label=label, plugins=tuple(plugin),
        timeout=TimeoutPolicy(timeout, sample_budget, task_budget),
        solver_options=parse_options(solver_opt))
    console.print(f"profiling with {profiler}" + (" (a plain run first, to measure the overhead)" if baseline else ""),
                  highlight=False)
    result = run_profile(config, profiler, out_dir, store_dir=store, baseline=baseline, interval=interval,
                         rate=rate, gil=gil, idle=idle, nonblocking=nonblocking, top=top)
    console.print(result.summary(top), highlight=False, markup=False, soft_wrap=True)
    for kind, path in result.files.items():
        console.print(f"{kind:>10}: {path}", highlight=False, markup=False, soft_wrap=True)
    out.print(str(result.out_dir), soft_wrap=True, highlight=False)
