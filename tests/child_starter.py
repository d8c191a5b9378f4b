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


class PoolStarter:
    """One candidate, ``pool``: a ProcessPoolExecutor of the process's default start method, as
    python-constraint2's ParallelSolver(process_mode=True) makes one; it answers the start method
    its pool used, so a test sees what the solver saw."""

    def candidates(self, task):
        return ["pool"]

    def evaluate(self, task, sample, candidate, deadline):
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(1) as pool:
            pool.submit(int).result()
        method = mp.get_start_method()
        return np.full((1, 1), ["fork", "spawn", "forkserver"].index(method), dtype=np.uint8)
