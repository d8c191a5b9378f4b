"""Predictions over many configurations: sweeps, the knee of each speedup curve and why, the
best configuration per worker count, what a timeout would cut — and the prediction of a run
that was measured, to show the model's error beside it.

Pure: a :class:`~perfkit.analysis.prediction.workload.Workload` (from the reference run) and
the backends' costs in, plain data out. Speedups are against ``sequential/inline×1`` predicted
on the same machine under the same timeout (the reference every report uses).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Iterable, Optional, Sequence

from perfkit.analysis.metrics.machine import BUSY_OTHER_CORES
from perfkit.analysis.text import count
from perfkit.analysis.metrics.gil import SWITCH_INTERVAL_S
from perfkit.analysis.prediction.model import DAEMONIC_BACKENDS, RUNNER, BackendCosts, Execution, Machine, SimConfig
from perfkit.analysis.prediction.simulator import SimResult, simulate
from perfkit.analysis.prediction.workload import Workload
from perfkit.model import REFERENCE, TimeoutPolicy
from perfkit.store import Run

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

#: A curve's knee: the fewest workers that no larger count beats by more than this factor.
KNEE_GAIN = 1.10
#: A unit predicted to run this close to its timeout (wall / timeout) is at risk of timing out
#: in a real run: the model gives the mean pace, a real scheduler deals time unevenly.
AT_RISK = 0.6
#: Abandoned units a thread run is taken to tolerate when modelled without the backend's limit.
UNLIMITED = 1 << 30
#: A configuration whose wall is at least this fraction of sequential's gains nothing (within the
#: model's error, docs/benchmarks.md section 7); one whose wall is sequential's / NO_GAIN or more is slower.
NO_GAIN = 0.95
#: The parts a predicted wall is made of (wall-equivalent seconds), in the order reports list them.
PARTS = ("work", "start-up", "generation", "harness", "contention", "idle", "timeouts")


@dataclass(frozen=True)
class Prediction:
    """One configuration's predicted run, with its speedup and where its wall goes."""

    config: SimConfig
    result: SimResult
    #: Predicted wall of sequential/inline×1 on the same machine and timeout.
    sequential_wall_s: float
    #: Units that time out here but not in the reference (answers lost).
    new_timeouts: int
    #: Units predicted to run at ≥ AT_RISK of their timeout without timing out.
    at_risk: int
    parts: dict[str, float]
    why: str
    #: Part → why it is what it is (in the terms of perfkit's execution), for every part but work.
    reasons: dict[str, str] = field(default_factory=dict)
    #: Threads: the wall if each unit is a C call holding the GIL (:func:`gil_held_wall`), where
    #: that differs from :attr:`wall_s`; None otherwise.
    held_wall_s: Optional[float] = None
    #: (task_id, split, index, candidate) of the timed-out units the model counts but cannot name
    #: (:func:`unnamed_timeouts`): reports count them and list only the others.
    unnamed: frozenset = frozenset()
    #: Units that end otherwise than in the reference on this backend without any timeout: in a
    #: daemonic worker, the child processes they start cannot start (:meth:`Workload.on`).
    new_errors: int = 0

    @property
    def answers_lost(self) -> int:
        """Units whose reference answer this configuration loses (new timeouts, new errors)."""
        return self.new_timeouts + self.new_errors

    @property
    def wall_s(self) -> float:
        return self.result.wall_s

    @property
    def speedup(self) -> float:
        """Sequential's wall over this one's; nan for a run that stops early (its work unfinished)."""
        if self.result.stopped_s is not None or self.wall_s <= 0:
            return float("nan")
        return self.sequential_wall_s / self.wall_s

    @property
    def name(self) -> str:
        return self.config.name


@dataclass(frozen=True)
class Knee:
    """Where a speedup curve (one strategy/backend/chunk over worker counts) flattens."""

    curve: str
    workers: int
    speedup: float
    best_speedup: float
    why: str
    #: False: no worker count keeps the sequential answers, so the curve has no knee (``workers``
    #: and the speedups are then its first count's, nan where every count stops early).
    found: bool = True


@dataclass
class Sweep:
    """Everything ``perfkit predict`` reports."""

    workload: Workload
    machine: Machine
    execution: Execution
    costs: dict[str, BackendCosts]
    timeout: TimeoutPolicy
    predictions: list[Prediction]
    knees: list[Knee] = field(default_factory=list)
    #: worker count → the fastest prediction that loses no answer (None when every one does).
    best: dict[int, Optional[Prediction]] = field(default_factory=dict)
    #: timeout (seconds) → predictions of sequential and of the best configuration per worker count.
    cuts: dict[float, list[Prediction]] = field(default_factory=dict)
    assumptions: list[str] = field(default_factory=list)

    def find(self, strategy: str, backend: str, workers: int, chunk_size: Optional[int] = None) -> Optional[Prediction]:
        """The prediction of one configuration of the sweep, or None."""
        for p in self.predictions:
            c = p.config
            if (c.strategy, c.backend, c.workers, c.chunk_size) == (strategy, backend, workers, chunk_size):
                return p
        return None


def new_timeouts(result: SimResult, workload: Workload) -> "pd.DataFrame":
    """The units of ``result`` that time out but did not in the reference (answers lost)."""
    t = result.units[result.units["status"] == "timeout"]
    before = {(task.task_id, *unit) for task in workload.tasks for unit, cost in task.units.items()
              if cost.status != "timeout"}
    keys = zip(t["task_id"], t["split"], t["index"], t["candidate"])
    return t[[key in before for key in keys]]


def unnamed_timeouts(result: SimResult, machine: Machine, held: bool) -> frozenset:
    """The timed-out units of ``result`` whose timeout the model counts but cannot tie to the
    unit: all but those whose own CPU alone reaches the timeout (or that the reference stopped)
    and — unless each call holds the GIL to its end (``held``) — those whose CPU at the pace the
    model gives it reaches the timeout by as wide a margin as :data:`AT_RISK` leaves below it.
    Near the timeout a real scheduler decides which units pass it, and a late unit drawn at the
    GIL (:mod:`.gil`) is a chance summed over many; with held calls a unit's wall is its own call
    plus whichever call of another thread it waits out, and the fluid's mean stretch is no
    unit's: re_work's threads lost 1–6 answers a run as predicted, but 20–90 ms matches and
    3–7 µs units beside a held one, where the model had named its 70–90 ms matches (7 of 20
    named were lost there; docs/benchmarks.md "Session 15")."""
    t = result.timeouts
    timeout_s = result.config.timeout.unit_timeout_s
    alone_s = t["cpu_s"] / t["cores"] / machine.speed  # its CPU's wall alone
    own = (alone_s >= timeout_s) | t["lower_bound"] | t["endless"]
    paced = (alone_s / t["share"] >= timeout_s / AT_RISK) & (not held)
    keys = zip(t["task_id"], t["split"], t["index"], t["candidate"])
    return frozenset(key for key, named in zip(keys, own | paced) if not named)


def _lost(result: SimResult, workload: Workload) -> int:
    return len(new_timeouts(result, workload))


def verdict(p: "Prediction") -> str:
    """``slower than``, ``no faster than`` or ``faster than`` sequential (see :data:`NO_GAIN`);
    on threads whose wall depends on whether the units hold the GIL (:func:`gil_held_wall`),
    both verdicts where they differ; ``stops early`` for a run its backend gives up
    (:func:`why_stopped`)."""
    if p.result.stopped_s is not None:
        return "stops early"
    said = verdict_of(p.wall_s, p.sequential_wall_s)
    held = said if p.held_wall_s is None else verdict_of(p.held_wall_s, p.sequential_wall_s)
    return said if held == said else f"{said} if its calls give the GIL up, {held} if they hold it"


