"""What a worker does: evaluate units of a work item, timed, classified, never lost.

This module runs inside every worker (inline, thread, process, Dask). It times each unit on
``time.monotonic()`` (one clock for every process of a machine) and ``time.thread_time()``
(the CPU of the thread that ran it), and turns whatever the solver did into exactly one
status: an exception before the deadline is an ``error`` with its type, an exception or a
result after the deadline is a ``timeout``, a budget already spent is ``skipped``.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, Callable, Iterable, Iterator, Optional

from perfkit.backends.base import Assignment
from perfkit.model import WHOLE_SAMPLE, Outcome, Task, UnitRef, as_grid, candidate_id_problem, grid_hash

#: Longest error message kept per unit (a solver may raise with a huge repr).
MAX_MESSAGE_CHARS = 500


class HardTimeout(BaseException):
    """Raised into a unit by a backend that can interrupt it (SIGALRM inline). A BaseException
    so that a solver's ``except Exception`` cannot swallow it."""


def skipped(task_id: str, unit: UnitRef, a: Assignment, reason: str, worker: str) -> Outcome:
    """The outcome of a unit that never started because a budget ran out."""
    split, index, candidate = unit
    return Outcome(task_id, split, index, candidate, "skipped", error_message=reason, queued=a.queued,
                   worker=worker, chunk=a.item.chunk, attempt=a.attempt)


def _describe(exc: BaseException) -> tuple[str, str]:
    return type(exc).__name__, str(exc)[:MAX_MESSAGE_CHARS]


def _finish(outcome: Outcome, output: Any, expected_hash: Optional[str]) -> None:
    """Fill hash and match for a returned output; a value that is not a grid is an error.
    ``match`` compares 64-bit hashes of shape and cells, so equal hashes mean equal grids."""
    try:
        grid = as_grid(output)
    except (ValueError, TypeError) as exc:
        outcome.status, outcome.output_hash = "error", None
        outcome.error_type, outcome.error_message = "InvalidOutput", str(exc)[:MAX_MESSAGE_CHARS]
        return
    outcome.output_hash = grid_hash(grid)
    if expected_hash is not None:
        outcome.match = outcome.output_hash == expected_hash


def evaluate_unit(solver: Any, task: Task, unit: UnitRef, a: Assignment, worker: str,
                  guard: Optional[Any] = None,
                  expected: Optional[dict] = None) -> list[Outcome]:
    """Run one unit and return its outcomes (one; one per candidate for a sample-level unit).

    ``guard`` is a backend's hard stop (``arm(deadline)``/``disarm()``, e.g. SIGALRM inline); its
    HardTimeout makes
    the unit a ``timeout``; ``expected`` caches expected-output hashes across the units of an
    item. This is the per-unit hot path of every backend: it builds one
    Outcome positionally and compares output hashes, not grids.
    """
    split, index, candidate = unit
    sample = task.sample(split, index)
    # the item says whether its units are whole samples: a candidate id never decides it
    sample_level = a.item.sample_level
    started = time.monotonic()
    cpu0 = time.thread_time()
    deadline = started + a.timeout_s
    result: Any = None
    failure: Optional[BaseException] = None
    try:
        if guard is None:
            result = _call(solver, task, sample, candidate, deadline, sample_level)
        else:
            guard.arm(deadline)
            try:
                result = _call(solver, task, sample, candidate, deadline, sample_level)
            finally:
                guard.disarm()
    except HardTimeout as exc:
        failure = exc
    except Exception as exc:  # the solver's own failure: recorded, never raised
        failure = exc
    ended = time.monotonic()
    cpu = time.thread_time() - cpu0
    over = ended >= deadline
    chunk, attempt = a.item.chunk, a.attempt

    def outcome(c: str, status: str) -> Outcome:
        return Outcome(task.id, split, index, c, status, None, None, None, None, a.queued, started, ended,
                       ended - started, cpu, worker, chunk, attempt)

    if failure is not None:
        status = "timeout" if (over or isinstance(failure, HardTimeout)) else "error"
        etype, msg = _describe(failure)
        names = _declared(solver, task) if sample_level else [candidate]
        outs = [_share(outcome(c, status), len(names)) for c in names]
        for o in outs:
            o.error_type, o.error_message = etype, msg
        return outs
    if not sample_level:
        o = outcome(candidate, "ok")
        _finish(o, result, expected_hash(sample, expected))
        outs = [o]
    else:
        outs = _sample_outcomes(solver, task, expected_hash(sample, expected), result, outcome, over)
    return _late(outs, ended - deadline) if over else outs


def _late(outcomes: list[Outcome], late_s: float) -> list[Outcome]:
    """A result that arrives after its deadline is a ``timeout``, whatever it contains (a
    valid grid, an invalid one, a bad mapping): what it returned is kept in the message."""
    for o in outcomes:
        was = f" (returned: {o.error_type}: {o.error_message})" if o.status == "error" else ""
        o.status, o.error_type = "timeout", None
        o.error_message = f"finished {late_s:.3f} s after its deadline{was}"[:MAX_MESSAGE_CHARS]
    return outcomes


