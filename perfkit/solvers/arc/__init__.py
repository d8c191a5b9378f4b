"""The reference ARC solver: a DSL of grid primitives and a demo-pruned program search.

Modules: :mod:`.dsl` (primitives and the task context), :mod:`.program` (program ids and the
interpreter), :mod:`.enumerate` (BFS enumeration with observational-equivalence pruning) and
:mod:`.solver` (:class:`ArcSolver`, the built-in solver ``arc``).
"""

from perfkit.solvers.arc.dsl import PRIMITIVES, Primitive, TaskContext
from perfkit.solvers.arc.program import parse, program_id, run_program
from perfkit.solvers.arc.solver import ArcSolver, solving_programs, task_context

__all__ = [
    "ArcSolver",
    "PRIMITIVES",
    "Primitive",
    "TaskContext",
    "parse",
    "program_id",
    "run_program",
    "solving_programs",
    "task_context",
]