def doubtful(p: "Prediction") -> bool:
    """Whether a prediction gains nothing, loses answers, or gains only if its calls give the
    GIL up: what ``perfkit predict`` lists besides the best configurations."""
    seq = p.sequential_wall_s
    return (p.wall_s >= NO_GAIN * seq or loses_answers(p) or (p.held_wall_s or 0.0) >= NO_GAIN * seq
            or stop_at_risk(p.result))


def loses_answers(p: "Prediction") -> bool:
    """Whether a prediction loses answers of the reference: units newly timed out or raising,
    or units never run because the run stops early."""
    return bool(p.answers_lost) or p.result.stopped_s is not None


def stop_at_risk(result: SimResult) -> bool:
    """Whether a thread run predicted to run to its end comes within :data:`AT_RISK` of the
    backend's limit of abandoned units still running: as for a unit near its timeout, the model
    gives each its mean pace at the GIL and a real run deals the turns unevenly (networkx,
    docs/benchmarks.md "Session 13": a peak of 8 of 8 predicted, both thread runs stopped)."""
    return result.stopped_s is None and result.leak_limit > 0 and result.leaks_peak >= AT_RISK * result.leak_limit


def stop_or_run_on(result: SimResult, workload: Workload, costs: BackendCosts, machine: Machine,
                   execution: Execution, cooperative: Optional[bool]) -> SimResult:
    """A thread run the model stops, taken to stop only when, run on without the backend's
    limit, the abandoned units still running at its peak (:func:`abandoned_at_peak`) exceed the
    limit by as much as :func:`stop_at_risk` allows below it — those the run never sees end
    (stopped in the reference and never seen to end, or whose CPU left outlasts the run at a fair
    share of the GIL: all of them run at once at its end) counted whole, those the model ends
    later at AT_RISK — else the run to its end, its peak at risk (:func:`why_stopped` says which
    units it hangs on). The model gives the others their fair share of
    the GIL: a synthetic solver whose 20 stopped units end 50–70 ms past their stop read 'stops
    early' at 9 of 8 while its four measured thread runs peaked at 6–7 and ran to their end
    (docs/benchmarks.md "Session 13"). A unit outlasting the run in the model outlasts it in a
    real run too: the lives measured on networkx were a median 0.9–1.3× the model's where the GIL
    dealt its turns evenly and 5–10× for the threads it starved (the 7 thread runs measured in
    sessions 12–14 all stopped, "Session 14"). No one weight of the units ended later is right on
    both solvers ("Session 16"): networkx's (4–5 never ending + 4–5, all 5 runs stopped) needs
    more than 0.8, the synthetic's (0 + 9–11, all 4 runs complete) at most 0.73; at AT_RISK both
    read "may stop early", where a larger weight would say a complete run stops."""
    if result.stopped_s is None:
        return result
    free = simulate(workload, replace(result.config, max_leaked=UNLIMITED), costs, machine, execution, cooperative)
    _, running = abandoned_at_peak(free)
    lasting = int(running["end"].isna().sum())
    if lasting + AT_RISK * (len(running) - lasting) > result.leak_limit:
        return result
    return replace(free, config=result.config, leak_limit=result.leak_limit)


def abandoned_at_peak(result: SimResult) -> tuple[float, "pd.DataFrame"]:
    """When the most units given up in a thread run still run at once (seconds; the first such
    moment: a unit given up), and those units, each with ``end``: when the model has its work
    end (nan: never within the run — stopped in the reference and never seen to end, or still
    running when the run ends). ``(nan, empty)`` when none is given up."""
    u = result.units[result.units["leaked"]]
    given_up = u.assign(end=u["started"] + result.config.timeout.unit_timeout_s + u["leaked_s"])
    best_t, best = math.nan, given_up.iloc[:0]
    for t in sorted(given_up["ended"]):
        running = given_up[(given_up["ended"] <= t) & ~(given_up["end"] <= t)]
        if len(running) > len(best):
            best_t, best = t, running
    return best_t, best


def why_stopped(result: SimResult, workload: Workload) -> str:
    """Why a thread run stops early, and what it never runs, or why it may ("" when neither)."""
    workers = result.config.workers
    limit = (f"the {result.leak_limit} the thread backend tolerates ("
             + ("its max_leaked option" if result.config.max_leaked is not None else
                f"{result.leak_limit // max(1, workers)} per worker × {workers}")
             + ", perfkit/backends/thread.py)")
    if stop_at_risk(result) and result.leaks_peak > result.leak_limit:
        return f"the run may stop early: {_hangs_on(result, limit)}; {abandoned_lives(result)}"
    if stop_at_risk(result):
        return (f"the run may stop early: up to {result.leaks_peak} timed-out units still run at once in threads "
                f"that cannot be stopped, against {limit} before it gives the run up; {abandoned_lives(result)}")
    if result.stopped_s is None:
        return ""
    running = result.leak_limit + 1
    lower, stopped = workload.lower_bounds, workload.stopped
    # the probe may have seen some of the reference's stopped units end: those are not counted
    # here (networkx: 8 stopped, 3 seen to end, and the sentence said "the 5 units stopped")
    some = f"the {lower}" if lower >= stopped else f"{lower} of the {stopped}"
    endless = (f" ({some} unit{'s' if stopped != 1 else ''} stopped in the reference"
               f"{'' if lower >= stopped else ', whose end nothing measured,'} taken to run on until stopped)"
               if lower else "")
    return (f"the run stops at {result.stopped_s:.2f} s with {result.never_run} of its units never run: "
            f"{running} timed-out units are then still running in threads that cannot be stopped{endless}, more "
            f"than {limit}, so it gives the run up: use the process backend; {abandoned_lives(result)}")


def _hangs_on(result: SimResult, limit: str) -> str:
    """What a thread run modelled past the backend's ``limit`` of abandoned units, and run on by
    :func:`stop_or_run_on`, hangs on: when the model passes the limit, and how soon after it the
    model has the units then running end (the rule's units counted at AT_RISK)."""
    t, running = abandoned_at_peak(result)
    ending = (running["end"] - t).dropna().sort_values()
    lasting, endless = len(running) - len(ending), int(running["endless"].sum())
    excess = len(running) - result.leak_limit
    soon = f"{ending.iloc[0]:.2f} s" if len(ending) == 1 else f"{ending.iloc[0]:.2f}–{ending.iloc[-1]:.2f} s"
    return (f"run as modelled, at {t:.2f} s {len(running)} timed-out units still run at once in threads that cannot "
            f"be stopped, more than {limit}: {lasting} never end{'s' if lasting == 1 else ''} within the run"
            + (f" ({'' if endless == lasting else f'{endless} of them '}stopped in the reference, an end never "
               f"measured)" if endless else "")
            + f"; the model ends the other {len(ending)} {soon} later at a fair share of the GIL, so the run is given "
              f"up unless {excess} of them end{'s' if excess == 1 else ''} sooner than that")


