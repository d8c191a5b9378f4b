"""Solvers loaded by reference (``module:attr``) in tests, in the parent and in workers."""

from __future__ import annotations

import time

import numpy as np


class OpaqueSolver:
    """A 'battery' solver: all candidates of a sample in one call, like the seed's batt()."""

    def __init__(self, candidates: int = 4, hang_sample: str = ""):
        self.n = candidates
        self.hang_sample = hang_sample

    def solve_sample(self, task, sample, deadline):
        if sample.key == self.hang_sample:
            time.sleep(3600)
        return {f"p{i}": np.rot90(sample.input, i) for i in range(self.n)}


class TinySolver:
    """Two candidates: identity and rot90."""

    def candidates(self, task):
        return ["identity", "rot90"]

    def evaluate(self, task, sample, candidate_id, deadline):
        return sample.input if candidate_id == "identity" else np.rot90(sample.input)


def tiny_factory():
    """A zero-argument factory."""
    return TinySolver()


tiny_instance = TinySolver()


class BrokenCandidates(TinySolver):
    """candidates() fails on the second task."""

    def candidates(self, task):
        if task.id == "second":
            raise RuntimeError("enumeration blew up")
        return super().candidates(task)


class LoudSolver(TinySolver):
    """Every unit raises with a long message: large batches of outcomes (tests the pipes)."""

    def __init__(self, candidates: int = 2):
        self.n = candidates

    def candidates(self, task):
        return [f"loud{i:04d}" for i in range(self.n)]

    def evaluate(self, task, sample, candidate_id, deadline):
        raise ValueError(candidate_id + " " + "x" * 2000)


class WitnessSolver(TinySolver):
    """Writes ``<pid> built`` when built and ``<pid> candidates <task>`` when asked for
    candidates, one line each, to ``log`` (where things run, seen from a test)."""

    def __init__(self, log: str = ""):
        self.log = log
        self._note("built")

    def _note(self, what):
        import os

        with open(self.log, "a") as fh:
            fh.write(f"{os.getpid()} {what}\n")

    def candidates(self, task):
        self._note(f"candidates {task.id}")
        return super().candidates(task)


class LateSolver:
    """Returns after sleeping ``late_s`` past the deadline: a valid grid from ``grid``, anything
    else from ``junk``; ``solve_sample`` returns every candidate late at once."""

    def __init__(self, late_s: float = 0.02):
        self.late_s = late_s

    def candidates(self, task):
        return ["grid", "junk"]

    def evaluate(self, task, sample, candidate_id, deadline):
        time.sleep(max(0.0, deadline - time.monotonic()) + self.late_s)
        return sample.input if candidate_id == "grid" else "not a grid"

    def solve_sample(self, task, sample, deadline):
        return {c: self.evaluate(task, sample, c, deadline) for c in self.candidates(task)}


class DeclaredOpaqueSolver(OpaqueSolver):
    """An opaque solver that declares its candidates up front (``candidates(task)``), like the
    battery solver: a sample that hangs still has a unit per declared candidate."""

    def candidates(self, task):
        return [f"p{i}" for i in range(self.n)]
