"""A fixed calibration workload, measured with every run.

The same pure-Python loop (integer arithmetic, dict and list work: the kind of code a
candidate-search solver spends its time in) is timed in the parent before and after each run.
Its CPU time is a yardstick of this machine's single-core speed at that moment, so a figure
divided by it can be compared with a baseline recorded on another machine or on a noisier day
(``perfkit gate`` normalises by it). How well that works is measured in docs/benchmarks.md.
"""

from __future__ import annotations

import time


def _integers(n: int) -> int:
    acc = 0
    for i in range(n):
        acc = (acc * 31 + i) % 1_000_003
    return acc


def _dicts(n: int) -> int:
    d: dict[int, int] = {}
    for i in range(n):
        d[i % 509] = d.get((i * 7) % 509, 0) + i
    return len(d)


def _strings(n: int) -> int:
    total = 0
    for i in range(n):
        total += len(f"c{i:04d}>rot{i % 4}".split(">")[1])
    return total


def _sorting(n: int) -> int:
    xs = [(i * 7919) % 10007 for i in range(n)]
    for _ in range(3):
        xs.sort()
        xs.reverse()
    return xs[0]


def _floats(n: int) -> float:
    x = 0.0
    for i in range(n):
        x = x * 0.999 + (i % 7) * 0.5
    return x


#: (kernel, iterations): about 9 ms of CPU in all on the reference 2-core machine. Several
#: kinds of work, so that no single micro-architectural effect decides the figure.
KERNELS = ((_integers, 12_000), (_dicts, 8_000), (_strings, 4_000), (_sorting, 20_000), (_floats, 12_000))


def measure(rounds: int = 3) -> float:
    """The calibration workload's CPU seconds on this thread: per kernel the minimum of
    ``rounds`` runs (the least disturbed), summed."""
    total = 0.0
    for kernel, n in KERNELS:
        best = float("inf")
        for _ in range(rounds):
            t0 = time.thread_time()
            kernel(n)
            best = min(best, time.thread_time() - t0)
        total += best
    return total


def cpu_per_pass(start: float, stop: float, scale: float = 0.1) -> float:
    """CPU seconds per pass of the calibration workload (each kernel at ``scale`` of its
    iterations: ~0.6 ms a pass), passes run one after another on this thread from monotonic
    time ``start`` until ``stop``. Several processes given the same window run at once, which is
    how the co-run factor is measured (perfkit/orchestration/calibration.py): a fixed window
    rather than a fixed amount of work, so that no process runs its tail alone."""
    time.sleep(max(0.0, start - time.monotonic()))
    passes, t0 = 0, time.thread_time()
    while time.monotonic() < stop or not passes:
        for kernel, n in KERNELS:
            kernel(max(1, int(n * scale)))
        passes += 1
    return (time.thread_time() - t0) / passes
