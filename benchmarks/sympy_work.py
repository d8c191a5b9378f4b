"""A third-party workload with state between units: sympy's rewriting strategies as candidates.

Samples are symbolic expressions, built deterministically from ``(seed, sample index)``: a mix of
polynomials (some large), trigonometric, exp/log and rational expressions. Candidates are sympy's
rewriting strategies (``simplify``, ``factor``, ``integrate``, ...); unit (sample, candidate)
applies the strategy to the sample's expression, and its output is a 2×4 grid of the decimal
digits of a stable hash (blake2b) of ``srepr(result)``.

Nobody here wrote sympy, and it has the quirks of a real solver:

- a global cache (``sympy.core.cache``): a unit's cost depends on what ran before it in the same
  process, so strategies, backends and repeats see different costs;
- a few candidates dominate (``integrate``, ``simplify`` on the large expressions), some units run
  far past any timeout (and are stopped by the backend), memory grows with the cache;
- ``srepr`` of some results depends on the order of sets and dicts, so a candidate may answer
  differently from one process (hash seed) to another.

Run it as docs/benchmarks.md, "Session 9: sympy", does:
``PYTHONPATH=benchmarks perfkit compare --solver sympy_work:SympySolver --tasks synthetic:1x6+0 ...``
(the task's samples index the expressions; ``samples`` is how many distinct expressions there are).
"""

from __future__ import annotations

import hashlib
import random

import numpy as np
import sympy
from sympy import (Rational, apart, cancel, collect, cos, diff, exp, expand, expand_trig, factor,
                   integrate, log, logcombine, nsimplify, powsimp, radsimp, ratsimp, series,
                   simplify, sin, sqrt, srepr, symbols, tan, together, trigsimp)

X, Y = symbols("x y", positive=True)

#: The candidates, in the order the ``candidates`` option takes the first N of them.
STRATEGIES = {
    "expand": expand,
    "factor": factor,
    "cancel": cancel,
    "together": together,
    "ratsimp": ratsimp,
    "radsimp": radsimp,
    "powsimp": powsimp,
    "trigsimp": trigsimp,
    "expand_trig": expand_trig,
    "logcombine": lambda e: logcombine(e, force=True),
    "collect": lambda e: collect(expand(e), X),
    "apart": lambda e: apart(cancel(e), X) if e.is_rational_function(X) else e,
    "diff": lambda e: diff(e, X, 2),
    "series": lambda e: series(e, X, 1, 4).removeO(),
    "nsimplify": lambda e: nsimplify(e.subs(Y, Rational(1, 3)).evalf(12)),
    "simplify": simplify,
    "integrate": lambda e: integrate(e, X),
}


def expression(seed: int, index: int) -> sympy.Expr:
    """The expression of sample ``index``: one of five kinds, its shape drawn from (seed, index)."""
    rng = random.Random(seed * 1_000_003 + index)
    kind = index % 5
    a, b, c = (rng.randint(1, 5) for _ in range(3))
    if kind == 0:  # polynomial, a product of binomials
        return sympy.Mul(*[(X + rng.randint(-3, 3) * Y + rng.randint(1, 4)) for _ in range(rng.randint(2, 4))])
    if kind == 1:  # trigonometric
        return sin(a * X) ** 2 + cos(a * X) ** 2 + tan(X) * cos(X) + sin(X + b * Y) ** c
    if kind == 2:  # exp / log
        return exp(a * X) * log(X ** b * Y) + exp(X) ** c / (1 + exp(X)) + log(X * Y) - log(X)
    if kind == 3:  # rational function
        num = sympy.Mul(*[(X - rng.randint(-4, 4)) for _ in range(rng.randint(2, 4))])
        den = sympy.Mul(*[(X + rng.randint(1, 4)) * (X - Y) for _ in range(rng.randint(1, 3))])
        return num / den + a / (X + b) + sqrt(X) / (sqrt(X) + c)
    # large: a power of a sum, the cost grows fast with the exponent
    return (X + Y + sqrt(X) + rng.randint(1, 3)) ** rng.randint(5, 9) + sin(X) * (X + Y) ** a


def grid(result: object) -> np.ndarray:
    """A 2×4 grid of the digits of a stable hash of ``srepr(result)``."""
    digits = int.from_bytes(hashlib.blake2b(srepr(result).encode(), digest_size=8).digest(), "big")
    return np.array([int(d) for d in f"{digits:020d}"[:8]], dtype=np.uint8).reshape(2, 4)


class SympySolver:
    """perfkit's view of the workload: the first ``candidates`` of STRATEGIES, ``samples``
    distinct expressions (a task's sample ``i`` is expression ``i % samples``)."""

    def __init__(self, samples: int = 10, candidates: int = len(STRATEGIES), seed: int = 0):
        if not 1 <= int(candidates) <= len(STRATEGIES):
            raise ValueError(f"candidates must be 1..{len(STRATEGIES)}, got {candidates}")
        self.ids = list(STRATEGIES)[: int(candidates)]
        self.expressions = [expression(int(seed), i) for i in range(int(samples))]

    def candidates(self, task):
        return self.ids

    def evaluate(self, task, sample, candidate, deadline):
        expr = self.expressions[sample.index % len(self.expressions)]
        return grid(STRATEGIES[candidate](expr))