def abandoned_lives(result: SimResult) -> str:
    """How long the model has the work of the units a thread run gave up run on past their
    deadline ("" when it gave none up): its CPU left (the reference's, or the GIL probe's run
    alone) at a fair share of the GIL — the mean that a real run's uneven turns scatter around
    (networkx: a median 0.9–1.3× of it where the GIL dealt its turns evenly, in 3 runs of 6; in the
    other 3, 13–22 s against the model's 1.7–3.7 s for the 4–5 threads it starved, 2–7 % of a core
    each: docs/benchmarks.md "Session 14").
    A unit the reference stopped whose end nothing measured (``Workload.runs_past``) never ends."""
    lives = _lives_record(result.units)
    if lives is None:
        return ""
    ended, running, endless = lives["ended"], lives["running_at_end"], lives["endless"]
    said = []
    if len(ended) > 1:
        said.append(f"{len(ended)} end {ended[0]:.1f}–{ended[-1]:.1f} s past their deadline")
    elif ended:
        said.append(f"1 ends {ended[0]:.1f} s past its deadline")
    if running:
        said.append(f"{running} still run{'s' if running == 1 else ''} when the run ends")
    if endless:
        said.append(f"{endless} never end{'s' if endless == 1 else ''} (stopped in the reference, an end never "
                    f"measured)")
    return (f"at a fair share of the GIL, of the {lives['units']} units given up " + ", ".join(said)
            + ": a real run deals the turns unevenly, and a thread it starves of them runs on many times longer")


def verdict_of(wall_s: float, sequential_wall_s: float) -> str:
    """:func:`verdict` of a wall against sequential's (seconds)."""
    if wall_s * NO_GAIN >= sequential_wall_s:
        return "slower than sequential"
    if wall_s >= NO_GAIN * sequential_wall_s:
        return "no faster than sequential"
    return "faster than sequential"


def gil_held_wall(workload: Workload, result: SimResult, costs: BackendCosts, machine: Machine,
                  execution: Execution, cooperative: bool) -> Optional[float]:
    """A thread configuration's wall if each unit is one C call holding the GIL to its end
    (``simulate(gil_held=True)``): nothing then gives a unit up at its deadline, and a unit
    stopped in the reference costs at least what it was stopped at — computed only where the
    GIL probe did not say whether the solver's calls hold it (a probe stored before it
    recorded it, or none; the reference ran on one thread and cannot show it). None where it
    was said, where it cannot differ from ``result`` (not threads, a solver that stops itself,
    no unit reaching its deadline) or does not (within :data:`NO_GAIN`)."""
    said = workload.gil.holds_gil if workload.gil is not None else None
    if not costs.behaviour.gil or cooperative or not result.timed_out or said is not None:
        return None
    held = simulate(workload, result.config, costs, machine, execution, cooperative, gil_held=True).wall_s
    return held if not NO_GAIN * held <= result.wall_s <= held / NO_GAIN else None


def _if_held(held_wall_s: Optional[float], sequential_wall_s: float, workload: Workload,
             costs: BackendCosts, result: SimResult, cooperative: bool) -> str:
    """The why's part on a thread configuration whose units reach their deadline and hold the
    GIL (as the probe showed), or may (as nothing showed: the wall if they do); "" otherwise."""
    gil = workload.gil
    if gil is not None and held_gil(workload, costs, cooperative) and result.timed_out:
        return (f"; the GIL probe: a thread asking for the GIL waited up to {gil.hold_s * 1000:.0f} ms beside this "
                f"solver's longest units, so its calls hold it to their end"
                + (f" — a lower bound: {workload.lower_bounds} unit{'s' if workload.lower_bounds != 1 else ''} stopped "
                   f"in the reference cost at least what {'they were' if workload.lower_bounds != 1 else 'it was'} "
                   f"stopped at" if workload.lower_bounds else ""))
    if held_wall_s is None:
        return ""
    stopped = workload.lower_bounds
    bound = (f"at least {held_wall_s:.2f} s" if stopped else f"{held_wall_s:.2f} s")
    return (f"; if this solver's calls hold the GIL to their end (C code such as CPython's re: the reference ran "
            f"on one thread and cannot show it, and no GIL probe here measured it: measure the probe again), no "
            f"thread "
            f"can give a unit up at its deadline and the others wait for it: {bound} "
            f"({sequential_wall_s / held_wall_s:.2f}×, {verdict_of(held_wall_s, sequential_wall_s)})"
            + (f", {stopped} unit{'s' if stopped != 1 else ''} stopped in the reference costing at least what "
               f"{'they were' if stopped != 1 else 'it was'} stopped at" if stopped else ""))


def why_timeouts(result: SimResult, costs: BackendCosts, machine: Machine, workload: Workload,
                 cooperative: bool) -> str:
    """Why units time out under this configuration that did not under sequential, and what each
    costs: how far sharing the cores (or the GIL) stretches a unit's wall against its timeout,
    and what the backend does with a unit past it ("" when none does)."""
    lost = new_timeouts(result, workload)
    if lost.empty:
        return ""
    cfg = result.config
    timeout_ms = cfg.timeout.unit_timeout_s * 1000
    workers = 1 if costs.behaviour.in_parent else cfg.workers
    cores = machine.cores * machine.machines
    shared = lost[lost["share"] < 1.0]
    stretch = float((1.0 / shared["share"]).median()) if len(shared) else 1.0
    lane_s = shared["cpu_s"] / shared["cores"] / machine.speed  # its CPU's wall alone
    mean_ms = float((lane_s / shared["share"]).median()) * 1000 if len(shared) else 0.0
    n = len(lost)
    out = f"{n} unit{'s time' if n != 1 else ' times'} out that did not under sequential (answers lost)"
    wide = bool(len(shared)) and float(shared["cores"].median()) >= WIDE_NAMED  # outside the GIL
    if held_gil(workload, costs, cooperative):
        return (out + f": each of the {workers} threads' calls holds the GIL to its end, so a unit waits out the "
                      f"other thread's whole call, and one past its {timeout_ms:.0f} ms timeout holds its worker until "
                      f"its call returns: nothing can give it up")
    if costs.behaviour.gil and len(shared) and not wide:
        contended = int((result.units["late_chance"] > 0).sum())
        out += (f": {workers} threads taking turns at the GIL stretch each unit's wall ~{stretch:.1f}× to "
                f"~{mean_ms:.0f} ms on average")
        if mean_ms >= timeout_ms:
            out += f", past its {timeout_ms:.0f} ms timeout"
        else:
            out += (f", of its {timeout_ms:.0f} ms timeout, and the GIL goes in {SWITCH_INTERVAL_S * 1000:.0f} ms "
                    f"turns to whichever thread wakes, not in order, so {n} of the {contended} units sharing it "
                    f"wait{'s' if n == 1 else ''} past the timeout")
    elif len(shared):
        pool = "threads share the process's thread pool on" if costs.behaviour.gil else "workers share"
        out += (f": {workers} {pool} {cores} cores, so each unit's wall stretches ~{stretch:.1f}× to "
                f"~{mean_ms:.0f} ms, past its {timeout_ms:.0f} ms timeout")
    return out + "; " + _timeout_cost(cfg.timeout.unit_timeout_s, costs, cooperative)


def held_gil(workload: Workload, costs: BackendCosts, cooperative: bool) -> bool:
    """Whether a thread configuration runs units that hold the GIL to their end, as the GIL
    probe showed (what ``simulate`` does by default)."""
    return costs.behaviour.gil and not cooperative and workload.gil is not None and workload.gil.holds_gil is True


