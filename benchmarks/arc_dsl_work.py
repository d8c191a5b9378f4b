"""A third-party ARC solver as a perfkit solver plugin: Michael Hodel's arc-dsl (MIT), whose
solvers.py holds 400 hand-written ``solve_<taskid>(I)`` programs for the ARC-AGI-1 training
tasks over its dsl.py. Every one of them is a candidate on every sample of every task, so most
units raise (a program meets a task it was not written for), a few run long, and their outputs
take every shape. Nobody here wrote the code; it is imported from its own folder, never copied::

    mkdir -p /work/arc-dsl && git -C <arc-dsl git dir> archive 635de49 | tar -x -C /work/arc-dsl
    PYTHONPATH=benchmarks perfkit compare --solver arc_dsl_work:ArcDslSolver --solver-opt dsl=/work/arc-dsl \\
        --tasks arc1-training:12 ...

Grids: arc-dsl reads and returns tuples of tuples of ints; perfkit hands numpy uint8 arrays
in and judges what comes back (docs/design.md, "Vocabulary": a non-grid output is an error).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any, Optional

import numpy as np

from perfkit.model import ConfigError

#: The program file of arc-dsl and the prefix of its programs.
PROGRAMS_FILE = "solvers.py"
PREFIX = "solve_"


def load_programs(folder: Path) -> dict[str, Any]:
    """arc-dsl's programs from ``folder``, keyed by task id in file order; the folder goes on
    ``sys.path`` because solvers.py imports its siblings by name (``from dsl import *``)."""
    if not (folder / PROGRAMS_FILE).is_file():
        raise ConfigError("solver_options.dsl", str(folder),
                          f"no {PROGRAMS_FILE} there: expected a checkout of arc-dsl")
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    module = importlib.import_module("solvers")
    if Path(module.__file__).resolve().parent != folder.resolve():
        raise ConfigError("solver_options.dsl", str(folder),
                          f"another module named 'solvers' was imported first ({module.__file__})")
    return {name[len(PREFIX):]: fn for name, fn in vars(module).items()
            if name.startswith(PREFIX) and callable(fn)}


class ArcDslSolver:
    """Candidates: arc-dsl's programs (``solve_<taskid>`` → candidate ``<taskid>``), all of them
    on every task, or the first ``limit`` in file order. ``evaluate`` runs one program on one
    sample's input as a tuple of tuples and returns its output as arc-dsl gave it."""

    def __init__(self, dsl: str = "", limit: Optional[int] = None):
        if not dsl:
            raise ConfigError("solver_options.dsl", reason="the folder of an arc-dsl checkout is needed")
        self.programs = load_programs(Path(dsl).expanduser())
        self.ids = list(self.programs)[:limit]

    def candidates(self, task) -> list[str]:
        return self.ids

    def evaluate(self, task, sample, candidate, deadline) -> Any:
        grid = tuple(map(tuple, sample.input.tolist()))
        return to_array(self.programs[candidate](grid))


def to_array(output: Any) -> Any:
    """A tuple-of-tuples grid as a numpy array; anything else unchanged, for perfkit to judge
    (a frozenset of cells, a ragged tuple, an int: an error "output is not a grid")."""
    if isinstance(output, tuple) and output and all(isinstance(row, tuple) for row in output):
        try:
            return np.array(output)
        except ValueError:  # ragged rows
            return output
    return output
