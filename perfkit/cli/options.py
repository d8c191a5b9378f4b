"""The options that describe one run, shared by ``perfkit run`` and ``perfkit profile``:
declared once here, turned into a RunConfig once here."""

from __future__ import annotations

from typing import Annotated, List, Optional

import typer

from perfkit.cli.app import parse_options
from perfkit.model import RunConfig, TimeoutPolicy

Solver = Annotated[str, typer.Option(help="arc, synthetic, or package.module:attr")]
SolverOpt = Annotated[List[str], typer.Option("--solver-opt", help="KEY=VALUE passed to the solver (repeatable)")]
Plugin = Annotated[List[str], typer.Option("--plugin", help="module imported first, also in workers (repeatable)")]
Tasks = Annotated[str, typer.Option(help="dataset[:N|:ID,ID], synthetic:NxD+T, or a path")]
Strategy = Annotated[str, typer.Option(help="sequential, sample-parallel, candidate-parallel, hybrid")]
Backend = Annotated[str, typer.Option(help="inline, thread, process, dask")]
Workers = Annotated[Optional[int], typer.Option(help="worker count (default: usable cores)")]
ChunkSize = Annotated[Optional[int], typer.Option(help="units per work item (default: automatic)")]
Timeout = Annotated[float, typer.Option(help="per-unit running-time limit, seconds")]
SampleBudget = Annotated[Optional[float], typer.Option(help="seconds per sample, then skip")]
TaskBudget = Annotated[Optional[float], typer.Option(help="seconds per task, then skip")]
Label = Annotated[Optional[str], typer.Option(help="a name for the run (phase, experiment)")]
Scheduler = Annotated[Optional[str], typer.Option(envvar="DASK_SCHEDULER_ADDRESS",
                                                  help="dask: address of an existing scheduler (tcp://HOST:PORT)")]


def run_config(solver: str, solver_opt: list[str], plugin: list[str], tasks: str, strategy: str, backend: str,
               workers: Optional[int], chunk_size: Optional[int], timeout: float, sample_budget: Optional[float],
               task_budget: Optional[float], label: Optional[str], scheduler: Optional[str] = None) -> RunConfig:
    """The RunConfig the run options describe (workers default: 1 for sequential, else the usable cores)."""
    from perfkit.environment import usable_cores

    return RunConfig(
        solver=solver, tasks=tasks, strategy=strategy, backend=backend,
        workers=workers or (1 if strategy == "sequential" else usable_cores()),
        chunk_size=chunk_size, label=label, plugins=tuple(plugin),
        timeout=TimeoutPolicy(timeout, sample_budget, task_budget),
        solver_options=parse_options(solver_opt),
        backend_options={"scheduler": scheduler} if scheduler and backend == "dask" else {})