def _timeout_cost(timeout_s: float, costs: BackendCosts, cooperative: bool) -> str:
    """What one timed-out unit costs on this backend."""
    held = f"each holds its worker the full {timeout_s:g} s"
    if cooperative:
        return held + " and then stops itself, its work so far lost"
    if costs.behaviour.hard_stop and costs.behaviour.stop_kills_worker:
        return (held + f" + {costs.stop_delay_s * 1000:.0f} ms until the backend stops it; its worker is killed and "
                       f"replaced ({costs.replace_s * 1000:.0f} ms), the rest of its work item re-queued")
    if costs.behaviour.hard_stop:
        return held + f" + {costs.stop_delay_s * 1000:.0f} ms until it is interrupted"
    return (held + f" + {costs.stop_delay_s * 1000:.0f} ms, then is abandoned: it runs on beside a new thread, "
                   f"still taking its turns at the GIL")


def _at_risk(result: SimResult, timeout_s: float) -> int:
    if not math.isfinite(timeout_s):
        return 0
    u = result.units
    return int(((u["status"] != "timeout") & (u["wall_s"] >= AT_RISK * timeout_s)).sum())


def wall_parts(result: SimResult) -> dict[str, float]:
    """The predicted wall split into :data:`PARTS` (seconds; they add up to the wall): lane
    time of the workers divided by their number, plus what the whole pool waits for."""
    workers = 1 if result.config.backend == "inline" else max(1, result.config.workers)
    return {
        "work": result.work_lane_s / workers,
        "start-up": result.startup_s + result.close_s,
        "generation": result.between_stages_s,
        "harness": result.harness_lane_s / workers,
        "contention": result.contention_lane_s / workers,
        "idle": result.idle_lane_s / workers,
        "timeouts": result.dead_lane_s / workers,
    }


def _items_per_stage(result: SimResult) -> float:
    return result.work_items / max(1, result.stages)


#: A second cost is named beside the largest when it is at least this fraction of it.
SECOND_PART = 0.75
#: A GIL hand-over factor from this one up is named in a thread configuration's why.
HAND_OVER_NAMED = 1.05
#: A cost below this share of the wall is not a reason.
NEGLIGIBLE = 0.03
#: Units computing on this many cores at once or more (CPU-weighted, :attr:`Workload.unit_cores`)
#: are named as such: one workload.CORES_STEP above a single core.
WIDE_NAMED = 1.1


def _reason(part: str, result: SimResult, costs: BackendCosts, machine: Machine, workload: Workload) -> str:
    """Why ``part`` of the wall is what it is, in the terms of perfkit's execution."""
    cfg = result.config
    workers = 1 if costs.behaviour.in_parent else cfg.workers
    cores = machine.cores * machine.machines
    if part == "contention":
        width = workload.unit_cores
        if costs.behaviour.gil:
            if width >= WIDE_NAMED:
                return (f"the {workers} threads' units computed on {width:.1f} cores each outside the GIL under "
                        f"sequential (their CPU over their wall), on the process's one thread pool: they share "
                        f"its {min(cores, math.ceil(width))} cores" + _hand_overs(workload, workers))
            return (f"the GIL lets one of the {workers} threads run Python at a time, so they share one core"
                    + _hand_overs(workload, workers))
        if width >= WIDE_NAMED and workers * width > cores:
            share = cores / (workers * width)
            return (f"{workers} workers × {width:.1f} cores per unit (its CPU over its wall under sequential) ask "
                    f"for {workers * width:.1f} of {cores} cores: a unit's threads wait for each other, so it "
                    f"progresses only while all of them hold a core: each does {share:.0%} of the time, so it "
                    f"runs at {share:.0%}^{width:.1f} = {share ** width:.0%} of its pace alone (limit the solver's threads per worker, e.g. "
                    f"OPENBLAS_NUM_THREADS, or run fewer workers)")
        if workers > cores:
            return f"{workers} workers share {cores} cores: each runs at {cores / workers:.0%} of a core"
        return (f"the parent's own CPU ({result.parent_cpu_s:.2f} s recording outcomes and dispatching) competes "
                f"with {workers} workers for {cores} cores")
    if part == "idle":
        scheduler_s = result.work_items * costs.scheduler_item_cpu_s / machine.speed
        per_stage = _items_per_stage(result)
        # before issue 13 the parent filled each worker's pipe in list order; since, each job
        # goes to the worker holding the fewest
        fills = costs.behaviour.prefetch > 1 and not result.execution.on_workers
        busy = min(workers, math.ceil(per_stage / costs.behaviour.prefetch)) if fills else min(workers, math.floor(per_stage))
        # the scheduler is named unless too few items leave workers without work and it takes
        # less than half the wall (80 workers, 11 items a stage, the scheduler a third of the wall)
        if scheduler_s > 0.25 * result.wall_s and not (busy < workers and scheduler_s < 0.5 * result.wall_s):
            return (f"the scheduler hands out one work item at a time: {result.work_items} items × "
                    f"{costs.scheduler_item_cpu_s * 1000:.1f} ms = {scheduler_s:.2f} s, while workers wait "
                    f"(larger chunks: fewer items)")
        if busy < workers:
            return (f"only {per_stage:.0f} work items per stage for {workers} workers"
                    + (f": the {costs.backend} backend hands each worker {costs.behaviour.prefetch} items up front, so "
                       f"{busy} of {workers} workers get work" if fills else ""))
        if result.critical_path_s > 0.5 * (result.work_lane_s / max(1, workers)):
            return (f"the largest work items ({result.critical_path_s:.2f} s in all, one per stage) bound the "
                    f"stages while the other workers wait")
        return _barrier_idle(result, workload)
    if part == "generation":
        generate_s = workload.generate_s / machine.speed
        if result.execution.on_workers:  # the runner of today (perfkit/runner/schedule.py)
            return (f"no work item is ready while a task's candidates are generated ({generate_s:.2f} s in all, "
                    f"a job on the workers): the first task's above all")
        return f"the solver generates candidates ({generate_s:.2f} s) serially in the parent while the workers wait"
    if part == "harness":
        per_unit = (costs.unit.worker_cpu_s + costs.unit.parent_cpu_s) * 1e6
        mean = workload.cpu_s / max(1, workload.n_units) * 1e6
        return (f"perfkit's own cost per unit (~{per_unit:.0f} µs: timing, hashing, recording) is large next to "
                f"the units (mean {mean:.0f} µs of CPU)")
    if part == "start-up":
        return f"starting {workers} {costs.backend} worker{'s' if workers > 1 else ''} and stopping {'them' if workers > 1 else 'it'}"
    return (f"{result.kills} timed-out units each held their worker until the deadline + "
            f"{costs.stop_delay_s * 1000:.0f} ms, then its replacement took {costs.replace_s * 1000:.0f} ms")


def _barrier_idle(result: SimResult, workload: Workload) -> str:
    """Where the workers wait for the last items, as the simulated schedule has it: at the
    barriers between a task's stages (a plan of several stages, e.g. hybrid's one per sample),
    between tasks (a runner with a barrier there), or — one stage per task and no barrier between
    tasks (docs/design.md, perfkit/runner/schedule.py): the next task's work fills a stage's
    tail — only in the run's last tail."""
    tasks = max(1, len(workload.tasks))
    if result.stages > tasks:
        return (f"workers wait at the end of each stage for its last items: {result.config.strategy} plans "
                f"{result.stages} stages for {tasks} task{'s' if tasks > 1 else ''}, a barrier after each")
    if result.execution.task_barrier:
        return "workers wait at the end of each task for its last items (a barrier between tasks)"
    return (f"no barrier ({result.config.strategy} runs one stage per task; the next task's work fills a "
            f"stage's tail): workers wait in the run's last tail, finishing their last items up to "
            f"{_last_tail_s(result):.2f} s apart")


