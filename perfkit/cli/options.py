"""The options that describe one run, shared by ``perfkit run`` and ``perfkit profile``:
declared once here (:data:`RUN_OPTIONS`), turned into a RunConfig once here, and given to a
verb by the :func:`run_options` decorator."""

from __future__ import annotations

import functools
import inspect
import json
import typing
from pathlib import Path
from typing import Annotated, Any, Callable, List, Optional

import typer

from perfkit.model import ConfigError, RunConfig, TimeoutPolicy
from perfkit.solvers import BUILTIN_SOLVERS

#: The --solver help of every verb that takes one: the built-in solvers' names, or a plugin.
SOLVER_HELP = ", ".join(BUILTIN_SOLVERS) + ", or package.module:attr"
Solver = Annotated[str, typer.Option(metavar="NAME", help=SOLVER_HELP)]
SolverOpt = Annotated[List[str], typer.Option("--solver-opt", metavar="KEY=VALUE",
                                               help="KEY=VALUE passed to the solver (repeatable)")]
Plugin = Annotated[List[str], typer.Option("--plugin", metavar="MODULE",
                                            help="module imported first, also in workers (repeatable)")]
Tasks = Annotated[str, typer.Option(metavar="SPEC", help="dataset[:N|:ID,ID], synthetic:NxD+T, or a path")]
Strategy = Annotated[str, typer.Option(metavar="NAME", help="sequential, sample-parallel, candidate-parallel, hybrid")]
Backend = Annotated[str, typer.Option(metavar="NAME", help="inline, thread, process, dask")]
Workers = Annotated[Optional[int], typer.Option(metavar="N", help="worker count (default: usable cores)")]
ChunkSize = Annotated[Optional[int], typer.Option(metavar="N", help="units per work item (default: automatic)")]
Timeout = Annotated[float, typer.Option(metavar="SECONDS", help="per-unit running-time limit, seconds")]
SampleBudget = Annotated[Optional[float], typer.Option(metavar="SECONDS", help="seconds per sample, then skip")]
TaskBudget = Annotated[Optional[float], typer.Option(metavar="SECONDS", help="seconds per task, then skip")]
Label = Annotated[Optional[str], typer.Option(metavar="LABEL", help="a name for the run (phase, experiment)")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="print only the paths of what was written (and errors)")]
NoProgress = Annotated[bool, typer.Option("--no-progress", help="no progress bar (CI logs)")]
JsonOut = Annotated[Optional[Path], typer.Option("--json", metavar="FILE",
                                                 help="also write the machine-readable report here "
                                                 "(schema: docs/report-json.md)")]
Scheduler = Annotated[Optional[str], typer.Option(envvar="DASK_SCHEDULER_ADDRESS", metavar="ADDRESS",
                                                  help="dask: address of an existing scheduler (tcp://HOST:PORT)")]


def parse_options(pairs: List[str]) -> dict[str, Any]:
    """``key=value`` pairs; values are JSON when they parse (numbers, true/false), else strings."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"solver_options.{pair}", reason="expected KEY=VALUE")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def split_list(value: Optional[str]) -> Optional[list[str]]:
    """``a,b`` → ``["a", "b"]`` (None stays None)."""
    return None if value is None else [v.strip() for v in value.split(",") if v.strip()]


#: (name, type with its typer option, default) of every option that describes one run.
RUN_OPTIONS: tuple[tuple[str, Any, Any], ...] = (
    ("solver", Solver, "arc"), ("solver_opt", SolverOpt, []), ("plugin", Plugin, []), ("tasks", Tasks, "default"),
    ("strategy", Strategy, "sequential"), ("backend", Backend, "inline"), ("workers", Workers, None),
    ("chunk_size", ChunkSize, None), ("timeout", Timeout, 1.0), ("sample_budget", SampleBudget, None),
    ("task_budget", TaskBudget, None), ("label", Label, None), ("scheduler", Scheduler, None),
)


def run_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give a verb the options of :data:`RUN_OPTIONS`; it receives them as ``config: RunConfig``
    (its other parameters are its own options, listed after these in ``--help``)."""
    hints = typing.get_type_hints(command, include_extras=True)
    own = [p.replace(annotation=hints[p.name]) for p in inspect.signature(command).parameters.values()
           if p.name != "config"]
    shared = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=kind)
              for name, kind, default in RUN_OPTIONS]

    @functools.wraps(command)
    def verb(**kwargs: Any) -> Any:
        config = run_config(**{name: kwargs.pop(name) for name, _, _ in RUN_OPTIONS})
        return command(config=config, **kwargs)

    params = shared + [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own]
    verb.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    verb.__annotations__ = {p.name: p.annotation for p in params}
    return verb


def run_config(solver: str, solver_opt: list[str], plugin: list[str], tasks: str, strategy: str, backend: str,
               workers: Optional[int], chunk_size: Optional[int], timeout: float, sample_budget: Optional[float],
               task_budget: Optional[float], label: Optional[str], scheduler: Optional[str] = None) -> RunConfig:
    """The RunConfig the run options describe (workers default: 1 for sequential, else the usable cores)."""
    from perfkit.runner.environment import usable_cores

    return RunConfig(
        solver=solver, tasks=tasks, strategy=strategy, backend=backend,
        workers=workers if workers is not None else (1 if strategy == "sequential" else usable_cores()),
        chunk_size=chunk_size, label=label, plugins=tuple(plugin),
        timeout=TimeoutPolicy(timeout, sample_budget, task_budget),
        solver_options=parse_options(solver_opt),
        backend_options={"scheduler": scheduler} if scheduler and backend == "dask" else {})
