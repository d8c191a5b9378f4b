"""A solver whose units compute beside their calling thread: ``pool`` in a child process of
multiprocessing (as python-constraint2's ParallelSolver in process mode), ``threads`` on a
thread of its own (as OpenBLAS), ``plain`` on its calling thread; for the daemon probe's tests."""

from __future__ import annotations

import multiprocessing as mp
import threading

import numpy as np


class ChildStarter:
    """perfkit's view: three candidates, each answering the sample's input unchanged."""

    def candidates(self, task):
        return ["plain", "threads", "pool"]

    def evaluate(self, task, sample, candidate, deadline):
        if candidate == "pool":  # a daemonic process may not: AssertionError before any fork
            child = mp.get_context("fork").Process(target=int)
            child.start()
            child.join()
        elif candidate == "threads":
            helper = threading.Thread(target=int)
            helper.start()
            helper.join()
        return np.asarray(sample.input)