def _last_tail_s(result: SimResult) -> float:
    """Seconds between the first worker running out of units and the run's last outcome."""
    ended = result.units.dropna(subset=["ended"])
    if ended.empty:
        return 0.0
    last = ended.groupby("worker")["ended"].max()
    return float(last.max() - last.min())


def _hand_overs(workload: Workload, workers: int) -> str:
    """The GIL probe's part of a thread configuration's why ("" when the solver's units release
    nothing, or it was not measured)."""
    gil = workload.gil
    if gil is None or workers < 2 or gil.at(workers) < HAND_OVER_NAMED:
        return ""
    counts = ", ".join(str(n) for n, _ in gil.factors)
    return (f"; and this solver's units release the GIL: {gil.describe(workers)}, measured by the GIL probe "
            f"(its units replayed on {counts} threads)")


def explain(p_parts: dict[str, float], result: SimResult, costs: BackendCosts, machine: Machine,
            workload: Workload, at_risk: int, cooperative: bool = True) -> str:
    """One sentence: what, besides the work itself, takes most of this configuration's wall
    (and the next cost when it is nearly as large), then any answers lost and why."""
    loss = sorted(((v, k) for k, v in p_parts.items() if k != "work"), reverse=True)
    lost = why_timeouts(result, costs, machine, workload, cooperative)
    if loss[0][0] < NEGLIGIBLE * result.wall_s:
        out = (f"the work itself: no other part takes {NEGLIGIBLE:.0%} of the wall "
               f"(largest: {loss[0][1]} {loss[0][0]:.2f} s)")
        return out + (f"; {lost}" if lost else "")
    named = [loss[0]] + [x for x in loss[1:2] if x[0] >= SECOND_PART * loss[0][0] and x[0] > 0]
    wall = result.wall_s if result.wall_s > 0 else 1.0
    out = "; and ".join(f"{part} {seconds:.2f} s ({seconds / wall:.0%} of wall): "
                            f"{_reason(part, result, costs, machine, workload)}" for seconds, part in named)
    if lost:
        out += f"; {lost}"
    elif at_risk:
        out += (f"; {at_risk} units run at ≥ {AT_RISK:.0%} of their timeout: an uneven scheduler will cut "
                f"some of them")
    return out


def predict_one(workload: Workload, config: SimConfig, costs: BackendCosts, machine: Machine,
                execution: Execution = RUNNER, sequential_wall_s: Optional[float] = None,
                cooperative: Optional[bool] = None) -> Prediction:
    """Predict one configuration, with its speedup against ``sequential_wall_s`` and why."""
    raised = in_daemon(workload, config.backend)
    workload = workload.on(config.backend)
    result = stop_or_run_on(simulate(workload, config, costs, machine, execution, cooperative), workload, costs,
                            machine, execution, cooperative)
    parts = wall_parts(result)
    new, risk = _lost(result, workload), _at_risk(result, config.timeout.unit_timeout_s)
    reasons = {part: _reason(part, result, costs, machine, workload) for part in PARTS if part != "work"}
    stops = bool(workload.cooperative) if cooperative is None else cooperative
    sequential = sequential_wall_s if sequential_wall_s is not None else result.wall_s
    held = gil_held_wall(workload, result, costs, machine, execution, stops)
    why = explain(parts, result, costs, machine, workload, risk, stops) + _if_held(held, sequential, workload, costs,
                                                                                  result, stops)
    stopped = why_stopped(result, workload)
    why = f"{stopped}; {why}" if stopped else why
    why = f"{raised[1]}; {why}" if raised[0] else why
    return Prediction(config, result, sequential, new, risk, parts, why, reasons, held,
                      unnamed_timeouts(result, machine, held_gil(workload, costs, stops)), raised[0])


def in_daemon(workload: Workload, backend: str) -> tuple[int, str]:
    """(units that end otherwise on ``backend`` than in the reference, having started child
    processes a daemonic worker cannot start — :meth:`Workload.on` —, the sentence saying so;
    0 and "" for none)."""
    changed = [d for d in (workload.changed_in_daemon() if backend in DAEMONIC_BACKENDS else {}).values()
               if d.status != "ok"]
    if not changed:
        return 0, ""
    by_candidate: dict[str, list] = {}
    for d in changed:
        by_candidate.setdefault(d.candidate, []).append(d)
    said = ", ".join(f"{c} ×{len(ds)} ({ds[0].error_type or 'timeout'}"
                     + (f": {ds[0].error_message}" if ds[0].error_message else "") + ")"
                     for c, ds in by_candidate.items())
    return len(changed), (f"{len(changed)} unit{'s' if len(changed) != 1 else ''} that ended without error in the "
                          f"reference end{'s' if len(changed) == 1 else ''} otherwise in a {backend} worker, "
                          f"run there by the daemon probe (answers lost): {said} — its workers are daemonic "
                          f"processes, which multiprocessing lets start no child process")


def _knee(curve: list[Prediction]) -> Knee:
    """The knee of one curve, and why the next worker count is not faster: the parts of its
    wall that did not shrink in proportion to the workers (the shortfall from perfect scaling).
    Only worker counts that keep the sequential answers count: a faster count that loses some
    is no knee (the sentence says from how many workers answers are lost)."""
    curve = sorted(curve, key=lambda p: p.config.workers)
    name = f"{curve[0].config.strategy}/{curve[0].config.backend}" + (
        f" chunk {curve[0].config.chunk_size}" if curve[0].config.chunk_size else "")
    kept = [p for p in curve if not loses_answers(p)]
    lost = _answers_lost(curve)
    if not kept:
        # no best either: a speedup that loses answers is no gain to report
        first = curve[0]
        if all(p.result.stopped_s is not None for p in curve):
            counts = ", ".join(str(p.config.workers) for p in curve)
            return Knee(name, first.config.workers, first.speedup, first.speedup,
                        f"no worker count keeps the sequential answers: the run stops early at every worker count "
                        f"({counts}), its work unfinished, no speedup to compare", found=False)
        return Knee(name, first.config.workers, first.speedup, first.speedup,
                    f"no worker count keeps the sequential answers{lost}", found=False)
    best = max(p.speedup for p in kept)
    knee = next(p for p in kept if all(q.speedup <= KNEE_GAIN * p.speedup for q in kept
                                       if q.config.workers > p.config.workers))
    later = [p for p in kept if p.config.workers > knee.config.workers]
    if not later:
        rising = (f"still rising at {count(knee.config.workers, 'worker')}, the largest count predicted"
                  if knee is curve[-1] else f"the largest count that keeps the answers")
        return Knee(name, knee.config.workers, knee.speedup, best, rising + lost)
    nxt = later[0]
    scale = knee.config.workers / nxt.config.workers
    short = sorted(((nxt.parts[k] - knee.parts[k] * scale, k) for k in PARTS if k != "work"), reverse=True)
    named = [short[0]] + [x for x in short[1:2] if x[0] >= SECOND_PART * short[0][0]]
    why = (f"at {nxt.config.workers} workers, what does not shrink with more workers: "
           + "; and ".join(f"{part} {seconds:.2f} s — {nxt.reasons[part]}" for seconds, part in named if seconds > 0))
    return Knee(name, knee.config.workers, knee.speedup, best, why + lost)


