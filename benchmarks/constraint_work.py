"""A third-party workload on python-constraint2 (a CSP solver compiled with Cython, written by
nobody here): counting and finding solutions of constraint problems as a candidate search, each
candidate one of the library's solvers.

Each task is one question, written as an ARC task file; each sample one problem, built
deterministically from the digits of its 1×3 input grid (family, size, seed), its output the
expected answer as a row of digits. Candidates are the library's solvers:

- ``queens``: how many ways to place n non-attacking queens (n = 5…10; 5 digits);
- ``colour``: how many proper 3-colourings a sparse random graph has (12–17 nodes; 5 digits of
  the count, which reaches ~10⁵);
- ``place``: whether a solver places n queens (n = 12…40) at all (1 digit: 1 placed, 0 not).

Candidates: ``backtracking``, ``backtracking_nofc`` (without forward checking), ``optimized``
(OptimizedBacktrackingSolver), ``recursive``, ``iter`` (counts getSolutionIter without keeping
the solutions), ``parallel_threads`` and ``parallel_processes`` (ParallelSolver, a thread or
process pool of its own per unit, one worker per core), ``min_conflicts`` (MinConflictsSolver,
1000 steps, one solution only).

Its quirks, nobody's design:

- counting keeps every solution (a list of dicts): ``colour`` on 17 nodes holds ~10⁵ solutions,
  ~35 MB more resident memory (31 → 67 MB), while ``iter`` counts them in constant memory;
- ``backtracking_nofc`` and ``optimized`` cannot place 20 queens or more within 1 s: two
  candidates take ~70 % of the time, timing out on 11 units, one more at ~0.5 s;
- ``min_conflicts`` draws from the process's unseeded ``random``: on ``place`` it finds a
  placement or gives up within its steps differently in every interpreter; on the counting
  questions it finds at most one solution (a wrong count by design);
- ``parallel_processes`` starts a process pool inside a unit: its CPU runs in child processes,
  and inside a daemonic worker it cannot start at all; ``parallel_threads`` runs its CPU on
  threads of its own;
- ``parallel_*`` answer ``place`` with NotImplementedError ("only provides all solutions").

Run it as docs/benchmarks.md, "Session 16: python-constraint2", does::

    .venv/bin/python benchmarks/constraint_work.py tasks /tmp/csp-tasks    # writes 3 task files
    PYTHONPATH=benchmarks perfkit compare --solver constraint_work:ConstraintSolver --tasks /tmp/csp-tasks \\
        --strategies sequential,sample-parallel,candidate-parallel,hybrid --backends process,thread \\
        --workers 2 --repeats 2 --timeout 1.0 --allow-differences
"""

from __future__ import annotations

import random
from typing import Callable

import numpy as np
from constraint import (BacktrackingSolver, MinConflictsSolver, OptimizedBacktrackingSolver,
                        ParallelSolver, Problem, RecursiveBacktrackingSolver)

# a sibling module: benchmarks/ is on sys.path when a workload runs as a script or a solver
import task_files

#: Queens of ``queens`` by the size digit; of ``place`` likewise; nodes of ``colour``.
QUEENS = (5, 6, 7, 8, 9, 10)
PLACE = (12, 16, 20, 25, 30, 40)
NODES = (12, 13, 14, 15, 16, 17)


def _queens(problem: Problem, n: int) -> Problem:
    problem.addVariables([f"q{a}" for a in range(n)], range(n))
    for a in range(n):
        for b in range(a + 1, n):
            # string constraints: ParallelSolver(process_mode=True) refuses function constraints
            problem.addConstraint(f"q{a} != q{b} and abs(q{a} - q{b}) != {b - a}")
    return problem


def _colour(problem: Problem, n: int, seed: int) -> Problem:
    rng = random.Random(seed)
    problem.addVariables([f"c{v}" for v in range(n)], range(3))
    # a random spanning tree plus n/4 extra edges: connected, sparse, many colourings
    edges = {(rng.randrange(v), v) for v in range(1, n)}
    while len(edges) < n - 1 + n // 4:
        a, b = sorted(rng.sample(range(n), 2))
        edges.add((a, b))
    for a, b in sorted(edges):
        problem.addConstraint(f"c{a} != c{b}")
    return problem


