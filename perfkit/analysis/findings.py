"""Findings: rules that turn a comparison's figures into sentences, each with its evidence.

A rule is a function ``(Comparison) -> list[Finding]``, registered in :data:`RULES`; it reads the
figures computed by :mod:`perfkit.analysis.metrics` and :mod:`perfkit.analysis.answers` and
never computes a figure of its own that a report would need. Thresholds are module constants.
"""

from __future__ import annotations

import math
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Optional

import numpy as np
import pandas as pd

from perfkit.analysis.answers import (
    BOUNDARY_FLIP,
    BOUNDARY_SHARE,
    NEW_TIMEOUT,
    NOISE_FACTOR,
    NOISE_TIMEOUT,
    NONDETERMINISTIC,
)
from perfkit.analysis.metrics import (
    BUSY_OTHER_CORES,
    COST_KEYS,
    WAITING_CONTENTION,
    KEY,
    RunFigures,
    SAMPLE,
    SWITCH_INTERVAL_S,
    beside_given_up,
    busy_by_slot,
    core_share,
    cost_against_reference,
    life_share,
    reference_cost,
    even_share_s,
    group_name,
    held_by_others,
    item_memory,
    queue_wait,
    missed_cpu,
    neighbour_level,
    ran,
    ran_quiet,
)
from perfkit.analysis.statistics import interval_excludes
from perfkit.analysis.text import count, duration, is_missing, percent, ratio_interval
from perfkit.model import finished_late, sample_label, sample_level_run
from perfkit.strategies import sample_level_names

if TYPE_CHECKING:  # pragma: no cover
    from perfkit.analysis.comparison import Comparison

#: A unit got less than this share of a core while running → contention.
CONTENTION_SHARE = 0.8
#: Thread runs whose parallelism (CPU/wall) stays under this on ≥ 2 slots are GIL-bound...
GIL_PARALLELISM = 1.25
#: ...when the cores were there to use: at least this many more than that parallelism free of
#: other work, and, when the process backend ran the same strategy, it reached this many cores
#: more. Beside 1.3 cores of other work on 2 cores, markdown-it's thread runs (parallelism 0.65)
#: were called GIL-bound while the process backend reached 0.68.
GIL_SPARE_CORES = 0.25
#: Dispatch overhead above this fraction of worker capacity is reported.
DISPATCH_FRACTION = 0.30
#: From this many units per work item on, the per-item dispatch cost (~0.6 ms on the process
#: backend, docs/benchmarks.md) is < 10 µs per unit: what overhead remains is per unit.
PER_UNIT_CHUNK = 64
#: When waiting at the end of stages is at least this share of the time outside units, that
#: waiting, not the cost of dispatching items, is what the dispatch-overhead finding reports.
TAIL_SHARE = 0.5
#: A work item should cost at least this many times its dispatch overhead.
ITEM_TO_OVERHEAD = 10.0
#: The critical path binds when it exceeds the even share of work by this factor.
CRITICAL_FACTOR = 1.5
#: A worker busy this many times longer than the mean worker is a straggler.
STRAGGLER_FACTOR = 1.5
#: Efficiency below this fraction of the physical limit is reported.
LOW_EFFICIENCY = 0.5
#: A strategy must beat sequential by this factor to be recommended (and its interval must
#: exclude 1.0, "no gain").
MIN_SPEEDUP = 1.05
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
#: A leaked unit that used less than this share of a core from its start to its thread's end
#: mostly waited (for the GIL, or a core) rather than worked.
WAITED_SHARE = 0.5
#: Unit time is concentrated when at most this fraction of the candidates (samples, tasks) …
CONCENTRATED_MEMBERS = 0.1
#: … take at least this share of all unit time.
CONCENTRATED_SHARE = 0.5
#: With fewer candidates (samples, tasks) than this, concentration says nothing.
MIN_MEMBERS = 4
#: Timed-out units taking at least this share of all unit time are reported.
TIMEOUT_SHARE = 0.2
#: A work item drives memory when its peak resident memory reaches this many times the run's
#: median item …
MEMORY_FACTOR = 1.5
#: … and at least this many bytes above it (below that, allocator noise and caches).
MEMORY_RISE_BYTES = 64 * 2**20
#: How many units, candidates or runs a finding's evidence lists.
EVIDENCE_ROWS = 8

SEVERITIES = ("problem", "warning", "info")


@dataclass(frozen=True)
class Finding:
    """One sentence with its evidence. ``severity``: problem, warning, info or recommendation."""

    rule: str
    severity: str
    group: str
    sentence: str
    evidence: tuple[str, ...] = field(default_factory=tuple)


def _runs_by_group(c: "Comparison"):
    for group, figs in c.by_group().items():
        yield group, figs


def _lost_to_timeouts(c: "Comparison", run, ref) -> pd.DataFrame:
    """The units of ``run`` whose difference from its reference is a new timeout far from the
    limit (perfkit/analysis/answers.py): boundary flips and timeouts within the machine's noise
    are the reference's own variability and have findings of their own."""
    check = next((a for a in c.answers if a.run_id == run.run_id), None)
    if check is None or not len(check.status_changed):
        return run.units.iloc[:0]
    keys = check.status_changed.loc[check.status_changed["kind"] == NEW_TIMEOUT, KEY]
    return run.units.merge(keys, on=KEY, how="inner")


