"""How unevenly the GIL deals time: the chance that a unit sharing it with other threads is
still running at its timeout.

The simulator's cores are a fluid (processor sharing, :mod:`.simulator`): a unit among ``n``
runnable threads gets ``1 / n`` of the GIL, so its wall is ``n ×`` its CPU. That is the mean,
and it is what was measured (docs/benchmarks.md, section 7: the seed's threads). But CPython
hands the GIL over in switch intervals (``sys.getswitchinterval()``, 5 ms) to whichever waiting
thread the OS wakes first, not in turn: each interval may go to any of the ``n`` runnable
threads. A unit that needs ``k = CPU / interval`` intervals then ends after a negative-binomial
number of intervals — ``k`` successes, each interval a success with probability ``1 / n``;
mean ``k × n`` intervals, the fluid's wall — and some units wait far longer than the mean. With
a timeout ``T``, a unit times out when fewer than ``k`` of the ``T / interval`` intervals reach
it: 4 threads and 10 ms units under a 60 ms timeout (the seed's Phase 4) lose ~15 % of their
units, where the mean wall (40 ms) fits.

A second cost of sharing the GIL is paid per hand-over, not per interval: a solver whose units
release the GIL (numpy calls, GPU calls, hashing, I/O) hands it to a waiting thread at every
release and waits to take it back; alone on its thread that costs nothing, among ``n`` runnable
threads it inflates each unit's thread CPU (docs/benchmarks.md, section 7, "Threads on the ARC
solver": ×1.6 at 2 threads, ×2.0 at 4 on the ARC solver; ×1.0 for pure-Python units). Nothing
in a sequential run shows how often a unit releases the GIL, so it is measured once per
(machine, solver) by replaying a sample of the reference's units on 1 and on k threads
(perfkit/orchestration/gil_probe.py): :class:`Inflation`, which the simulator applies to every
piece of CPU work sharing the GIL.

A C call that holds the GIL to its end (CPython's ``re`` matcher) takes no turns at all: the
other threads, and the thread backend's watcher, wait until it returns, so nothing can give
such a unit up at its deadline. The probe records how long the solver's calls hold the GIL at
once (:attr:`Inflation.hold_s`), and the simulator runs such a solver's thread units to their
end (``simulate(gil_held=...)``). What such a unit costs past its deadline no run that stops it
records, so the probe also runs the reference's stopped units alone, to their end or a cap
(:attr:`Inflation.stopped`), and the workload takes their cost from it.

Processes are not modelled so: the OS scheduler (CFS/EEVDF) is fair, each core runs next the
runnable process that has received least, so a process's units get their share in turn and the
fluid's wall is the wall (measured: section 7, the seed's processes, no timeout at 2× stretch).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple, Optional

from perfkit.analysis.metrics.gil import SWITCH_INTERVAL_S

#: A lane of the GIL probe's 2 threads waits for the GIL, while the others give it up in turns,
#: at most an interval of each of the two other threads (the other lane, perfkit's collecting
#: thread), and a woken thread as long again for a core: 4 intervals (pure-Python units of 2 ms
#: measured 12 ms). A longer wait is another thread holding it in a call (re_work: 67 ms).
HELD_AFTER_S = 4 * SWITCH_INTERVAL_S
#: A wait past :data:`HELD_AFTER_S` is the GIL held at once; the unit is one call holding it to its
#: end, so that nothing gives it up at its deadline, only when the wait covers at least this share
#: of the unit's own wall beside it: re_work's backtracking matches are one call each (the wait
#: 1.00 of the unit), where markdown-it-py's and arc-dsl's pure-Python units showed waits of
#: 27–46 ms, 0.23–0.29 of their unit, and their thread runs gave 11–130 units up a run
#: (docs/benchmarks.md "Session 16: predict's stop rule measured").
HELD_SHARE = 0.75


def late_probability(cpu_s: float, wait_s: float, timeout_s: float, share: float,
                     interval_s: float = SWITCH_INTERVAL_S) -> float:
    """Probability that a unit of ``cpu_s`` seconds of Python CPU (on the target machine) plus
    ``wait_s`` seconds off the CPU, getting ``share`` of the GIL on average (1 / the runnable
    threads), is still running at ``timeout_s`` seconds: fewer than ``cpu_s / interval_s`` of
    the ``(timeout_s - wait_s) / interval_s`` switch intervals go to it, each with probability
    ``share`` (see the module docstring)."""
    if not math.isfinite(timeout_s):
        return 0.0
    window_s = timeout_s - wait_s
    if cpu_s <= 0:
        return 0.0 if window_s > 0 else 1.0
    if window_s <= cpu_s:
        return 1.0
    if share >= 1.0:
        return 0.0
    need = cpu_s / interval_s
    # failures (intervals to other threads) the unit can afford before its last interval
    spare = window_s / interval_s - need
    from scipy.stats import nbinom  # imported here: perfkit/analysis/statistics.py says why

    return float(nbinom.sf(spare, need, share))


class StoppedCost(NamedTuple):
    """A unit the reference stopped at its deadline, run alone by the GIL probe to its end or to
    the probe's cap (seconds of the probe's process CPU and wall)."""

    task_id: str
    split: str
    index: int
    candidate: str
    cpu_s: float
    wall_s: float
    #: Stopped at the probe's cap: its cost is still only a lower bound.
    capped: bool

    @property
    def unit(self) -> tuple[str, str, int, str]:
        return (self.task_id, self.split, self.index, self.candidate)


@dataclass(frozen=True)
class Inflation:
    """A solver's CPU per unit on ``n`` runnable threads of one process, relative to one thread
    (the GIL hand-over cost, see the module docstring), measured at a few thread counts.

    ``factors``: ``(threads, factor)`` pairs, sorted by threads; one thread is 1.0 by definition.
    ``source``: how it was obtained (the probe's record: solver, when, units replayed), for reports.
    """

    factors: tuple[tuple[int, float], ...] = ((1, 1.0),)
    source: str = ""
    #: The units' own thread CPU at each count, relative to one thread (for the reports): larger
    #: than ``factors``, part of a hand-over (a woken thread finding the GIL taken) runs beside
    #: the GIL, on another core, and does not lengthen the GIL's work.
    cpu_factors: tuple[tuple[int, float], ...] = ()
    #: The longest a lane of the probe's 2 threads waited for the GIL while it had work (the median
    #: over its rounds, perfkit/orchestration/gil_probe.py ``longest_wait_s``), seconds: how long
    #: the solver's calls hold the GIL at once. None: not measured (a probe stored before it was).
    hold_s: Optional[float] = None
    #: The reference's stopped units the probe ran alone (its first ones in the run's order, while
    #: :attr:`stopped_budget_s` lasted), each to its end or :attr:`stopped_cap_s`. None: not
    #: measured (a probe stored before it was, or the pass failed).
    stopped: Optional[tuple[StoppedCost, ...]] = None
    #: The most wall seconds the probe gave one stopped unit, and all of them.
    stopped_cap_s: float = 0.0
    stopped_budget_s: float = 0.0
    #: The wall of the unit beside which :attr:`hold_s` was measured (seconds; None: a probe
    #: stored before it recorded it).
    hold_unit_s: Optional[float] = None

    def __post_init__(self) -> None:
        for name in ("factors", "cpu_factors"):
            given = getattr(self, name)
            points = {1: 1.0, **{int(n): float(f) for n, f in given}} if given or name == "factors" else {}
            if any(n < 1 or not (math.isfinite(f) and f > 0) for n, f in points.items()):
                raise ValueError(f"inflation factors must be positive at thread counts >= 1: {given}")
            # a hand-over can only cost: a factor below 1 (threads running Python faster than one
            # core) is noise, another process taking the core during the one-thread pass (06:19,
            # markdown-it-py: ×0.90 next to 1.4 busy cores turned "no faster" into 1.05×)
            object.__setattr__(self, name, tuple(sorted((n, max(1.0, f)) for n, f in points.items())))

    @property
    def largest_threads(self) -> int:
        """The most runnable threads measured: beyond them, the last factor is held."""
        return self.factors[-1][0]

    @property
    def holds_gil(self) -> Optional[bool]:
        """Whether each of the solver's units is one call holding the GIL to its end: the longest
        wait is past the switch interval (:data:`HELD_AFTER_S`) and covers :data:`HELD_SHARE` of
        the unit beside it (a call among Python code lets the thread backend's watcher in between);
        None when not measured (a long wait beside a unit whose wall a probe stored before did not record)."""
        if self.hold_s is None or self.hold_s <= HELD_AFTER_S:
            return None if self.hold_s is None else False
        return None if self.hold_unit_s is None else self.hold_s >= HELD_SHARE * self.hold_unit_s

    @property
    def neutral(self) -> bool:
        """Whether every factor is exactly 1 (the simulator then runs as without it)."""
        return all(f == 1.0 for _, f in self.factors)

    def at(self, threads: float) -> float:
        """The factor at ``threads`` runnable threads: 1 at one thread or fewer, linear between
        measured counts, the largest count's factor held beyond it."""
        points = self.factors
        if threads <= points[0][0]:
            return points[0][1]
        for (n0, f0), (n1, f1) in zip(points, points[1:]):
            if threads <= n1:
                return f0 + (f1 - f0) * (threads - n0) / (n1 - n0)
        return points[-1][1]

    def of_share(self, share: float) -> float:
        """The factor a unit paid, from the share of a core it got on average (``1 / (n ×
        f(n))`` among ``n`` runnable threads): ``n`` found by a few fixed-point steps."""
        if share >= 1.0 or share <= 0.0:
            return 1.0
        threads = 1.0 / share
        for _ in range(32):
            threads = 1.0 / (share * self.at(threads))
        return self.at(threads)

    def to_record(self) -> dict[str, Any]:
        """JSON-ready: ``{"factors": {"2": 1.6, ...}, "source": ...}``."""
        return {"factors": {str(n): f for n, f in self.factors}, "source": self.source,
                "cpu_factors": {str(n): f for n, f in self.cpu_factors}, "hold_s": self.hold_s,
                "stopped": None if self.stopped is None else [list(c) for c in self.stopped],
                "stopped_cap_s": self.stopped_cap_s, "stopped_budget_s": self.stopped_budget_s,
                "hold_unit_s": self.hold_unit_s}

    @classmethod
    def from_record(cls, record: Optional[dict[str, Any]]) -> "Inflation":
        """The inverse of :meth:`to_record` (None → no inflation)."""
        if not record:
            return cls()
        hold, stopped, unit = record.get("hold_s"), record.get("stopped"), record.get("hold_unit_s")
        return cls(tuple((int(n), float(f)) for n, f in record["factors"].items()), str(record.get("source", "")),
                   tuple((int(n), float(f)) for n, f in (record.get("cpu_factors") or {}).items()),
                   None if hold is None else float(hold),
                   None if stopped is None else tuple(StoppedCost(str(t), str(s), int(i), str(c), float(cpu),
                                                                  float(wall), bool(capped))
                                                      for t, s, i, c, cpu, wall, capped in stopped),
                   float(record.get("stopped_cap_s") or 0.0), float(record.get("stopped_budget_s") or 0.0),
                   None if unit is None else float(unit))

    def describe(self, threads: int) -> str:
        """``with 4 threads each unit's CPU grows ×1.9 in hand-overs, the GIL's work ×1.7`` (and,
        past the largest count measured, that the last factor is held)."""
        held = (f" (held from {self.largest_threads}, the most threads the probe measured)"
                if threads > self.largest_threads else "")
        work = f"the GIL's work ×{self.at(threads):.1f}{held}"
        cpu = Inflation(self.cpu_factors).at(threads) if self.cpu_factors else 1.0
        if f"{cpu:.1f}" == "1.0":  # no growth to speak of (a pure-Python solver hands over little): not shown
            return f"with {threads} threads {work} in hand-overs"
        return f"with {threads} threads each unit's CPU grows ×{cpu:.1f} in hand-overs, {work}"
