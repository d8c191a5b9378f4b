"""Per-run and per-group figures, computed once here and only rendered elsewhere.

Every function is pure: stored runs (``perfkit.store.Run``: ``meta``, ``summary``, ``units``)
in, plain dataclasses or DataFrames out. All times are seconds; fractions are 0..1.

Definitions (docs/design.md, "Figures"):

- ``parallelism = cpu_s / wall_s`` (run CPU of parent + workers over run wall).
- ``slots = min(workers, usable cores)``: how many units can truly run at once (1 for sequential,
  and 1 on the inline backend, which runs every work item in the calling thread whatever its
  ``workers``).
- ``dispatch_overhead = 1 - (Σ unit wall + generate_s) / (wall_s × slots)``: the fraction of the
  run's worker capacity spent outside the solver's work (serialisation, queueing, idle workers,
  barriers); candidate generation runs on the workers like the units and is its own figure,
  ``generate_s``.
- ``contention = Σ unit wall / Σ unit CPU`` over units that ran with a measured CPU: 1.0 means
  a unit had its core to itself; 2.0 means it got half a core (oversubscription, GIL, memory
  bandwidth). A unit whose CPU was not recorded is left out, never counted as 0 % of a core.
- ``others_cores``: cores other processes of the machine used on average during the run
  (summary ``others_cpu_s`` / wall): a busy machine makes every figure slower.
- ``queue wait = started - queued`` per unit (median, p95, max).
- ``ideal_wall_s``: the physical lower bound. The *work* of a unit is its CPU in the sequential
  reference run, or its own CPU when that is less or no reference is given (:func:`unit_work`);
  the solver's candidate generation
  (``candidates(task)``) is work too, done on the workers, and counts the same way: its CPU in
  the reference run (:func:`generation_work`; summary ``generate_cpu_s``), not its wall, which a
  loaded machine or two generations sharing a core inflate (docs/benchmarks.md §9). A strategy's barriers split a task into stages (each unit records its ``stage`` and
  its work item, ``chunk``, as the strategy's plan made them) that run one after another, but
  tasks need no barrier between them: the next task's work may fill a stage's tail. So no
  schedule beats either ``(work + generation) / slots`` or, for any one task,
  ``Σ over its stages of max(stage work / slots, largest work item of the stage)`` (a work item
  runs on one worker); the bound is the larger of the two. With one task and one stage this is
  ``max(work / slots, critical path)`` of docs/design.md. A unit's CPU needs the cores and its
  lane time (:func:`unit_lane`: less than its CPU when it computes on several threads at once) a
  worker, so each even share is ``max(work / cores, held / lanes)`` (:func:`even_share_s`), which
  is ``work / slots`` for units on one thread. Built-in and user strategies get their
  bound from their plans alike. Units that wait (:func:`unit_wait`: sleep, I/O, a GPU, measured in
  a quiet sequential reference) hold a worker, not a core, while they wait: each also needs
  ``(CPU + wait) / workers``, and an item its CPU + wait; a run without waiting units keeps the
  bound above (workers ≥ slots).
- ``efficiency = ideal_wall_s / wall_s`` (1.0 = at the physical limit).
- ``speedup = median sequential wall / median wall``, with a seeded bootstrap 95 % interval
  (perfkit/analysis/statistics.py).
- where the time goes (:func:`cost_by`): the unit wall time of the sequential reference summed
  by candidate, sample or task, most expensive first, with each one's share, the cumulative
  share (a Pareto table) and how much of it went to units that timed out. Each unit counts
  with its least disturbed (fastest) reference run (:func:`least_disturbed`), so a unit that
  timed out once because the machine was busy does not pass for an expensive one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Iterable, Optional, Sequence

import numpy as np
import pandas as pd

from perfkit.analysis.statistics import ratio_of_medians, spread
from perfkit.model import RAN_STATUSES, SAMPLE_KEY, STATUSES, UNIT_KEY, RunConfig, sample_label
from perfkit.store import Run

KEY, SAMPLE = list(UNIT_KEY), list(SAMPLE_KEY)
#: Figures summarised over repeats (median, min, max) by :func:`group_figures`.
REPEATED = ("wall_s", "cpu_s", "parallelism", "unit_cpu_s", "queue_wait_median_s", "queue_wait_max_s",
            "dispatch_overhead", "contention", "ideal_wall_s", "efficiency", "command_wall_s", "command_cpu_s")
#: Confidence of the speedup interval.
SPEEDUP_CONFIDENCE = 0.95
#: Other processes using more than this many cores on average during a run: the machine was
#: not quiet (a quarter of a core taken from a run that wants every core is visible in its walls).
BUSY_OTHER_CORES = 0.25
#: A unit of a quiet sequential reference whose wall is at least this many times its CPU waits
#: on something else (sleep, I/O, a GPU, a subprocess) rather than computes: the time it holds
#: its worker off the CPU is work no schedule removes (:func:`unit_wait`), and the GIL does not
#: bind it. Below it, wall beyond CPU is taken for noise (a clock read, an interrupt), never work.
WAITING_CONTENTION = 1.5
#: CPython's default switch interval (``sys.getswitchinterval()``), seconds: a thread running
#: Python hands the GIL over this often, so only a longer unit can hold the other threads out.
#: (perfkit/analysis/prediction/gil.py has it too; importing it from there is an import cycle.)
SWITCH_INTERVAL_S = 0.005
#: The backend that runs every work item in the calling thread, one after another.
INLINE = "inline"
#: A run whose units' CPU is their calling thread's only (:func:`unit_cpu_of`).
THREAD_CPU = "thread"
#: A thread run whose whole CPU is at least this many times its units' CPU computed elsewhere
#: (:func:`missed_cpu`): perfkit's own share beside units of a millisecond is a few per cent
#: (docs/benchmarks.md §9); numpy's two OpenBLAS threads made it 1.5×, gzip children 10×.
SEEN_ELSEWHERE = 1.25


@dataclass(frozen=True)
class RunFigures:
    """The figures of one stored run (seconds; fractions 0..1)."""

    run_id: str
    strategy: str
    backend: str
    workers: int
    repeat: int
    chunk_size: Optional[int]
    timeout_s: float
    cores: int
    slots: int
    units: int
    statuses: dict[str, int]
    wall_s: float
    cpu_s: float
    parallelism: float
    unit_cpu_s: float
    unit_wall_s: float
    queue_wait_median_s: float
    queue_wait_p95_s: float
    queue_wait_max_s: float
    dispatch_overhead: float
    #: Worker capacity spent waiting at the end of stages for their slowest units (seconds,
    #: :func:`stage_tail_idle_s`): part of the dispatch overhead's time, not a cost per item.
    stage_tail_idle_s: float
    #: Seconds of the run outside the first queued → last ended span (start-up, teardown).
    startup_s: float
    #: Seconds the solver's candidates() took (wall, on the workers, overlapping the units).
    generate_s: float
    #: The work of candidate generation: its CPU seconds in the sequential reference (its own when
    #: no reference is given), counted like a unit's work (:func:`generation_work`).
    generate_work_s: float
    contention: float
    work_s: float
    #: Seconds the units hold a worker off the CPU (sleep, I/O: :func:`unit_wait`), counted in
    #: the ideal bound beside ``work_s``; 0 for units that compute.
    wait_s: float
    critical_path_s: float
    ideal_wall_s: float
    efficiency: float
    work_items: int
    tasks: int
    tasks_solved: int
    leaked_s: float
    #: Cores other processes used on average during the run (others' CPU / wall); NaN when unknown.
    others_cores: float = float("nan")
    #: The machine's 1-minute load average at the end of the run; NaN when unknown.
    load_avg_1m: float = float("nan")
    #: Threads abandoned by earlier thread-backend runs of the same process that still ran beside
    #: this run, and the cores they used on average (their CPU / wall; part of ``others_cores``).
    stray_threads: int = 0
    stray_cores: float = 0.0
    #: Peak resident memory of any worker (bytes; NaN when not measured).
    peak_rss_bytes: float = float("nan")
    #: Median and largest peak resident memory of the run's work items (bytes; NaN when not measured).
    item_rss_median_bytes: float = float("nan")
    item_rss_max_bytes: float = float("nan")
    #: The whole command around the run window (docs/design.md, "The whole command"); NaN
    #: for a run recorded before perfkit measured it.
    command_wall_s: float = float("nan")
    command_cpu_s: float = float("nan")
    #: Workers lost in the run (a unit stopped with its worker, or a worker that died) and the
    #: units that ran again because their outcomes died with one (``attempt`` > 1), with the wall
    #: seconds of those last runs: time the lost runs and the replacements took is outside units.
    lost_workers: int = 0
    reruns: int = 0
    rerun_wall_s: float = 0.0
    #: Seconds the units hold a worker while they compute (:func:`unit_lane`): ``work_s``, less
    #: what units computing on several threads at once (a BLAS pool) or in a child process save.
    lane_s: float = float("nan")
    #: Thread runs: slot capacity spent between units while a thread held the GIL
    #: (:func:`gil_wait_s`); part of the dispatch overhead's time, not a cost per item.
    gil_wait_s: float = 0.0

    @property
    def group(self) -> tuple[str, str, int]:
        """The repeat group: (strategy, backend, workers)."""
        return (self.strategy, self.backend, self.workers)

    @property
    def name(self) -> str:
        """Readable group name such as ``sample-parallel/process×4``."""
        return group_name(self.group)


def group_name(group: Sequence[Any]) -> str:
    """``strategy/backend×workers``."""
    strategy, backend, workers = group
    return f"{strategy}/{backend}×{workers}"


def lanes_of(config: RunConfig) -> int:
    """How many units a run's workers hold at once: its workers; 1 for the sequential strategy
    and for the inline backend (one lane: its ``workers`` run nothing at once)."""
    if config.strategy == "sequential" or config.backend == INLINE:
        return 1
    return max(1, int(config.workers))


def slots_of(config: RunConfig, cores: int) -> int:
    """How many units can run at once on a core each: min(lanes, cores) (:func:`lanes_of`; an
    inline×2 group read "ideal 1.19 s, 35 % of the physical limit, workers waiting at the end of
    stages" beside a sequential run of 2.5 s, docs/benchmarks.md "Session 10")."""
    return max(1, min(lanes_of(config), cores))


def unit_cpu_of(run: Run) -> str:
    """Which CPU a run charged its units with (perfkit/backends/unit.py): ``process`` (every
    thread of the process that ran one unit at a time, and its reaped child processes) or
    ``thread`` (the calling thread's only: the thread backend, and every run recorded before
    perfkit told them apart)."""
    return str((run.summary.resources or {}).get("unit_cpu") or THREAD_CPU)


def missed_cpu(run: Run, reference: Optional[Run]) -> bool:
    """Whether ``run`` timed its units on their calling threads (:func:`unit_cpu_of`) beside a
    reference that saw their whole process, and its units' CPU missed part of theirs: the run's
    own CPU (every thread, the programs its units ran) is at least :data:`SEEN_ELSEWHERE` times
    its units' (numpy's OpenBLAS pool, a solver's threads, a child process computed it). A run
    whose CPU is its units' saw it all, even where the reference's units took more."""
    if reference is None or unit_cpu_of(run) != THREAD_CPU or unit_cpu_of(reference) == THREAD_CPU:
        return False
    units_cpu = float(ran(run.units)["cpu_s"].fillna(0.0).sum()) + _number(run.summary.generate_cpu_s)
    return _number(run.summary.cpu_s) >= SEEN_ELSEWHERE * units_cpu


def _seen_whole(run: Run, reference: Run) -> pd.DataFrame:
    """The units of a run that missed CPU (:func:`missed_cpu`) with each unit's CPU as the
    reference saw it, all scaled down to the run's own CPU beyond candidate generation when that
    is less (gzip children on threads took 0.93× their reference's CPU, and the bound read 105 %):
    the run's CPU is what it did, the reference's how the units shared it."""
    u = run.units
    seen = unit_work(u.assign(cpu_s=np.nan), reference.units)
    total = float(seen.sum())
    own = _number(run.summary.cpu_s) - _number(run.summary.generate_cpu_s)
    return u.assign(cpu_s=seen * (min(1.0, own / total) if total > 0 else 1.0))


def ran(units: pd.DataFrame) -> pd.DataFrame:
    """Units that ran (ok, error, timeout) with a wall and CPU time."""
    return units[units["status"].isin(RAN_STATUSES) & units["wall_s"].notna()]


def slot_lanes(units: pd.DataFrame) -> dict[str, int]:
    """Worker id → slot (lane) number: incarnations of one slot share its lane.

    A backend replaces a killed worker with a new process (a new id) in the same slot
    (docs/design.md, "slot"). Incarnations whose busy spans (first start to last end) never
    overlap are packed onto as few lanes as possible, in order of their first unit — greedy
    interval partitioning, which is optimal — so a run on 2 workers with 20 kills has 2 lanes,
    not 22, whatever the backend named its workers.
    """
    r = units[units["started"].notna()]
    if r.empty:
        return {}
    spans = r.groupby(r["worker"].astype(str)).agg(first=("started", "min"), last=("ended", "max"))
    spans["last"] = spans["last"].fillna(spans["first"])
    lanes: dict[str, int] = {}
    free_at: list[float] = []  # per lane, when its current incarnation's last unit ended
    for worker, span in spans.sort_values(["first", "last"]).iterrows():
        reusable = [i for i, end in enumerate(free_at) if end <= span["first"]]
        lane = min(reusable, key=lambda i: free_at[i]) if reusable else len(free_at)
        if lane == len(free_at):
            free_at.append(span["last"])
        free_at[lane] = max(free_at[lane], span["last"])
        lanes[str(worker)] = lane
    return lanes


def busy_by_slot(units: pd.DataFrame) -> pd.Series:
    """Seconds each slot spent in units (unit wall of every incarnation of the slot)."""
    r = ran(units)
    lanes = slot_lanes(units)
    return r["wall_s"].groupby(r["worker"].astype(str).map(lanes)).sum().rename(lambda i: f"slot {i}")


def stage_tail_idle_s(units: pd.DataFrame, slots: int) -> float:
    """Seconds of worker capacity spent waiting at the end of stages: for every stage of every
    task, each slot's time from its last unit of the stage to the stage's last end (the whole
    stage for a slot that ran none of it), less the time the slot spent meanwhile in units of
    other tasks. The slowest units of a stage (one sample's costly candidates under ``hybrid``,
    the task's tail under any strategy) keep the other slots idle, whatever the work items cost
    to dispatch."""
    r = ran(units)
    if r.empty or "stage" not in r or r["stage"].isna().all():
        return 0.0
    r = r.assign(lane=r["worker"].astype(str).map(slot_lanes(units)))
    # per lane, its units by start with the running largest end: the units that overlap a
    # window are one slice of them (two binary searches), not a pass over the lane per stage
    by_lane = {}
    for lane, g in r.groupby("lane"):
        spans = g[["started", "ended"]].to_numpy()
        spans = spans[np.argsort(spans[:, 0], kind="stable")]
        by_lane[lane] = (spans, np.maximum.accumulate(spans[:, 1]))
    idle = 0.0
    for _, stage in r.groupby(["task_id", "stage"], sort=False):
        first, end = float(stage["started"].min()), float(stage["ended"].max())
        last = stage.groupby("lane")["ended"].max()
        for lane in range(max(1, slots)):
            since = float(last.get(lane, first))
            busy = 0.0
            if lane in by_lane:
                spans, reach = by_lane[lane]
                seg = spans[np.searchsorted(reach, since, side="right"):np.searchsorted(spans[:, 0], end)]
                busy = float(np.clip(np.minimum(seg[:, 1], end) - np.maximum(seg[:, 0], since), 0, None).sum())
            idle += max(0.0, end - since - busy)
    return idle


def gil_holders(units: pd.DataFrame, timeout_s: float, min_share: float = 0.5) -> pd.DataFrame:
    """The units of a thread run that may have held the GIL, with the span they held it: those
    that ran at ``min_share`` of a core or more for at least a switch interval (pure Python hands
    the GIL over every :data:`SWITCH_INTERVAL_S`; a C call such as ``re``'s matcher does not), and
    those given up at their timeout whose thread ran on at that share until it ended
    (``leaked_s`` past the deadline: from the unit's start to then). Columns: the unit's,
    ``held_from`` and ``held_to`` (seconds on the run's clock)."""
    r = ran(units)
    r = r[r["cpu_s"].notna()]
    leaked = r["leaked"].fillna(False).astype(bool) & r["leaked_s"].notna()
    until = np.where(leaked, r["started"] + timeout_s + r["leaked_s"].fillna(0), r["ended"])
    span = until - r["started"]
    keep = (r["cpu_s"] >= min_share * span) & (span >= SWITCH_INTERVAL_S) & (~r["leaked"].fillna(False).astype(bool) | leaked)
    return r.assign(held_from=r["started"], held_to=until)[keep]


def gil_wait_s(units: pd.DataFrame, slots: int, timeout_s: float, min_share: float = 0.5) -> float:
    """Seconds of slot capacity a thread run spent between units while another thread held the
    GIL (:func:`gil_holders`), for every slot: on the thread backend a thread that holds the GIL
    in a C call (``re``'s matcher) keeps the others from even taking their next unit, so this is
    the GIL's time, not dispatch. Disjoint holders' overlaps with each slot's gaps add up."""
    r = ran(units)
    if r.empty:
        return 0.0
    held = gil_holders(units, timeout_s, min_share)[["held_from", "held_to"]].to_numpy(float)
    if not len(held):
        return 0.0
    held = held[np.argsort(held[:, 0])]
    merged = [list(held[0])]
    for a, b in held[1:]:  # union of the holders' spans: overlapping holders count once
        if a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    first, last = float(r["started"].min()), float(r["ended"].max())
    lanes = r["worker"].astype(str).map(slot_lanes(units))
    total = 0.0
    for lane in range(max(1, slots)):
        spans = r.loc[lanes == lane, ["started", "ended"]].to_numpy(float)
        spans = spans[np.argsort(spans[:, 0])] if len(spans) else spans
        reach = np.maximum.accumulate(spans[:, 1]) if len(spans) else spans
        gap_start = np.concatenate([[first], reach]) if len(spans) else np.array([first])
        gap_end = np.concatenate([spans[:, 0], [last]]) if len(spans) else np.array([last])
        keep = gap_end > gap_start
        gs, ge = gap_start[keep], gap_end[keep]
        for a, b in merged:
            total += float(np.clip(np.minimum(ge, b) - np.maximum(gs, a), 0, None).sum())
    return total


def queue_wait(units: pd.DataFrame) -> pd.Series:
    """Per-unit queue wait ``started - queued`` in seconds (units that started)."""
    w = (units["started"] - units["queued"]).dropna()
    return w.clip(lower=0.0)


def measured(units: pd.DataFrame) -> pd.DataFrame:
    """Units that ran and whose CPU was measured over their wall: a unit without a recorded CPU
    (its worker was killed before it could say) is left out of every CPU ratio, never counted as
    0 s; so is a thread the thread backend could not stop (``leaked``), whose CPU runs on past
    its wall, to the end of the run (a ratio with it would understate the contention)."""
    r = ran(units)
    keep = r["cpu_s"].notna()
    if "leaked" in r:
        keep &= ~r["leaked"].fillna(False).astype(bool)
    return r[keep]


def core_share(units: pd.DataFrame) -> float:
    """Σ unit CPU / Σ unit wall over units with a measured CPU: the share of a core they got
    while running (NaN when none was measured)."""
    m = measured(units)
    wall = m["wall_s"].sum()
    return float(m["cpu_s"].sum() / wall) if wall > 0 else float("nan")


def life_share(units: pd.DataFrame, timeout_s: float) -> float:
    """Σ unit CPU / Σ the span its thread ran over units with a measured CPU: their wall, or for a
    thread the thread backend gave up at its timeout (``leaked``) its timeout plus ``leaked_s``,
    the time its thread ran on — the share of a core it got from its start to its thread's end
    (NaN when none was measured). A given-up unit is no CPU gap: its thread's CPU was read at its end."""
    r = ran(units)
    r = r[r["cpu_s"].notna()]
    gone = r["leaked"].fillna(False).astype(bool) if "leaked" in r else pd.Series(False, index=r.index)
    r, gone = r[~gone | r["leaked_s"].notna()], gone[~gone | r["leaked_s"].notna()]
    span = np.where(gone, timeout_s + r["leaked_s"].fillna(0), r["wall_s"]).sum()
    return float(r["cpu_s"].sum() / span) if span > 0 else float("nan")


def beside_given_up(units: pd.DataFrame, timeout_s: float) -> pd.Series:
    """Per unit of a run (aligned on ``units``): it ran while a thread the thread backend had
    given up at its timeout (``leaked``) still ran on in the same interpreter, from that unit's
    deadline to ``leaked_s`` past it. The garbage collector runs on whichever thread allocates and
    walks the objects of every thread: beside a given-up arc-dsl thread building a 300 MB
    structure, a 25 ms unit took 80 ms of its own thread's CPU, 16 ms with the collector off."""
    r = units[units["leaked"].fillna(False).astype(bool) & units["leaked_s"].notna()]
    gone_from = (r["started"] + timeout_s).to_numpy(float)
    gone_to = gone_from + r["leaked_s"].to_numpy(float)
    start, end = units["started"].to_numpy(float)[:, None], units["ended"].to_numpy(float)[:, None]
    hit = ((start < gone_to) & (end > gone_from)).any(axis=1) if len(r) else np.zeros(len(units), bool)
    return pd.Series(hit, index=units.index)


def worker_position(units: pd.DataFrame) -> pd.Series:
    """How many units the unit's worker had started before it in its run (0 for its first):
    what ran before it there. A worker replaced after a kill is a new worker, and starts at 0."""
    return units.sort_values("started", kind="stable").groupby("worker", sort=False).cumcount().reindex(units.index)


def after_stopped(units: pd.DataFrame) -> pd.DataFrame:
    """Per unit of a run (aligned on ``units``), the unit before it on its worker that ended by an
    exception (stopped at its timeout, or raised) and whose CPU reaches furthest past this unit's
    start, counted in the worker's CPU: ``stopped`` (its ``task/sample candidate`` label),
    ``stopped_status``, ``stopped_cpu_s``, ``stopped_gap`` (units between them) and
    ``stopped_room_s``, its CPU less the CPU run between them; NaN where none reaches past it.
    An exception holds the unit's frames, and what they hold, until its outcome is recorded, past
    the unit's window, and a process that goes on (the inline backend's hard timeout) pays inside
    the units after it for what it leaves behind: arc-dsl's 91413438, stopped at 1.7 s with 215 MB
    resident, gave 130 MB back to the system inside the next 50 ms of units, which took up to 3×
    their CPU (docs/benchmarks.md "Session 14"). That aftermath costs less than the unit did."""
    columns = ["stopped", "stopped_status", "stopped_cpu_s", "stopped_gap", "stopped_room_s"]
    if not units["status"].isin(["timeout", "error"]).any():
        return pd.DataFrame(np.nan, index=units.index, columns=columns)
    u = units.sort_values("started", kind="stable")
    by = u["worker"].to_numpy()
    cpu = u["cpu_s"].fillna(0.0)
    done = cpu.groupby(by, sort=False).cumsum()  # the worker's CPU up to this unit's end
    raised = u["status"].isin(["timeout", "error"])
    reach = (done + cpu).where(raised)  # how far, in the worker's CPU, its aftermath may last
    best = reach.groupby(by, sort=False).cummax().groupby(by, sort=False).ffill()  # cummax leaves NaN rows NaN
    at = pd.Series(np.arange(len(u)), index=u.index).where(raised & reach.eq(best))
    at = at.groupby(by, sort=False).ffill()
    best, at = best.groupby(by, sort=False).shift(1), at.groupby(by, sort=False).shift(1)
    room = best - (done - cpu)
    keep = room.gt(0).to_numpy() & at.notna().to_numpy()
    rows = at[keep].astype(int).to_numpy()
    s = u.iloc[rows]
    out = pd.DataFrame({
        "stopped": [f"{t}/{sample_label(sp, i)} {c}" for t, sp, i, c in
                    zip(s["task_id"], s["split"], s["index"], s["candidate"])],
        "stopped_status": s["status"].to_numpy(), "stopped_cpu_s": s["cpu_s"].to_numpy(),
        "stopped_gap": np.flatnonzero(keep) - rows - 1, "stopped_room_s": room[keep].to_numpy()},
        index=u.index[keep])
    return out.reindex(units.index)


#: A unit's neighbourhood on its worker: this many units run before it and after it there.
NEIGHBOURS = 10


def neighbour_level(ratio: pd.Series, order: pd.Series, worker: pd.Series) -> pd.Series:
    """Per unit (aligned on ``ratio``): the median ``ratio`` of the units within
    :data:`NEIGHBOURS` places of it in ``order`` on its ``worker`` (itself among them), NaN ratios
    (units that did not end ok) left out; NaN where fewer than :data:`NEIGHBOURS` have one. What
    moved the units around it: a worker slower for a stretch of a run (markdown-it: every unit of
    one process worker 1.4–1.9× for a whole run, the other's 1.0×) moves them all."""
    t = pd.DataFrame({"r": ratio, "o": order, "w": worker}).sort_values(["w", "o"], kind="stable")
    r, w = t["r"].to_numpy(float), t["w"].to_numpy()
    level = np.full(len(t), np.nan)
    starts = np.flatnonzero(np.r_[True, w[1:] != w[:-1]]) if len(t) else np.array([], int)
    for lo, hi in zip(starts, np.r_[starts[1:], len(t)]):
        padded = np.pad(r[lo:hi], NEIGHBOURS, constant_values=np.nan)
        windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * NEIGHBOURS + 1)
        enough = (~np.isnan(windows)).sum(axis=1) >= NEIGHBOURS
        if enough.any():
            level[lo:hi][enough] = np.nanmedian(windows[enough], axis=1)
    return pd.Series(level, index=t.index).reindex(ratio.index)


