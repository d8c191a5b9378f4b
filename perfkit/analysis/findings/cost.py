"""Rules about where a run's wall goes: the GIL, serial generation, dispatch, the critical
path, start-up, low efficiency, units and items that dominate time or memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional
import math

import numpy as np

from perfkit.analysis.findings.finding import EVIDENCE_ROWS, Finding, runs_by_group, upper_median
from perfkit.analysis.findings.machine import other_work
from perfkit.analysis.findings.state import thread_cpu_only
from perfkit.analysis.metrics.bound import WAITING_CONTENTION, even_share_s
from perfkit.analysis.metrics.cost import COST_KEYS
from perfkit.analysis.metrics.machine import BUSY_OTHER_CORES, ran_quiet
from perfkit.analysis.metrics.memory import item_memory
from perfkit.analysis.metrics.run import RunFigures, group_name
from perfkit.analysis.metrics.slots import busy_by_slot
from perfkit.analysis.text import count, duration, is_missing, percent
from perfkit.model import sample_label, sample_level_run
from perfkit.strategies import sample_level_names

if TYPE_CHECKING:  # pragma: no cover
    from perfkit.analysis.comparison import Comparison


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
#: Waiting off the CPU under sequential below this share of the units' CPU moves the bound less
#: than repeated runs move their walls: the evidence leaves it out ("0.000 s the units waited").
NEGLIGIBLE_WAIT_SHARE = 0.01
#: A work item should cost at least this many times its dispatch overhead.
ITEM_TO_OVERHEAD = 10.0
#: The critical path binds when it exceeds the even share of work by this factor.
CRITICAL_FACTOR = 1.5
#: A worker busy this many times longer than the mean worker is a straggler.
STRAGGLER_FACTOR = 1.5
#: Efficiency below this fraction of the physical limit is reported.
LOW_EFFICIENCY = 0.5
#: Unit time is concentrated when at most this fraction of the candidates (samples, tasks) …
CONCENTRATED_MEMBERS = 0.1
#: … take at least this share of all unit time.
CONCENTRATED_SHARE = 0.5
#: With fewer candidates (samples, tasks) than this, concentration says nothing.
MIN_MEMBERS = 4
#: A work item drives memory when its peak resident memory reaches this many times the run's
#: median item …
MEMORY_FACTOR = 1.5
#: … and at least this many bytes above it (below that, allocator noise and caches).
MEMORY_RISE_BYTES = 64 * 2**20


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
        if thread_cpu_only(c, figs):
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
               for group, figs in runs_by_group(c) if group[0] != "sequential"]
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
    for group, figs in runs_by_group(c):
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
    for group, figs in runs_by_group(c):
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


def worker_startup(c: "Comparison") -> list[Finding]:
    """What starting the workers cost, outside every run's wall (summary ``startup_s``), once per
    backend: a warm pool (the process backend's, perfkit/backends/__init__.py ``WarmBackends``)
    is one per backend, grown to each run's worker count and lent to the runs of every strategy
    and worker count; its first runs pay the forks, the next ones only building the solver.
    Threads start with each run and start no process."""
    pools: dict[str, list] = {}
    for group, figs in runs_by_group(c):
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
    return upper_median(others) if others else 0.0


def low_efficiency(c: "Comparison") -> list[Finding]:
    """Parallel groups whose median efficiency is below :data:`LOW_EFFICIENCY`. The bound counts
    what the units wait (sleep, I/O: perfkit/analysis/metrics/bound.py ``unit_wait``) beside their CPU,
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
    return (f"{other_work(figs)} used {others:.2f} of the {cores} usable cores during these runs (median): the "
            f"physical limit counts all {cores} free, so part of the gap is theirs",)


def _waiting_evidence(figs: list, ref_fig: Optional[RunFigures]) -> tuple[str, ...]:
    """How much waiting the bound of these runs counts; or, when it counts none beside a
    reference whose units read far above their CPU on a busy machine, why not."""
    waits = sorted(f.wait_s for f in figs)
    if not waits or waits[len(waits) // 2] <= NEGLIGIBLE_WAIT_SHARE * figs[0].work_s:
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
    for group, figs in runs_by_group(c):
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