def expected_hash(sample: Any, cache: Optional[dict] = None) -> Optional[str]:
    """The hash of a sample's expected output (None when unknown); ``cache`` (one per work
    item) keeps it from being computed for every candidate."""
    if cache is None:
        return None if sample.output is None else grid_hash(as_grid(sample.output))
    key = (sample.split, sample.index)
    if key not in cache:
        cache[key] = expected_hash(sample)
    return cache[key]


def _call(solver: Any, task: Task, sample: Any, candidate: str, deadline: float, sample_level: bool) -> Any:
    if sample_level:
        return solver.solve_sample(task, sample, deadline)
    return solver.evaluate(task, sample, candidate, deadline)


def _declared(solver: Any, task: Task, sample: Any = None) -> list[str]:
    """Candidates an opaque solver declares up front (optional ``candidates(task)``), else the
    whole sample as one unit. Outside the worker that ran ``sample`` (a killed worker's sample,
    named by the parent), a solver's optional ``declared_candidates(task, sample)`` is asked
    first: its per-sample declaration may depend on the sample (the battery's does)."""
    if sample is not None and hasattr(solver, "declared_candidates"):
        declared = [c for c in solver.declared_candidates(task, sample) if candidate_id_problem(c) is None]
        return declared or [WHOLE_SAMPLE]
    if hasattr(solver, "candidates"):
        declared = [c for c in solver.candidates(task) if candidate_id_problem(c) is None]
        return declared or [WHOLE_SAMPLE]
    return [WHOLE_SAMPLE]


def per_declared_candidate(solver: Any, task: Task, outcomes: Iterable[Outcome]) -> Iterator[Outcome]:
    """The outcomes as a backend yields them, except that a whole-sample unit stopped from
    outside its worker (killed at its deadline, or lost with it: the worker could not name its
    candidates) becomes one outcome per candidate the solver declares, as :func:`evaluate_unit`
    records a sample that fails inside the worker. Every backend thus records the same units."""
    for o in outcomes:
        names = [WHOLE_SAMPLE]
        # a leaked thread's unit stays whole: the thread backend amends it later by its key
        if o.candidate == WHOLE_SAMPLE and o.status in ("timeout", "crashed") and not o.leaked:
            try:
                names = _declared(solver, task, task.sample(o.split, o.index))
            except Exception:  # the solver's own failure: the unit stays whole, nothing is lost
                names = [WHOLE_SAMPLE]
        if names == [WHOLE_SAMPLE]:
            yield o
            continue
        for c in names:
            yield _share(replace(o, candidate=c), len(names))


def _share(outcome: Outcome, n: int) -> Outcome:
    """Apportion a sample-level unit's wall and CPU evenly among its candidates so that sums
    over units stay true."""
    if n > 1:
        outcome.wall_s = outcome.wall_s / n if outcome.wall_s is not None else None
        outcome.cpu_s = outcome.cpu_s / n if outcome.cpu_s is not None else None
    return outcome


def _sample_outcomes(solver: Any, task: Task, expected: Optional[str], result: Any,
                     outcome: Callable[[str, str], Outcome], over: bool) -> list[Outcome]:
    try:
        outputs = dict(result)
    except (TypeError, ValueError):
        o = outcome(WHOLE_SAMPLE, "error")
        o.error_type, o.error_message = "InvalidOutput", "solve_sample must return a mapping of candidate id to grid"
        return [o]
    bad = [k for k in outputs if candidate_id_problem(k) is not None]
    if bad:  # the mapping as a whole is invalid: no key of it can name a unit
        names = _declared(solver, task)
        outs = [_share(outcome(c, "error"), len(names)) for c in names]
        for o in outs:
            o.error_type = "InvalidOutput"
            o.error_message = (f"solve_sample returned {len(bad)} invalid candidate id(s): "
                               f"{candidate_id_problem(bad[0])}")[:MAX_MESSAGE_CHARS]
        return outs
    names = list(outputs)
    declared = _declared(solver, task) if hasattr(solver, "candidates") else []
    names += [c for c in declared if c not in outputs and c != WHOLE_SAMPLE]
    out: list[Outcome] = []
    for c in names:
        o = _share(outcome(c, "timeout" if over else "ok"), len(names))
        if c not in outputs:
            o.status, o.error_type, o.error_message = "error", "MissingOutput", "declared but not returned"
        else:
            _finish(o, outputs[c], expected)
        out.append(o)
    if not out:
        o = outcome(WHOLE_SAMPLE, "error")
        o.error_type, o.error_message = "EmptyResult", "solve_sample returned no candidates"
        out.append(o)
    return out


def iter_item(solver: Any, task: Task, a: Assignment, worker: str,
              on_start: Callable[[int, float], None] = lambda pos, t: None,
              guard: Optional[Any] = None
              ) -> Iterator[tuple[UnitRef, list[Outcome]]]:
    """Run the units of an assignment in order, yielding each unit with its outcomes as it
    ends (several outcomes for the sample-level unit of an opaque solver).

    ``on_start(position, started)`` tells the backend which unit is in flight, so that it can
    stop it and account for the rest of the item if the worker has to be killed.
    """
    expected: dict = {}
    for pos, unit in enumerate(a.item.units):
        now = time.monotonic()
        reason = a.budget_spent(unit[0], unit[1], now)
        if reason is not None:
            yield unit, [skipped(task.id, unit, a, reason, worker)]
            continue
        on_start(pos, now)
        yield unit, evaluate_unit(solver, task, unit, a, worker, guard, expected)
