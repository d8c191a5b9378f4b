"""Programs: tuples of primitive names, their string ids, and the interpreter.

A program ``("crop_content", "rot90")`` applies ``crop_content`` first; its id (the candidate
id the runner sees) is ``"crop_content>rot90"``.
"""

from __future__ import annotations

import math
import time
from typing import Sequence, Union

import numpy as np

from perfkit.model import DeadlineExceeded
from perfkit.solvers.arc.dsl import PRIMITIVES, TaskContext

#: A program: primitive names, applied left to right.
Program = tuple[str, ...]

#: Separator of primitive names in a program id.
SEP = ">"


def program_id(program: Sequence[str]) -> str:
    """The candidate id of ``program``: its names joined by ``>``."""
    return SEP.join(program)


def parse(candidate_id: str) -> Program:
    """The program named by ``candidate_id``; ValueError for an empty id or an unknown name."""
    if not candidate_id:
        raise ValueError("empty program id")
    program = tuple(candidate_id.split(SEP))
    unknown = [name for name in program if name not in PRIMITIVES]
    if unknown:
        raise ValueError(f"program {candidate_id!r}: unknown primitive(s) {', '.join(unknown)}")
    return program


def run_program(
    program: Union[Program, str],
    grid: np.ndarray,
    ctx: TaskContext | None = None,
    deadline: float = math.inf,
) -> np.ndarray:
    """Apply ``program`` (a tuple of names or an id) to ``grid`` and return the result.

    The deadline (a ``time.monotonic()`` value) is checked before every primitive, i.e.
    between applications: a primitive is never interrupted, but no new one starts once time
    is up, and ``DeadlineExceeded`` is raised instead. Errors of a primitive (``ValueError``)
    propagate unchanged.
    """
    if isinstance(program, str):
        program = parse(program)
    out = np.asarray(grid, dtype=np.uint8)
    for step, name in enumerate(program):
        if time.monotonic() >= deadline:
            raise DeadlineExceeded(f"deadline passed before step {step} ({name}) of {program_id(program)}")
        try:
            prim = PRIMITIVES[name]
        except KeyError:
            raise ValueError(f"unknown primitive {name!r}") from None
        out = prim(out, ctx)
    return out
