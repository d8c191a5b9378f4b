"""Solvers with the quirks of a real third-party workload (sympy in docs/benchmarks.md, "Session
9: sympy"), small enough for the suite: loaded by reference (``plugins.stateful_solvers:NAME``)."""

from __future__ import annotations

import time

import numpy as np


class Spinner:
    """Candidates ``c0``..``c{n-1}`` and ``spin``. ``spin`` runs pure Python (holding the GIL)
    for ``spin_s`` seconds whatever its deadline, as sympy's ``integrate`` runs far past any
    timeout: on the thread backend its thread is abandoned and outlives the run. The others
    sleep ``sleep_s`` (no CPU, the GIL released) and answer a grid of their index."""

    def __init__(self, n: int = 2, spin_s: float = 1.0, sleep_s: float = 0.05):
        self.n, self.spin_s, self.sleep_s = int(n), float(spin_s), float(sleep_s)

    def candidates(self, task):
        return ["spin"] + [f"c{i}" for i in range(self.n)]

    def evaluate(self, task, sample, candidate_id, deadline):
        if candidate_id == "spin":
            end = time.monotonic() + self.spin_s
            while time.monotonic() < end:
                pass
            return np.zeros((1, 1), np.uint8)
        time.sleep(self.sleep_s)
        return np.full((1, 1), int(candidate_id[1:]) % 10, np.uint8)
