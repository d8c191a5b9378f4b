"""Findings: rules that turn a comparison's figures into sentences, each with its evidence.

A rule is a function ``(Comparison) -> list[Finding]``, registered in :data:`RULES`; it reads the
figures computed by :mod:`perfkit.analysis.metrics` and :mod:`perfkit.analysis.answers` and
never computes a figure of its own that a report would need. Thresholds are module constants.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Optional

import pandas as pd

from perfkit.analysis.answers import new_timeouts
from perfkit.analysis.metrics import KEY, SAMPLE, group_name, queue_wait, ran
from perfkit.analysis.text import percent
from perfkit.model import sample_label

if TYPE_CHECKING:  # pragma: no cover
    from perfkit.analysis.comparison import Comparison

#: A unit got less than this share of a core while running → contention.
CONTENTION_SHARE = 0.8
#: Thread runs whose parallelism (CPU/wall) stays under this on ≥ 2 slots are GIL-bound.
GIL_PARALLELISM = 1.25
#: Dispatch overhead above this fraction of worker capacity is reported.
DISPATCH_FRACTION = 0.30
#: From this many units per work item on, the per-item dispatch cost (~0.6 ms on the process
#: backend, docs/benchmarks.md) is < 10 µs per unit: what overhead remains is per unit.
PER_UNIT_CHUNK = 64
#: A work item should cost at least this many times its dispatch overhead.
ITEM_TO_OVERHEAD = 10.0
#: The critical path binds when it exceeds the even share of work by this factor.
CRITICAL_FACTOR = 1.5
#: A worker busy this many times longer than the mean worker is a straggler.
STRAGGLER_FACTOR = 1.5
#: Efficiency below this fraction of the physical limit is reported.
LOW_EFFICIENCY = 0.5
#: A strategy must beat sequential by this factor to be recommended.
MIN_SPEEDUP = 1.05

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


def contention_timeouts(c: "Comparison") -> list[Finding]:
    """Units that timed out here but not under sequential: one finding per group (its first run
    with such units), naming the samples, with the share of a core the units got while running
    (unit CPU / unit wall), the queue wait and the contention figures as evidence."""
    out = []
    done: set[tuple] = set()
    for run, fig in zip(c.runs, c.figures):
        ref = c.reference_for(run)
        if ref is None or run is ref or fig.group in done:
            continue
        u, r = run.units, ref.units.drop_duplicates(KEY).set_index(KEY)
        new = new_timeouts(u, ref.units)
        if new.empty:
            continue
        done.add(fig.group)
        share = float(new["cpu_s"].sum() / new["wall_s"].sum()) if new["wall_s"].sum() > 0 else float("nan")
        cause = "contention" if share < CONTENTION_SHARE else "timing: the units ran at full speed"
        ev, labels = [], []
        for (task_id, split, index), units in new.groupby(SAMPLE, sort=True):
            sample_units = u[(u["task_id"] == task_id) & (u["split"] == split) & (u["index"] == index)]
            qw = queue_wait(sample_units)
            s_share = units["cpu_s"].sum() / units["wall_s"].sum() if units["wall_s"].sum() > 0 else float("nan")
            ref_wall = r["wall_s"].reindex(pd.MultiIndex.from_frame(units[KEY])).max()
            label = sample_label(split, index)
            labels.append(label)
            ev.append(f"{task_id}/{label}: {len(units)} of {len(sample_units)} candidates timed out; "
                      f"{s_share:.0%} of a core while running; waited {float(qw.min()) if len(qw) else 0.0:.3f} s "
                      f"in the queue; slowest of them under sequential {ref_wall:.3f} s")
        tasks = sorted(new["task_id"].unique())
        n_runs = sum(1 for rr in c.runs_of(fig.group)
                     if rr is not c.reference_for(rr) and len(new_timeouts(rr.units, c.reference_for(rr).units)))
        ev += [f"unit timeout {fig.timeout_s:g} s; {n_runs} of {len(c.runs_of(fig.group))} repeats lost candidates",
               f"run contention (unit wall / unit CPU) {fig.contention:.2f}× vs "
               f"{c.figure_of(ref).contention:.2f}× under sequential",
               f"queue wait: median {fig.queue_wait_median_s:.3f} s, max {fig.queue_wait_max_s:.3f} s "
               f"(queue time never counts against the timeout)",
               f"{fig.workers} workers on {fig.cores} usable cores ({fig.backend} backend)"]
        out.append(Finding(
            "contention-timeouts", "problem", fig.name,
            f"{', '.join(labels[:6])}{' …' if len(labels) > 6 else ''} of task{'s' if len(tasks) > 1 else ''} "
            f"{', '.join(tasks[:3])} timed out under {fig.name} but not under sequential ({len(new)} candidates "
            f"lost): the units got {share:.0%} of a core while running ({cause}; unit wall {fig.contention:.1f}× unit CPU).",
            tuple(ev)))
    return out


def gil_bound(c: "Comparison") -> list[Finding]:
    """Thread backend on ≥ 2 slots with parallelism ≈ 1 while the work is CPU-bound (the
    sequential reference's contention is ≈ 1): the GIL serialises the work."""
    out = []
    ref_fig = c.figure_of(c.reference) if c.reference is not None else None
    if ref_fig is None or not ref_fig.contention < 1.5:
        return out
    g = c.groups
    for _, row in g.iterrows():
        if row["backend"] != "thread" or row["slots"] < 2:
            continue
        par = row["parallelism_median"]
        if not par < GIL_PARALLELISM:
            continue
        ev = [f"parallelism (CPU/wall) {par:.2f} on {row['slots']} slots; efficiency {percent(row['efficiency_median'])}",
              f"contention (unit wall/unit CPU) {row['contention_median']:.2f}× vs {ref_fig.contention:.2f}× under sequential"]
        proc = g[(g["backend"] == "process") & (g["strategy"] == row["strategy"]) & (g["workers"] == row["workers"])]
        if len(proc):
            p = proc.iloc[0]
            ev.append(f"the process backend reached parallelism {p['parallelism_median']:.2f} and "
                      f"{percent(p['efficiency_median'])} efficiency on the same strategy")
        out.append(Finding("gil", "problem", row["group"],
                           f"The thread backend reached {percent(row['efficiency_median'])} efficiency with parallelism "
                           f"{par:.2f} on CPU-bound work (GIL): use the process backend.", tuple(ev)))
    return out


#: Candidate generation above this fraction of a parallel run's wall is reported.
GENERATION_FRACTION = 0.2


def candidate_generation(c: "Comparison") -> list[Finding]:
    """The solver's candidates() runs serially in the parent before each task's units: when it
    is a large share of a parallel run's wall, it caps every strategy's speedup."""
    out = []
    for group, figs in _runs_by_group(c):
        if group[0] == "sequential":
            continue
        f = sorted(figs, key=lambda x: x.wall_s)[len(figs) // 2]
        if f.wall_s > 0 and f.generate_s > GENERATION_FRACTION * f.wall_s:
            out.append(Finding(
                "candidate-generation", "warning", f.name,
                f"Candidate generation takes {f.generate_s:.2f} s of {f.wall_s:.2f} s under {f.name} "
                f"({percent(f.generate_s / f.wall_s)}), serially in the parent while the workers wait: a cheaper "
                f"candidates() is the largest remaining gain.",
                (f"generate_s {f.generate_s:.3f} s over {f.tasks} tasks; units took {f.unit_wall_s:.3f} s of worker time",)))
    return out


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
        # candidate generation has its own finding: it is left out of the capacity here
        capacity = (f.wall_s - f.generate_s) * f.slots
        startup = f.startup_s * f.slots
        between = max(0.0, capacity - startup - f.unit_wall_s)

        per_item = between / max(1, f.work_items)
        unit = f.unit_wall_s / f.units
        current = f.units / max(1, f.work_items)
        per_task = f.units / max(1, f.tasks)
        advise = math.ceil(per_item * ITEM_TO_OVERHEAD / unit) if unit > 0 else 0
        advise = int(min(advise, max(1, per_task // f.slots)))
        ev = (f"worker capacity {capacity:.3f} s ((wall {f.wall_s:.3f} s − candidate generation {f.generate_s:.3f} s) "
              f"× {f.slots} slots); in units {f.unit_wall_s:.3f} s",
              f"start-up and teardown {f.startup_s:.3f} s of wall; between units {between:.3f} s over "
              f"{f.work_items} work items ({per_item * 1000:.1f} ms per item)",
              f"mean unit {unit * 1000:.2f} ms; current chunk ≈ {current:.1f} units")
        if startup > between:
            action = (f"worker start-up takes {f.startup_s:.2f} s of {f.wall_s:.2f} s: the work is too short for "
                      f"this backend (more work per run, or the thread backend)")
        elif current >= PER_UNIT_CHUNK:
            action = (f"with ≈ {current:.0f} units per work item the cost is per unit, not per item "
                      f"({between / max(1, f.units) * 1e6:.0f} µs per unit outside the solver: timing, hashing and "
                      f"recording each outcome), so larger chunks will not remove it; it weighs because units are "
                      f"short ({unit * 1000:.2f} ms)")
        elif advise > current * 1.2 and f.strategy in ("candidate-parallel", "hybrid"):
            action = f"raise the chunk size to {advise} units per work item"
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
        even = f.work_s / max(1, f.slots)
        if f.critical_path_s > CRITICAL_FACTOR * even and f.slots > 1:
            biggest = _biggest_item(run)
            out.append(Finding("critical-path", "warning", f.name,
                               f"The critical path bounds {f.name}: its largest work item ({biggest}) needs "
                               f"{f.critical_path_s:.3f} s while an even share of the work is {even:.3f} s; "
                               f"split the work finer (candidate-parallel or hybrid).",
                               (f"work {f.work_s:.3f} s on {f.slots} slots; ideal wall {f.ideal_wall_s:.3f} s",)))
            continue
        busy = ran(run.units).groupby("worker")["wall_s"].sum()
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
    """Timeouts whose work kept running after the deadline (thread backend cannot stop work)."""
    out = []
    for group, figs in _runs_by_group(c):
        units = _units_of(c, figs)
        leaked = units[units["leaked"].astype(bool)]
        if leaked.empty:
            continue
        s = leaked["leaked_s"].fillna(0).sum()
        out.append(Finding("leaked-timeouts", "problem", group_name(group),
                           f"{len(leaked)} timed-out units under {group_name(group)} kept running after their deadline "
                           f"({s:.2f} s of leaked work over {len(figs)} runs): use the process backend for hard timeouts "
                           f"or make the solver check its deadline.",
                           tuple(f"{r.task_id}/{sample_label(r.split, r.index)} {r.candidate}: leaked "
                                 f"{0 if pd.isna(r.leaked_s) else r.leaked_s:.2f} s" for r in leaked.head(5).itertuples())))
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


def low_efficiency(c: "Comparison") -> list[Finding]:
    """Parallel groups whose median efficiency is below :data:`LOW_EFFICIENCY`."""
    out = []
    for _, row in c.groups.iterrows():
        if row["strategy"] == "sequential" or not row["efficiency_median"] < LOW_EFFICIENCY:
            continue
        out.append(Finding("low-efficiency", "warning", row["group"],
                           f"{row['group']} reached only {percent(row['efficiency_median'])} of the physical limit: "
                           f"ideal {row['ideal_wall_s_median']:.3f} s, measured {row['wall_s_median']:.3f} s.",
                           (f"dispatch overhead {percent(row['dispatch_overhead_median'])} of worker capacity",
                            f"contention {row['contention_median']:.2f}× (unit wall / unit CPU)",
                            f"queue wait median {row['queue_wait_median_s_median']:.3f} s, "
                            f"max {row['queue_wait_max_s_median']:.3f} s",
                            f"parallelism {row['parallelism_median']:.2f} on {row['slots']} slots")))
    return out


def recommendation(c: "Comparison") -> Optional[Finding]:
    """The fastest group (median wall) whose answers all agree with sequential."""
    g = c.groups
    if g.empty:
        return None
    if c.reference is None:  # no speedup to rank by ("nan×"), no answers checked
        return Finding("recommendation", "recommendation", "",
                       "No recommendation: no sequential run to measure speedups and check answers against.")
    bad = {a.group for a in c.answers if not a.clean}
    ok = g[~g["group"].isin(bad)].sort_values("wall_s_median")
    if ok.empty:
        return Finding("recommendation", "recommendation", "",
                       "No strategy kept the sequential answers: fix the differences before tuning speed.")
    best = ok.iloc[0]
    excluded = tuple(f"{r['group']} ({r['speedup']:.2f}×) changed answers: not considered"
                     for _, r in g[g["group"].isin(bad)].iterrows())
    if best["strategy"] == "sequential" or not best["speedup"] >= MIN_SPEEDUP:
        return Finding("recommendation", "recommendation", best["group"],
                       "Stay sequential: no strategy that kept the answers was faster "
                       f"(best: {best['group']}, {best['speedup']:.2f}×).", excluded)
    return Finding("recommendation", "recommendation", best["group"],
                   f"Use {best['strategy']} on the {best['backend']} backend with {best['workers']} workers: "
                   f"{best['speedup']:.2f}× faster than sequential (95 % CI {best['speedup_low']:.2f}–"
                   f"{best['speedup_high']:.2f}), {percent(best['efficiency_median'])} of the physical limit.",
                   (f"median wall {best['wall_s_median']:.3f} s over {best['repeats']} repeats "
                    f"(min {best['wall_s_min']:.3f}, max {best['wall_s_max']:.3f})",) + excluded)


RULES: dict[str, Callable[["Comparison"], list[Finding]]] = {
    "contention-timeouts": contention_timeouts,
    "gil": gil_bound,
    "candidate-generation": candidate_generation,
    "dispatch-overhead": dispatch_overhead,
    "critical-path": critical_path,
    "leaked-timeouts": leaked_timeouts,
    "budget-skips": budget_skips,
    "crashed-workers": crashed_workers,
    "low-efficiency": low_efficiency,
}


def findings(c: "Comparison") -> list[Finding]:
    """Every rule's findings, problems first."""
    found = [f for rule in RULES.values() for f in rule(c)]
    return sorted(found, key=lambda f: SEVERITIES.index(f.severity) if f.severity in SEVERITIES else 9)
