"""A third-party workload whose CPU runs outside the thread that calls it: dense linear algebra
on OpenBLAS's own threads (numpy's wheel bundles OpenBLAS, written by nobody here), and, on
request, an external program in a child process (``gzip``).

Unit (sample s, candidate ``la<k>``) solves a seeded ``size`` × ``size`` linear system with
``np.linalg.solve`` and multiplies two such matrices (``a @ b``): OpenBLAS splits both over its
thread pool (as many threads as cores unless ``OPENBLAS_NUM_THREADS`` says otherwise), so the
calling thread does a share of the work and the pool's other threads the rest. Candidates
``gz<k>`` (``--solver-opt gzip=N``) pipe ``gzip_kb`` KiB of seeded bytes through ``gzip -6`` with
``subprocess.run``: their CPU is the child's, the calling thread only waits. Each unit returns a
1×1 grid (a digit of its result), the same on every run.

Run it as docs/benchmarks.md, "Session 11: units whose CPU runs on other threads", does::

    PYTHONPATH=benchmarks perfkit compare --solver blas_work:BlasSolver --tasks synthetic:1x4+0 \\
        --strategies sequential,candidate-parallel,sample-parallel --backends process,thread \\
        --workers 2 --repeats 2 --allow-differences
    OPENBLAS_NUM_THREADS=1 PYTHONPATH=benchmarks perfkit compare ...   # the same, one BLAS thread
"""

from __future__ import annotations

import subprocess

import numpy as np

#: Side of each unit's matrices: ~15 ms of CPU per unit here, split over OpenBLAS's threads.
SIZE = 320
CANDIDATES = 12


class BlasSolver:
    """perfkit's view: candidates ``la00``… (linear algebra) and ``gz00``… (a gzip child)."""

    def __init__(self, size: int = SIZE, candidates: int = CANDIDATES, gzip: int = 0, gzip_kb: int = 4096):
        self.size, self.gzip_kb = int(size), int(gzip_kb)
        self.ids = [f"la{i:02d}" for i in range(int(candidates))] + [f"gz{i:02d}" for i in range(int(gzip))]

    def candidates(self, task):
        return self.ids

    def evaluate(self, task, sample, candidate, deadline):
        seed = sample.index * 1000 + int(candidate[2:])
        if candidate.startswith("gz"):
            return compress(self.gzip_kb, seed)
        return solve(self.size, seed)


def solve(size: int, seed: int) -> np.ndarray:
    """Solve a seeded ``size`` × ``size`` system and multiply two matrices; a 1×1 grid."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((size, size)) + size * np.eye(size)  # well conditioned: same digits everywhere
    b = rng.standard_normal((size, size))
    x = np.linalg.solve(a, b)
    y = x @ b
    return np.array([[int(abs(round(float(np.trace(y)), 3)) * 1000) % 10]], dtype=np.uint8)


def compress(kb: int, seed: int) -> np.ndarray:
    """``kb`` KiB of seeded, half-compressible bytes through ``gzip -6``; a 1×1 grid."""
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 16, kb * 1024, dtype=np.uint8).tobytes()
    out = subprocess.run(["gzip", "-6", "-c"], input=data, stdout=subprocess.PIPE, check=True).stdout
    return np.array([[len(out) % 10]], dtype=np.uint8)
