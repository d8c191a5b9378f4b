"""Rules about what a unit's cost depends on besides its own work: state the solver keeps
between units (warm, cold, carried), CPU on threads perfkit does not time, too many cores.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional

import numpy as np
import pandas as pd

from perfkit.analysis.findings.finding import (
    EVIDENCE_ROWS,
    Finding,
    shared_figure,
    times_range,
    unit_costs,
    upper_median,
)
from perfkit.analysis.metrics.contention import core_share
from perfkit.analysis.metrics.neighbours import neighbour_level
from perfkit.analysis.metrics.records import KEY
from perfkit.analysis.metrics.run import RunFigures
from perfkit.analysis.metrics.stopped import beside_given_up
from perfkit.analysis.metrics.unit_cpu import missed_cpu
from perfkit.analysis.text import count, duration, is_missing
from perfkit.model import sample_label

if TYPE_CHECKING:  # pragma: no cover
    from perfkit.analysis.comparison import Comparison


#: Units whose CPU is below this share of the same units' under sequential (machine speed
#: normalised) did not do the same work → warm-state finding. Two busy cores and a loaded
#: machine only ever raise a unit's CPU, by 2–10 % here (docs/benchmarks.md §9).
WARM_STATE_RATIO = 0.8
#: Units whose CPU is above this many times the same units' under sequential (machine speed
#: normalised) did more work → cold-state finding: far above what load does (2–10 % above) and
#: what process workers replaced after kills paid for their cold caches on regex (1.07–1.24×,
#: docs/benchmarks.md "Session 10"); the regex units in perfkit's own process took 1.7–2.3×.
COLD_STATE_RATIO = 1.5
#: A unit's CPU moves by less than this with what surrounds it, whatever the solver keeps: the
#: main job's 5–200 µs units read up to 0.18 ms more or less on process workers than in the
#: inline reference in every run (5 µs units 4 µs), none by 1 ms, while state the solver carried
#: between units moved markdown-it's units by 4–8 ms and networkx's by 1–34 ms in every run
#: (docs/benchmarks.md "Session 13") → carried-state finding, with the two ratios above.
STATE_MIN_S = 0.001
#: A unit whose CPU is at least this many times its wall under sequential computes on several
#: cores at once (a BLAS library's threads, the solver's own pool); 1.25, as for the GIL.
MANY_CORES_UNIT = 1.25
#: The backends that run units in perfkit's own process.
IN_PROCESS = ("inline", "thread")


def warm_state(c: "Comparison") -> list[Finding]:
    """Groups whose units took much less CPU than the same units under sequential (ok in both,
    each run's CPU divided by its calibration workload's, so a change of the machine's speed
    between runs cancels): below :data:`WARM_STATE_RATIO` the work was not the same. The usual
    cause is state a solver keeps between runs in the processes a comparison reuses (a
    module-level cache: sympy's) while every sequential reference starts in a fresh process
    (perfkit/orchestration/compare.py), and the speedup then flatters the strategy."""
    out = []
    for group, figs in c.by_group().items():
        if c.reference is not None and group == c.figure_of(c.reference).group:
            continue
        if thread_cpu_only(c, figs):  # less CPU because less of it was seen: cpu_off_thread
            continue
        pairs = _unit_cpu_pairs(c, figs)
        ratio = upper_median([r for _f, r in pairs])
        if not ratio < WARM_STATE_RATIO:
            continue
        out += _warm_state_finding(figs, pairs, ratio)
    return out


def _warm_state_finding(figs: list, pairs: list, median: float) -> list[Finding]:
    return [Finding(
        "warm-state", "warning", figs[0].name,
        f"Units under {figs[0].name} took {median:.2f}× the CPU the same units took under sequential (machine "
        f"speed normalised): the work was not the same. A solver that keeps state between runs (a module-level "
        f"cache) carries it over in the workers a comparison reuses, while each sequential run starts fresh: its "
        f"speedup is then partly that state's, not the strategy's.",
        tuple(f"{f.run_id}: {r:.2f}× the reference's unit CPU" for f, r in pairs)[:EVIDENCE_ROWS])]


def _run_cpu_vs_reference(c: "Comparison", run) -> float:
    """The whole run's CPU (every thread, every worker, the programs its units ran) over its
    reference's, each divided by its run's calibration CPU (NaN when a side lacks it)."""
    ref = c.reference_for(run)
    if ref is None or ref is run:
        return float("nan")
    scale_run, scale_ref = run.summary.calibration_cpu_s, ref.summary.calibration_cpu_s
    if not scale_run or not scale_ref or not ref.summary.cpu_s:
        return float("nan")
    return float(run.summary.cpu_s / scale_run) / float(ref.summary.cpu_s / scale_ref)


def thread_cpu_only(c: "Comparison", figs: list) -> bool:
    """Whether these runs' units' CPU (their calling threads') missed CPU they used elsewhere
    that their reference saw (perfkit/analysis/metrics/unit_cpu.py ``missed_cpu``)."""
    return any(missed_cpu(c.run_of(f), c.reference_for(c.run_of(f))) for f in figs)


def cpu_off_thread(c: "Comparison") -> list[Finding]:
    """Groups whose units were timed on their calling thread (the thread backend) and took much
    less CPU there than the same units under the sequential reference, which counts every thread
    of its process and its child processes (machine speed normalised, as for
    :func:`warm_state`): the solver computes outside the thread that calls it — numpy's OpenBLAS
    pool, threads of its own, programs it runs — and on threads that share a process no unit's
    share of that can be told. Every figure built on the units' CPU then reads low there."""
    out = []
    for group, figs in c.by_group().items():
        if not thread_cpu_only(c, figs):
            continue
        pairs = _unit_cpu_pairs(c, figs)
        ratio = upper_median([r for _f, r in pairs])
        if not ratio < WARM_STATE_RATIO:
            continue
        runs = [r for r in (_run_cpu_vs_reference(c, c.run_of(f)) for f in figs) if not is_missing(r)]
        if not upper_median(runs) >= WARM_STATE_RATIO:
            out += _warm_state_finding(figs, pairs, ratio)  # the work itself shrank
            continue
        out.append(Finding(
            "cpu-off-thread", "warning", figs[0].name,
            f"Units under {figs[0].name} showed {ratio:.2f}× the CPU the same units took under "
            f"sequential (machine speed normalised): the solver computes outside the thread that calls it (a BLAS "
            f"library's threads, a thread pool of its own, programs it runs), which the sequential reference counts "
            f"and the thread backend cannot tell apart per unit. Under {figs[0].name} the units' CPU, their contention "
            f"(wall / CPU) and the time between units read as if that work were not the units'; the run's parallelism "
            f"(all its CPU / wall) counts it.",
            tuple(f"{f.run_id}: {r:.2f}× the reference's unit CPU; the whole run {w:.2f}× the reference's CPU"
                  for (f, r), w in zip(pairs, runs))[:EVIDENCE_ROWS]))
    return out


def cold_state(c: "Comparison") -> list[Finding]:
    """Groups whose units took much more CPU than the same units under sequential (ok in both,
    machine speed normalised as for :func:`warm_state`): above :data:`COLD_STATE_RATIO` the work
    was not the same. A solver's state in its process (a module-level cache) finds each
    sequential run's fresh process to itself; the inline and thread backends run in perfkit's
    own process, whose other work, libraries and earlier runs share and change such state (one
    of perfkit's imports, scipy.stats, shrank ``re``'s cache of compiled patterns from 512 to 50
    for the whole process, and 400 regex candidates then missed every time, 12× a unit's CPU:
    docs/benchmarks.md "Session 10"), and a process worker replaced after a kill starts cold.
    The slowdown is then that state's, not the strategy's."""
    # in perfkit's own process or not, or beside threads given up at their timeouts: one finding each
    hits: dict[object, list] = {"beside": [], True: [], False: []}
    out = []
    ref_cores = core_share(c.reference.units) if c.reference is not None else float("nan")
    for group, figs in c.by_group().items():
        if c.reference is not None and group == c.figure_of(c.reference).group:
            continue
        pairs = _unit_cpu_pairs(c, figs)
        if pairs and float(np.median([r for _f, r in pairs])) > COLD_STATE_RATIO:
            median = float(np.median([r for _f, r in pairs]))
            f = figs[0]
            if ref_cores >= MANY_CORES_UNIT and f.workers * ref_cores > f.cores and f.slots > 1:
                out.append(_oversubscribed(f, median, ref_cores, pairs))
                continue
            beside = any(c.run_of(g).units["leaked"].fillna(False).astype(bool).any() for g in figs)
            hits["beside" if beside and f.backend == "thread" else f.backend in IN_PROCESS].append(
                (figs[0].name, median, pairs))
    for in_process, groups in hits.items():
        if not groups:
            continue
        times = times_range([r for _n, r, _p in groups])
        if in_process == "beside":
            out.append(Finding(
                "cold-state", "warning", groups[0][0],
                f"Units under {', '.join(n for n, _r, _p in groups)} took {times} the CPU the same units took under "
                f"sequential (machine speed normalised): the work was not the same. Threads the thread backend gave "
                f"up at their timeouts ran on beside them in the same interpreter, and the garbage collector, run "
                f"by whichever thread allocates, walks every thread's objects: a unit's own CPU there counts "
                f"collections of the given-up threads' heaps. The slowdown is those threads', not the strategy's: "
                f"hard timeouts (the process backend) or a solver that stops at its deadline remove it.",
                tuple(f"{f.run_id}: {r:.2f}× the reference's unit CPU; "
                      f"{int(beside_given_up(c.run_of(f).units, f.timeout_s).sum())} of its units ran beside a "
                      f"given-up thread" for _n, _r, p in groups for f, r in p)[:EVIDENCE_ROWS]))
            continue
        where = ("they ran in perfkit's own process (the inline and thread backends), whose other work and "
                 "earlier runs share the solver's module-level state" if in_process
                 else "their workers outlived or replaced others (a worker started after a kill starts cold)")
        out.append(Finding(
            "cold-state", "warning", groups[0][0],
            f"Units under {', '.join(n for n, _r, _p in groups)} took {times} the CPU the same units took under "
            f"sequential (machine speed normalised): the work was not the same. A solver that keeps state in its "
            f"process (a cache of compiled patterns, a memo) had it to itself in each sequential run's fresh "
            f"process; here {where}: the slowdown is partly that state's, not the strategy's.",
            tuple(f"{f.run_id}: {r:.2f}× the reference's unit CPU" for _n, _r, p in groups for f, r in p)[:EVIDENCE_ROWS]))
    return out


def carried_state(c: "Comparison") -> list[Finding]:
    """Units whose CPU stood out, in every run of a group (two at least), from the same units'
    under sequential beyond what moved the other units of each run (metrics/reference.py
    ``cost_against_reference``): dearer than :data:`COLD_STATE_RATIO` × their slowest reference
    run, or cheaper than :data:`WARM_STATE_RATIO` × their fastest, by :data:`STATE_MIN_S` at
    least, each also beyond the units around it on its worker and in the sequential run's order
    (:func:`_around`). A unit's own work is the same under every strategy; the machine's speed,
    its load and two cores sharing memory bandwidth move every unit of a run alike (the run's
    level takes them out), a worker or the reference slower for a stretch the units around it
    (their levels take that out), and a burst of other work one repeat, not the same units in every
    one. What differed is what ran before the unit on its worker: state the solver carries
    between units; or, for a unit cheaper here, what ran before it under sequential (a longer unit
    that raised there: :data:`AFTER_STOP`). One finding per direction, naming the units, how far
    they moved and under which groups."""
    if c.reference is None:
        return []
    levels: dict[str, list[float]] = {}
    found = carried_units(c, levels)
    many = c.reference.units["task_id"].nunique() > 1
    return [_after_stop_finding(hits, levels, many) if kind == AFTER_STOP else
            _carried_state_finding(hits, kind, levels, many) for kind, hits in found.items() if hits]


#: The key of :func:`carried_units`'s cheaper units that every reference run ran after a stop.
AFTER_STOP = "after-stop"


def carried_units(c: "Comparison", levels: dict[str, list[float]], only: Optional[tuple] = None) -> dict[object, list]:
    """Dearer (True) and cheaper (False): ``(group name, unit key, its row in each run)`` for
    every unit of :func:`carried_state` (of the group ``only``, when given); under
    :data:`AFTER_STOP` the cheaper units that every reference run ran after a unit that ended by an
    exception, in its process, whose CPU covers what they saved here (metrics/stopped.py
    ``after_stopped``): the reference's cost is then what differs. ``levels`` receives each
    group's run levels."""
    ref_group = c.figure_of(c.reference).group
    groups = [figs for group, figs in c.by_group().items()  # one run cannot tell state from a burst of other work
              if group != ref_group and len(figs) >= 2 and only in (None, group) and not thread_cpu_only(c, figs)]
    out: dict[object, list] = {True: [], False: [], AFTER_STOP: []}
    # a nondeterministic candidate's work varies with its own draws (python-constraint2's
    # min_conflicts: 30 ms when it gives up, ~1 ms when it finds an answer): what its units cost
    # under a strategy says nothing of what ran before them. Its code draws in every task, also
    # where its answer happens to stay the same (min_conflicts' yes or no on "place"), and also
    # when only a strategy's repeats showed its answers vary (analysis/answers.py)
    drawn = set(c.variability.varying()) if c.variability is not None else set()
    candidate_at = KEY.index("candidate")
    for figs in groups:
        tables = [shared_figure(("carried", id(run)), lambda: _around(_beside(run, f.timeout_s, _fresh(
            run, unit_costs(c, run))))) for f in figs for run in (c.run_of(f),)]
        levels[figs[0].name] = [float((t["cpu_s"] / t["level_cpu_s"]).median()) for t in tables if len(t)]
        for dearer in (True, False):
            # dearer beside a given-up thread: what ran beside it, not before it (cold-state says so)
            hits = [t[_stands_out(t, dearer) & ~(dearer & t["beside"])] for t in tables]
            keys = {k for k in set.intersection(*(set(h[KEY].itertuples(index=False, name=None)) for h in hits))
                    if k[candidate_at] not in drawn}
            rows = [h.set_index(KEY) for h in hits] if keys else []
            for key in sorted(keys):
                mine = [r.loc[key] for r in rows]
                # cheaper than under sequential by no more than an exception before it there could leave
                stop = not dearer and all(r.ref_low_s - r.level_cpu_s <= r.get("ref_stopped_room_s", np.nan)
                                          for r in mine)
                out[AFTER_STOP if stop else dearer].append((figs[0].name, key, mine))
    return out


def _around(t: pd.DataFrame) -> pd.DataFrame:
    """``t`` with what moved the units around each unit: ``worker_level`` and ``ref_level``, the
    median CPU over the reference's of its neighbours on its worker here and in the reference's
    order (metrics/neighbours.py ``neighbour_level``). A strategy's chunks are alike in every run
    and often fall on the same worker at the same point of every run (not always: markdown-it's
    slow worker ran 60 of its 154 units again in the next repeat): a worker slower for a stretch
    (markdown-it, candidate-parallel/process×2: every unit of one worker 1.4–1.9× for a run;
    uneven-workers says so) or a reference slower around a unit can move the same units in every
    run, and its neighbours with them."""
    r = t["cpu_s"].where(t["status"].eq("ok")) / t["ref_mid_s"]
    return t.assign(worker_level=neighbour_level(r, t["position"], t["worker"]),
                    ref_level=neighbour_level(r, t["ref_position"], pd.Series(0, index=t.index)))


def _fresh(run, t: pd.DataFrame) -> pd.DataFrame:
    """``t`` with ``fresh``: the unit was the first on a worker that had run nothing before it —
    one started during the run (after a kill), or at its start by a pool the run started. A warm
    pool's worker (``perfkit compare``: perfkit/backends/process.py ``pool_runs``) ran the run
    before it, and a backend that does not say is taken to have run something."""
    starts = run.units.groupby("worker")["started"].min().sort_values()
    warm = set() if run.summary.resources.get("pool_runs") == 1 else set(starts.index[:run.config.workers])
    return t.assign(fresh=t["position"].eq(0) & ~t["worker"].isin(warm))


def _beside(run, timeout_s: float, t: pd.DataFrame) -> pd.DataFrame:
    """``t`` with ``beside``: the unit ran beside another thread's Python in its interpreter —
    every unit of a thread run of several workers, whose cyclic collector (one per interpreter)
    walks the objects every thread allocated and whose threads take turns at the GIL
    (markdown-it at 6 ms on thread ×2: 12 units 1.5–2.0× their sequential CPU in both runs, each
    beside units of the other thread overrunning their timeout; the run's units under 2 ms
    1.25–1.33×), or, on one worker, a thread given up at its timeout (metrics/stopped.py
    :func:`beside_given_up`). What ran beside a unit, not before it."""
    if run.config.backend == "thread" and run.config.workers > 1:
        return t.assign(beside=True)
    u = run.units
    if not u["leaked"].fillna(False).astype(bool).any():  # no thread was given up: nothing ran beside one
        return t.assign(beside=False)
    keys = u.loc[beside_given_up(u, timeout_s), KEY].drop_duplicates()
    return t.merge(keys.assign(beside=True), on=KEY, how="left").fillna({"beside": False}).astype({"beside": bool})


def _stands_out(t: pd.DataFrame, dearer: bool) -> pd.Series:
    """The units of one run's :func:`_around` table that moved beyond both ratios and
    :data:`STATE_MIN_S`, against the run's level and against the levels around them (on their
    worker, in the reference's order) each; a unit that timed out counts as dearer by what it used."""
    run = t["cpu_s"] / t["level_cpu_s"]
    levels = pd.concat([run, t["worker_level"], t["ref_level"]], axis=1)
    if dearer:
        own = t["cpu_s"] / levels.max(axis=1)
        return (t["status"].isin(["ok", "timeout"]) & (own >= COLD_STATE_RATIO * t["ref_high_s"])
                & (own - t["ref_high_s"] >= STATE_MIN_S) & ~_wide(t))
    low = levels.min(axis=1)
    own = t["cpu_s"] / low
    return (t["status"].eq("ok") & (own <= WARM_STATE_RATIO * t["ref_low_s"])
            & (t["ref_low_s"] - own >= STATE_MIN_S) & _ended_sooner(t, low) & ~_wide(t))


def _wide(t: pd.DataFrame) -> pd.Series:
    """Whether each unit computed on several cores at once under sequential (its CPU at least
    :data:`MANY_CORES_UNIT` × its wall: its own threads or child processes): what it uses then
    depends on the cores free beside it — the whole machine under sequential, what the other
    workers leave here — not on what ran before it (python-constraint2's parallel_threads and
    parallel_processes, 0.71–0.77× on process workers; docs/benchmarks.md "Session 17: a unit's
    own processes in a process worker")."""
    if "ref_wall_s" not in t:
        return pd.Series(False, index=t.index)
    return t["ref_mid_s"] >= MANY_CORES_UNIT * t["ref_wall_s"]


def _ended_sooner(t: pd.DataFrame, level: pd.Series) -> pd.Series:
    """Whether each unit's wall here (over ``level``, as its CPU) fell as far as its CPU did:
    below :data:`WARM_STATE_RATIO` of its least CPU under sequential, which is less than any
    single-core wall it had there. A unit that runs until a clock says stop (an anytime search,
    a spin to a wall deadline) keeps its wall and gets less CPU in it when it shares a core:
    its CPU falls with no work saved, by state or otherwise (a new user's ``slow_one``, 0.3 s of
    wall: 0.36–0.62× its sequential CPU in every run of a loaded compare, docs/benchmarks.md
    "Session 17: a new user's solver"). The wall is taken over the run's own wall per CPU (the
    median over its ok units): threads sharing the GIL stretch every unit's wall alike (thread
    ×2: ~2× its CPU), a starved spin beyond its neighbours. A unit on several cores is
    :func:`_wide`'s. True where the wall was not recorded."""
    if "wall_s" not in t:
        return pd.Series(True, index=t.index)
    ok = t["status"].eq("ok") & (t["cpu_s"] > 0)
    # the median unit's, not the run's Σ wall / Σ CPU (metrics/contention.py): one long starved
    # spin among short units would set the sum's ratio, and excuse itself
    stretch = float((t["wall_s"][ok] / t["cpu_s"][ok]).median()) if ok.any() else 1.0
    wall = t["wall_s"] / (stretch if stretch > 1.0 else 1.0) / level
    return ~(wall > WARM_STATE_RATIO * t["ref_low_s"])


def _unit_label(key, sep: str, many_tasks: bool) -> str:
    """``c005 on demo[3]`` (``sep`` " on ") or ``c005 demo[3]``, the task named when there are several."""
    task_id, split, index, cand = key
    return f"{cand}{sep}{sample_label(split, index, task_id if many_tasks else None)}"


def _named(hits: list, ratio: Callable, many_tasks: bool) -> tuple[list[str], list[str], str, str]:
    """A carried-state finding's units and groups (in the order of ``hits``), the pronoun for
    the units, and its opening: ``3 units took 0.28–0.75× their CPU under sequential in every run of …``."""
    units = list(dict.fromkeys(_unit_label(k, " on ", many_tasks) for _g, k, _r in hits))
    groups = list(dict.fromkeys(g for g, _k, _r in hits))
    one = len(units) == 1
    took = (f"{count(len(units), 'unit')} took {times_range([ratio(r) for _g, _k, rows in hits for r in rows])} "
            f"{'its' if one else 'their'} CPU under sequential in every run of {', '.join(groups)}")
    return units, groups, "it" if one else "them", took


def _after_stop_finding(hits: list, levels: dict[str, list[float]], many_tasks: bool) -> Finding:
    """:func:`carried_units`'s :data:`AFTER_STOP` units: cheaper than under sequential because every
    reference run ran them after a stopped unit, in the process that had run it."""
    def ratio(row) -> float:
        return float(row.level_cpu_s / row.ref_low_s)

    hits = sorted(hits, key=lambda h: min(ratio(r) for r in h[2]))
    units, groups, they, took = _named(hits, ratio, many_tasks)
    stops = list(dict.fromkeys(str(rows[0].ref_stopped) for _g, _k, rows in hits))
    text = (f"{took}, beyond what moved the units around {they}: "
            f"{', '.join(units[:EVIDENCE_ROWS])}{' …' if len(units) > EVIDENCE_ROWS else ''}. In every "
            f"sequential run {'it' if len(units) == 1 else 'each'} ran soon after a longer unit that ended by an exception "
            f"(stopped at its timeout, or raised) in the same process: "
            f"{', '.join(stops[:EVIDENCE_ROWS])}{' …' if len(stops) > EVIDENCE_ROWS else ''}. An exception holds "
            f"what the unit built until it is recorded, and a process that goes on pays inside the units after it for "
            f"what it left behind (the memory it held, handed back to the system): the sequential reference's cost is "
            f"what differs, not state the workers carried, and its walls (the speedups measured against them) include "
            f"that aftermath.")
    ev = []
    for group, key, rows in hits[:EVIDENCE_ROWS]:
        ref = rows[0]
        ev.append(f"{_unit_label(key, ' ', many_tasks)}: under {group} "
                  f"{', '.join(duration(float(r.cpu_s)) for r in rows)} of CPU; under sequential "
                  + "–".join(dict.fromkeys(duration(float(x)) for x in (ref.ref_low_s, ref.ref_high_s)))
                  + f", {'right' if ref.ref_stopped_gap == 0 else count(int(ref.ref_stopped_gap), 'unit')} after "
                  f"{ref.ref_stopped} ({duration(float(ref.ref_stopped_cpu_s))}, "
                  f"{'timed out' if ref.ref_stopped_status == 'timeout' else 'raised'})")
    ev += [f"{group}: all units of each run took {', '.join(f'{x:.2f}×' for x in levels[group])} their CPU under "
           f"sequential (median)" for group in groups]
    return Finding("carried-state", "warning", groups[0] if len(groups) == 1 else "", text, tuple(ev))


def _carried_state_finding(hits: list, dearer: bool, levels: dict[str, list[float]], many_tasks: bool) -> Finding:
    def ratio(row) -> float:
        return float(row.level_cpu_s / (row.ref_high_s if dearer else row.ref_low_s))

    def label(key, sep: str) -> str:
        return _unit_label(key, sep, many_tasks)

    # the furthest first: the dearest units, or the cheapest
    hits = sorted(hits, key=lambda h: -max(ratio(r) for r in h[2]) if dearer else min(ratio(r) for r in h[2]))
    units, groups, they, took = _named(hits, ratio, many_tasks)
    timed_out = {k for _g, k, rows in hits if any(r.status == "timeout" for r in rows)}
    one = len(units) == 1
    their = "its" if one else "their"
    head = (f"{took}, beyond what moved the other units of those runs: {', '.join(units[:EVIDENCE_ROWS])}{' …' if len(units) > EVIDENCE_ROWS else ''}. Load and two "
            f"cores sharing memory bandwidth move every unit of a run alike, a worker (or the sequential run) slower "
            f"for a stretch the units around {they} too, and a burst of other work one repeat, not the same units in "
            f"every repeat: what differed is what ran before {they} on {their} worker")
    # the first unit on its worker in every run: nothing ran before it there (networkx: a sample's
    # first unit on a worker started again after a kill rebuilt the sample's graph), so no state
    # made it dearer: it lacked what units before it had built under sequential
    first = {k for k in {k for _g, k, _r in hits}
             if all(bool(r.fresh) for _g, key, rows in hits if key == k for r in rows)}
    cold = "the first unit on a worker just started, or started again after a kill, in every run"
    late = ("" if not timed_out else "; it timed out there and never under sequential" if one else
            f"; {len(timed_out)} of them timed out there and never under sequential")
    if dearer and len(first) == len(units):
        text = (f"{head}: nothing did ({'it was' if one else 'each was'} {cold}), where under sequential units "
                f"before {they} built what the solver keeps between units (a cache, a table built on first use): "
                f"{'it' if one else 'they'} paid for building it again. The strategy's walls include that cold "
                f"start's cost, not its parallelism's{late}.")
    elif dearer:
        it = "it" if len(first) == 1 else "them"
        cold_too = "" if not first else (f"; {len(first)} of them had nothing before {it} there ({cold}) and paid "
                                         f"for building what units before {it} had built under sequential")
        text = (f"{head}: state the solver carries between units (a cache that grows, a heap the garbage collector "
                f"walks, a table built on first use) made {they} dearer there{cold_too}. The strategy's walls "
                f"include that state's cost, not its parallelism's{late}.")
    else:
        text = (f"{head}: state the solver carries between units (a cache {'it' if one else 'they'} found filled, "
                f"a table already built) did part of {their} work there. The strategy's speedup is partly that "
                f"state's, not its parallelism's.")
    ev = []
    for group, key, rows in hits[:EVIDENCE_ROWS]:
        late_runs = sum(r.status == "timeout" for r in rows)
        ref = rows[0]
        # (a warm pool's worker ran the run before this one: its position counts this run's units)
        where = "on its worker" if all(r.fresh or r.position for r in rows) else "on its worker in the run"
        ev.append(f"{label(key, ' ')}: under {group} {', '.join(duration(float(r.cpu_s)) for r in rows)} of CPU"
                  + (f" ({late_runs} timed out)" if late_runs else "")
                  + f", {_after(sorted({int(r.position) for r in rows}), where)}; under sequential "
                  + "–".join(dict.fromkeys(duration(float(x)) for x in (ref.ref_low_s, ref.ref_high_s)))
                  + f", {_after([int(ref.ref_position)], 'in its process')}")
    ev += [f"{group}: all units of each run took {', '.join(f'{x:.2f}×' for x in levels[group])} their CPU under "
           f"sequential (median), the level the units above are measured from" for group in groups]
    return Finding("carried-state", "warning", groups[0] if len(groups) == 1 else "", text, tuple(ev))


def _after(positions: list[int], where: str) -> str:
    """``after 12–15 units on its worker``; ``the first unit on its worker``."""
    if positions == [0]:
        return f"the first unit {where}"
    low, high = positions[0], positions[-1]
    return f"after {low}–{high} units {where}" if low != high else f"after {count(low, 'unit')} {where}"


def _oversubscribed(f: RunFigures, ratio: float, ref_cores: float, pairs: list) -> Finding:
    """The units computed on several cores each under sequential, and this group's workers
    together asked for more cores than the machine has."""
    return Finding(
        "oversubscribed", "warning", f.name,
        f"Units under {f.name} took {ratio:.2f}× the CPU the same units took under sequential (machine speed "
        f"normalised): under sequential each unit computed on {ref_cores:.1f} cores at once (its CPU over its wall: "
        f"a BLAS library's threads, or the solver's own), so {f.workers} workers asked for "
        f"{f.workers * ref_cores:.1f} of the {f.cores} cores; their threads took turns, and a waiting BLAS thread "
        f"spins on a core. Limit the solver's threads per worker (OPENBLAS_NUM_THREADS=1, threadpoolctl) or run "
        f"fewer workers.",
        tuple(f"{g.run_id}: {r:.2f}× the reference's unit CPU" for g, r in pairs)[:EVIDENCE_ROWS])


def _unit_cpu_pairs(c: "Comparison", figs: list) -> list[tuple[RunFigures, float]]:
    """Each run's figures with its units' CPU over its reference's (:func:`_cpu_vs_reference`),
    for the runs where that ratio is known."""
    ratios = ((f, shared_figure(("cpu_vs_reference", id(run)), lambda: _cpu_vs_reference(c, run)))
              for f in figs for run in (c.run_of(f),))
    return [(f, r) for f, r in ratios if not is_missing(r)]


def _cpu_vs_reference(c: "Comparison", run) -> float:
    """Σ unit CPU of ``run`` over Σ unit CPU of its reference, on the units ok in both, each
    divided by its run's calibration CPU (NaN when a side lacks it or nothing is comparable)."""
    ref = c.reference_for(run)
    if ref is None or ref is run:
        return float("nan")
    scale_run, scale_ref = run.summary.calibration_cpu_s, ref.summary.calibration_cpu_s
    if not scale_run or not scale_ref:
        return float("nan")
    mine = run.units.loc[run.units["status"] == "ok", KEY + ["cpu_s"]].drop_duplicates(KEY)
    theirs = ref.units.loc[ref.units["status"] == "ok", KEY + ["cpu_s"]].drop_duplicates(KEY)
    both = mine.merge(theirs, on=KEY, suffixes=("", "_ref")).dropna(subset=["cpu_s", "cpu_s_ref"])
    if both.empty or not both["cpu_s_ref"].sum() > 0:
        return float("nan")
    return float(both["cpu_s"].sum() / scale_run) / float(both["cpu_s_ref"].sum() / scale_ref)
