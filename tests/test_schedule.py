"""The schedule's work items: a stage's pieces are joined (up to JOIN_LIMIT_ITEMS planned
items) while a later task's work is queued, never across stages or tasks, and the run's last task keeps the plan's taper; every
planned unit is handed out exactly once, in the plan's order."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from builders import StopAfter, make_task
from perfkit import load_run, runner, strategies
from perfkit.backends import Generation
from perfkit.model import JOIN_LIMIT_ITEMS, Plan, RunConfig, join_limit, RunInterrupted, TimeoutPolicy
from perfkit.runner.schedule import Schedule

CANDIDATES = [f"c{i:03d}" for i in range(150)]


def _plan(task, candidates):
    plan = strategies.get("candidate-parallel").plan([(s.split, s.index) for s in task.samples], candidates, 2, None)
    return [list(stage) for stage in plan.stages]


def _handed_out(tasks, join: bool, source=None) -> dict[str, list]:
    """Every work item the schedule hands out (each recorded as soon as it is taken), by task."""
    sched = Schedule(tasks if source is None else source, 4, TimeoutPolicy(1.0), _plan, False, join_taper=join)
    sched.open_window()
    items: dict[str, list] = {t.id: [] for t in tasks}
    while not sched.finished():
        task, job = sched.pop()
        if isinstance(job, Generation):
            sched.candidates(sched.task_of(job.task_id), CANDIDATES)
            continue
        items[task.id].append(job.item)
        sched.recorded(np.asarray(job.item.uids, dtype=np.int64))
    return items


def test_pieces_are_joined_while_later_work_waits_and_the_last_task_keeps_its_taper():
    tasks = [make_task(f"t{i}", n_demo=3, n_test=1, seed=i) for i in range(3)]
    plain, joined = _handed_out(tasks, join=False), _handed_out(tasks, join=True)
    for t in tasks:
        planned = [u for stage in _plan(t, CANDIDATES) for item in stage for u in item]
        assert [u for item in plain[t.id] for u in item.units] == planned
        assert [u for item in joined[t.id] for u in item.units] == planned  # same units, same order
        largest = max(len(item.units) for item in plain[t.id])
        assert all(len(item.units) <= JOIN_LIMIT_ITEMS * largest for item in joined[t.id])
    for t in tasks[:-1]:
        assert len(joined[t.id]) < len(plain[t.id])
        # whole planned chunks join too, not only the taper's shrunken pieces
        assert max(len(item.units) for item in joined[t.id]) > max(len(item.units) for item in plain[t.id])
    last = tasks[-1].id
    assert [item.units for item in joined[last]] == [item.units for item in plain[last]]
    uids = np.concatenate([np.asarray(item.uids) for items in joined.values() for item in items])
    assert sorted(uids.tolist()) == list(range(len(uids)))  # each planned unit exactly once


def test_a_joined_item_holds_up_to_four_planned_items_and_never_past_half_an_even_share():
    assert JOIN_LIMIT_ITEMS == 4
    assert join_limit(172, 3100, 2) == 4 * 172  # the main job's automatic chunks
    assert join_limit(300, 3000, 2) == 750  # half of a worker's share of the stage caps it
    assert join_limit(1000, 3000, 2) == 1000  # a user's large chunk is never grown...
    assert join_limit(5, 8, 4) == 5  # ...nor made smaller than the plan's largest item


def test_a_task_list_without_a_length_joins_nothing_it_cannot_see_past():
    tasks = [make_task(f"t{i}", n_demo=3, n_test=1, seed=i) for i in range(2)]
    joined = _handed_out(tasks, join=True, source=iter(tasks))
    plain = _handed_out(tasks, join=False)
    assert len(joined["t0"]) < len(plain["t0"])
    assert sum(len(item.units) for item in joined["t1"]) == sum(len(item.units) for item in plain["t1"])


def test_a_run_joins_taper_pieces_unless_it_has_budgets_and_a_resumed_run_keeps_the_plans_items(tmp_path):
    """Two tasks of 60 units on two threads: the plan has 19 pieces per task (tapered); the
    first task's go out joined (fewer chunks recorded), the last task's as planned. Under a
    budget (one that never runs out) both keep the plan's pieces; a resumed run, the plan's
    pieces of what was left."""
    pieces = len(strategies.get("candidate-parallel").plan([("demo", 0)], CANDIDATES[:60], 2, None).stages[0])
    config = RunConfig(solver="synthetic", tasks="synthetic:2x1+0", strategy="candidate-parallel", backend="thread",
                       workers=2, timeout=TimeoutPolicy(5.0), solver_options={"candidates": 60, "cpu_ms": 0})

    def chunks(run) -> list[int]:
        return run.units.groupby("task_id").chunk.nunique().sort_index().tolist()

    plain = load_run(runner.run(config, tmp_path / "plain").path)
    first, last = chunks(plain)
    assert first < pieces and last == pieces and len(plain.units) == 120
    budgeted = load_run(runner.run(replace(config, timeout=TimeoutPolicy(5.0, task_budget_s=600.0)),
                                   tmp_path / "budget").path)
    assert chunks(budgeted) == [pieces, pieces] and (budgeted.units.status == "ok").all()
    with pytest.raises(RunInterrupted) as stopped:
        runner.run(config, tmp_path / "resumed", observer=StopAfter(40))
    done = {(r.task_id, r.candidate) for r in load_run(stopped.value.path).units.itertuples()}
    resumed = load_run(runner.resume(stopped.value.path).path).units
    assert len(resumed) == 120 and not resumed.duplicated(["task_id", "candidate"]).any()
    rest = resumed[[(r.task_id, r.candidate) not in done for r in resumed.itertuples()]]
    items = {frozenset(zip(g.task_id, g.candidate)) for _, g in rest.groupby(["task_id", "chunk"])}
    planned = set()
    for task_id in resumed.task_id.unique():
        for piece in strategies.get("candidate-parallel").plan([("demo", 0)], CANDIDATES[:60], 2, None).stages[0]:
            left = frozenset((task_id, c) for _s, _i, c in piece) - done
            if left:
                planned.add(left)
    assert items == planned  # what was left of each planned piece, none joined


def test_a_plugin_strategys_items_are_kept_as_planned_unless_it_says_it_tapers(tmp_path):
    """A user's strategy whose small items are deliberate (one candidate each after a big one)
    is run as planned while later work waits; the same plan registered as tapering is joined."""
    def uneven(samples, candidates, workers, chunk_size):
        units = [(split, index, c) for split, index in samples for c in candidates]
        return Plan(stages=((tuple(units[:20]),) + tuple((u,) for u in units[20:]),))

    config = RunConfig(solver="synthetic", tasks="synthetic:2x1+0", strategy="uneven-items", backend="thread",
                       workers=2, timeout=TimeoutPolicy(5.0), solver_options={"candidates": 30, "cpu_ms": 0})
    try:
        strategies.register("uneven-items", uneven)
        kept = load_run(runner.run(config, tmp_path / "kept").path)
        strategies.register("uneven-items", uneven, tapers=True)
        joined = load_run(runner.run(config, tmp_path / "joined").path)
    finally:
        strategies._REGISTRY.pop("uneven-items", None)
    per_task = lambda run: run.units.groupby("task_id").chunk.nunique().sort_index().tolist()  # noqa: E731
    assert per_task(kept) == [11, 11]  # 1 + 10 items per task, as planned
    first, last = per_task(joined)
    assert first < 11 and last == 11  # joined while the second task waited; the last keeps its plan


def test_jobs_a_lost_worker_held_go_first_in_the_order_given():
    """A lost item comes back as its re-run, then its rest (Assignment.after_loss): both go
    before the work already queued, the re-run first."""
    from perfkit.backends import Assignment

    tasks = [make_task("t0", n_demo=3, n_test=1)]
    sched = Schedule(tasks, 4, TimeoutPolicy(1.0), _plan, False, join_taper=False)
    sched.open_window()
    _task, gen = sched.pop()
    sched.candidates(sched.task_of(gen.task_id), CANDIDATES)
    _task, first = sched.pop()
    rerun = replace(first, item=replace(first.item, units=first.item.units[:2], uids=first.item.uids[:2]), attempt=2)
    rest = replace(first, item=replace(first.item, units=first.item.units[2:], uids=first.item.uids[2:]))
    sched.requeue([rerun, rest])
    assert sched.pop()[1] is rerun and sched.pop()[1] is rest