def reference_cost(reference_units: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Per unit that ended ok in every reference run (index: the unit key): ``ref_low_s``,
    ``ref_high_s`` and ``ref_mid_s``, its fastest, slowest and median CPU there,
    ``ref_position`` (:func:`worker_position`, in the first reference run), and, when a unit
    of a reference run raised, the columns of :func:`after_stopped` prefixed ``ref_`` (the first
    reference run's; ``ref_stopped_room_s`` the least over the reference runs, 0 where one had none)."""
    refs = [r[KEY + ["status", "cpu_s"]].drop_duplicates(KEY, keep="last") for r in reference_units]
    both = pd.concat(refs)
    ref = both.assign(ok=both["status"].eq("ok")).groupby(KEY, sort=False).agg(
        ok=("ok", "all"), runs=("ok", "size"), ref_low_s=("cpu_s", "min"), ref_high_s=("cpu_s", "max"),
        ref_mid_s=("cpu_s", "median"))
    ref = ref[ref["ok"] & (ref["runs"] == len(refs)) & (ref["ref_low_s"] > 0)].drop(columns=["ok", "runs"])
    first = reference_units[0].assign(ref_position=worker_position(reference_units[0]))
    ref = ref.join(first.drop_duplicates(KEY, keep="last").set_index(KEY)["ref_position"])
    if not any(r["status"].isin(["timeout", "error"]).any() for r in reference_units):
        return ref  # nothing raised: no unit ran after a unit that did
    stops = [after_stopped(r).set_axis(pd.MultiIndex.from_frame(r[KEY])) for r in reference_units]
    stops = [s[~s.index.duplicated(keep="last")] for s in stops]
    # the least room any reference run left: the aftermath it could have had in every one
    room = pd.concat([s["stopped_room_s"] for s in stops], axis=1).fillna(0.0).min(axis=1)
    return ref.join(stops[0].assign(stopped_room_s=room.reindex(stops[0].index)).add_prefix("ref_"))


def cost_against_reference(units: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """Each unit of ``units`` with a measured CPU (:func:`measured`; a timed-out unit's is what it
    used until it stopped, so no more than its work) and a :func:`reference_cost` row:
    ``status``, ``worker``, ``cpu_s`` and ``position`` (:func:`worker_position`) here beside the
    reference's columns. ``level_cpu_s`` is its CPU divided by the run's level: the median, over
    the units ok here, of their CPU over their median reference CPU — what the machine's speed,
    its load or two cores sharing memory bandwidth did to every unit alike, so what stands out
    beyond it is the unit's own. Empty when no unit is comparable."""
    # the columns read here only: every step below copies what it keeps, on runs of 10⁴–10⁵ units
    units = units[[c for c in KEY + ["status", "worker", "started", "wall_s", "cpu_s", "leaked"] if c in units]]
    mine = measured(units.assign(position=worker_position(units))).drop_duplicates(KEY, keep="last")
    out = mine[KEY + ["status", "worker", "cpu_s", "position"]].merge(reference.reset_index(), on=KEY)
    ok = out[out["status"] == "ok"]
    level = float((ok["cpu_s"] / ok["ref_mid_s"]).median()) if len(ok) else float("nan")
    if not level > 0:
        return out.iloc[:0].assign(level_cpu_s=pd.Series(dtype=float))
    return out.assign(level_cpu_s=out["cpu_s"] / level)


def held_by_others(units: pd.DataFrame, waiting: pd.DataFrame, timeout_s: float, min_share: float) -> pd.DataFrame:
    """For each unit of ``waiting`` (rows of ``units``' run), the unit of another worker that
    held the GIL longest while it waited (:func:`gil_holders`: on the thread backend, a C call
    that never releases it, such as ``re``'s matcher, or a thread given up at its timeout that
    ran on). Columns: the waiting unit's KEY, and ``holder`` (``task/sample candidate``),
    ``holder_cpu_s`` and ``overlap_s``; a waiting unit with no such unit is left out."""
    m = gil_holders(units, timeout_s, min_share)
    rows = []
    for w in waiting.itertuples(index=False):
        o = m[(m["worker"] != w.worker) & (m["held_from"] < w.ended) & (m["held_to"] > w.started)]
        if o.empty:
            continue
        overlap = np.minimum(o["held_to"], w.ended) - np.maximum(o["held_from"], w.started)
        best = o.loc[overlap.idxmax()]
        if overlap.max() < 0.5 * w.wall_s:  # it overlapped, but did not fill the wait
            continue
        rows.append((w.task_id, w.split, w.index, w.candidate,
                     f"{best.task_id}/{sample_label(best.split, best['index'])} {best.candidate}",
                     float(best.cpu_s), float(overlap.max())))
    return pd.DataFrame(rows, columns=KEY + ["holder", "holder_cpu_s", "overlap_s"])


def contention(units: pd.DataFrame) -> float:
    """Σ unit wall / Σ unit CPU over units with a measured CPU (NaN when none was measured)."""
    r = measured(units)
    cpu = r["cpu_s"].sum()
    return float(r["wall_s"].sum() / cpu) if cpu > 0 else float("nan")


def dispatch_overhead(wall_s: float, slots: int, unit_wall_s: float) -> float:
    """Fraction of worker capacity (wall × slots) spent outside units, clipped to 0..1."""
    capacity = wall_s * max(1, slots)
    if capacity <= 0:
        return float("nan")
    return float(min(1.0, max(0.0, 1.0 - unit_wall_s / capacity)))


def reference_lookup(units: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """Each unit of ``units`` looked up in ``reference`` (aligned on ``units``; NaN where the
    reference lacks it): ``cpu_s``, its CPU there whatever its status, and ``wall_s``, its wall
    there when measured (:func:`measured`). :func:`unit_work`, :func:`unit_lane` and
    :func:`unit_wait` read these; a run's figures look them up once (on 10⁴ units each lookup
    is a MultiIndex built and reindexed)."""
    idx = pd.MultiIndex.from_frame(units[KEY])
    cpu = reference[KEY + ["cpu_s"]].drop_duplicates(KEY).set_index(KEY)["cpu_s"].reindex(idx)
    wall = measured(reference)[KEY + ["wall_s"]].drop_duplicates(KEY).set_index(KEY)["wall_s"].reindex(idx)
    return pd.DataFrame({"cpu_s": cpu.to_numpy(), "wall_s": wall.to_numpy()}, index=units.index)


def unit_work(units: pd.DataFrame, reference: Optional[pd.DataFrame],
              looked: Optional[pd.DataFrame] = None) -> pd.Series:
    """Work per unit (seconds of CPU) aligned on ``units``: the reference run's CPU of the same
    unit when known, or the unit's own CPU here when that is less (else its own CPU); 0 for
    units that never ran here (``skipped``: a budget ran out), whatever the reference spent on
    them. A unit that needed more CPU here than under sequential (two busy cores, a cold cache)
    counts its reference CPU, so what parallelism cost shows as lost efficiency; one that
    needed less (the machine's faster speed state, a warm cache) counts what it needed here:
    no perfect schedule of this run is slower than its bound (the main job read 102 % when a
    repeat's parallel run fell in the faster state and its reference in the slower one).
    ``looked``: :func:`reference_lookup` of these units, when already made."""
    own = units["cpu_s"]
    if reference is None or reference.empty:
        return own.fillna(0.0)
    ref_cpu = (reference_lookup(units, reference) if looked is None else looked)["cpu_s"]
    work = ref_cpu.where(~(own < ref_cpu), own).fillna(own).fillna(0.0)
    return work.where(units["status"].ne("skipped"), 0.0)


def unit_wait(units: pd.DataFrame, reference: Optional[pd.DataFrame], quiet: bool,
              looked: Optional[pd.DataFrame] = None) -> pd.Series:
    """Seconds each unit holds its worker off the CPU (aligned on ``units``): the sequential
    reference's wall − CPU of the same unit when that wall is at least :data:`WAITING_CONTENTION`
    times its CPU, else 0. All 0 unless the reference ran ``quiet`` (:func:`_waits_from`): beside
    other work, a unit waiting for a core reads the same as one waiting on I/O, and no share of
    the machine tells them apart (markdown-it's 1–6 ms units read 2.1× their CPU beside 1.5
    cores of other work: a fair share of the cores would explain 1.27×).

    A unit waits no longer than the rest of its wall in ``units`` themselves, beyond the CPU the
    bound counts as its work (:func:`unit_work`; 0 when it never ran), so that no unit holds its
    worker in the bound for longer than it did here: a sleep is in every run's wall, while a
    reference unit preempted by a burst of other work, reading a file the page cache later held,
    or computing slower than here (numpy's 2 MB arrays page-fault afresh in a process's main
    thread, not in a worker thread) would otherwise lift the bound above what a perfect schedule
    of this run reaches (efficiency over 100 %). ``looked`` as for :func:`unit_work`."""
    zero = pd.Series(0.0, index=units.index)
    if not quiet or reference is None or reference.empty:
        return zero
    r = measured(reference).drop_duplicates(KEY).set_index(KEY)
    waits = (r["wall_s"] - r["cpu_s"]).where(r["wall_s"] >= WAITING_CONTENTION * r["cpu_s"], 0.0)
    if not waits.any():
        return zero
    idx = pd.MultiIndex.from_frame(units[KEY])
    off_cpu = (units["wall_s"] - unit_work(units, reference, looked)).clip(lower=0.0).fillna(0.0)
    return np.minimum(pd.Series(waits.reindex(idx).fillna(0.0).to_numpy(), index=units.index), off_cpu)


def even_share_s(work_s: Any, held_s: Any, cores: int, lanes: int) -> Any:
    """Seconds of ``work_s`` (CPU) and ``held_s`` (worker time: each unit's lane time and wait,
    :func:`unit_lane`, :func:`unit_wait`) spread evenly: the CPU over the cores or the worker time
    over the lanes, whichever is longer (numbers or Series). For units that compute on one thread
    (held ≥ work) this is ``work / min(lanes, cores)`` = ``work / slots``."""
    return np.maximum(work_s / max(1, cores), held_s / max(1, lanes))


def unit_lane(units: pd.DataFrame, reference: Optional[pd.DataFrame],
              looked: Optional[pd.DataFrame] = None) -> pd.Series:
    """Seconds each unit holds its worker while it computes (aligned on ``units``): its work
    (:func:`unit_work`), or its wall under the reference or here when that is less. A unit whose
    CPU runs on several threads at once (OpenBLAS's pool, the solver's own threads) or in a
    child process beside it finishes sooner than its CPU: its CPU needs the cores, its wall the
    worker (docs/design.md, "Figures"). For a unit on one thread this is its work. ``looked`` as
    for :func:`unit_work`."""
    if reference is not None and not reference.empty and looked is None:
        looked = reference_lookup(units, reference)
    work = unit_work(units, reference, looked)
    lane = work.where(~(units["wall_s"] < work), units["wall_s"]) if "wall_s" in units else work
    if reference is not None and not reference.empty:
        ref_wall = looked["wall_s"]
        lane = lane.where(~(ref_wall < lane), ref_wall)
    return lane.fillna(0.0)


def ideal_bound(units: pd.DataFrame, slots: int, reference: Optional[pd.DataFrame] = None,
                generate_s: float = 0.0, workers: Optional[int] = None,
                wait: Optional[pd.Series] = None, cores: Optional[int] = None,
                looked: Optional[pd.DataFrame] = None) -> tuple[float, float, float]:
    """``(work_s, critical_path_s, ideal_wall_s)`` of a run; see the module docstring.

    ``units`` needs the key columns, ``stage`` and ``chunk`` (the work item); ``reference`` is
    the sequential run's units (their CPU is the work of each unit); ``generate_s`` the seconds
    of candidate generation, work the slots share; ``wait`` the seconds each unit holds a worker
    off the CPU (:func:`unit_wait`; none by default), ``workers`` how many units can run at once
    (``slots`` by default) and ``cores`` how many cores their CPU shares (``slots`` by default).
    A unit holds its worker for its lane time (:func:`unit_lane`) and its wait.
    ``critical_path_s`` is the largest over tasks of the sum of their stages' largest work items
    (lane time + wait). ``looked``: :func:`reference_lookup` of ``units``, when already made.
    """
    lanes = max(1, slots if workers is None else workers)
    cores = max(1, slots if cores is None else cores)
    if units.empty:
        return 0.0, 0.0, float(generate_s) / max(1, min(lanes, cores))
    df = units[KEY + ["stage", "chunk"]].copy()
    if reference is not None and not reference.empty and looked is None:
        looked = reference_lookup(units, reference)
    df["work"] = unit_work(units, reference, looked).to_numpy()
    df["held"] = unit_lane(units, reference, looked).to_numpy() + (0.0 if wait is None else wait.to_numpy())
    items = df.groupby(["task_id", "stage", "chunk"], sort=False)[["work", "held"]].sum().reset_index()
    stages = items.groupby(["task_id", "stage"], sort=False).agg(
        work=("work", "sum"), held=("held", "sum"), biggest=("held", "max"))
    shared = even_share_s(stages["work"], stages["held"], cores, lanes)
    per_task = np.maximum(shared, stages["biggest"]).groupby(level="task_id").sum()
    work, held = float(df["work"].sum()), float(df["held"].sum())
    ideal = max(even_share_s(work + generate_s, held + generate_s, cores, lanes), float(per_task.max()))
    return work, float(stages["biggest"].groupby(level="task_id").sum().max()), ideal


def generation_work(summary: Any, reference: Any = None) -> float:
    """Seconds of work in a run's candidate generation: the CPU of its candidates() calls in the
    sequential ``reference`` (a run's summary), or in the run itself when that is less, as for a
    unit (:func:`unit_work`; docs/design.md, "Figures"); their wall for a run recorded before
    that CPU was (``generate_cpu_s`` 0 while ``generate_s`` is not)."""
    own = _generation_cpu(summary)
    if reference is None:
        return own
    ref = _generation_cpu(reference)
    return min(ref, own) if own > 0 else ref


def _generation_cpu(summary: Any) -> float:
    cpu = _number(getattr(summary, "generate_cpu_s", 0.0))
    return cpu if cpu > 0 else _number(summary.generate_s)


def tasks_solved(units: pd.DataFrame) -> int:
    """Tasks with a candidate whose output matches on every demo sample and on every test sample
    with a known output (a sample's output is known when any unit on it has a ``match`` value)."""
    if units.empty:
        return 0
    df = units[KEY + ["match"]].copy()
    df["known"] = df["match"].notna()
    df["hit"] = df["match"].map(lambda m: m is True or m == True)  # noqa: E712 (numpy bools)
    solved = 0
    for task_id, t in df.groupby("task_id", sort=False):
        known = t.groupby(["split", "index"])["known"].any()
        needed = {k for k, v in known.items() if v or k[0] == "demo"}
        if not needed:
            continue
        hits: dict[str, set] = {}
        for cand, split, index in t.loc[t["hit"], ["candidate", "split", "index"]].itertuples(index=False):
            hits.setdefault(cand, set()).add((split, index))
        if any(needed <= s for s in hits.values()):
            solved += 1
    return solved


def run_figures(run: Run, reference: Optional[Run] = None) -> RunFigures:
    """All figures of one run; ``reference`` (the sequential run) supplies the work per unit."""
    cfg, s, u = run.config, run.summary, run.units
    wall = _number(s.wall_s)
    cpu = _number(s.cpu_s)
    r = ran(u)
    unit_wall, unit_cpu = float(r["wall_s"].sum()), float(r["cpu_s"].fillna(0).sum())
    qw = queue_wait(u)
    slots = slots_of(cfg, run.cores)
    generate = generation_work(s, reference.summary if reference is not None else None)
    ref_units = None if reference is None else reference.units
    # a run that saw only its units' calling threads (the thread backend) beside a reference that
    # saw their whole process: its own lesser CPU is what it did not see, not less work
    bounded = _seen_whole(run, reference) if reference is not None and missed_cpu(run, reference) else u
    # the reference's CPU and wall of each unit, looked up once for the bound, the lanes and the waits
    looked = reference_lookup(bounded, ref_units) if ref_units is not None and not ref_units.empty else None
    wait_units, quiet = _waits_from(run, reference)
    waits = unit_wait(bounded, wait_units, quiet, looked if wait_units is ref_units else None)
    work, cp, ideal = ideal_bound(bounded, slots, ref_units, generate, workers=lanes_of(cfg), wait=waits,
                                  cores=max(1, run.cores), looked=looked)
    span = float(u["ended"].max() - u["queued"].min()) if len(u) and u["ended"].notna().any() else wall
    return RunFigures(
        run_id=run.run_id,
        strategy=cfg.strategy, backend=cfg.backend, workers=int(cfg.workers),
        repeat=int(cfg.repeat), chunk_size=cfg.chunk_size,
        timeout_s=float(cfg.timeout.unit_timeout_s),
        cores=run.cores, slots=slots, units=int(len(u)),
        statuses={k: int(v) for k, v in u["status"].value_counts().items()},
        wall_s=wall, cpu_s=cpu, parallelism=cpu / wall if wall > 0 else float("nan"),
        unit_cpu_s=unit_cpu, unit_wall_s=unit_wall,
        queue_wait_median_s=float(qw.median()) if len(qw) else 0.0,
        queue_wait_p95_s=float(qw.quantile(0.95)) if len(qw) else 0.0,
        queue_wait_max_s=float(qw.max()) if len(qw) else 0.0,
        # candidate generation is the solver's work on the workers (generate_s), not overhead
        dispatch_overhead=dispatch_overhead(wall, slots, unit_wall + _number(s.generate_s)),
        stage_tail_idle_s=stage_tail_idle_s(u, slots),
        gil_wait_s=gil_wait_s(u, slots, float(cfg.timeout.unit_timeout_s)) if cfg.backend == "thread" else 0.0,
        startup_s=max(0.0, wall - span), generate_s=_number(s.generate_s), generate_work_s=generate, contention=contention(u),
        work_s=work, wait_s=float(waits.sum()), critical_path_s=cp, ideal_wall_s=ideal,
        lane_s=float(unit_lane(bounded, ref_units, looked).sum()),
        efficiency=ideal / wall if wall > 0 else float("nan"),
        work_items=work_items(run),
        tasks=int(u["task_id"].nunique()), tasks_solved=tasks_solved(u),
        leaked_s=float(u.loc[u["leaked"], "leaked_s"].fillna(0).sum()) if "leaked" in u else 0.0,
        others_cores=_others_cores(s),
        load_avg_1m=float("nan") if s.load_avg_1m is None else float(s.load_avg_1m),
        stray_threads=int(s.stray_threads), stray_cores=float(s.stray_cpu_s) / wall if wall > 0 else 0.0,
        **_memory_figures(run),
        command_wall_s=float(s.command_wall_s), command_cpu_s=float(s.command_cpu_s),
        **_losses(u),
    )


def _waits_from(run: Run, reference: Optional[Run]) -> tuple[Optional[pd.DataFrame], bool]:
    """The units whose waits count in ``run``'s bound (the sequential reference's; a sequential
    run's own without one) and whether that run was quiet: other processes under
    :data:`BUSY_OTHER_CORES` and no thread an earlier thread run left running (their GIL)."""
    source = reference if reference is not None else run if run.config.strategy == "sequential" else None
    if source is None:
        return None, False
    s = source.summary
    return source.units, ran_quiet(_others_cores(s), int(s.stray_threads or 0))


def ran_quiet(others_cores: float, stray_threads: int) -> bool:
    """Whether a run ran quiet enough to tell a unit's waiting from waiting for a core: other
    processes under :data:`BUSY_OTHER_CORES` (NaN, unknown, is not quiet) and no thread an
    earlier thread run left running beside it (their GIL)."""
    return bool(others_cores < BUSY_OTHER_CORES and not stray_threads)


def _others_cores(summary: Any) -> float:
    """Cores other processes used on average during a run (NaN when unknown)."""
    wall = _number(summary.wall_s)
    return summary.others_cpu_s / wall if summary.others_cpu_s is not None and wall > 0 else float("nan")


def _losses(u: pd.DataFrame) -> dict[str, Any]:
    """Workers lost and units run again (see :class:`RunFigures`)."""
    lost = u["status"].eq("crashed") | u["error_type"].isin(LOST_WORKER_ERRORS)
    again = u["attempt"].fillna(1) > 1 if "attempt" in u else pd.Series(False, index=u.index)
    return {"lost_workers": int(lost.sum()), "reruns": int(again.sum()),
            "rerun_wall_s": float(u.loc[again, "wall_s"].fillna(0).sum())}


#: The error types of a unit stopped with its worker (process, Dask) or whose worker died.
LOST_WORKER_ERRORS = ("WorkerKilled", "WorkerDied")


def _memory_figures(run: Run) -> dict[str, float]:
    workers = [w.get("peak_rss_bytes") for w in run.summary.workers if w.get("peak_rss_bytes") is not None]
    items = item_memory(run)["peak_rss_bytes"]
    peaks = workers + ([float(items.max())] if len(items) else [])
    return {"peak_rss_bytes": float(max(peaks)) if peaks else float("nan"),
            "item_rss_median_bytes": float(items.median()) if len(items) else float("nan"),
            "item_rss_max_bytes": float(items.max()) if len(items) else float("nan")}


def work_items(run: Run) -> int:
    """Work items handed to the workers: the runner's count when one session ran (a joined item
    counts once), else the planned items the units record (``chunk``)."""
    s, u = run.summary, run.units
    if s.sessions == 1 and s.items_handed_out_this_session > 0:
        return int(s.items_handed_out_this_session)
    return int(u.groupby(["task_id", "chunk"]).ngroups) if len(u) else 0


def item_memory(run: Run) -> pd.DataFrame:
    """Peak resident memory per work item a worker ran (bytes), from the summary's ``items``,
    with the item's ``units`` (how many), ``candidates`` and ``samples`` (sets; a sample is
    ``(task_id, split, index)``: demo[0] of one task is not demo[0] of another): the units of
    the item that this worker ran, from the units table. An item the runner joined holds the
    units of each planned item it lists (``chunks``): the peak was measured over all of them.
    ``running``: for an item whose worker was killed in it, ``candidate on task/sample`` of the
    unit it was running (its peak was read just before the kill); None otherwise."""
    cols = ["task_id", "chunk", "worker", "peak_rss_bytes", "units", "candidates", "samples", "running"]
    records = [r for r in run.summary.items if r.get("peak_rss_bytes") is not None]
    if not records:
        return pd.DataFrame(columns=cols)
    # by worker too: the rest of an item whose worker was lost runs on another worker, and its
    # peak belongs to the units it ran there, not to the unit that took the first worker down
    members = _item_members(run.units).set_index(["task_id", "chunk", "worker"])
    members = dict(zip(members.index, members[["units", "candidates", "samples"]].itertuples(index=False)))
    held = []
    for r in records:
        pieces = [members.get((r["task_id"], c, r["worker"])) for c in r.get("chunks") or [r["chunk"]]]
        pieces = [p for p in pieces if p is not None]
        held.append((sum(p.units for p in pieces), frozenset().union(*(p.candidates for p in pieces)),
                     frozenset().union(*(p.samples for p in pieces))))
    items = pd.DataFrame(records)
    items["units"], items["candidates"], items["samples"] = ([h[i] for h in held] for i in range(3))
    items["running"] = [f"{r['running'][2]} on {sample_label(r['running'][0], r['running'][1], r['task_id'])}"
                        if r.get("running") else None for r in records]
    return items[cols]


def _item_members(u: pd.DataFrame) -> pd.DataFrame:
    """Per work item and worker (task_id, chunk, worker): its ``units`` count and its
    ``candidates`` and ``samples`` (``(task_id, split, index)``) as frozensets. The sets are
    built from the distinct (item, candidate) and (item, sample) pairs, which are far fewer than
    the units: a per-group lambda took seconds per report."""
    u = u.assign(worker=u["worker"].astype(str))
    keys = ["task_id", "chunk", "worker"]
    members = u.groupby(keys, sort=False).size().rename("units").to_frame()
    members["candidates"] = u.drop_duplicates(keys + ["candidate"]).groupby(keys, sort=False)["candidate"] \
        .agg(frozenset)
    samples: dict[tuple, set] = {}
    for task, chunk, worker, split, index in u.drop_duplicates(keys + ["split", "index"])[keys + ["split", "index"]] \
            .itertuples(index=False):
        samples.setdefault((task, chunk, worker), set()).add((task, split, index))
    members["samples"] = [frozenset(samples[k]) for k in members.index]
    return members.reset_index()


def figures_table(figures: Iterable[RunFigures]) -> pd.DataFrame:
    """One row per run (the statuses dict becomes ``n_<status>`` columns)."""
    rows = []
    for f in figures:
        row = asdict(f)
        statuses = row.pop("statuses")
        for k in STATUSES:
            row[f"n_{k}"] = statuses.get(k, 0)
        row["group"] = f.name
        rows.append(row)
    return pd.DataFrame(rows)


def _number(value: Any) -> float:
    """A summary figure as a float, 0.0 when it is missing (a run killed before its summary)."""
    return 0.0 if value is None or (isinstance(value, float) and np.isnan(value)) else float(value)


def group_figures(table: pd.DataFrame, reference_group: Optional[tuple[str, str, int]] = None) -> pd.DataFrame:
    """Per (strategy, backend, workers): repeats, ``<figure>_median|_min|_max`` and the rest of its
    spread over repeats (``_mean|_sd|_q1|_q3|_iqr|_outliers|_cv|_unstable|_why``, see
    perfkit/analysis/statistics.py ``spread``) for each figure of :data:`REPEATED`, and ``speedup``, ``speedup_low``, ``speedup_high`` versus the reference group
    (median sequential wall / median wall, bootstrap 95 % interval); per status ``n_<status>_max``
    over repeats and ``n_<status>_worst``, the counts of the repeat with the fewest ok units."""
    keys = ["strategy", "backend", "workers"]
    if table.empty:
        return pd.DataFrame()
    ref_walls = None
    if reference_group is not None:
        mask = (table[keys] == pd.Series(reference_group, index=keys)).all(axis=1)
        ref_walls = table.loc[mask, "wall_s"].to_numpy()
    rows = []
    order = list(dict.fromkeys(map(tuple, table[keys].itertuples(index=False, name=None))))
    if reference_group in order:  # the reference first, then in order of appearance
        order.remove(reference_group)
        order.insert(0, reference_group)
    parts = dict(iter(table.groupby(keys, sort=False)))
    for group in order:
        g = parts[group]
        row: dict[str, Any] = dict(zip(keys, group))
        row["group"] = group_name(group)
        row["repeats"] = int(len(g))
        row["slots"] = int(g["slots"].iloc[0])
        row["chunk_size"] = g["chunk_size"].iloc[0]
        for col in REPEATED:
            v = g[col].astype(float)
            row[f"{col}_median"], row[f"{col}_min"], row[f"{col}_max"] = v.median(), v.min(), v.max()
            # the rest of the figure's spread (mean, sd, IQR, outliers, unstable): statistics.spread
            stats = spread(v.to_numpy())
            for key in ("mean", "sd", "q1", "q3", "iqr", "outliers", "cv", "unstable", "why"):
                row[f"{col}_{key}"] = getattr(stats, key)
        worst = _worst_repeat(g)
        for k in STATUSES:
            row[f"n_{k}_max"] = int(g[f"n_{k}"].max())
            row[f"n_{k}_worst"] = int(worst[f"n_{k}"])
        row["tasks_solved_min"] = int(g["tasks_solved"].min())
        row["tasks"] = int(g["tasks"].max())
        if ref_walls is not None and len(ref_walls):
            row["speedup"], row["speedup_low"], row["speedup_high"] = ratio_of_medians(
                ref_walls, g["wall_s"].to_numpy(), SPEEDUP_CONFIDENCE)
        else:
            row["speedup"] = row["speedup_low"] = row["speedup_high"] = float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def _worst_repeat(g: pd.DataFrame) -> pd.Series:
    """The repeat with the fewest ``ok`` units (then the most timeouts): its status counts add
    up to its units, where each status's maximum over repeats may not (one repeat's 109
    timeouts beside another's 192 ok, out of 192 units)."""
    return g.sort_values(["n_ok", "n_timeout"], ascending=[True, False], kind="stable").iloc[0]


def least_disturbed(unit_tables: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """One row per unit: its fastest run among ``unit_tables`` (repeats of one configuration),
    the least disturbed measure of what the unit costs (pyperf takes minimums for the same
    reason); a unit timed out there only when it timed out in every run."""
    both = pd.concat(list(unit_tables), ignore_index=True)
    return both.sort_values("wall_s", kind="stable", na_position="last").drop_duplicates(KEY).sort_index()


#: What :func:`cost_by` can sum unit time by.
COST_KEYS = ("candidate", "sample", "task")


def cost_by(units: pd.DataFrame, by: str) -> pd.DataFrame:
    """Where the time goes: unit wall time (seconds) of the units that ran, summed per
    ``by`` (one of :data:`COST_KEYS`; candidates are pooled over tasks by id), most expensive
    first. Columns: ``name``, ``wall_s``, ``share`` and ``cumulative`` (fractions of all unit
    time), ``units``, ``timeouts`` (how many of them timed out) and ``timeout_wall_s``."""
    r = ran(units)
    columns = ["name", "wall_s", "share", "cumulative", "units", "timeouts", "timeout_wall_s"]
    if r.empty or not r["wall_s"].sum() > 0:
        return pd.DataFrame(columns=columns)
    keys = {"candidate": ["candidate"], "sample": SAMPLE, "task": ["task_id"]}[by]
    df = r[keys + ["wall_s"]].copy()
    timed_out = r["status"].eq("timeout")
    df["timeout"], df["timeout_wall_s"] = timed_out, r["wall_s"].where(timed_out, 0.0)
    t = df.groupby(keys, sort=False).agg(wall_s=("wall_s", "sum"), units=("wall_s", "size"),
                                         timeouts=("timeout", "sum"), timeout_wall_s=("timeout_wall_s", "sum"))
    t = t.sort_values("wall_s", ascending=False, kind="stable").reset_index()
    if by == "sample":
        many = t["task_id"].nunique() > 1
        t["name"] = [sample_label(s, i, k if many else None) for k, s, i in t[SAMPLE].itertuples(index=False)]
    else:
        t["name"] = t[keys[0]].astype(str)
    total = float(t["wall_s"].sum())
    t["share"] = t["wall_s"] / total
    t["cumulative"] = t["share"].cumsum()
    t["timeouts"] = t["timeouts"].astype(int)
    return t[columns]