def _answers_lost(curve: list[Prediction]) -> str:
    """Where a curve (sorted by workers) loses answers: "from N workers on" only when every
    larger count loses some too, else the counts that do (a count between two that keep the
    answers must not read as lost from there on); "" when none does."""
    losing = [p for p in curve if loses_answers(p)]
    if not losing:
        return ""
    first = losing[0]
    n = first.config.workers
    at_n = f"{n} worker{'s' if n != 1 else ''}"
    tail = all(loses_answers(p) for p in curve if p.config.workers >= n)
    where = (f"from {at_n} on" if tail else f"at {at_n}" if len(losing) == 1
             else "at " + ", ".join(str(p.config.workers) for p in losing) + " workers")
    units = (f"{first.new_timeouts} {'unit newly times' if first.new_timeouts == 1 else 'units newly time'} out"
             if first.new_timeouts else "the run stops early")
    return f"; {where}, answers are lost ({units}{f' at {at_n}' if not tail and len(losing) > 1 else ''})"


def sweep(workload: Workload, costs: dict[str, BackendCosts], machine: Machine, *,
          strategies: Sequence[str], backends: Sequence[str], workers: Sequence[int],
          chunk_sizes: Sequence[Optional[int]] = (None,), timeouts: Sequence[float] = (),
          budgets: TimeoutPolicy = TimeoutPolicy(), execution: Execution = RUNNER,
          cooperative: Optional[bool] = None, max_leaked: Optional[int] = None) -> Sweep:
    """Predict every strategy × backend × workers × chunk size on ``machine``, under the first
    of ``timeouts`` (default: the reference's), and for each timeout what it would cut.
    ``max_leaked``: the thread backend's option of that name (:attr:`SimConfig.max_leaked`)."""
    from perfkit import strategies as registry

    timeouts = list(timeouts) or [workload.reference_timeout_s]
    policy = TimeoutPolicy(timeouts[0], budgets.sample_budget_s, budgets.task_budget_s)
    seq = predict_one(workload, SimConfig(*REFERENCE, timeout=policy), _costs(costs, "inline", workload), machine, execution,
                      cooperative=cooperative)
    predictions = [seq]
    for strategy in strategies:
        chunked = strategy not in ("sequential", "sample-parallel") and not registry.get(strategy).sample_level
        for backend in backends:
            for w in workers:
                if (backend == "inline" and strategy != "sequential") or (strategy == "sequential" and w > 1):
                    continue  # inline is one thread; sequential is one work item per task
                for chunk in (chunk_sizes if chunked else (None,)):
                    config = SimConfig(strategy, backend, w, chunk, policy,
                                       max_leaked if backend == "thread" else None)
                    if config.name == seq.name:
                        continue
                    predictions.append(predict_one(workload, config, _costs(costs, backend, workload), machine, execution,
                                                   seq.wall_s, cooperative))
    result = Sweep(workload, machine, execution, costs, policy, predictions)
    curves: dict[tuple, list[Prediction]] = {}
    for p in predictions[1:]:
        curves.setdefault((p.config.strategy, p.config.backend, p.config.chunk_size), []).append(p)
    result.knees = [_knee(c) for c in curves.values() if len(c) > 1]
    for w in sorted({p.config.workers for p in predictions[1:]} | {1}):
        kept = [p for p in predictions if p.config.workers == w and not loses_answers(p)]
        result.best[w] = min(kept, key=lambda p: p.wall_s) if kept else None
    for t in timeouts:
        cut = []
        for p in [seq] + [b for b in result.best.values() if b is not None and b is not seq]:
            cut.append(p if t == policy.unit_timeout_s else predict_one(
                workload, p.config.with_timeout(t), _costs(costs, p.config.backend, workload), machine, execution,
                seq.wall_s, cooperative))
        result.cuts[t] = cut
    result.assumptions = assumptions(workload, costs, machine, execution, cooperative)
    return result


def _costs(costs: dict[str, BackendCosts], backend: str, workload: Workload) -> BackendCosts:
    """``backend``'s costs in the machine state of ``workload``'s reference run (its
    calibration workload's CPU): a calibration measured while the machine was faster or
    slower says the same in the reference's seconds."""
    from perfkit.analysis.prediction.model import DEFAULT_COSTS

    return (costs.get(backend) or DEFAULT_COSTS[backend]).at_yardstick(workload.reference_yardstick_cpu_s)


#: How a unit ended, by its status, in a sentence.
ENDED = {"ok": "ended without error", "error": "raised", "timeout": "ran to its timeout"}


def daemon_probed(workload: Workload) -> str:
    """What the daemon probe (perfkit/orchestration/daemon_probe.py) saw of the candidates
    that computed on more than one core, and what that changes on :data:`DAEMONIC_BACKENDS`;
    "" when it ran nothing."""
    if not workload.in_daemon:
        return ""
    costs = {(t.task_id, *unit): cost for t in workload.tasks for unit, cost in t.units.items()}
    rows: dict[str, list] = {}
    for d in workload.in_daemon:
        rows.setdefault(d.candidate, []).append(d)
    same, other = [], []
    for candidate, ds in rows.items():
        if ds[0].status == costs[ds[0].unit].status:
            same.append(candidate)
            continue
        first = ds[0]
        planned = {first.unit} | {key for key, c in costs.items() if key[3] == candidate and c.status == "ok"}
        changed = [d for d in ds if d.status != costs[d.unit].status]
        other.append(f"{candidate} {ENDED[first.status]}" + (f" ({first.error_type}: {first.error_message})"
                                                            if first.error_type else "")
                     + f", {len(changed)} of the {len(planned)} units run there ended otherwise than in the "
                       f"reference" + (f" ({len(planned) - len(ds)} not run: the probe's budget spent)"
                                       if len(ds) < len(planned) else "")
                     + f", {sum(d.cpu_s for d in changed):.2f} s of CPU there against "
                       f"{sum(costs[d.unit].cpu_s for d in changed):.2f} s in the reference")
    return (f"in a daemonic process, as a worker of {' and '.join(DAEMONIC_BACKENDS)} runs it (multiprocessing "
            f"lets it start no child process), the daemon probe ran a unit of each of the {len(rows)} candidates "
            f"that computed on more than one core: "
            + "; ".join(([f"{', '.join(same)} ended as in the reference (its units taken as the reference ran "
                          f"them)"] if same else []) + other)
            + (": on those backends each such unit takes its outcome and cost there" if other else ""))


def busy_reference(workload: Workload) -> Optional[str]:
    """The warning when the reference ran on a busy machine (None when it was quiet)."""
    if workload.reference_others_cores <= BUSY_OTHER_CORES:
        return None
    off_cpu_s = sum(c.wait_s for t in workload.tasks for c in t.units.values())
    return (f"the reference was measured while other processes used {workload.reference_others_cores:.1f} cores: "
            f"its units' {off_cpu_s:.2f} s off the CPU include waiting for a core, taken as waits that need none, "
            f"so more workers than cores look faster than they are: measure the reference on a quiet machine")


