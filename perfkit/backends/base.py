"""The backend contract: run the work items of one stage and yield outcomes as they arrive.

A backend is created per run with the solver's *spec* (never the solver object: workers in
other processes import it by reference), started once, given one stage at a time and closed.
It must yield exactly one outcome per unit of every item it was given, whatever the solver
does (invariant 1 of DESIGN.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Optional, Protocol

from perfkit.backends.unit import Assignment
from perfkit.model import Outcome, Task


@dataclass(frozen=True)
class SolverRef:
    """How a worker builds the solver: ``load_solver(spec, options)`` after importing ``plugins``."""

    spec: str
    options: dict[str, Any] = field(default_factory=dict)
    plugins: tuple[str, ...] = ()


@dataclass
class WorkerUsage:
    """What one worker used, as far as the OS reports it (seconds)."""

    worker: str
    cpu_s: float
    killed: bool = False
    reason: str = ""


class Backend(Protocol):
    """Runs assignments; see the module docstring."""

    name: str
    #: True when an over-deadline unit can be stopped (process, inline on the main thread).
    hard_timeouts: bool

    def start(self, solver: SolverRef, workers: int) -> None: ...

    def run_stage(self, task: Task, assignments: list[Assignment]) -> Iterator[Outcome]: ...

    def close(self) -> list[WorkerUsage]: ...

    def resources(self) -> dict[str, Any]: ...


def build_solver(ref: SolverRef) -> Any:
    """Import the plugins and load the solver (inside a worker or the parent)."""
    import importlib

    from perfkit.solvers import load_solver

    for module in ref.plugins:
        importlib.import_module(module)
    return load_solver(ref.spec, ref.options)


class WorkerFailure(Exception):
    """A backend could not keep workers alive (e.g. the solver cannot be imported in a
    worker): the run stops cleanly with what was recorded."""


def get_backend(name: str, **options: Any) -> Backend:
    """A new backend instance by name: inline, thread, process or dask."""
    from perfkit.errors import PerfkitError

    if name == "inline":
        from perfkit.backends.inline import InlineBackend
        return InlineBackend(**options)
    if name == "thread":
        from perfkit.backends.thread import ThreadBackend
        return ThreadBackend(**options)
    if name == "process":
        from perfkit.backends.process import ProcessBackend
        return ProcessBackend(**options)
    if name == "dask":
        from perfkit.backends.dask import DaskBackend
        return DaskBackend(**options)
    raise PerfkitError(f"--backend {name!r}: unknown backend; known: inline, thread, process, dask")


BACKENDS = ("inline", "thread", "process", "dask")
