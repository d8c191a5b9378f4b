"""Solvers that misbehave on purpose, loaded by reference (``plugins.faulty_solvers:NAME``) by
the fault-injection suite (tests/faults/), in the parent and in workers."""

from __future__ import annotations

import os
import sys
import time

import numpy as np


class Misbehaving:
    """Candidates ``c0``..``c{n-1}``; candidate ``bad`` does ``fault`` on every sample:

    - ``exit=N``: ``sys.exit(N)``; ``chdir``: ``os.chdir`` to ``/`` and answers;
    - ``sleep=S``: sleeps S seconds (GIL-free) before answering.

    ``log``: a file that gets one line ``<monotonic start> <sample> <candidate>`` per unit started
    (appended with O_APPEND, so workers in any process can share it). ``wait_for``: every unit
    waits until that file exists (at most a minute), so a test decides when the run may end.
    """

    def __init__(self, n: int = 4, bad: str = "c1", fault: str = "", log: str = "", sleep_s: float = 0.0,
                 wait_for: str = ""):
        self.n, self.bad, self.fault, self.log, self.sleep_s = n, bad, fault, log, float(sleep_s)
        self.wait_for = wait_for

    def candidates(self, task):
        return [f"c{i}" for i in range(self.n)]

    def evaluate(self, task, sample, candidate_id, deadline):
        if self.log:
            line = f"{time.monotonic():.6f} {task.id}/{sample.key} {candidate_id}\n".encode()
            fd = os.open(self.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        if self.sleep_s:
            time.sleep(self.sleep_s)
        give_up = time.monotonic() + 60
        while self.wait_for and not os.path.exists(self.wait_for) and time.monotonic() < give_up:
            time.sleep(0.01)
        if candidate_id == self.bad and self.fault:
            kind, _, value = self.fault.partition("=")
            if kind == "exit":
                sys.exit(int(value or 0))
            if kind == "chdir":
                os.chdir("/")
            if kind == "sleep":
                time.sleep(float(value))
        return np.rot90(sample.input)


class StarCandidate:
    """A fine-grained solver one of whose candidate ids is the whole-sample marker ``*``."""

    def candidates(self, task):
        return ["a", "*", "b"]

    def evaluate(self, task, sample, candidate_id, deadline):
        return np.rot90(sample.input)


class OpaqueKeys:
    """An opaque solver whose mapping has keys that are not usable candidate ids (``kind``:
    ``int`` → an integer key, ``star`` → the whole-sample marker ``*``) next to a good one."""

    def __init__(self, kind: str = "int"):
        self.kind = kind

    def solve_sample(self, task, sample, deadline):
        bad = 1 if self.kind == "int" else "*"
        return {bad: sample.input, "good": np.rot90(sample.input)}
