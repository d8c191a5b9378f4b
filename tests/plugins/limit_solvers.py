"""Solvers with arc-dsl's quirks at the time limit (docs/benchmarks.md, "Session 9"): a program
that searches for most of its limit and then raises (an error near the timeout), one that never
finishes in time, and one whose memory rises far above the others' before its worker is killed.

``load``: a file whose presence makes the searching candidate 3× slower, as a machine loaded by
other work does (the same solver options in every run, as a comparison requires).
"""

from __future__ import annotations

import os
import time

import numpy as np


class GivesUpLate:
    """Candidates ``quick`` (answers at once), ``gives_up`` (searches ``search_s``, then raises
    LookupError: 3× longer while ``load`` exists) and ``hopeless`` (runs ``hopeless_s``, past any
    limit a test gives it)."""

    def __init__(self, search_s: float = 0.12, hopeless_s: float = 0.6, load: str = ""):
        self.search_s, self.hopeless_s, self.load = search_s, hopeless_s, load

    def candidates(self, task):
        return ["quick", "gives_up", "hopeless"]

    def evaluate(self, task, sample, candidate, deadline):
        if candidate == "quick":
            return sample.input
        if candidate == "hopeless":
            time.sleep(self.hopeless_s)
            return sample.input
        time.sleep(self.search_s * (3 if self.load and os.path.exists(self.load) else 1))
        raise LookupError("no object of the searched colour")


class MemoryHog:
    """Candidates ``c0``…``c{n-1}`` answer at once; ``hog`` fills ``hog_mb`` MB and then runs
    ``hog_s``, past the limit a test gives it, so that its worker is killed with the memory held."""

    def __init__(self, candidates: int = 6, hog_mb: int = 160, hog_s: float = 5.0):
        self.ids = [f"c{i}" for i in range(candidates)] + ["hog"]
        self.hog_mb, self.hog_s = hog_mb, hog_s

    def candidates(self, task):
        return self.ids

    def evaluate(self, task, sample, candidate, deadline):
        if candidate == "hog":
            held = np.ones(self.hog_mb * 2**20, dtype=np.uint8)  # touched: resident, not just reserved
            time.sleep(self.hog_s)
            return held[:4].reshape(2, 2)
        return sample.input


class SlowToLetGo:
    """One candidate, ``hang``: it builds a fresh list of ``objects`` floats (as arc-dsl builds
    large frozensets) and then hangs, so the inline backend stops it while the list is a
    temporary of its frame: freeing the list is part of the unwinding, after the HardTimeout."""

    def __init__(self, objects: int = 1_000_000, hang_s: float = 30.0):
        self.objects, self.hang_s = objects, hang_s

    def candidates(self, task):
        return ["hang"]

    def evaluate(self, task, sample, candidate, deadline):
        return _first(list(map(float, range(self.objects))), time.sleep(self.hang_s))


def _first(objects, _):
    return objects[:1]