def contention_timeouts(c: "Comparison") -> list[Finding]:
    """Units that timed out here but not under sequential (boundary units aside): one finding
    per group (its first run with such units), naming the samples, with the share of a core
    the units got while running (their measured CPU / their wall), the queue wait and the
    contention figures as evidence. Below :data:`CONTENTION_SHARE` of a core the cause is
    contention (rule ``contention-timeouts``); at full speed the units were slow, not starved,
    and without a measured CPU the cause is not told (rule ``new-timeouts``)."""
    out = []
    done: set[tuple] = set()
    for run, fig in zip(c.runs, c.figures):
        ref = c.reference_for(run)
        if ref is None or run is ref or fig.group in done:
            continue
        u, r = run.units, ref.units.drop_duplicates(KEY).set_index(KEY)
        new = _lost_to_timeouts(c, run, ref)
        if new.empty:
            continue
        done.add(fig.group)
        share = core_share(new)
        # the thread backend's units given up at their timeout had their CPU read when their
        # thread ended (arc-dsl: 0.08–0.47 of a core from start to end, waiting at the GIL)
        given_up = is_missing(share) and not is_missing(life_share(new, fig.timeout_s))
        share = life_share(new, fig.timeout_s) if given_up else share
        starved = share < CONTENTION_SHARE
        one = len(new) == 1
        the_units, they, were = ("the unit", "it", "was") if one else ("the units", "they", "were")
        running = (("from its start to its thread's end (given up at its timeout, the thread ran on)" if one else
                    "from their start to their threads' end (given up at their timeout, the threads ran on)")
                   if given_up else "while running")
        if is_missing(share):
            cause = (f"{'its' if one else 'their'} CPU was not measured (stopped with {'its' if one else 'their'} "
                     f"worker), so contention cannot be told from speed")
        elif starved:
            # the run's figure beside the lost units': a few starved units in a run whose units
            # mostly ran at full speed read "1.0×" there, not a contradiction
            # threads of one process share one GIL: that is their contention, whatever else ran
            cause = (f"{the_units} got {share:.0%} of a core {running} (contention"
                     + ("; the threads of one process take turns at the GIL" if fig.backend == "thread" else "")
                     + f"; all the run's units: wall {fig.contention:.1f}× CPU)")
        else:
            cause = (f"{the_units} ran at {share:.0%} of a core: {they} {were} slow at full speed, not starved "
                     f"(timing, not contention)")
            carried = ({k for _g, k, _r in _carried(c, {}, only=fig.group)[True]}
                       & set(new[KEY].itertuples(index=False, name=None)))
            if carried:  # why they were slow: they did more work here, in every run of the group
                cause += (f"; {'it' if one else f'{len(carried)} of them'} took more CPU than under sequential in "
                          f"every run of the group (carried-state finding)")
        ev, labels = [], []
        for (task_id, split, index), units in new.groupby(SAMPLE, sort=True):
            sample_units = u[(u["task_id"] == task_id) & (u["split"] == split) & (u["index"] == index)]
            qw = queue_wait(sample_units)
            s_share = life_share(units, fig.timeout_s) if given_up else core_share(units)
            ref_wall = r["wall_s"].reindex(pd.MultiIndex.from_frame(units[KEY])).max()
            label = sample_label(split, index)
            labels.append(sample_label(split, index, task_id if new["task_id"].nunique() > 1 else None))
            got = "CPU not measured" if is_missing(s_share) else f"{s_share:.0%} of a core {running}"
            ev.append(f"{task_id}/{label}: {len(units)} of {len(sample_units)} candidates timed out; "
                      f"{got}; waited {duration(float(qw.min()) if len(qw) else 0.0)} "
                      f"in the queue; slowest of them under sequential {duration(ref_wall)}")
        tasks = sorted(new["task_id"].unique())
        n_runs = sum(1 for rr in c.runs_of(fig.group)
                     if rr is not c.reference_for(rr) and len(_lost_to_timeouts(c, rr, c.reference_for(rr))))
        held = held_by_others(u, new, fig.timeout_s, WAITED_SHARE) if starved and fig.backend == "thread" else new.iloc[:0]
        if 2 * len(held) >= len(new):
            # the other thread ran at full speed all along: one interpreter, so no other process
            # took these units' turn (regex: a backtracking match in one C call holds the GIL)
            top = held.sort_values("holder_cpu_s", ascending=False).drop_duplicates("holder")
            cause = (f"{the_units} got {share:.0%} of a core {running} because another thread held the GIL: "
                     f"{len(held)} of the {len(new)} waited beside a unit running on another thread ("
                     + ", ".join(f"{h.holder}, {duration(h.holder_cpu_s)} of CPU" for h in top.head(3).itertuples())
                     + f"); threads take turns at the GIL every {SWITCH_INTERVAL_S * 1000:g} ms of Python, and a "
                     "C call that does not release it (a regular-expression match) keeps every other thread "
                     "waiting for its whole length")
            ev += [f"{r.task_id}/{sample_label(r.split, r.index)} {r.candidate} waited {duration(r.overlap_s)} beside "
                   f"{r.holder}" for r in held.head(EVIDENCE_ROWS).itertuples()]
        busy = _busy(c, c.figures_of(fig.group)) if starved and 2 * len(held) < len(new) else []
        if busy:
            cause += f"; {_busy_during(busy, 'these runs')}, so part of the contention is theirs"
        ev += [f"unit timeout {fig.timeout_s:g} s; {n_runs} of {len(c.runs_of(fig.group))} repeats lost candidates",
               f"run contention (unit wall / unit CPU, units with a measured CPU) {fig.contention:.2f}× vs "
               f"{c.figure_of(ref).contention:.2f}× under sequential",
               f"queue wait: median {fig.queue_wait_median_s:.3f} s, max {fig.queue_wait_max_s:.3f} s "
               f"(queue time never counts against the timeout)",
               f"{fig.workers} workers on {fig.cores} usable cores ({fig.backend} backend)"]
        lost = f"{len(new)} candidate{'s' if len(new) != 1 else ''}"
        # the slowest time beside the rule, not "far from the limit": networkx's lost units took
        # 418 and 498 ms of a 1 s limit under sequential, under the boundary share but not far
        slowest = float(r["wall_s"].reindex(pd.MultiIndex.from_frame(new[KEY])).max())
        out.append(Finding(
            "contention-timeouts" if starved else "new-timeouts", "problem", fig.name,
            f"{', '.join(labels[:6])}{' …' if len(labels) > 6 else ''} of task{'s' if len(tasks) > 1 else ''} "
            f"{', '.join(tasks[:3])} timed out under {fig.name} but not under sequential ({lost} "
            f"lost; under sequential {'it' if one else 'they'} took {'' if one else 'at most '}{duration(slowest)}, "
            f"under {BOUNDARY_SHARE:.0%} of the {fig.timeout_s:g} s limit): {cause}.",
            tuple(ev)))
    return out


def gil_bound(c: "Comparison") -> list[Finding]:
    """Thread backend on ≥ 2 slots with parallelism ≈ 1 while the work is CPU-bound (the
    sequential reference's contention is ≈ 1): the GIL serialises the work."""
    out = []
    ref_fig = c.figure_of(c.reference) if c.reference is not None else None
    if ref_fig is None or not ref_fig.contention < WAITING_CONTENTION:
        return out
    g = c.groups
    for _, row in g.iterrows():
        if row["backend"] != "thread" or row["slots"] < 2:
            continue
        figs = c.figures_of((row["strategy"], row["backend"], row["workers"]))
        if _thread_cpu_only(c, figs):
            continue  # computed outside the threads (a BLAS pool, programs): not the GIL's turns
        par = row["parallelism_median"]
        free = figs[0].cores - _others_median(figs)
        if not par < GIL_PARALLELISM or free < GIL_PARALLELISM + GIL_SPARE_CORES:
            continue
        ev = [f"parallelism (CPU/wall) {par:.2f} on {row['slots']} slots; efficiency {percent(row['efficiency_median'])}",
              f"contention (unit wall/unit CPU) {row['contention_median']:.2f}× vs {ref_fig.contention:.2f}× under sequential"]
        proc = g[(g["backend"] == "process") & (g["strategy"] == row["strategy"]) & (g["workers"] == row["workers"])]
        if len(proc) and not is_missing(proc.iloc[0]["parallelism_median"]):
            p = proc.iloc[0]
            if p["parallelism_median"] < par + GIL_SPARE_CORES:  # processes did no better: not the GIL
                continue
            ev.append(f"the process backend reached parallelism {p['parallelism_median']:.2f} and "
                      f"{percent(p['efficiency_median'])} efficiency on the same strategy")
        out.append(Finding("gil", "problem", row["group"],
                           f"{row['group']} reached {percent(row['efficiency_median'])} efficiency with parallelism "
                           f"{par:.2f} on CPU-bound work (GIL): use the process backend.", tuple(ev)))
    return out


#: Candidate generation above this fraction of the solver's work is reported.
GENERATION_FRACTION = 0.2


