"""The backend contract: where jobs run, and what comes back.

A backend is created with its options (never the solver object: workers in other processes
import the solver by reference) and driven by the runner (perfkit/runner/run.py) like this::

    backend.start(solver_ref, workers)        # workers up, a fresh solver built in each
    while the run has work:
        while backend.capacity() and a job is ready:
            backend.submit(task, job)          # never blocks on a busy worker
        for event in backend.collect(wait_s):  # OutcomeBatch, Generated, Requeued
            ...
    usage = backend.finish_run()               # CPU each worker used during the run
    backend.close()                            # or keep it warm for the next run

*Jobs* are :class:`Assignment` (a work item under its limits) and :class:`Generation` (call the
solver's ``candidates(task)`` on a worker, so that generation is work like any other and never
serial in the parent). *Events* are :class:`perfkit.model.OutcomeBatch` (outcomes of units, one
message per batch), :class:`Generated` and :class:`Requeued` (what a lost worker held, cut by
the one requeue rule, :meth:`Assignment.after_loss`).

A backend must produce exactly one outcome per unit of every assignment it accepted, or give
the unit back in a Requeued event, whatever the solver does (docs/design.md, accounting
invariant 1). Scheduling — which job next, stage order, tasks overlapping — is the runner's;
a backend runs what it is given, in the order given, on the first free worker.

This module names no backend: the registry is perfkit/backends/__init__.py.
"""

from __future__ import annotations

import queue
from dataclasses import dataclass, field, replace
from typing import Any, Collection, Optional, Protocol, TypeVar, Union

from perfkit.backends.budget import Budget
from perfkit.model import OutcomeBatch, Task, UnitRef, WorkItem

#: How long after a unit's deadline a backend stops it (kills its worker, fires its alarm, or
#: gives up on its thread): a cooperative solver stops itself first, and its own outcome then
#: tells the solver's story. Every backend uses this one grace.
KILL_GRACE_S = 0.05
#: Longest a backend that watches its units' deadlines from the parent (process, thread) waits
#: without looking at them (seconds). A worker does not say when it starts a unit (that would be
#: a message per unit), so a unit that started during a wait is seen overdue at most this late:
#: a hang is stopped within its deadline + KILL_GRACE_S + WAKE_S, 80 ms, under the 100 ms of
#: docs/benchmarks.md §1 (it was 0.5 s, and p99 305 ms). One rule for both backends, as the
#: grace is: the bound is the user's, whichever backend runs the unit. Inline (SIGALRM) and Dask
#: (a watchdog in the worker) stop their units where they run and need none.
WAKE_S = 0.03
#: A worker sends the outcomes it holds at least this often (seconds) and at the end of every
#: job: a worker that dies loses at most this window, which runs again as the next attempt.
FLUSH_INTERVAL_S = 0.02
#: ... or as soon as it holds this many outcomes (bounds a message and the re-run after a loss).
FLUSH_UNITS = 1024
#: A unit that ran this many times without its outcome reaching the parent (its worker died
#: each time, after the unit) is recorded ``crashed`` instead of running again.
MAX_ATTEMPTS = 3
#: The shortest wait of :func:`drain` (seconds): a wait until a deadline already past (negative)
#: is an error to the queue's ``get``.
MIN_WAIT_S = 0.001

T = TypeVar("T")


@dataclass(frozen=True)
class SolverRef:
    """How a worker builds the solver: ``load_solver(spec, options)`` after importing ``plugins``."""

    spec: str
    options: dict[str, Any] = field(default_factory=dict)
    plugins: tuple[str, ...] = ()


@dataclass
class Assignment:
    """A work item as handed to a worker: what to run and under which limits (seconds; the
    deadlines are absolute values on the monotonic clock)."""

    item: WorkItem
    queued: float
    timeout_s: float
    attempt: int = 1
    #: The task's budgets and where every worker finds the first starts (perfkit/backends/budget.py).
    budget: Optional[Budget] = None

    @property
    def has_budget(self) -> bool:
        """True when a budget may skip some of the item's units (checked once per item, so the
        unit loop pays nothing without budgets)."""
        return self.budget is not None

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


@dataclass(frozen=True)
class Generation:
    """A job: call the solver's ``candidates(task)`` on a worker. ``attempt`` counts the
    workers lost while running it."""

    task_id: str
    attempt: int = 1


@dataclass
class Generated:
    """An event: the candidates of a task, or why there are none. ``wall_s`` and ``cpu_s``
    measure the ``candidates()`` call on the worker that made it (seconds)."""

    job: Generation
    candidates: Optional[list[str]]
    wall_s: float
    cpu_s: float
    error: Optional[str] = None
    worker: str = ""
    #: When the call started (time.monotonic(), one clock for every process of the machine).
    started: float = 0.0


@dataclass
class Requeued:
    """An event: jobs handed back because the worker running them was lost (its outcomes for
    the unit in flight are in the same ``collect``); the runner queues them first."""

    jobs: list[Union[Assignment, Generation]]


Job = Union[Assignment, Generation]
Event = Union[OutcomeBatch, Generated, Requeued]


@dataclass
class WorkerUsage:
    """What one worker used during a run, as far as the OS reports it (seconds)."""

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
    """Runs jobs; see the module docstring. One instance serves one run, or several in a row
    when ``reusable`` (a warm pool, perfkit/backends/__init__.py ``WarmBackends``)."""

    #: The registry name (``inline``, ``thread``, ``process``, ``dask``).
    name: str
    #: True when an over-deadline unit can be stopped (process, dask, inline on the main thread).
    hard_timeouts: bool
    #: True when ``start`` may be called again after ``finish_run`` for another run, keeping
    #: the workers (their start-up is then paid once, not per run).
    reusable: bool

    def start(self, solver: SolverRef, workers: int) -> None:
        """Make ``workers`` workers ready for a run: start the missing ones and build a fresh
        solver in each (a warm worker gets a new solver instance, so that no state of the
        solver carries from one run to the next). Raise WorkerFailure when they cannot."""
        ...

    def capacity(self) -> int:
        """How many more jobs ``submit`` takes now: enough to keep every worker busy while the
        runner handles the last batch, few enough that a ready job of an earlier task or stage
        is never stuck behind a long queue."""
        ...

    def submit(self, task: Task, job: Job) -> None:
        """Start ``job`` (of ``task``) on a worker as soon as one is free. Never blocks on a
        worker that is busy sending results (no deadlock on full pipes)."""
        ...

    def collect(self, wait_s: float) -> list[Event]:
        """The events that arrived, waiting at most ``wait_s`` seconds for the first; also
        where a backend notices overruns and lost workers. An empty list means nothing yet."""
        ...

    def pending(self) -> int:
        """Jobs submitted and not yet finished (0: the backend is idle)."""
        ...

    def finish_run(self) -> list[WorkerUsage]:
        """End the run: every job has finished. Report the CPU each worker used during the run
        (seconds), killed ones included; workers stay up when ``reusable``."""
        ...

    def close(self) -> list[WorkerUsage]:
        """Stop every worker; the usage of anything not reported by ``finish_run`` yet."""
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


def drain(q: "queue.SimpleQueue[T]", wait_s: float) -> list[T]:
    """What a backend's ``collect`` takes from its queue of worker messages: the first entry
    within ``wait_s`` seconds (at least :data:`MIN_WAIT_S`), then every entry already there."""
    try:
        entries = [q.get(timeout=max(MIN_WAIT_S, wait_s))]
    except queue.Empty:
        entries = []
    while True:
        try:
            entries.append(q.get_nowait())
        except queue.Empty:
            return entries