def stopped_in_reference(workload: Workload) -> str:
    """What the reference's timeouts (and crashes) tell of their units' cost, counted as the run
    recorded their statuses: a unit stopped at its deadline costs at least what it ran, one that
    returned by itself after it (a timeout all the same, ``perfkit.model.finished_late``) is
    measured in full. "" when the reference has neither."""
    timeouts, late = workload.reference_statuses.get("timeout", 0), workload.reference_late
    crashed = workload.reference_statuses.get("crashed", 0)
    stopped = workload.stopped
    if not (timeouts or crashed):
        return ""
    said = []
    if timeouts:
        said.append(f"{timeouts} unit{'s' if timeouts != 1 else ''} timed out in the reference")
    if crashed:
        said.append(f"{crashed} crashed")
    out = " and ".join(said)
    if stopped:
        cut = "were" if stopped != 1 else "was"
        out += (f": {stopped} {cut} stopped, so "
                f"{'their' if stopped != 1 else 'its'} cost is at least {workload.reference_timeout_s:g} s — taken "
                f"as what was measured, so predictions with a longer timeout are lower bounds"
                + (" (but for those the GIL probe ran alone, below)" if workload.lower_bounds < stopped else ""))
    if crashed:
        out += (f"{';' if stopped else ':'} the crashed {'one' if crashed == 1 else 'ones'} cost at least what "
                f"{'it' if crashed == 1 else 'they'} ran")
    if late:
        out += (f"{';' if stopped or crashed else ':'} {late} returned by {'itself' if late == 1 else 'themselves'} after "
                f"{'its' if late == 1 else 'their'} deadline (a timeout all the same), "
                f"{'its' if late == 1 else 'their'} cost measured in full")
    return out


#: Units named in a sentence at most (the rest counted).
NAMED_UNITS = 6


def seen_alone(workload: Workload) -> str:
    """What the GIL probe saw of the cost past their deadline of the units the reference
    stopped (perfkit/orchestration/gil_probe.py ``run_alone``), and which units' cost it did not
    see; "" without a probe or a stopped unit."""
    gil, stopped = workload.gil, workload.stopped
    if gil is None or not stopped:
        return ""
    costs = [((t.task_id, *unit), c) for t in workload.tasks for unit, c in t.units.items()
             if c.status == "timeout" and (c.lower_bound or c.probed)]
    unseen = [key for key, c in costs if not c.probed]
    names = ", ".join(f"{t}/{s}[{i}] {c}" for t, s, i, c in unseen[:NAMED_UNITS]) + (
        f" and {len(unseen) - NAMED_UNITS} more" if len(unseen) > NAMED_UNITS else "")
    if gil.stopped is None:
        units = f"{stopped} unit{'s' if stopped != 1 else ''}"
        return (f"the GIL probe did not run the {units} stopped in the reference alone (a probe stored before "
                f"it did, or its pass failed: measure it again), so {'their' if stopped != 1 else 'its'} cost past "
                f"the timeout is unseen: {names}")
    ended = [c for _, c in costs if c.probed and not c.lower_bound]
    capped = any(c.probed and c.lower_bound for _, c in costs)
    out = (f"the GIL probe ran {stopped - len(unseen)} of the {stopped} units stopped in the reference alone, each up "
           f"to {gil.stopped_cap_s:g} s, {gil.stopped_budget_s:g} s for all")
    said = []
    if ended:
        walls = [c.lane_s + c.wait_s for c in ended]
        said.append(f"{len(ended)} ended after {min(walls):.2f}–{max(walls):.2f} s ({sum(walls):.2f} s in all), "
                    f"their cost taken from it")
    if capped:
        walls = [c.lane_s + c.wait_s for _, c in costs if c.probed and c.lower_bound]
        said.append(f"{len(walls)} reached the cap or the budget's end: at least {min(walls):.2f}"
                    + (f"–{max(walls):.2f} s" if len(walls) > 1 else " s"))
    if unseen:
        said.append(f"{len(unseen)} not run (the budget spent), their cost past the timeout unseen: {names}")
    return out + (": " + "; ".join(said) if said else "")


def assumptions(workload: Workload, costs: dict[str, BackendCosts], machine: Machine, execution: Execution,
                cooperative: Optional[bool]) -> list[str]:
    """What every prediction of this sweep rests on, said once."""
    out = [f"reference: {workload.reference_strategy}/{workload.reference_backend}×{workload.reference_workers} "
           f"run {workload.run_id} ({workload.n_units} units, {workload.cpu_s:.2f} s of unit CPU, "
           f"{workload.generate_s:.2f} s of candidate generation, wall {workload.reference_wall_s:.2f} s, "
           f"{workload.reference_cores} usable cores)",
           f"machine: {machine.machines} × {machine.cores} cores at {machine.speed:g}× the reference's single-core "
           f"speed" + ("" if machine.parent_shares_cores else "; the parent and the scheduler on a machine of their own"),
           f"execution: candidate generation "
           f"{'a job on the workers, ' if execution.on_workers else execution.generation + ' in the parent, '}"
           f"{'a barrier' if execution.task_barrier else 'no barrier'} between tasks, "
           f"{'taper pieces joined while later work waits, ' if execution.join_taper and execution.on_workers else ''}"
           f"worker start-up "
           f"{'per run' + (' (cold)' if execution.cold else ' (forkserver warm)') if execution.startup == 'run' else 'outside the run (warm pool)'}"]
    if busy_reference(workload):
        out.append(busy_reference(workload))
    if workload.unit_cores >= WIDE_NAMED:
        out.append(f"a unit computed on {workload.unit_cores:.1f} cores at once under the reference (its CPU over "
                   f"its wall, weighted by CPU; up to {max(c.cores for t in workload.tasks for c in t.units.values()):.1f}):"
                   f" W process workers ask for W × that many cores, and past the machine's cores each unit "
                   f"progresses only while all its threads hold a core; on threads that CPU ran outside the GIL, "
                   f"on the process's one thread pool")
    for said in (stopped_in_reference(workload), seen_alone(workload), daemon_probed(workload)):
        if said:
            out.append(said)
    if workload.unknown:
        out.append(f"{workload.unknown} units never ran in the reference (skipped): their cost is unknown, taken as 0")
    stops = "stops itself at its deadline" if (cooperative if cooperative is not None else workload.cooperative) \
        else "does not stop itself: the backend stops it"
    told = "" if cooperative is not None else (" (as its timeouts in the reference showed)" if workload.cooperative
                                              is not None else " (assumed: the reference had no timeout to tell)")
    out.append(f"a unit past its timeout {stops}{told}")
    scales = {name: _costs(costs, name, workload).unit.worker_cpu_s / c.unit.worker_cpu_s
              for name, c in costs.items() if c.unit.worker_cpu_s > 0}
    moved = {name: f for name, f in scales.items() if abs(f - 1.0) > 0.05}
    if moved:
        out.append("the machine's single-core speed moved between the calibration and the reference (calibration "
                   "workload): perfkit's own costs taken × " + ", ".join(f"{f:.2f} ({n})" for n, f in sorted(moved.items())))
    uncalibrated = sorted(name for name, c in costs.items() if not c.calibrated)
    if uncalibrated:
        out.append(f"backend costs not measured on this machine, built-in defaults used: {', '.join(uncalibrated)}")
    return out


# -- measured runs: their prediction beside them ----------------------------------------------

def config_of(run: Run) -> SimConfig:
    """The configuration of a stored run, as the simulator takes it (a thread run's ``max_leaked``
    backend option with it)."""
    c = run.config
    leaked = (c.backend_options or {}).get("max_leaked") if c.backend == "thread" else None
    return SimConfig(c.strategy, c.backend, c.workers, c.chunk_size, c.timeout,
                     None if leaked is None else int(leaked))


def machine_of(run: Run, speed: float = 1.0) -> Machine:
    """The machine a stored run was measured on (its usable cores)."""
    return Machine(run.cores, speed)