def problem(question: str, size: int, seed: int, solver) -> Problem:
    """The problem a sample's digits name, to be solved by ``solver``."""
    p = Problem(solver)
    if question == "colour":
        return _colour(p, NODES[size], seed)
    return _queens(p, (QUEENS if question == "queens" else PLACE)[size])


#: Candidate id → (solver factory, how the answer is read off the problem).
SOLVERS: dict[str, Callable[[], object]] = {
    "backtracking": lambda: BacktrackingSolver(),
    "backtracking_nofc": lambda: BacktrackingSolver(forwardcheck=False),
    "optimized": lambda: OptimizedBacktrackingSolver(),
    "recursive": lambda: RecursiveBacktrackingSolver(),
    "iter": lambda: BacktrackingSolver(),
    "parallel_threads": lambda: ParallelSolver(),
    "parallel_processes": lambda: ParallelSolver(process_mode=True),
    "min_conflicts": lambda: MinConflictsSolver(steps=1000),
}


def count(candidate: str, p: Problem) -> int:
    """Solutions ``candidate`` counts: all of them, or 0/1 for a single-solution solver."""
    if candidate == "iter":
        return sum(1 for _ in p.getSolutionIter())
    if candidate == "min_conflicts":
        return int(p.getSolution() is not None)
    return len(p.getSolutions())


def placed(p: Problem) -> int:
    """1 when the solver finds a solution, 0 when it gives up."""
    return int(p.getSolution() is not None)


#: Task id (the task file's stem) → digits of the answer.
QUESTIONS = {"queens": 5, "colour": 5, "place": 1}


def digits(value: int, width: int) -> np.ndarray:
    """``value`` as a 1×``width`` grid of its last ``width`` decimal digits."""
    return np.array([[int(d) for d in f"{int(value) % 10 ** width:0{width}d}"]], dtype=np.uint8)


def answer(question: str, candidate: str, size: int, seed: int) -> int:
    """What ``candidate`` answers to ``question`` on the problem (size, seed)."""
    p = problem(question, size, seed, SOLVERS[candidate]())
    return placed(p) if question == "place" else count(candidate, p)


class ConstraintSolver:
    """perfkit's view: every task's candidates are the library's solvers; a unit solves one
    sample's problem with one of them and answers with the digits of its count."""

    def candidates(self, task):
        return list(SOLVERS)

    def evaluate(self, task, sample, candidate, deadline):
        _family, size, seed = (int(v) for v in np.asarray(sample.input).ravel()[:3])
        return digits(answer(task.id, candidate, size, seed), QUESTIONS[task.id])


#: The samples of each task: (question digit, size, seed), six demo then two test.
SAMPLES = {
    "queens": [(0, 0, 0), (0, 1, 0), (0, 2, 0), (0, 3, 0), (0, 4, 0), (0, 5, 0), (0, 3, 1), (0, 4, 1)],
    "colour": [(1, 0, 1), (1, 1, 2), (1, 2, 3), (1, 3, 4), (1, 4, 5), (1, 5, 6), (1, 2, 7), (1, 5, 8)],
    "place": [(2, 0, 0), (2, 1, 0), (2, 2, 0), (2, 3, 0), (2, 4, 0), (2, 5, 0), (2, 2, 1), (2, 4, 1)],
}
DEMO = 6


def expected(question: str, size: int, seed: int) -> int:
    """The answer a sample's output holds: the exact count (``iter``), or 1 (a placement exists)."""
    return 1 if question == "place" else answer(question, "iter", size, seed)


def task_json(question: str) -> dict:
    """The task file of ``question``: its samples' input digits and expected answers."""
    width = QUESTIONS[question]
    samples = [{"input": [list(s)], "output": digits(expected(question, s[1], s[2]), width).tolist()}
               for s in SAMPLES[question]]
    return {"train": samples[:DEMO], "test": samples[DEMO:]}


if __name__ == "__main__":
    task_files.main(__doc__.splitlines()[0], QUESTIONS, task_json)