def candidate_generation(c: "Comparison") -> list[Finding]:
    """The solver's candidates() is work like the units (it runs on the workers, overlapping
    evaluation): when it is a large share of the solver's work, a cheaper candidates() is a
    large gain for every strategy. Said once, of the solver: both shares are the sequential
    reference's CPU, the same for every group; each parallel group's generation wall is evidence."""
    medians = [sorted(figs, key=lambda x: x.wall_s)[len(figs) // 2]
               for group, figs in _runs_by_group(c) if group[0] != "sequential"]
    if not medians:
        return []
    # the reference's own figures: a parallel group's work counts only the units it ran (a
    # budget may have skipped some), which is not the solver's share
    f = c.figure_of(c.reference) if c.reference is not None else medians[0]
    # work against work: generation's CPU and the units' CPU, both in the sequential reference
    # (its wall on the workers grows with load and with two generations sharing a core)
    total = f.work_s + f.generate_work_s
    if not (total > 0 and f.generate_work_s > GENERATION_FRACTION * total):
        return []
    return [Finding(
        "candidate-generation", "warning", "",
        f"Candidate generation is {percent(f.generate_work_s / total)} of the solver's work "
        f"({f.generate_work_s:.2f} s of candidates() against {f.work_s:.2f} s of evaluation, CPU): a cheaper "
        f"candidates() is the solver's largest gain, under every strategy.",
        (f"generation work {f.generate_work_s:.3f} s of CPU over {f.tasks} tasks (the sequential reference's)",)
        + tuple(f"{m.name}: on the workers, alongside the units, generation took {m.generate_s:.3f} s of wall; "
                f"units took {m.unit_wall_s:.3f} s of worker time" for m in medians))]


def dispatch_overhead(c: "Comparison") -> list[Finding]:
    """Dispatch overhead above :data:`DISPATCH_FRACTION` of worker capacity, with the chunk size
    that would make each work item cost :data:`ITEM_TO_OVERHEAD` times its overhead."""
    out = []
    for group, figs in _runs_by_group(c):
        if group[0] == "sequential":
            continue
        f = sorted(figs, key=lambda x: x.wall_s)[len(figs) // 2]
        if not f.dispatch_overhead > DISPATCH_FRACTION or f.units == 0:
            continue
        # candidate generation has its own finding: its worker time is left out of the capacity
        capacity = f.wall_s * f.slots - f.generate_s
        startup = f.startup_s * f.slots
        between = max(0.0, capacity - startup - f.unit_wall_s)
        # waiting at the end of stages is no cost per item: larger items would not remove it
        tail = min(between, f.stage_tail_idle_s)
        # nor is waiting while another thread holds the GIL (regex: a C match of 0.5 s)
        gil = min(between - tail, f.gil_wait_s)

        # an opaque solver's work item is a whole sample, which nothing it can run under splits or joins
        opaque = sample_level_run(c.run_of(f).units)
        per_item = (between - tail - gil) / max(1, f.work_items)
        unit = f.unit_wall_s / f.units
        current = f.units / max(1, f.work_items)
        per_task = f.units / max(1, f.tasks)
        advise = math.ceil(per_item * ITEM_TO_OVERHEAD / unit) if unit > 0 else 0
        advise = int(min(advise, max(1, per_task // f.slots)))
        ev = (f"worker capacity {capacity:.3f} s (wall {f.wall_s:.3f} s × {f.slots} slots − candidate generation "
              f"{f.generate_s:.3f} s); in units {f.unit_wall_s:.3f} s",
              f"start-up and teardown {f.startup_s:.3f} s of wall; between units {between:.3f} s over "
              f"{f.work_items} work items ({per_item * 1000:.1f} ms per item)",
              f"mean unit {unit * 1000:.2f} ms; current chunk ≈ {current:.1f} units",
              f"waiting at the end of stages for their slowest units {tail:.3f} s")
        if f.gil_wait_s:
            ev += (f"waiting between units while another thread held the GIL {gil:.3f} s",)
        if f.lost_workers:
            ev += (f"{f.lost_workers} workers lost with their unit; {f.reruns} units ran again "
                   f"({f.rerun_wall_s:.3f} s in their last runs)",)
        if f.lost_workers and f.backend != "thread":
            # each loss costs a replacement's start and the re-run of the outcomes that died with
            # it: time outside the units table, which a per-unit cost or a stage's tail would be
            # wrongly blamed for
            lost = f"{f.lost_workers} worker was" if f.lost_workers == 1 else f"{f.lost_workers} workers were"
            action = (f"{lost} stopped with a unit at its timeout or died, each replaced, and "
                      f"{f.reruns} units ran again because their outcomes died with their worker "
                      f"({f.rerun_wall_s:.2f} s of unit wall in their last runs alone): fewer units past the "
                      f"timeout, or smaller work items, lose less")
        elif between > 0 and gil >= TAIL_SHARE * between:
            action = (f"{percent(gil / between)} of the time outside units is threads waiting between units while "
                      f"another thread ran a unit holding the GIL (a C call that does not release it), not "
                      f"dispatch: larger work items would not remove it; the process backend would")
        elif between > 0 and tail >= TAIL_SHARE * between:
            cure = ("cheaper slowest samples would" if opaque else "smaller items at the end (candidate-parallel's "
                    "tapered chunks), fewer barriers between stages, or cheaper slowest candidates would")
            action = (f"{percent(tail / between)} of the time outside units is workers waiting at the end of stages "
                      f"for their slowest units, not dispatch: larger work items would not remove it; {cure}")
        elif startup > between:
            # threads start in microseconds: on them, only more work per run is advice
            other = "" if f.backend == "thread" else ", or the thread backend"
            action = (f"worker start-up takes {f.startup_s:.2f} s of {f.wall_s:.2f} s: the work is too short for "
                      f"this backend (more work per run{other})")
        elif current >= PER_UNIT_CHUNK:
            action = (f"with ≈ {current:.0f} units per work item the cost is per unit, not per item "
                      f"({between / max(1, f.units) * 1e6:.0f} µs per unit outside the solver: timing, hashing and "
                      f"recording each outcome), so larger chunks will not remove it; it weighs because units are "
                      f"short ({unit * 1000:.2f} ms)")
        elif advise > current * 1.2 and f.strategy in ("candidate-parallel", "hybrid"):
            action = f"raise the chunk size to {advise} units per work item"
        elif advise > current * 1.2 and opaque:
            action = (f"each work item is a whole sample ({per_item * 1000:.1f} ms of dispatch each), the only unit "
                      f"of work this solver offers, and no strategy that applies to it "
                      f"({', '.join(sample_level_names())}) joins samples into larger items: samples this short "
                      f"cost less run sequentially, or given more work each")
        elif advise > current * 1.2:
            action = f"use candidate-parallel with chunks of {advise} units"
        else:
            action = "workers sit idle at barriers or on uneven items: balance the work items"
        out.append(Finding("dispatch-overhead", "warning", f.name,
                           f"Dispatch overhead is {percent(f.dispatch_overhead)} of wall under {f.name}: {action}.", ev))
    return out


def critical_path(c: "Comparison") -> list[Finding]:
    """The critical path (largest indivisible work item) binds the ideal, or one worker was busy
    far longer than the others (a straggler)."""
    out = []
    for group, figs in _runs_by_group(c):
        if group[0] == "sequential":
            continue
        f = sorted(figs, key=lambda x: x.wall_s)[len(figs) // 2]
        run = c.run_of(f)
        even = float(even_share_s(f.work_s, f.lane_s + f.wait_s, f.cores, f.workers))
        if f.critical_path_s > CRITICAL_FACTOR * even and f.slots > 1:
            biggest = _biggest_item(run)
            cure = (f"no strategy that applies to this solver ({', '.join(sample_level_names())}) splits a sample, "
                    f"its unit of work: only a cheaper slowest sample shortens it" if sample_level_run(run.units)
                    else "split the work finer (candidate-parallel or hybrid)")
            out.append(Finding("critical-path", "warning", f.name,
                               f"The critical path bounds {f.name}: its largest work item ({biggest}) needs "
                               f"{f.critical_path_s:.3f} s while an even share of the work is {even:.3f} s; "
                               f"{cure}.",
                               (f"work {f.work_s:.3f} s on {f.slots} slots; ideal wall {f.ideal_wall_s:.3f} s",)))
            continue
        busy = busy_by_slot(run.units)  # per slot: a replacement worker continues its slot
        if len(busy) >= 2 and busy.max() > STRAGGLER_FACTOR * busy.mean() and busy.max() > 0.25 * f.wall_s:
            out.append(Finding("straggler", "warning", f.name,
                               f"Worker {busy.idxmax()} was a straggler under {f.name}: busy {busy.max():.3f} s "
                               f"while the mean worker was busy {busy.mean():.3f} s.",
                               tuple(f"{w}: {b:.3f} s in units" for w, b in busy.items())))
    return out


def _biggest_item(run) -> str:
    u = run.units
    items = u.groupby(["task_id", "chunk"], sort=False)
    sizes = items["cpu_s"].sum()
    task_id, chunk = sizes.idxmax()
    members = u[(u["task_id"] == task_id) & (u["chunk"] == chunk)]
    samples = members.groupby(["split", "index"], sort=False).size()
    where = ", ".join(sample_label(s, i) for s, i in samples.index[:3])
    return f"task {task_id} chunk {chunk}: {len(members)} units of {where}"


def _units_of(c: "Comparison", figs) -> pd.DataFrame:
    """The units of every repeat of one group, in one table."""
    return pd.concat([c.run_of(f).units for f in figs])


def leaked_timeouts(c: "Comparison") -> list[Finding]:
    """Timeouts whose work kept running after the deadline (thread backend cannot stop work),
    with the CPU their threads used: a unit given up while it waited (for the GIL another
    thread's C call held, or for a core) used little, and is said to have waited, not worked —
    regex's 3 µs units behind a 0.5 s backtracking match read "0.84 s of leaked work". Units
    that ended by themselves past the backend's grace (``kill_grace_s``: their thread held the
    GIL, so the watcher could not give them up) ran on too, and are counted beside them."""
    out = []
    for group, figs in _runs_by_group(c):
        parts, overran = [], []
        for f in figs:
            run = c.run_of(f)
            u = run.units
            leaked = u[u["leaked"].astype(bool)]
            parts.append(leaked.assign(_share=leaked["cpu_s"] / (f.timeout_s + leaked["leaked_s"].fillna(0))))
            grace = run.summary.resources.get("kill_grace_s")
            if f.backend == "thread" and grace is not None:
                late = u[finished_late(u) & ~u["leaked"].astype(bool)
                         & (u["wall_s"] > f.timeout_s + float(grace)) & (u["cpu_s"] >= WAITED_SHARE * u["wall_s"])]
                overran.append(late.assign(past_s=late["wall_s"] - f.timeout_s))
        leaked = pd.concat(parts)
        late = pd.concat(overran) if overran else leaked.iloc[:0].assign(past_s=0.0)
        if leaked.empty and late.empty:
            continue
        s = leaked["leaked_s"].fillna(0).sum()
        cpu = leaked["cpu_s"].dropna()
        used = f", {duration(float(cpu.sum()))} of CPU" if len(cpu) else ", their CPU not measured"
        waited = leaked[leaked["_share"] < WAITED_SHARE]
        why = (f"; {len(waited)} of them used under {percent(WAITED_SHARE)} of a core from start to end: they "
               f"waited (for the GIL another thread held, or for a core) rather than worked"
               if len(waited) else "")
        head = (f"{len(leaked)} timed-out units under {group_name(group)} kept running after their deadline "
                f"({s:.2f} s past it over {count(len(figs), 'run')}{used}){why}" if len(leaked) else
                f"No timed-out unit under {group_name(group)} was given up")
        if len(late):
            head += (f"; {count(len(late), 'more unit')} ended by {'itself' if len(late) == 1 else 'themselves'} "
                     f"up to {duration(float(late['past_s'].max()))} past {'its' if len(late) == 1 else 'their'} "
                     f"deadline, beyond the backend's grace: {'its' if len(late) == 1 else 'their'} thread held "
                     f"the GIL, so the backend could not give {'it' if len(late) == 1 else 'them'} up")
        out.append(Finding("leaked-timeouts", "problem", group_name(group),
                           f"{head}: use the process backend for hard timeouts or make the solver check its deadline.",
                           tuple(f"{r.task_id}/{sample_label(r.split, r.index)} {r.candidate}: "
                                 f"{0 if pd.isna(r.leaked_s) else r.leaked_s:.2f} s past its deadline, "
                                 f"{'CPU not measured' if pd.isna(r.cpu_s) else duration(float(r.cpu_s)) + ' of CPU'}"
                                 for r in leaked.head(5).itertuples())
                           + tuple(f"{r.task_id}/{sample_label(r.split, r.index)} {r.candidate}: ended "
                                   f"{duration(r.past_s)} past its deadline by itself"
                                   for r in late.sort_values("past_s", ascending=False).head(3).itertuples())))
    return out


def _groups_with_status(c: "Comparison", status: str):
    """``(group, figures, units)`` for every group with units of ``status`` (over all repeats)."""
    for group, figs in _runs_by_group(c):
        units = _units_of(c, figs)
        hit = units[units["status"] == status]
        if len(hit):
            yield group, figs, hit


def budget_skips(c: "Comparison") -> list[Finding]:
    """Units recorded ``skipped`` because a sample or task budget ran out."""
    out = []
    for group, figs, sk in _groups_with_status(c, "skipped"):
        where = sk.groupby(SAMPLE, sort=False).size()
        policy = c.run_of(figs[0]).config.timeout
        out.append(Finding("budget-skips", "warning", group_name(group),
                           f"{len(sk)} units were skipped under {group_name(group)} because a budget ran out "
                           f"(sample budget {policy.sample_budget_s} s, task budget {policy.task_budget_s} s).",
                           tuple(f"{t}/{sample_label(s, i)}: {n} skipped" for (t, s, i), n in where.head(6).items())))
    return out


def crashed_workers(c: "Comparison") -> list[Finding]:
    """Units recorded ``crashed``: the worker running them died."""
    out = []
    for group, figs, cr in _groups_with_status(c, "crashed"):
        killed = [w for f in figs for w in c.run_of(f).summary.workers if w.get("killed")]
        msgs = cr["error_message"].dropna().value_counts().head(3)
        out.append(Finding("crashed-workers", "problem", group_name(group),
                           f"{len(cr)} units under {group_name(group)} were lost to dead workers (crashed) "
                           f"over {len(figs)} runs.",
                           tuple([f"{r.task_id}/{sample_label(r.split, r.index)} {r.candidate}"
                                  for r in cr.head(5).itertuples()]
                                 + [f"{n}× {m}" for m, n in msgs.items()]
                                 + [f"{len(killed)} workers killed or dead"])))
    return out


def worker_startup(c: "Comparison") -> list[Finding]:
    """What starting the workers cost, outside every run's wall (summary ``startup_s``), once per
    backend: a warm pool (the process backend's, perfkit/backends/__init__.py ``WarmBackends``)
    is one per backend, grown to each run's worker count and lent to the runs of every strategy
    and worker count; its first runs pay the forks, the next ones only building the solver.
    Threads start with each run and start no process."""
    pools: dict[str, list] = {}
    for group, figs in _runs_by_group(c):
        if group[1] != "inline":
            pools.setdefault(group[1], []).extend(figs)
    out = []
    for backend, figs in pools.items():
        startups = sorted(float(c.run_of(f).summary.startup_s) for f in figs)
        if not startups or startups[-1] <= 0:
            continue
        made = [int(c.run_of(f).summary.resources.get("processes_created", 0) or 0) for f in figs]
        created = sum(made)
        strategies = list(dict.fromkeys(f.strategy for f in figs))
        counts = sorted({f.workers for f in figs})
        runs = f"{len(figs)} run{'s' if len(figs) != 1 else ''}"
        if backend == "thread":
            how = f"no process started over {runs}: the workers are threads each run starts"
        else:
            how = (f"{created} worker process{'es' if created != 1 else ''} started over {runs}"
                   + (" (a warm pool is started once, grown to the largest worker count and lent to every run; "
                      "each run builds a fresh solver in each worker)" if created and 0 in made else ""))
        out.append(Finding("worker-startup", "info", group_name((strategies[0], backend, counts[0]))
                           if len(strategies) == 1 and len(counts) == 1 else "",
                           f"Starting the {backend} workers (×{', ×'.join(map(str, counts))}) took {duration(startups[-1])} "
                           f"at most, {duration(float(np.median(startups)))} median, outside the runs' walls "
                           f"({runs} of {', '.join(strategies)}).", (how,)))
    return out


def _others_median(figs: list[RunFigures]) -> float:
    """Cores other work (other processes, stray threads) used during these runs, the median; 0
    when it was not measured."""
    others = [f.others_cores for f in figs if not is_missing(f.others_cores)]
    return _upper_median(others) if others else 0.0


def _upper_median(values: list[float]) -> float:
    """The median of ``values``, the upper of the middle two for an even count (a figure one
    run measured); NaN for none."""
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else float("nan")


def low_efficiency(c: "Comparison") -> list[Finding]:
    """Parallel groups whose median efficiency is below :data:`LOW_EFFICIENCY`. The bound counts
    what the units wait (sleep, I/O: perfkit/analysis/metrics.py ``unit_wait``) beside their CPU,
    so units that wait are held to what their workers allow, not to the cores."""
    out = []
    ref_fig = c.figure_of(c.reference) if c.reference is not None else None
    for _, row in c.groups.iterrows():
        if row["strategy"] == "sequential" or not row["efficiency_median"] < LOW_EFFICIENCY:
            continue
        figs = [f for f in c.figures if f.group == (row["strategy"], row["backend"], row["workers"])]
        out.append(Finding("low-efficiency", "warning", row["group"],
                           f"{row['group']} reached only {percent(row['efficiency_median'])} of the physical limit: "
                           f"ideal {row['ideal_wall_s_median']:.3f} s, measured {row['wall_s_median']:.3f} s.",
                           (f"dispatch overhead {percent(row['dispatch_overhead_median'])} of worker capacity",
                            f"contention {row['contention_median']:.2f}× (unit wall / unit CPU)",
                            f"queue wait median {row['queue_wait_median_s_median']:.3f} s, "
                            f"max {row['queue_wait_max_s_median']:.3f} s",
                            f"parallelism {row['parallelism_median']:.2f} on {row['slots']} slots")
                           + _waiting_evidence(figs, ref_fig) + _busy_evidence(figs)))
    return out


def _busy_evidence(figs: list[RunFigures]) -> tuple[str, ...]:
    """When other work took cores during these runs: the limit counted them free."""
    others, cores = _others_median(figs), figs[0].cores
    if others < BUSY_OTHER_CORES:
        return ()
    return (f"{_others(figs)} used {others:.2f} of the {cores} usable cores during these runs (median): the "
            f"physical limit counts all {cores} free, so part of the gap is theirs",)


def _waiting_evidence(figs: list, ref_fig: Optional[RunFigures]) -> tuple[str, ...]:
    """How much waiting the bound of these runs counts; or, when it counts none beside a
    reference whose units read far above their CPU on a busy machine, why not."""
    waits = sorted(f.wait_s for f in figs)
    if not waits or waits[len(waits) // 2] <= 0:
        # the sentence says other work ran: not said when the machine's load is unknown
        if ref_fig is None or is_missing(ref_fig.others_cores) or not (
                ref_fig.contention >= WAITING_CONTENTION and not ran_quiet(ref_fig.others_cores, ref_fig.stray_threads)):
            return ()
        return (f"the sequential reference's units took {ref_fig.contention:.1f}× their CPU beside other work: "
                "what they waited on (sleep, I/O) cannot be told from waiting for a core there, so the bound "
                "counts their CPU only; measure on a quiet machine",)
    f = figs[0]
    return (f"the bound counts {waits[len(waits) // 2]:.3f} s the units waited off the CPU under sequential "
            f"(sleep, I/O) beside {f.work_s:.3f} s of CPU: they need a worker each, not a core, "
            f"so {f.workers} worker{'s allow' if f.workers != 1 else ' allows'} at most {f.workers} at once",)


def nondeterministic_candidates(c: "Comparison") -> list[Finding]:
    """Candidates whose output differed between the sequential reference's own runs (each in a
    fresh process): a solver fault, named with its samples; their units are not counted as
    strategy differences (perfkit/analysis/answers.py)."""
    v = c.variability
    if v is None or v.nondeterministic.empty:
        return []
    nd = v.nondeterministic
    tasks_of: dict[str, list[str]] = {}
    for task, cand in v.candidates():
        tasks_of.setdefault(cand, []).append(task)
    many_tasks = nd["task_id"].nunique() > 1
    names = [cand + (f" (task{'s' if len(ts) > 1 else ''} {', '.join(ts[:3])}{' …' if len(ts) > 3 else ''})"
                     if many_tasks else "") for cand, ts in tasks_of.items()]
    excused = sum(a.kind_counts().get(NONDETERMINISTIC, 0) for a in c.answers)
    ev = tuple(f"{r.task_id}/{sample_label(r.split, r.index)} {r.candidate}: "
               + (f"{r.outputs} different outputs" if r.outputs > 1 else f"statuses {r.statuses}")
               + f" in {v.runs} sequential runs" for r in nd.head(EVIDENCE_ROWS).itertuples())
    return [Finding(
        "nondeterministic-candidates", "problem", "",
        f"{len(names)} candidate{'s' if len(names) > 1 else ''} gave different answers on the same sample in the "
        f"{v.runs} sequential runs (each in a fresh process): {', '.join(names[:EVIDENCE_ROWS])}"
        f"{' …' if len(names) > EVIDENCE_ROWS else ''}. This is a solver fault (unseeded randomness, the order of a "
        f"set or of string hashes, state kept between calls), not a strategy's: their units are left out of the "
        f"strategies' answer differences ({excused} such differences under the strategies).", ev)]


def _flipped_under(c: "Comparison", kinds: tuple[str, ...]) -> dict[tuple, list[str]]:
    """Unit key → the groups under which the unit's difference was one of ``kinds``."""
    out: dict[tuple, list[str]] = {}
    for a in c.answers:
        t = a.table
        if len(t):
            for key in t.loc[t["kind"].isin(kinds), KEY].itertuples(index=False, name=None):
                out.setdefault(key, []).append(a.group)
    return out


def boundary_units(c: "Comparison") -> list[Finding]:
    """Units at their limit that flip between an end (ok or error) and timeout — between the reference's own runs
    or under a strategy — reported as boundary flips with their count and times, not as lost
    answers. Flips of units far from the limit are the machine's noise (:func:`timeout_noise`)."""
    v = c.variability
    if v is None or v.boundary.empty:
        return []
    b = v.boundary.set_index(KEY)
    b = b[~b["far"]]
    flipped_under = {k: g for k, g in _flipped_under(c, (BOUNDARY_FLIP,)).items() if k in b.index}
    flipped = b[b["flipped"] | b.index.isin(list(flipped_under))]
    if flipped.empty:
        return []
    n_strategy = sum(len(g) for g in flipped_under.values())
    ev = []
    for key, row in flipped.sort_values("wall_max_s", ascending=False).head(EVIDENCE_ROWS).iterrows():
        task_id, split, index, cand = key
        under = sorted(set(flipped_under.get(key, [])))
        ev.append(f"{task_id}/{sample_label(split, index)} {cand}: sequential {row['wall_min_s']:.3f}–"
                  f"{row['wall_max_s']:.3f} s ({row['statuses']})"
                  + (f"; flipped under {', '.join(under)}" if under else ""))
    return [Finding(
        "boundary-units", "warning", "",
        f"{len(flipped)} units sit at their {v.timeout_s:g} s limit and flip between finishing (ok or error) and "
        f"timing out: "
        f"{int(flipped['flipped'].sum())} flipped between the {v.runs} sequential runs themselves and {n_strategy} "
        f"times under the strategies. These are boundary flips (a unit whose sequential time reaches "
        f"{BOUNDARY_SHARE:.0%} of the timeout, or that flips between sequential runs), not lost answers: the "
        f"slowest of them took {duration(flipped['wall_max_s'].max())} under sequential, so a timeout with room above "
        f"that, or cheaper units, would keep their answers stable.", tuple(ev))]


def timeout_noise(c: "Comparison") -> list[Finding]:
    """The sequential runs themselves timed out units far from their limit: the timeout is
    within the machine's noise, and the runs' timeouts are weighed against that rate."""
    v = c.variability
    if v is None or not v.noise_timeouts_per_run:
        return []
    far = v.boundary[v.boundary["far"]]
    noise = sum(a.kind_counts().get(NOISE_TIMEOUT, 0) for a in c.answers)
    beyond = [a for a in c.answers if a.kind_counts().get(NEW_TIMEOUT)]
    text = (f"At {v.timeout_s:g} s the timeout is within this machine's noise: the {v.runs} sequential runs "
            f"themselves timed out {len(far)} units that took under {BOUNDARY_SHARE:.0%} of it in another run "
            f"(median {far['wall_min_s'].median() * 1000:.2f} ms), {v.noise_timeouts_per_run:.0f} per run: "
            f"scheduling and other work, not the units. A run whose timeouts stay within {NOISE_FACTOR:g}× that "
            f"rate does not lose answers by them ({noise} such timeouts over {len(c.answers) - len(beyond)} runs)")
    text += (f"; {len(beyond)} runs went beyond it and their new timeouts count." if beyond else ".")
    text += " Raise the timeout well above this noise, or measure on a quiet machine."
    ev = tuple(f"{r.task_id}/{sample_label(r.split, r.index)} {r.candidate}: sequential {r.wall_min_s * 1000:.2f} ms"
               f" and timeout ({r.statuses})" for r in far.head(EVIDENCE_ROWS).itertuples())
    return [Finding("timeout-noise", "warning", "", text, ev)]


def cost_concentration(c: "Comparison") -> list[Finding]:
    """Where the time goes: when a few candidates (samples, tasks) take most of the reference's
    unit time (at most :data:`CONCENTRATED_MEMBERS` of them, :data:`CONCENTRATED_SHARE` of the
    time), name them with their share and how many of their units hit the timeout."""
    out = []
    source = _cost_source(c)
    for by in COST_KEYS:
        t = c.cost.get(by)
        if t is None or len(t) < MIN_MEMBERS:
            continue
        top = t[t["cumulative"].shift(fill_value=0.0) < CONCENTRATED_SHARE]
        if len(top) > CONCENTRATED_MEMBERS * len(t):
            continue
        named = ", ".join(f"{r.name} ({r.share:.0%}; {r.timeouts} of {r.units} units timed out)"
                          for r in top.head(EVIDENCE_ROWS).itertuples())
        named += ", …" if len(top) > EVIDENCE_ROWS else ""
        unit_share = top["units"].sum() / t["units"].sum()
        advice = {"candidate": " Cheaper versions of them, or a lower timeout for them, shorten every strategy.",
                  "sample": " Work items that hold these samples bound the critical path.",
                  "task": ""}[by]
        out.append(Finding(
            f"cost-by-{by}", "warning" if by == "candidate" else "info", "",
            f"Where the time goes: {len(top)} of {len(t)} {by}s ({percent(unit_share, 1)} of units) "
            f"take{'s' if len(top) == 1 else ''} "
            f"{percent(top['share'].sum())} of unit time {source}: {named}.{advice}",
            tuple(f"{r.name}: {r.wall_s:.3f} s ({r.share:.1%}; cumulative {r.cumulative:.1%}); "
                  f"{count(r.units, 'unit')}, "
                  f"{r.timeouts} timed out ({r.timeout_wall_s:.3f} s)" for r in t.head(EVIDENCE_ROWS).itertuples())))
    return out


def timeout_cost(c: "Comparison") -> list[Finding]:
    """Timed-out units that take at least :data:`TIMEOUT_SHARE` of the reference's unit time
    (the time its runs really spent): each costs its whole limit. Units that time out in every
    sequential run are hopeless or slow candidates; those that time out only in some are
    boundary units or noise, and the advice differs."""
    refs = c.runs_of(c.figure_of(c.reference).group) if c.reference is not None else c.runs[:1]
    units = ran(pd.concat([r.units for r in refs])) if refs else pd.DataFrame()
    if units.empty:
        return []
    timed_out = units[units["status"] == "timeout"]
    total, spent = float(units["wall_s"].sum()), float(timed_out["wall_s"].sum())
    if timed_out.empty or spent < TIMEOUT_SHARE * total:
        return []
    # the rows are the reference runs' outcomes: a unit timed out in each of 2 runs is one
    # unit with 2 timeouts, and the shares are of all the runs' time alike
    per_unit = timed_out.groupby(KEY, sort=False).agg(timeouts=("wall_s", "size"), wall_s=("wall_s", "sum"))
    n_units = int(units.drop_duplicates(KEY).shape[0])
    flipping = pd.Series(_flipped_mask(c, per_unit.reset_index()), index=per_unit.index)
    always = per_unit[~flipping & (per_unit["timeouts"] >= len(refs))]
    sometimes = per_unit[~per_unit.index.isin(always.index)]
    parts = []
    if len(always):
        verb = "times" if len(always) == 1 else "time"
        parts.append(f"{len(always)} {verb} out in every sequential run ({percent(always['wall_s'].sum() / total)} of "
                     f"unit time): hopeless or slow candidates, where a lower timeout or a solver that gives up "
                     f"sooner saves time")
    if len(sometimes):
        parts.append(f"{len(sometimes)} only in some runs ({percent(sometimes['wall_s'].sum() / total)}): units at "
                     f"their limit or the machine's noise (see the boundary and noise findings), where a lower "
                     f"timeout would lose answers")
    worst = per_unit.groupby(level="candidate").agg(units=("timeouts", "size"), timeouts=("timeouts", "sum"),
                                                    wall_s=("wall_s", "sum")).sort_values("wall_s", ascending=False)
    runs = f"in {len(refs)} sequential runs" if len(refs) > 1 else "in the sequential run"
    return [Finding(
        "timeout-cost", "warning", "",
        f"{len(per_unit)} unit{'s' if len(per_unit) != 1 else ''} timed out ({percent(len(per_unit) / n_units, 1)} of "
        f"{n_units} units; "
        f"{len(timed_out)} timeouts {runs}) and take {percent(spent / total)} of the unit time the sequential "
        f"runs spent, each timeout its whole limit: " + "; ".join(parts) + ".",
        tuple(f"{cand}: {count(int(r['units']), 'unit')}, {int(r['timeouts'])} timeouts {runs}, {r['wall_s']:.3f} s"
              for cand, r in worst.head(EVIDENCE_ROWS).iterrows()))]


def _flipped_mask(c: "Comparison", df: pd.DataFrame):
    """Units of ``df`` that flipped between an end (ok, error) and timeout between the
    reference's own runs."""
    flips = c.variability.flips if c.variability is not None else pd.DataFrame()
    if flips.empty:
        return pd.Series(False, index=df.index).to_numpy()
    return pd.MultiIndex.from_frame(df[KEY]).isin(pd.MultiIndex.from_frame(flips[KEY]))


def _cost_source(c: "Comparison") -> str:
    """Which runs the cost tables come from (see perfkit/analysis/comparison.py)."""
    if c.variability is None:
        return "in the first run"
    if c.variability.runs > 1:
        return f"(each unit's fastest of {c.variability.runs} sequential runs)"
    return "in the sequential run"


def _mb(n: float) -> str:
    return f"{n / 2**20:.0f} MB"


def memory_drivers(c: "Comparison") -> list[Finding]:
    """Work items whose peak resident memory stands out (:data:`MEMORY_FACTOR` × the median
    item and :data:`MEMORY_RISE_BYTES` above it): the candidates or samples in every such item
    and in no other drive memory. One finding per group (its first run measured)."""
    out = []
    for group, figs in _runs_by_group(c):
        run = next((c.run_of(f) for f in figs if c.run_of(f).summary.items), None)
        items = item_memory(run) if run is not None else None
        if items is None or len(items) < 2:
            continue
        median = float(items["peak_rss_bytes"].median())
        heavy_mask = items["peak_rss_bytes"] >= max(MEMORY_FACTOR * median, median + MEMORY_RISE_BYTES)
        heavy, light = items[heavy_mask], items[~heavy_mask]
        if heavy.empty:
            continue
        culprits = _only_in(heavy["candidates"], light["candidates"])
        samples = _only_in(heavy["samples"], light["samples"])
        if len(culprits) == 1:
            who = f"candidate {next(iter(culprits))}, in every such item and in no other, drives it"
        elif culprits:
            who = (f"candidates {', '.join(sorted(culprits)[:EVIDENCE_ROWS])} are in every such item and in no "
                   f"other: one or more of them drives it (smaller work items would tell which)")
        elif samples:
            many = run.units["task_id"].nunique() > 1  # a task's demo[0] is named with its task
            who = "sample" + ("s " if len(samples) > 1 else " ") + ", ".join(
                sample_label(s, i, t if many else None) for t, s, i in sorted(samples)[:EVIDENCE_ROWS]) \
                + ", in every such item and no other"
        else:
            who = "no candidate or sample is common to them alone (see the items below)"
        killed = heavy["running"].dropna()
        if len(killed):  # the unit in flight when the worker was killed holds the peak's first suspect
            running = killed.str.split(" on ").str[0].value_counts()
            who += (f"; {len(killed)} of them had their worker killed at a unit's timeout while running "
                    + ", ".join(f"{cand} ({n}×)" if n > 1 else cand for cand, n in running.head(EVIDENCE_ROWS).items()))
        out.append(Finding(
            "memory", "warning", group_name(group),
            f"Memory under {group_name(group)}: {len(heavy)} of {len(items)} work items peaked at up to "
            f"{_mb(heavy['peak_rss_bytes'].max())} of resident memory against a median item of {_mb(median)}; "
            f"{who}.",
            tuple(f"{r.task_id} item {r.chunk} on {r.worker}: {_mb(r.peak_rss_bytes)}, {count(r.units, 'unit')} "
                  + (f"(killed at the timeout of {r.running})" if isinstance(r.running, str) else
                     f"({', '.join(sorted(r.candidates)[:4])}{' …' if len(r.candidates) > 4 else ''})")
                  for r in heavy.sort_values("peak_rss_bytes", ascending=False).head(EVIDENCE_ROWS).itertuples())))
    return out


def _only_in(heavy, light) -> set:
    """What every heavy item holds and no light item does."""
    common = set.intersection(*(set(x) for x in heavy)) if len(heavy) else set()
    return common - set().union(*(set(x) for x in light))


def _busy(c: "Comparison", figures) -> list:
    return [f for f in figures if not is_missing(f.others_cores) and f.others_cores >= BUSY_OTHER_CORES]


def _others(figures) -> str:
    """Who the other work was: other processes, and the threads earlier runs left running."""
    return ("other processes and threads left running by earlier runs" if any(f.stray_threads for f in figures)
            else "other processes")


def _busy_during(busy: list[RunFigures], runs: str) -> str:
    """"other processes used up to 1.32 cores during 8 of <runs>": who, how much, how often."""
    return f"{_others(busy)} used up to {max(f.others_cores for f in busy):.2f} cores during {len(busy)} of {runs}"


def _quiet_again(busy: list[RunFigures], what: str) -> str:
    """"compare again on a quiet one": and, when part of the other work was threads the thread
    runs left running, without those runs, which leave them on any machine (networkx: a quiet
    machine would have run the same stray Floyd–Warshall threads through every later run)."""
    if not any(f.stray_threads for f in busy):
        return f"{what} on a quiet one"
    return (f"{what} on a quiet one without the thread backend: its runs left the threads running, and would "
            f"on any machine")


def busy_machine(c: "Comparison") -> list[Finding]:
    """Runs during which other work used at least :data:`BUSY_OTHER_CORES` cores: their walls,
    speedups and timeouts include waiting for it. Other work is other processes, and threads that
    earlier runs of this process could not stop (:func:`stray_threads`)."""
    busy = _busy(c, c.figures)
    if not busy:
        return []
    most = max(busy, key=lambda f: f.others_cores)
    loads = [f.load_avg_1m for f in busy if not is_missing(f.load_avg_1m)]
    load = f"; 1-minute load average up to {max(loads):.1f}" if loads else ""
    return [Finding(
        "busy-machine", "warning", "",
        f"The machine was not quiet: {_others(busy)} used up to {most.others_cores:.2f} cores on average during "
        f"{len(busy)} of {len(c.figures)} runs (of {most.cores} usable cores{load}). Walls, speedups and timeouts "
        f"measured then include waiting for other work: compare again on a quiet machine"
        + (", with no threads left running (stray-threads finding)," if any(f.stray_threads for f in busy) else "")
        + " before trusting them.",
        tuple(f"{f.run_id} ({f.name}): other work {f.others_cores:.2f} cores"
              + (f", of which {f.stray_threads} stray threads {f.stray_cores:.2f}" if f.stray_threads else "")
              + ("" if is_missing(f.load_avg_1m) else f", load {f.load_avg_1m:.1f}")
              for f in busy[:EVIDENCE_ROWS]))]


def stray_threads(c: "Comparison") -> list[Finding]:
    """Runs that ran beside threads abandoned by earlier thread-backend runs of the same process
    (units the thread backend could not stop, still running): every later run of the comparison
    shares the cores and the GIL with them, so its wall and timeouts depend on its place in the
    order (perfkit/backends/thread.py)."""
    hit = [f for f in c.figures if f.stray_threads]
    if not hit:
        return []
    most, n = max(hit, key=lambda f: f.stray_cores), max(f.stray_threads for f in hit)
    return [Finding(
        "stray-threads", "problem", "",
        f"{len(hit)} of {len(c.figures)} runs ran beside up to {n} thread{'s' if n != 1 else ''} that "
        f"earlier thread-backend runs could not stop (timed-out units still running), which took up to "
        f"{most.stray_cores:.2f} cores: those runs' walls, timeouts and speedups include that work, and later runs "
        f"suffer more.{_stopped_late(c, hit)} Compare the thread backend on its own, or make the solver stop at its "
        f"deadline.",
        tuple(f"{f.run_id} ({f.name}): {f.stray_threads} stray threads, {f.stray_cores:.2f} cores"
              for f in sorted(hit, key=lambda f: -f.stray_cores)[:EVIDENCE_ROWS]))]


def _past_deadline_s(c: "Comparison", figs: list[RunFigures]) -> pd.Series:
    """How long past its deadline each unit stopped with its process worker ran (wall − timeout)."""
    late = [(u["wall_s"] - f.timeout_s)[u["error_type"].eq("WorkerKilled")]
            for f in figs if f.backend == "process" for u in (c.run_of(f).units,)]
    return pd.concat(late).clip(lower=0.0) if late else pd.Series(dtype=float)


def _stopped_late(c: "Comparison", hit: list[RunFigures]) -> str:
    """The stray threads share the comparison's process with the parent that stops the process
    backend's workers at their timeouts: networkx's units were stopped 0.14 s past their deadline
    beside them (median, up to 0.68 s), 0.06 s without. Said when the median at least doubles."""
    beside = _past_deadline_s(c, hit)
    alone = _past_deadline_s(c, [f for f in c.figures if not f.stray_threads])
    if beside.empty or alone.empty or not beside.median() >= 2 * alone.median() > 0:
        return ""
    return (f" They share the comparison's process with what stops the process workers at a unit's timeout: "
            f"beside them units were stopped {duration(beside.median())} past their deadline (median of "
            f"{len(beside)}, up to {duration(beside.max())}), against {duration(alone.median())} in the process runs "
            f"without them.")


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
        if _thread_cpu_only(c, figs):  # less CPU because less of it was seen: cpu_off_thread
            continue
        pairs = _unit_cpu_pairs(c, figs)
        ratio = _upper_median([r for _f, r in pairs])
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


def _thread_cpu_only(c: "Comparison", figs: list) -> bool:
    """Whether these runs' units' CPU (their calling threads') missed CPU they used elsewhere
    that their reference saw (perfkit/analysis/metrics.py ``missed_cpu``)."""
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
        if not _thread_cpu_only(c, figs):
            continue
        pairs = _unit_cpu_pairs(c, figs)
        ratio = _upper_median([r for _f, r in pairs])
        if not ratio < WARM_STATE_RATIO:
            continue
        runs = [r for r in (_run_cpu_vs_reference(c, c.run_of(f)) for f in figs) if not is_missing(r)]
        if not _upper_median(runs) >= WARM_STATE_RATIO:
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
        times = _times([r for _n, r, _p in groups])
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
    under sequential beyond what moved the other units of each run (metrics.py
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
    found = _carried(c, levels)
    many = c.reference.units["task_id"].nunique() > 1
    return [_after_stop_finding(hits, levels, many) if kind == AFTER_STOP else
            _carried_state_finding(hits, kind, levels, many) for kind, hits in found.items() if hits]


#: The key of :func:`_carried`'s cheaper units that every reference run ran after a stop.
AFTER_STOP = "after-stop"


def _carried(c: "Comparison", levels: dict[str, list[float]], only: Optional[tuple] = None) -> dict[object, list]:
    """Dearer (True) and cheaper (False): ``(group name, unit key, its row in each run)`` for
    every unit of :func:`carried_state` (of the group ``only``, when given); under
    :data:`AFTER_STOP` the cheaper units that every reference run ran after a unit that ended by an
    exception, in its process, whose CPU covers what they saved here (metrics.py
    ``after_stopped``): the reference's cost is then what differs. ``levels`` receives each
    group's run levels."""
    ref_group = c.figure_of(c.reference).group
    groups = [figs for group, figs in c.by_group().items()  # one run cannot tell state from a burst of other work
              if group != ref_group and len(figs) >= 2 and only in (None, group) and not _thread_cpu_only(c, figs)]
    out: dict[object, list] = {True: [], False: [], AFTER_STOP: []}
    refs = _shared(("reference_cost",), lambda: reference_cost([r.units for r in c.runs_of(ref_group)])) \
        if groups else None
    for figs in groups:
        tables = [_shared(("carried", id(run)), lambda: _around(_beside(run, f.timeout_s, _fresh(
            run, cost_against_reference(run.units, refs))))) for f in figs for run in (c.run_of(f),)]
        levels[figs[0].name] = [float((t["cpu_s"] / t["level_cpu_s"]).median()) for t in tables if len(t)]
        for dearer in (True, False):
            # dearer beside a given-up thread: what ran beside it, not before it (cold-state says so)
            hits = [t[_stands_out(t, dearer) & ~(dearer & t["beside"])] for t in tables]
            keys = set.intersection(*(set(h[KEY].itertuples(index=False, name=None)) for h in hits))
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
    order (metrics.py ``neighbour_level``). Units are assigned alike in
    every run of a strategy, so the same units fall on the same worker at the same point of
    every run: a worker slower for a stretch (markdown-it, candidate-parallel/process×2: every
    unit of one worker 1.4–1.9× for a run) or a reference slower around a unit moves the same
    units in every run, and its neighbours with them."""
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
    1.25–1.33×), or, on one worker, a thread given up at its timeout (metrics.py
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
                & (own - t["ref_high_s"] >= STATE_MIN_S))
    own = t["cpu_s"] / levels.min(axis=1)
    return (t["status"].eq("ok") & (own <= WARM_STATE_RATIO * t["ref_low_s"])
            & (t["ref_low_s"] - own >= STATE_MIN_S))


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
    took = (f"{count(len(units), 'unit')} took {_times([ratio(r) for _g, _k, rows in hits for r in rows])} "
            f"{'its' if one else 'their'} CPU under sequential in every run of {', '.join(groups)}")
    return units, groups, "it" if one else "them", took


def _after_stop_finding(hits: list, levels: dict[str, list[float]], many_tasks: bool) -> Finding:
    """:func:`_carried`'s :data:`AFTER_STOP` units: cheaper than under sequential because every
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


def _times(ratios: list[float]) -> str:
    """``1.61–3.99×``, or ``2.00×`` when the lowest and highest read alike."""
    low, high = f"{min(ratios):.2f}", f"{max(ratios):.2f}"
    return f"{low}×" if low == high else f"{low}–{high}×"


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
    ratios = ((f, _shared(("cpu_vs_reference", id(run)), lambda: _cpu_vs_reference(c, run)))
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


def recommendation(c: "Comparison") -> Optional[Finding]:
    """The fastest group (median wall) whose answers agree with sequential beyond its own
    variability, recommended only when its speedup's interval excludes 1.0 ("no gain") and
    the speedup reaches :data:`MIN_SPEEDUP`; otherwise "no significant difference" with the
    interval, or no verdict when one run gives no interval. Marked when measured on a busy
    machine."""
    g = c.groups
    if g.empty:
        return None
    if c.reference is None:  # no speedup to rank by ("nan×"), no answers checked
        return Finding("recommendation", "recommendation", "",
                       "No recommendation: no sequential run to measure speedups and check answers against.")
    bad = {a.group for a in c.answers if not a.agrees}
    excluded = tuple(f"{r['group']} ({r['speedup']:.2f}×) changed answers: not considered"
                     for _, r in g[g["group"].isin(bad)].iterrows())
    ok = g[~g["group"].isin(bad) & (g["strategy"] != "sequential")].sort_values("wall_s_median")
    if ok.empty:
        text = ("No strategy kept the sequential answers: fix the differences before tuning speed." if bad else
                "Only sequential ran: nothing to recommend.")
        busy = _busy(c, [f for f in c.figures if f.name in bad]) if bad else []
        if busy:  # answers lost to timeouts beside other work may be that work's, not the strategy's
            text += (f" The runs that changed them were measured on a busy machine ({_busy_during(busy, 'them')}): "
                     f"{_quiet_again(busy, 'compare again')} before changing the solver.")
        return Finding("recommendation", "recommendation", "", text, excluded)
    best = ok.iloc[0]
    speed = ratio_interval(best["speedup"], best["speedup_low"], best["speedup_high"], label="95 % CI")
    basis = (f"median wall {best['wall_s_median']:.3f} s over {count(int(best['repeats']), 'run')} "
             f"(min {best['wall_s_min']:.3f}, max {best['wall_s_max']:.3f}); "
             f"sequential over {count(_reference_runs(c), 'run')}",)
    where = f"{best['strategy']} on the {best['backend']} backend with {best['workers']} workers"
    if is_missing(best["speedup_low"]):
        text = (f"No verdict: {best['group']} ran {speed} as fast as sequential; one run gives no interval, so "
                f"repeat every configuration (at least 2 runs each) before choosing.")
    elif interval_excludes(best["speedup_low"], best["speedup_high"]) and best["speedup_low"] > 1.0 \
            and best["speedup"] >= MIN_SPEEDUP:
        text = (f"Use {where}: {speed} faster than sequential, "
                f"{percent(best['efficiency_median'])} of the physical limit.")
    elif interval_excludes(best["speedup_low"], best["speedup_high"]) and best["speedup_high"] < 1.0:
        text = (f"Stay sequential: every strategy that kept the answers was slower; the fastest, {best['group']}, "
                f"ran {speed} as fast.")
    else:
        why = ("an interval that includes 1.0 (no gain)" if not best["speedup_low"] > 1.0 else
               f"less than the {MIN_SPEEDUP:.2f}× worth switching for")
        text = (f"No significant difference: the fastest strategy that kept the answers, {best['group']}, ran "
                f"{speed} as fast as sequential, {why}: stay sequential, or measure more repeats.")
    busy = _busy(c, [f for f in c.figures if f.name in (best["group"], _reference_name(c))])
    if busy:
        text += f" Measured on a busy machine ({_busy_during(busy, 'these runs')}): {_quiet_again(busy, 'confirm')}."
    return Finding("recommendation", "recommendation", best["group"], text, basis + excluded)


def _reference_runs(c: "Comparison") -> int:
    return c.variability.runs if c.variability is not None else 0


def _reference_name(c: "Comparison") -> str:
    return c.figure_of(c.reference).name if c.reference is not None else ""


RULES: dict[str, Callable[["Comparison"], list[Finding]]] = {
    "nondeterministic-candidates": nondeterministic_candidates,
    "busy-machine": busy_machine,
    "stray-threads": stray_threads,
    "warm-state": warm_state,
    "cpu-off-thread": cpu_off_thread,
    "cold-state": cold_state,
    "carried-state": carried_state,
    "contention-timeouts": contention_timeouts,
    "boundary-units": boundary_units,
    "timeout-noise": timeout_noise,
    "cost-concentration": cost_concentration,
    "timeout-cost": timeout_cost,
    "memory": memory_drivers,
    "gil": gil_bound,
    "candidate-generation": candidate_generation,
    "dispatch-overhead": dispatch_overhead,
    "critical-path": critical_path,
    "leaked-timeouts": leaked_timeouts,
    "budget-skips": budget_skips,
    "crashed-workers": crashed_workers,
    "low-efficiency": low_efficiency,
    "worker-startup": worker_startup,
}


#: What several rules read of one comparison, made once while :func:`findings` runs (None
#: outside it: a rule called on its own computes afresh): keyed by what it is and the run's id().
_SHARED: ContextVar[Optional[dict]] = ContextVar("perfkit_findings_shared", default=None)


def _shared(key: tuple, make: Callable[[], object]):
    """``make()``, once per :func:`findings` call for each ``key`` (a run's CPU against its
    reference's is read by warm-state, cold-state and cpu-off-thread; carried-state's cost
    tables by carried-state and contention-timeouts)."""
    memo = _SHARED.get()
    if memo is None:
        return make()
    if key not in memo:
        memo[key] = make()
    return memo[key]


def findings(c: "Comparison") -> list[Finding]:
    """Every rule's findings, problems first."""
    token = _SHARED.set({})
    try:
        found = [f for rule in RULES.values() for f in rule(c)]
    finally:
        _SHARED.reset(token)
    return sorted(found, key=lambda f: SEVERITIES.index(f.severity) if f.severity in SEVERITIES else 9)