def execution_of(run: Run) -> Execution:
    """How a stored run was executed: today's runner (:data:`RUNNER`); its start cold unless
    the backend says it found its forkserver running (perfkit/backends/process.py ``cold_start``)."""
    from dataclasses import replace

    resources = run.summary.resources or run.meta.get("resources") or {}
    return replace(RUNNER, cold=bool(resources.get("cold_start", True)))


def predict_measured(workload: Workload, runs: Iterable[Run], costs: dict[str, BackendCosts],
                     cooperative: Optional[bool] = None) -> list[tuple[Run, SimResult]]:
    """The prediction of each measured run (same configuration, machine and start-up), for
    the model's error beside the measurement, by the rule ``perfkit predict`` gives it
    (a thread run stops early only where :func:`stop_or_run_on` says so). The simulator is
    deterministic, so the repeats of one configuration on one machine share one simulation
    (the report's largest cost)."""
    out, simulated = [], {}
    for run in runs:
        key = (config_of(run), machine_of(run), execution_of(run))
        if key not in simulated:
            config, machine, execution = key
            backend, on = _costs(costs, config.backend, workload), workload.on(config.backend)
            simulated[key] = stop_or_run_on(simulate(on, config, backend, machine, execution, cooperative),
                                            on, backend, machine, execution, cooperative)
        out.append((run, simulated[key]))
    return out


def prediction_record(p: Prediction) -> dict[str, Any]:
    """One prediction as JSON-ready data (seconds; fractions 0..1)."""
    r = p.result
    u = r.units
    qw = (u["started"] - u["queued"]).dropna().clip(lower=0)
    return {
        "configuration": p.name, "strategy": p.config.strategy, "backend": p.config.backend,
        "workers": p.config.workers, "chunk_size": p.config.chunk_size,
        "timeout_s": p.config.timeout.unit_timeout_s, "wall_s": r.wall_s, "speedup": p.speedup,
        "ideal_wall_s": r.ideal_wall_s, "efficiency": r.efficiency, "critical_path_s": r.critical_path_s,
        "startup_s": r.startup_s, "close_s": r.close_s, "parent_cpu_s": r.parent_cpu_s,
        "work_items": r.work_items, "stages": r.stages, "kills": r.kills,
        "statuses": {k: int(v) for k, v in u["status"].value_counts().items()},
        "new_timeouts": p.new_timeouts, "new_errors": p.new_errors, "at_risk": p.at_risk,
        "queue_wait_median_s": float(qw.median()) if len(qw) else 0.0,
        "queue_wait_max_s": float(qw.max()) if len(qw) else 0.0,
        "workers_busy_s": {k: float(v) for k, v in r.busy_s.items()},
        "wall_parts_s": p.parts, "why": p.why, "wall_if_gil_held_s": p.held_wall_s,
        "timeouts": [list(k) for k in named_timeouts(p).itertuples(index=False, name=None)],
        "timeouts_unnamed": len(p.unnamed),
        "skipped": int((u["status"] == "skipped").sum()),
        "stopped_s": r.stopped_s, "never_run": r.never_run, "abandoned_running_peak": r.leaks_peak,
        "abandoned_life_s": _lives_record(u),
        "lower_bound_units": int(u["lower_bound"].sum()),
    }


def named_timeouts(p: Prediction) -> "pd.DataFrame":
    """The timed-out units of a prediction that the model can name (task_id, split, index,
    candidate), in the order they time out; :attr:`Prediction.unnamed` are left out."""
    t = p.result.timeouts[["task_id", "split", "index", "candidate"]]
    return t[[key not in p.unnamed for key in t.itertuples(index=False, name=None)]]


def _lives_record(u: "pd.DataFrame") -> Optional[dict[str, Any]]:
    """The units a thread run gives up, and how long past their deadline the model has their work
    run on (seconds, :func:`abandoned_lives`); None when it gives none up."""
    given_up = u[u["leaked"]]
    if given_up.empty:
        return None
    ended = given_up.loc[~given_up["endless"], "leaked_s"].dropna()
    return {"units": len(given_up), "endless": int(given_up["endless"].sum()),
            "running_at_end": int((~given_up["endless"]).sum()) - len(ended),
            "ended": sorted(float(x) for x in ended)}


def sweep_record(s: Sweep) -> dict[str, Any]:
    """The whole sweep as JSON-ready data (``report.json`` of ``perfkit predict``)."""
    from dataclasses import asdict

    return {
        "reference_run": s.workload.run_id,
        "machine": asdict(s.machine), "execution": asdict(s.execution),
        "timeout": asdict(s.timeout),
        "costs": {name: c.to_record() for name, c in s.costs.items()},
        "assumptions": s.assumptions,
        "predictions": [prediction_record(p) for p in s.predictions],
        "knees": [asdict(k) for k in s.knees],
        "best": {str(w): (p.name if p is not None else None) for w, p in s.best.items()},
        "timeout_cuts": {str(t): [{"configuration": p.name, "timeouts": p.result.timed_out,
                                   "answers_lost": p.new_timeouts, "wall_s": p.wall_s} for p in ps]
                         for t, ps in s.cuts.items()},
    }


def model_check(runs: Sequence[Run], workload: Workload, costs: dict[str, BackendCosts]) -> "pd.DataFrame":
    """Every measured run beside its prediction from the reference's ``workload`` alone (as
    ``perfkit predict`` builds it, probes included: perfkit/api.py ``_reference_workload``): one row per
    (strategy, backend, workers) with the median over repeats of the measured and predicted
    wall (seconds), timed-out units and skipped units, and the model's wall error (predicted /
    measured − 1; missing where the backend's costs are the built-in ones, not measured on
    this machine, and where the run is predicted to stop early: ``predicted_stopped_s``, nan
    when it runs to its end). A median count is a half when an even number of repeats disagree."""
    import pandas as pd

    rows = []
    for run, result in predict_measured(workload, runs, costs):
        c = config_of(run)
        measured, predicted = run.units["status"], result.units["status"]
        rows.append({"strategy": c.strategy, "backend": c.backend, "workers": c.workers,
                     "measured_wall_s": float(run.summary.wall_s), "predicted_wall_s": result.wall_s,
                     "predicted_stopped_s": math.nan if result.stopped_s is None else result.stopped_s,
                     "measured_timeouts": int((measured == "timeout").sum()),
                     "predicted_timeouts": result.timed_out,
                     "measured_skipped": int((measured == "skipped").sum()),
                     "predicted_skipped": int((predicted == "skipped").sum())})
    if not rows:
        return pd.DataFrame()
    df = pd.DataFrame(rows).groupby(["strategy", "backend", "workers"], sort=False).median().reset_index()
    df["model_error"] = df["predicted_wall_s"] / df["measured_wall_s"] - 1.0
    # a run predicted to stop early (its work unfinished) has no wall to set against a complete one
    df.loc[df["predicted_stopped_s"].notna(), "model_error"] = float("nan")
    # built-in costs were measured on another machine: an error against them says nothing about
    # the model (a sequential run predicted from itself would show tens of percent), so none is given
    uncalibrated = {b for b in df["backend"] if not _costs(costs, b, workload).calibrated}
    df.loc[df["backend"].isin(uncalibrated), "model_error"] = float("nan")
    return df


def shows_skipped(model: "pd.DataFrame") -> bool:
    """Whether a model check's skipped units earn a place in a report: some configuration
    skipped units, measured or predicted (without budgets none ever does, and a column of
    zeros would only widen the table)."""
    return not model.empty and bool((model[["measured_skipped", "predicted_skipped"]] > 0).any(axis=None))
