"""A worker whose units, for a stretch of a run or the whole of it, took more (or less) CPU against
the same units under sequential than the run's other workers' units over the same time: what is
seen, with its numbers, and of a cause only what the comparison measured (markdown-it,
candidate-parallel/process×2: pid-4147 ran its units at 1.43× their sequential CPU, pid-4146 at
0.88×, through a whole run, and 1.31× against 0.95× in the next repeat: docs/benchmarks.md
"Session 14: carried-state's unexplained units", "Session 15: a worker slower than its units'
reference" and "Session 17: a slower core, not a slower worker")."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

import numpy as np
import pandas as pd

from perfkit.analysis.findings.finding import EVIDENCE_ROWS, Finding, times_range, unit_costs
from perfkit.analysis.findings.state import carried_units
from perfkit.analysis.metrics.neighbours import NEIGHBOURS, neighbour_level
from perfkit.analysis.metrics.records import KEY
from perfkit.analysis.text import count

if TYPE_CHECKING:  # pragma: no cover
    from perfkit.analysis.comparison import Comparison


#: A worker stands out when its units' median CPU over their sequential CPU is this many times
#: the median of the run's other workers' units over the same span (or theirs this many times
#: its). Measured on this machine (docs/benchmarks.md "Session 15: a worker slower than its units'
#: reference"): over 270 workers of 135 stored parallel runs (the main job, markdown-it, arc-dsl,
#: networkx, sympy; process and thread ×2; 20–15 000 units a worker), workers alike read
#: 0.84–1.20× the others (thread ×2 with 22 units; process up to 1.13×); markdown-it's slow worker
#: read 1.38–1.62× and the main job's, slow in one repeat of three, 1.24–1.72×.
WORKER_RATIO = 1.25
#: A stretch shorter than this says nothing of its worker: the width of carried-state's
#: neighbourhood (metrics/neighbours.py ``NEIGHBOURS`` each side), so what stands out here is wider than
#: any unit carried-state can name.
WORKER_MIN_UNITS = 2 * NEIGHBOURS
#: The chance that a worker alike the others puts as many of its units beyond their median (a
#: sign test): one in a thousand, for the tens of workers one comparison judges.
WORKER_SIGN_P = 0.001
#: A stretch matters when its units' CPU beyond what they would have taken at the other workers'
#: ratio (short of it, for a faster worker) is at least this share of all the run's comparable
#: unit CPU. Measured (same section) on 13 compares of the main job (117 runs): one-worker bursts
#: (1.3–2.4× for 10–250 ms of a 0.4–0.6 s run, 20–3 000 units of ~15 µs) came to 0.0–10.2 % of
#: their run's unit CPU and a worker 1.7× throughout to 12.6–12.7 %; 6 runs reached this share,
#: never two repeats of one group. markdown-it's slow worker came to 11 % and 13 %, in both repeats.
WORKER_EXTRA_SHARE = 0.06
#: The share of a worker's units that the same worker ran again in the other repeats above which
#: the repeats handed it the same units. A strategy that hands units out in a fixed order gives
#: them all again; chunks go to whichever worker is free, and with two workers about half come
#: back by chance (markdown-it's slow worker ran 60 of its 154 units again in the next repeat).
SAME_UNITS_SHARE = 0.9


@dataclass(frozen=True)
class WorkerStretch:
    """One worker's stretch of one run that stood out (:func:`worker_stretches`). Ratios are
    medians of each unit's CPU over its median CPU under sequential; times are seconds from
    the run's first unit's start."""

    run_id: str
    repeat: int
    worker: str
    dearer: bool
    units: int
    ratio: float
    #: The other workers' units that started within the stretch, and the ratio of the other worker
    #: closest to this one's.
    others: int
    others_ratio: float
    #: Of the stretch's units, how many were beyond the others' ratio (above it when dearer).
    beyond: int
    start_s: float
    end_s: float
    run_s: float
    #: The stretch's CPU beyond (below: short of) what its units would have taken at the others'
    #: ratio, and all the run's comparable units' CPU (seconds).
    extra_cpu_s: float
    run_cpu_s: float
    #: Whether the stretch holds every unit of the worker that ended ok.
    whole: bool
    #: How many workers the run's units ran on.
    workers: int
    #: Every unit the worker ran in the run (its key), to compare repeats.
    worker_units: frozenset


def worker_stretches(c: "Comparison", run, left_out: frozenset = frozenset()) -> list[WorkerStretch]:
    """The stretches of ``run`` in which one worker's units stood out from the others' (units of
    ``left_out``, keys, not counted). A worker's level at a unit is the median ratio of its
    neighbours on it (metrics/neighbours.py ``neighbour_level``); its stretch is its longest run of units
    whose level is :data:`WORKER_RATIO` beyond the others' median (gaps of up to ``NEIGHBOURS``
    units bridged), kept when it holds :data:`WORKER_MIN_UNITS` units, its median is
    :data:`WORKER_RATIO` beyond that of the other workers' units started within it, a sign
    test puts it beyond chance (:data:`WORKER_SIGN_P`) and the CPU it took beyond (short of) the
    others' pace is :data:`WORKER_EXTRA_SHARE` of the run's. With two workers only the dearer one is
    named: the cheaper is its mirror."""
    t = unit_costs(c, run)
    t = t[t["status"].eq("ok")]
    if left_out:
        t = t[~pd.MultiIndex.from_frame(t[KEY]).isin(list(left_out))]
    if t.empty or t["worker"].nunique() < 2:
        return []
    # the numbers only from here: a run of the main job has 10⁴ units, and its keys are strings
    t = t[["worker", "position", "cpu_s", "ref_mid_s", "started", "ended"]]
    ratio = t["cpu_s"] / t["ref_mid_s"]
    # each worker as an integer code (``code``): comparing worker strings cost more than the rule
    t = t.assign(ratio=ratio, level=neighbour_level(ratio, t["position"], t["worker"]),
                 code=pd.factorize(t["worker"])[0])
    first, last = float(run.units["started"].min()), float(run.units["ended"].max())
    workers, run_cpu_s = int(t["worker"].nunique()), float(t["cpu_s"].sum())
    out = []
    for worker, mine in t.groupby("worker", sort=True):
        if len(mine) < WORKER_MIN_UNITS:
            continue
        others = t[t["code"].to_numpy() != mine["code"].iat[0]]
        for dearer in (True,) if workers == 2 else (True, False):
            found = _stretch(mine.sort_values("position"), others, dearer)
            if found is None:
                continue
            part, beside, theirs, beyond = found
            extra = float(part["cpu_s"].sum() - part["ref_mid_s"].sum() * theirs)
            if abs(extra) < WORKER_EXTRA_SHARE * run_cpu_s:
                continue
            out.append(WorkerStretch(
                run.run_id, run.config.repeat, str(worker), dearer, len(part), float(part["ratio"].median()),
                len(beside), theirs, beyond, float(part["started"].min()) - first,
                float(part["ended"].max()) - first, last - first, extra, run_cpu_s, len(part) == len(mine), workers,
                frozenset(run.units.loc[run.units["worker"].eq(worker), KEY].itertuples(index=False, name=None))))
    return out


def _stretch(mine: pd.DataFrame, others: pd.DataFrame, dearer: bool) -> Optional[tuple]:
    """``(its units in the stretch, the others' units started within it, their ratio, how many of
    its units were beyond it)``, or None when no stretch of ``mine`` stands out. The others' ratio
    is that of the other worker closest to it (of those with ``WORKER_MIN_UNITS // 2`` units
    then): a worker must stand out from each, not from a pool that mixes a slow and a fast one."""
    base = _closest(others, dearer)
    level = mine["level"].to_numpy(float)
    marked = level >= WORKER_RATIO * base if dearer else level * WORKER_RATIO <= base
    span = _longest(marked, NEIGHBOURS)
    if span is None or span[1] - span[0] < WORKER_MIN_UNITS:
        return None
    part = mine.iloc[span[0]:span[1]]
    beside = others[others["started"].between(part["started"].min(), part["ended"].max())]
    theirs = _closest(beside, dearer)
    ratio = float(part["ratio"].median())
    if not (ratio >= WORKER_RATIO * theirs if dearer else ratio * WORKER_RATIO <= theirs):
        return None  # (NaN when the others ran too little then to compare with)
    beyond = int((part["ratio"] > theirs).sum() if dearer else (part["ratio"] < theirs).sum())
    if sign_test_p(beyond, len(part)) >= WORKER_SIGN_P:
        return None
    return part, beside, theirs, beyond


def _closest(others: pd.DataFrame, dearer: bool) -> float:
    """The highest (``dearer``) or lowest median ratio of the workers (``code``) of ``others``
    with ``WORKER_MIN_UNITS // 2`` units or more; NaN when none has. One sort, not a groupby:
    it is asked twice for every worker of every run."""
    codes, ratio = others["code"].to_numpy(), others["ratio"].to_numpy(float)
    by = np.lexsort((ratio, codes))  # by worker, then by ratio, NaN last
    codes, ratio = codes[by], ratio[by]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]]) if len(codes) else np.array([], int)
    sizes = np.diff(np.r_[starts, len(codes)])
    have = np.add.reduceat(~np.isnan(ratio), starts) if len(starts) else np.array([], int)
    low, high = ratio[starts + np.maximum(have - 1, 0) // 2], ratio[starts + have // 2]
    medians = np.where(have > 0, (low + high) / 2, np.nan)[sizes >= WORKER_MIN_UNITS // 2]
    medians = medians[~np.isnan(medians)]
    return float(medians.max() if dearer else medians.min()) if len(medians) else float("nan")


def _longest(marked: np.ndarray, gap: int) -> Optional[tuple[int, int]]:
    """``(first, past last)`` index of the longest run of True in ``marked``, runs apart by no
    more than ``gap`` False bridged; None when nothing is marked."""
    at = np.flatnonzero(marked)
    if not len(at):
        return None
    breaks = np.flatnonzero(np.diff(at) > gap + 1)
    starts, ends = np.r_[at[0], at[breaks + 1]], np.r_[at[breaks], at[-1]] + 1
    best = int(np.argmax(ends - starts))
    return int(starts[best]), int(ends[best])


def sign_test_p(beyond: int, n: int) -> float:
    """The chance of ``beyond`` or more of ``n`` units on one side of a median that splits them
    evenly (one-sided sign test, normal approximation with continuity correction)."""
    if n == 0:
        return 1.0
    z = (beyond - 0.5 - n / 2) / (math.sqrt(n) / 2)
    return 0.5 * math.erfc(z / math.sqrt(2))


def machine_speed(c: "Comparison") -> Optional[tuple[float, float]]:
    """The fastest and slowest readings of the calibration workload (a fixed loop timed around
    each run, perfkit/runner/calibration.py: seconds) over every run of the comparison; None
    when fewer than two runs recorded it."""
    readings = [float(r.summary.calibration_cpu_s) for r in c.runs if r.summary.calibration_cpu_s]
    return (min(readings), max(readings)) if len(readings) >= 2 else None


def uneven_workers(c: "Comparison") -> list[Finding]:
    """Groups in every run of which a worker's units stood out from the other workers' for a
    stretch or the whole run (:func:`worker_stretches`), in the same direction, leaving out the
    units carried-state names (what ran before them on their worker explains them). One run
    alone is judged alone, and the sentence says so."""
    if c.reference is None:
        return []
    ref_group = c.figure_of(c.reference).group
    out, speed = [], machine_speed(c)
    for group, figs in c.by_group().items():
        if group == ref_group or max(f.slots for f in figs) < 2:
            continue
        named = frozenset(k for hits in carried_units(c, {}, only=group).values() for _g, k, _r in hits)
        found = [worker_stretches(c, c.run_of(f), named) for f in figs]
        for dearer in (True, False):
            per_run = [[s for s in stretches if s.dearer is dearer] for stretches in found]
            if all(per_run):
                out.append(_finding(figs[0].name, figs[0].strategy,
                                    [max(ss, key=lambda s: s.units) for ss in per_run], dearer, speed))
    return out


def _finding(name: str, strategy: str, stretches: list[WorkerStretch], dearer: bool,
             speed: Optional[tuple[float, float]] = None) -> Finding:
    one = len(stretches) == 1
    ws = list(dict.fromkeys(s.worker for s in stretches))
    two = all(s.workers == 2 for s in stretches)
    others = "the other worker" if two else "the run's other workers"
    when = "in its one run" if one else f"in {'both' if len(stretches) == 2 else 'all ' + str(len(stretches))} runs"
    text = (f"One worker of {name} ran its units at {times_range([s.ratio for s in stretches])} their CPU under "
            f"sequential (median) while {others} ran theirs at {times_range([s.others_ratio for s in stretches])}"
            f"{'' if two else ' at most' if dearer else ' at least'} "
            f"over the same time, {when}: {', '.join(ws)}, {_spans(stretches)}. {_repeats(strategy, stretches)} "
            f"{_cause(stretches, dearer, speed)}")
    side = "above" if dearer else "below"
    ev = tuple(
        f"{s.run_id}: {s.worker} {count(s.units, 'unit')} at {s.ratio:.2f}× ({s.beyond} {side} "
        f"{'the other worker' if two else 'the closest other worker'}'s median), {_span(s)}; {others} "
        f"{count(s.others, 'unit')} at {s.others_ratio:.2f}×{'' if two else ' (the closest)'} over the same time"
        for s in stretches)
    return Finding("uneven-workers", "warning", name, text, ev[:EVIDENCE_ROWS])


def _cause(stretches: list[WorkerStretch], dearer: bool, speed: Optional[tuple[float, float]]) -> str:
    """What the comparison measured of the one cause found so far (docs/benchmarks.md "Session 17"):
    on this 2-vCPU virtual machine one core at a time ran 1.3–2.0× slower than the other for 0.2 s
    or more, on whichever of two pinned workers held it, and a fixed loop slowed alike; the
    processes' string hash seeds, start method (memory layout) and start order moved the pace by
    under 3 %. Which core each worker ran on is not recorded, so the calibration's spread over the
    comparison's runs is what can be said: the machine's speed changed, or did not, as much as
    the workers differ."""
    unmeasured = f"What made it {'slower' if dearer else 'faster'} was not measured."
    if speed is None:
        return unmeasured
    low, high = speed
    gaps = [s.ratio / s.others_ratio if dearer else s.others_ratio / s.ratio for s in stretches]
    seen = (f"a fixed workload timed around each run of the comparison (the calibration) took "
            f"{low * 1e3:.2f}–{high * 1e3:.2f} ms ({high / low:.2f}× apart; the workers' paces "
            f"{times_range(gaps)} apart)")
    if high < max(gaps) * low:  # a 1.3× change of speed does not set workers 3× apart
        return f"The machine's single-core speed did not change as much around the runs: {seen}. {unmeasured}"
    return (f"The machine's single-core speed changed as much during the comparison: {seen}. One core running "
            f"{'slower' if dearer else 'faster'} than the other for a while sets the pace of the worker running on "
            f"it, which would show like this; which core each worker ran on was not recorded.")


def _repeats(strategy: str, stretches: list[WorkerStretch]) -> str:
    """Whether the repeats ran the same units on that worker, and what that leaves untold."""
    if len(stretches) == 1:
        return "One run cannot say whether it recurs."
    first = stretches[0].worker_units
    share = min(len(first & s.worker_units) for s in stretches[1:]) / max(len(first), 1)
    same = len({s.worker for s in stretches}) == 1
    who = f"the same worker ({stretches[0].worker})" if same else "a different worker each run"
    if share >= SAME_UNITS_SHARE:
        return (f"It was {who}, running the same units ({share:.0%} of them in common): {strategy} hands "
                f"out units alike in every repeat, so this does not tell a worker slower than the others from "
                f"state those units build up on it, more than {NEIGHBOURS} units in a row alike (carried-state "
                f"names a unit only beyond its neighbours).")
    return (f"It was {who}, and the units did not repeat on it ({share:.0%} of them in common): what recurred "
            f"is the {'worker' if same else 'pace of one worker'}, not its units.")


def _span(s: WorkerStretch) -> str:
    """``the whole run (0.00–1.41 s of 1.43 s)`` or ``0.00–0.40 s of 1.61 s``."""
    span = f"{s.start_s:.2f}–{s.end_s:.2f} s of {s.run_s:.2f} s"
    return f"the whole run ({span})" if s.whole else span


def _spans(stretches: list[WorkerStretch]) -> str:
    """``38 units over the whole run in r0 and 45 over 0.03–1.33 s of 1.61 s in r1``."""
    parts = [f"{s.units if i else count(s.units, 'unit')} over {'the whole run' if s.whole else _span(s)}"
             + ("" if len(stretches) == 1 else f" in r{s.repeat}") for i, s in enumerate(stretches)]
    return ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]

