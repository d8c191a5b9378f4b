"""The backend contract: run the work items of one stage and yield outcomes as they arrive.

A backend is created per run with the solver's *reference* (never the solver object: workers in
other processes import it by reference), started once, given one stage at a time and closed.
It must yield exactly one outcome per unit of every item it was given, whatever the solver
does (docs/design.md, accounting invariant 1). This module names no backend: the registry is
perfkit/backends/__init__.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Collection, Iterator, Optional, Protocol

from perfkit.backends.budget import Budget
from perfkit.model import Outcome, Task, UnitRef, WorkItem

#: How long after a unit's deadline a backend stops it (kills its worker, fires its alarm, or
#: gives up on its thread): a cooperative solver stops itself first, and its own outcome then
#: tells the solver's story. Every backend uses this one grace.
KILL_GRACE_S = 0.05


@dataclass(frozen=True)
class SolverRef:
    """How a worker builds the solver: ``load_solver(spec, options)`` after importing ``plugins``."""

    spec: str
    options: dict[str, Any] = field(default_factory=dict)
    plugins: tuple[str, ...] = ()


@dataclass
class Assignment:
    """A work item as handed to a worker: what to run and under which limits (seconds,
    absolute values on the monotonic clock)."""

    item: WorkItem
    queued: float
    timeout_s: float
    attempt: int = 1
    #: The task's budgets and where every worker finds the first starts (perfkit/backends/budget.py).
    budget: Optional[Budget] = None

    def budget_spent(self, split: str, index: int, now: float) -> Optional[str]:
        """Why a unit must be skipped at ``now``, or None when it may start."""
        return None if self.budget is None else self.budget.spent(split, index, now)

    def after_loss(self, ran: int, in_flight: Optional[int] = None,
                   accounted: Collection[UnitRef] = ()) -> list["Assignment"]:
        """The assignments to queue again when this item's worker was lost: the units that ran
        but whose results died run again as attempt + 1, the units never started keep this
        attempt (:meth:`perfkit.model.WorkItem.pieces_after_loss`). The re-run comes first."""
        rerun, rest = self.item.pieces_after_loss(ran, in_flight, accounted)
        out = []
        if rerun is not None:
            out.append(replace(self, item=rerun, attempt=self.attempt + 1))
        if rest is not None:
            out.append(replace(self, item=rest))
        return out


@dataclass
class WorkerUsage:
    """What one worker used, as far as the OS reports it (seconds)."""

    worker: str
    cpu_s: float
    killed: bool = False
    reason: str = ""
    #: Its peak resident memory (bytes), when the backend measured it.
    peak_rss_bytes: Optional[int] = None


class WorkerFailure(Exception):
    """A backend could not keep workers alive (e.g. the solver cannot be imported in a
    worker): the run stops cleanly with what was recorded."""


class Backend(Protocol):
    """Runs assignments; see the module docstring. One instance per run."""

    #: The registry name (``inline``, ``thread``, ``process``, ``dask``).
    name: str
    #: True when an over-deadline unit can be stopped (process, dask, inline on the main thread).
    hard_timeouts: bool

    def start(self, solver: SolverRef, workers: int) -> None:
        """Create ``workers`` workers and build the solver in each; raise WorkerFailure when
        they cannot start."""
        ...

    def run_stage(self, task: Task, assignments: list[Assignment]) -> Iterator[Outcome]:
        """Run the assignments (work items of one stage of ``task``) and yield exactly one
        outcome per unit, in the order they end."""
        ...

    def close(self) -> list[WorkerUsage]:
        """Stop every worker and report the CPU each one used (seconds)."""
        ...

    def resources(self) -> dict[str, Any]:
        """What the backend created (processes, threads, restarts), for meta.json."""
        ...


def build_solver(ref: SolverRef) -> Any:
    """Import the plugins and load the solver (inside a worker or the parent)."""
    import importlib

    from perfkit.solvers import load_solver

    for module in ref.plugins:
        importlib.import_module(module)
    return load_solver(ref.spec, ref.options)
