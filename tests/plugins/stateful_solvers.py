"""Solvers with the quirks of a real third-party workload (sympy in docs/benchmarks.md, "Session
9: sympy"), small enough for the suite: loaded by reference (``plugins.stateful_solvers:NAME``)."""

from __future__ import annotations

import threading
import time

import numpy as np

#: Set by a test once it has seen what it needs: every ``spin`` ends at once, whatever ``spin_s``
#: (a test then waits for no clock; the threads run in the test's own process).
STOP_SPINNING = threading.Event()


class Spinner:
    """Candidates ``c0``..``c{n-1}`` and ``spin``. ``spin`` runs pure Python (holding the GIL)
    for ``spin_s`` seconds (or until :data:`STOP_SPINNING`) whatever its deadline, as sympy's ``integrate`` runs far past any
    timeout: on the thread backend its thread is abandoned and outlives the run. The others
    sleep ``sleep_s`` (no CPU, the GIL released) and answer a grid of their index."""

    def __init__(self, n: int = 2, spin_s: float = 1.0, sleep_s: float = 0.05):
        self.n, self.spin_s, self.sleep_s = int(n), float(spin_s), float(sleep_s)

    def candidates(self, task):
        return ["spin"] + [f"c{i}" for i in range(self.n)]

    def evaluate(self, task, sample, candidate_id, deadline):
        if candidate_id == "spin":
            end = time.monotonic() + self.spin_s
            while time.monotonic() < end and not STOP_SPINNING.is_set():
                pass
            return np.zeros((1, 1), np.uint8)
        time.sleep(self.sleep_s)
        return np.full((1, 1), int(candidate_id[1:]) % 10, np.uint8)


#: Memo's cache: a module's global state, as sympy's cache is, kept by the process for its life.
_ANSWERED: set = set()


class Memo:
    """Candidates ``c0``..``c{n-1}``; a unit burns ``cost_ms`` of CPU the first time this process
    evaluates it and answers from a module-level cache after that, as a solver with a global
    cache does. ``salt`` keeps one test's cache apart from another's in the same process."""

    def __init__(self, n: int = 4, cost_ms: float = 2.0, salt: str = ""):
        self.n, self.cost_s, self.salt = int(n), float(cost_ms) / 1e3, str(salt)

    def candidates(self, task):
        return [f"c{i}" for i in range(self.n)]

    def evaluate(self, task, sample, candidate_id, deadline):
        key = (self.salt, task.id, sample.key, candidate_id)
        if key not in _ANSWERED:
            end = time.thread_time() + self.cost_s
            while time.thread_time() < end:
                pass
            _ANSWERED.add(key)
        return np.full((1, 1), int(candidate_id[1:]) % 10, np.uint8)


class HeapWitness:
    """One candidate whose unit raises with how many objects of its process the cyclic collector
    leaves out of its passes (``gc.get_freeze_count()``) and how many its oldest generation holds:
    the error message carries them from a worker to the test."""

    def candidates(self, task):
        return ["witness"]

    def evaluate(self, task, sample, candidate_id, deadline):
        import gc
        raise RuntimeError(f"frozen={gc.get_freeze_count()} oldest={len(gc.get_objects(2))}")


class Counted:
    """Candidates ``c0``..``c{n-1}`` and ``coin``, nondeterministic by construction, not by
    chance: on ``demo[0]`` of every task ``coin`` answers 1 on the evaluations numbered in
    ``flip_at`` (from 0, comma-separated) and 0 on the others, counted over every process in
    ``count``, a file that gets one byte per such evaluation (appended with O_APPEND, so workers
    in any process share it). A compare evaluates it once per run in a known order (repeat-major,
    sequential first: perfkit/orchestration/experiment.py ``plan_runs``), so a test decides which
    runs give the other answer. Elsewhere ``coin`` answers 0, and ``cK`` answers K."""

    def __init__(self, count: str, flip_at: str = "1", n: int = 3):
        self.count, self.n = str(count), int(n)
        self.flip_at = {int(i) for i in str(flip_at).split(",") if i}

    def candidates(self, task):
        return [f"c{i}" for i in range(self.n)] + ["coin"]

    def evaluate(self, task, sample, candidate_id, deadline):
        if candidate_id != "coin":
            return np.full((1, 1), int(candidate_id[1:]) % 10, np.uint8)
        if sample.key != "demo[0]":
            return np.zeros((1, 1), np.uint8)
        with open(self.count, "ab") as f:
            f.write(b"x")
            n = f.tell() - 1
        return np.full((1, 1), int(n in self.flip_at), np.uint8)
