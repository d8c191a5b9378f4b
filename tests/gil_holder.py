"""A solver whose one unit is a C call holding the GIL to its end: CPython's regex engine
backtracking (benchmarks/re_work.py's quirk), ~0.12 s here, for the GIL probe's tests."""

from __future__ import annotations

import re

import numpy as np

#: ``(a|a)*b`` on ``a`` × N backtracks 2^N times inside one ``re`` call.
PATTERN, RUN = "(a|a)*b", 21


class RegexHolder:
    """perfkit's view: one candidate ``c000``, one backtracking match per unit."""

    def candidates(self, task):
        return ["c000"]

    def evaluate(self, task, sample, candidate, deadline):
        return np.array([[1 if re.fullmatch(PATTERN, "a" * RUN) else 0]], dtype=np.uint8)


class RegexAmongPython(RegexHolder):
    """The same held call, then as long again of Python: the GIL is held past the switch
    interval, but not to the unit's end (markdown-it-py's and arc-dsl's units: waits of 27–46 ms
    in units of 110–200 ms)."""

    def evaluate(self, task, sample, candidate, deadline):
        import time

        start = time.perf_counter()
        out = super().evaluate(task, sample, candidate, deadline)
        end = time.perf_counter() + (time.perf_counter() - start)
        while time.perf_counter() < end:
            pass
        return out
