"""``ArcSolver``: the reference fine-grained ARC solver (DSL program search).

Candidates are the demo-pruned programs of :mod:`perfkit.solvers.arc.enumerate`; evaluating a
candidate runs its program on one sample's input. Everything is a pure function of the task,
so any process that builds ``ArcSolver(depth=..., max_candidates=...)`` proposes the same
candidates in the same order and computes the same outputs.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import numpy as np

from perfkit.model import Sample, Task
from perfkit.solvers.arc.dsl import TaskContext
from perfkit.solvers.arc.enumerate import DEFAULT_DEPTH, enumerate_programs
from perfkit.solvers.arc.program import Program, parse, program_id, run_program


def task_context(task: Task) -> TaskContext:
    """The context learned from ``task``'s demo pairs (never from test outputs)."""
    return TaskContext.from_pairs((s.input, s.output) for s in task.demo)


def solving_programs(task: Task, candidate_ids: Sequence[str], ctx: Optional[TaskContext] = None) -> list[str]:
    """The ids among ``candidate_ids`` whose output equals every known output of ``task``.

    "Known" means every demo output and every test output that is not None; a program that
    raises on any sample does not solve the task.
    """
    ctx = task_context(task) if ctx is None else ctx
    known = [s for s in task.samples if s.output is not None]
    solved = []
    for cid in candidate_ids:
        program = parse(cid)
        try:
            ok = all(np.array_equal(run_program(program, s.input, ctx), s.output) for s in known)
        except ValueError:
            ok = False
        if ok:
            solved.append(cid)
    return solved


class ArcSolver:
    """DSL program search over the demos; ``depth`` bounds program length.

    ``max_candidates`` truncates each task's candidate list (BFS order, so the shortest
    programs are kept). Per-task candidates and contexts are cached in the instance because
    workers call :meth:`evaluate` many times per task; the caches are not pickled.
    """

    def __init__(self, depth: int = DEFAULT_DEPTH, max_candidates: Optional[int] = None) -> None:
        depth = int(depth)
        if depth < 1:
            raise ValueError(f"depth must be >= 1, not {depth}")
        if max_candidates is not None:
            max_candidates = int(max_candidates)
            if max_candidates < 1:
                raise ValueError(f"max_candidates must be >= 1, not {max_candidates}")
        self.depth = depth
        self.max_candidates = max_candidates
        self._candidates: dict[str, list[str]] = {}
        self._contexts: dict[str, TaskContext] = {}

    def __repr__(self) -> str:
        return f"ArcSolver(depth={self.depth}, max_candidates={self.max_candidates})"

    # Caches are derived data: ship only the options, rebuild lazily in the receiving process.
    def __getstate__(self) -> dict[str, Any]:
        return {"depth": self.depth, "max_candidates": self.max_candidates}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)

    def context(self, task: Task) -> TaskContext:
        """The (cached) :class:`TaskContext` of ``task``."""
        ctx = self._contexts.get(task.id)
        if ctx is None:
            ctx = self._contexts[task.id] = task_context(task)
        return ctx

    def programs(self, task: Task) -> list[Program]:
        """The pruned programs of ``task`` in candidate order."""
        return [parse(cid) for cid in self.candidates(task)]

    def candidates(self, task: Task) -> list[str]:
        """The pruned program ids of ``task`` (cached per task id; a copy is returned)."""
        ids = self._candidates.get(task.id)
        if ids is None:
            programs = enumerate_programs(
                [s.input for s in task.demo], self.context(task), self.depth, limit=self.max_candidates
            )
            ids = self._candidates[task.id] = [program_id(p) for p in programs]
        return list(ids)

    def evaluate(self, task: Task, sample: Sample, candidate_id: str, deadline: float = math.inf) -> np.ndarray:
        """Run candidate ``candidate_id`` on ``sample.input``.

        Raises ValueError for an unknown primitive or an input the program cannot handle, and
        ``DeadlineExceeded`` when ``deadline`` (``time.monotonic()`` seconds) passes between
        two primitives.
        """
        return run_program(parse(candidate_id), sample.input, self.context(task), deadline)

    def solved_by(self, task: Task) -> list[str]:
        """Candidate ids matching every demo output and every known test output."""
        return solving_programs(task, self.candidates(task), self.context(task))
