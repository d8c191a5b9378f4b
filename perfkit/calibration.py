"""A fixed calibration workload, measured with every run.

The same pure-Python loop (integer arithmetic, dict and list work: the kind of code a
candidate-search solver spends its time in) is timed in the parent before and after each run.
Its CPU time is a yardstick of this machine's single-core speed at that moment, so a figure
divided by it can be compared with a baseline recorded on another machine or on a noisier day
(``perfkit gate`` normalises by it). How well that works is measured in docs/benchmarks.md.
"""

from __future__ import annotations

import time

#: Loop iterations: about 20 ms of CPU on the reference 2-core machine.
ITERATIONS = 60_000


def _workload(n: int) -> int:
    acc, table, items = 0, {}, []
    for i in range(n):
        acc = (acc * 31 + i) % 1_000_003
        table[i & 255] = acc
        items.append(acc & 7)
        if len(items) > 64:
            items.clear()
    return acc + len(table)


def measure(rounds: int = 3) -> float:
    """The calibration workload's CPU seconds on this thread: the minimum of ``rounds`` runs
    (the minimum is the least disturbed by other load)."""
    best = float("inf")
    for _ in range(rounds):
        t0 = time.thread_time()
        _workload(ITERATIONS)
        best = min(best, time.thread_time() - t0)
    return best
