"""Rules about units that did not answer as under sequential: timeouts (contention, leaked
threads, the limit's own noise, their cost), skipped and crashed units, varying outputs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from perfkit.analysis.answers import (
    BOUNDARY_FLIP,
    BOUNDARY_SHARE,
    NEW_TIMEOUT,
    NOISE_FACTOR,
    NOISE_TIMEOUT,
    NONDETERMINISTIC,
    VARIES_ACROSS_REPEATS,
)
from perfkit.analysis.findings.finding import EVIDENCE_ROWS, Finding, runs_by_group
from perfkit.analysis.findings.machine import busy_during, busy_runs
from perfkit.analysis.findings.state import carried_units
from perfkit.analysis.metrics.contention import core_share, life_share
from perfkit.analysis.metrics.dispatch import queue_wait
from perfkit.analysis.metrics.gil import SWITCH_INTERVAL_S, held_by_others
from perfkit.analysis.metrics.records import KEY, SAMPLE, ran
from perfkit.analysis.metrics.run import group_name
from perfkit.analysis.text import count, duration, is_missing, percent, possessive
from perfkit.model import finished_late, sample_label

if TYPE_CHECKING:  # pragma: no cover
    from perfkit.analysis.comparison import Comparison

#: A unit got less than this share of a core while running → contention.
CONTENTION_SHARE = 0.8
#: A leaked unit that used less than this share of a core from its start to its thread's end
#: mostly waited (for the GIL, or a core) rather than worked.
WAITED_SHARE = 0.5
#: Timed-out units taking at least this share of all unit time are reported.
TIMEOUT_SHARE = 0.2


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
            carried = ({k for _g, k, _r in carried_units(c, {}, only=fig.group)[True]}
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
        busy = busy_runs(c, c.figures_of(fig.group)) if starved and 2 * len(held) < len(new) else []
        if busy:
            cause += f"; {busy_during(busy, 'these runs')}, so part of the contention is theirs"
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
    for group, figs in runs_by_group(c):
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
    for group, figs in runs_by_group(c):
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


def nondeterministic_candidates(c: "Comparison") -> list[Finding]:
    """Candidates whose answers vary from run to run: their output differed between the
    sequential reference's own runs (each in a fresh process) or between the repeats of another
    configuration, on the same sample, in any task. A solver fault, named with where it was seen;
    their units' differences from sequential, in every task, are not counted as the strategies'
    (perfkit/analysis/answers.py): where two sequential runs happened to agree, a strategy's
    different answer is no evidence that the strategy changed it."""
    v = c.variability
    if v is None or not v.varying():
        return []
    nd = v.nondeterministic
    tasks_of: dict[str, list[str]] = {}
    for task, cand in v.candidates():
        tasks_of.setdefault(cand, []).append(task)
    many_tasks = nd["task_id"].nunique() > 1
    names = [cand + (f" (task{'s' if len(ts) > 1 else ''} {', '.join(ts[:3])}{' …' if len(ts) > 3 else ''})"
                     if many_tasks else "") for cand, ts in tasks_of.items()]
    elsewhere = [(r.candidate, f"seen in {v.seen_varying(r.candidate)}")
                 for r in v.elsewhere.drop_duplicates("candidate").itertuples()]
    excused = sum(a.kind_counts().get(k, 0) for a in c.answers for k in (NONDETERMINISTIC, VARIES_ACROSS_REPEATS))
    ev = tuple(f"{r.task_id}/{sample_label(r.split, r.index)} {r.candidate}: "
               + (f"{r.outputs} different outputs" if r.outputs > 1 else f"statuses {r.statuses}")
               + f" in {v.runs} sequential runs" for r in nd.head(EVIDENCE_ROWS).itertuples())
    ev += tuple(f"{r.task_id}/{sample_label(r.split, r.index)} {r.candidate}: different answers in the repeats of "
                f"{r.configuration}" for r in v.elsewhere.head(EVIDENCE_ROWS).itertuples())
    parts = []
    if names:
        parts.append(f"{len(names)} candidate{'s' if len(names) > 1 else ''} gave different answers on the same "
                     f"sample in the {v.runs} sequential runs (each in a fresh process): "
                     f"{', '.join(names[:EVIDENCE_ROWS])}{' …' if len(names) > EVIDENCE_ROWS else ''}.")
    if elsewhere:
        # two sequential runs agreeing on a yes-or-no answer is a coin landing twice alike
        more = " …" if len(elsewhere) > EVIDENCE_ROWS else ""
        (cand, where), = elsewhere[:1]
        head = (f"{possessive(cand)} answers vary from run to run ({where})" if len(elsewhere) == 1 else
                "The answers of " + ", ".join(f"{cand} ({where})" for cand, where in elsewhere[:EVIDENCE_ROWS])
                + f"{more} vary from run to run")
        parts.append(f"{head}{' too' if names else ''}: different on the same sample between the repeats of one "
                     f"configuration, where the {v.runs} sequential runs happened to agree (more sequential repeats "
                     f"show whether they vary there too).")
    return [Finding(
        "nondeterministic-candidates", "problem", "",
        " ".join(parts) + " This is a solver fault (unseeded randomness, the order of a set or of string hashes, "
        "state kept between calls), not a strategy's: "
        + ("their units are left out of the strategies' answer differences, in every task" if names else
           "the units seen to vary are left out of the strategies' answer differences")
        + (" (and the units seen to vary between a configuration's repeats)" if names and elsewhere else "")
        + f" ({excused} such differences under the strategies).", ev)]


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
    one = len(flipped) == 1
    ev = []
    for key, row in flipped.sort_values("wall_max_s", ascending=False).head(EVIDENCE_ROWS).iterrows():
        task_id, split, index, cand = key
        under = sorted(set(flipped_under.get(key, [])))
        ev.append(f"{task_id}/{sample_label(split, index)} {cand}: sequential {row['wall_min_s']:.3f}–"
                  f"{row['wall_max_s']:.3f} s ({row['statuses']})"
                  + (f"; flipped under {', '.join(under)}" if under else ""))
    return [Finding(
        "boundary-units", "warning", "",
        f"{count(len(flipped), 'unit')} {'sits at its' if one else 'sit at their'} {v.timeout_s:g} s limit and "
        f"{'flips' if one else 'flip'} between finishing (ok or error) and timing out: "
        f"{int(flipped['flipped'].sum())} flipped between the {v.runs} sequential runs themselves and {n_strategy} "
        f"times under the strategies. These are boundary flips (a unit whose sequential time reaches "
        f"{BOUNDARY_SHARE:.0%} of the timeout, or that flips between sequential runs), not lost answers: the "
        f"{'unit' if one else 'slowest of them'} took {duration(flipped['wall_max_s'].max())} under sequential, so a timeout with room above "
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
