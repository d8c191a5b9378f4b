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


def _handed_out(tasks, join: bool, source=None, plan=_plan, workers: int = 1) -> dict[str, list]:
    """Every work item the schedule hands out (each recorded as soon as it is taken), by task."""
    sched = Schedule(tasks if source is None else source, 4, TimeoutPolicy(1.0), plan, False, join_taper=join,
                     workers=workers)
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
    assert join_limit(8, 3000, 2, chunk_size=8) == 8  # a chunk size the user gave is kept


def test_a_task_list_without_a_length_joins_nothing_it_cannot_see_past():
    tasks = [make_task(f"t{i}", n_demo=3, n_test=1, seed=i) for i in range(2)]
    joined = _handed_out(tasks, join=True, source=iter(tasks))
    plain = _handed_out(tasks, join=False)
    assert len(joined["t0"]) < len(plain["t0"])
    assert sum(len(item.units) for item in joined["t1"]) == sum(len(item.units) for item in plain["t1"])


@pytest.mark.slow  # over half a second (session 14: the quick subset's time)
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
    # every unit records its planned item, joined or not; fewer items were handed out
    assert chunks(plain) == [pieces, pieces] and len(plain.units) == 120
    assert pieces < plain.summary.items_handed_out_this_session < 2 * pieces
    budgeted = load_run(runner.run(replace(config, timeout=TimeoutPolicy(5.0, task_budget_s=600.0)),
                                   tmp_path / "budget").path)
    assert chunks(budgeted) == [pieces, pieces] and (budgeted.units.status == "ok").all()
    assert budgeted.summary.items_handed_out_this_session == 2 * pieces
    with pytest.raises(RunInterrupted) as stopped:
        runner.run(config, tmp_path / "resumed", observer=StopAfter(40))
    first = load_run(stopped.value.path).units
    done = {(r.task_id, r.candidate) for r in first.itertuples()}
    resumed = load_run(runner.resume(stopped.value.path).path).units
    assert len(resumed) == 120 and not resumed.duplicated(["task_id", "candidate"]).any()
    rest = resumed[[(r.task_id, r.candidate) not in done for r in resumed.itertuples()]]
    # numbered after the first session's items: a task planned in another order reuses none
    assert (rest.chunk > first.chunk.max()).all()
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
    assert per_task(kept) == per_task(joined) == [11, 11]  # 1 + 10 items per task, as planned and recorded
    assert kept.summary.items_handed_out_this_session == 22
    # joined while the second task waited (the last keeps its plan)
    assert 11 < joined.summary.items_handed_out_this_session < 22


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


def _stage_handed_out(tasks, strategy: str) -> dict[str, list]:
    """As :func:`_handed_out`, for any built-in strategy's automatic chunks on 2 workers, with
    the runner's join limit (workers given)."""
    def plan(task, candidates):
        return [list(stage) for stage in strategies.get(strategy).plan(
            [(s.split, s.index) for s in task.samples], candidates, 2, None).stages]

    return _handed_out(tasks, join=True, plan=plan, workers=2)


def test_hybrid_joins_pieces_of_one_sample_never_across_its_barrier_and_hands_each_unit_out_once():
    tasks = [make_task(f"t{i}", n_demo=3, n_test=1, seed=i) for i in range(3)]
    joined = _stage_handed_out(tasks, "hybrid")
    for t in tasks:
        stages = strategies.get("hybrid").plan([(s.split, s.index) for s in t.samples], CANDIDATES, 2, None).stages
        assert [u for item in joined[t.id] for u in item.units] == [u for st in stages for it in st for u in it]
        for item in joined[t.id]:
            assert len({(split, index) for split, index, _c in item.units}) == 1  # one sample: one stage
            assert item.stage == [(s.split, s.index) for s in t.samples].index(item.units[0][:2])
        largest = max(len(it) for st in stages for it in st)
        assert all(len(item.units) <= join_limit(largest, len(CANDIDATES), 2) for item in joined[t.id])
    assert len(joined["t0"]) < sum(len(st) for st in stages)  # joined while later tasks waited
    uids = sorted(u for items in joined.values() for item in items for u in item.uids)
    assert uids == list(range(len(uids)))


def test_a_users_chunk_size_is_the_most_a_work_item_holds(tmp_path):
    """``chunk_size`` is "units per work item" (perfkit run --chunk-size): a user who sweeps it
    (chunk 1 to measure the dispatch of one unit, docs/benchmarks-dask.md) must get items of
    that size in every task, not up to JOIN_LIMIT_ITEMS of them while a later task waits."""
    for strategy, size in (("candidate-parallel", 8), ("hybrid", 1)):
        config = RunConfig(solver="synthetic", tasks="synthetic:3x2+0", strategy=strategy, backend="thread",
                           workers=2, chunk_size=size, timeout=TimeoutPolicy(5.0),
                           solver_options={"candidates": 40, "cpu_ms": 0})
        run = load_run(runner.run(config, tmp_path / strategy).path)
        units = run.units
        assert len(units) == 3 * 80 and not units.duplicated(["task_id", "split", "index", "candidate"]).any()
        per_item = units.groupby(["task_id", "chunk"]).size()
        assert per_item.max() == size, (strategy, per_item.groupby("task_id").max().to_dict())
        assert run.summary.items_handed_out_this_session == len(per_item)  # none joined


def test_joined_items_never_raise_the_ideal_bound_above_the_plans():
    """Units are not equal: when the first task's test sample costs 100 times its demo units (a
    larger grid, a slower path), a joined item that holds the sample's tapered pieces would be
    the run's critical path, and the ideal — hence every efficiency — the joined schedule's, not
    the plan's. Each unit records its planned item (``WorkItem.chunk_of``): the ideal bound
    (perfkit/analysis/metrics/bound.py) of what the workers record is the plan's."""
    import pandas as pd

    from perfkit.analysis.metrics.bound import ideal_bound

    tasks = [make_task(f"t{i}", n_demo=3, n_test=1, seed=i) for i in range(3)]
    joined = _stage_handed_out(tasks, "candidate-parallel")
    rows = []
    for t in tasks:
        plan = strategies.get("candidate-parallel").plan([(s.split, s.index) for s in t.samples], CANDIDATES, 2, None)
        piece = {u: n for n, item in enumerate(plan.stages[0]) for u in item}
        for item in joined[t.id]:
            for pos, (split, index, candidate) in enumerate(item.units):  # chunk as a worker records it
                work = 100.0 if (t.id, split) == ("t0", "test") else 1.0
                rows.append(dict(task_id=t.id, split=split, index=index, candidate=candidate, stage=0,
                                 chunk=item.chunk_of(pos), planned=piece[(split, index, candidate)], cpu_s=work))
    units = pd.DataFrame(rows)
    _work, _critical, as_run = ideal_bound(units, 2)
    _work, _critical, as_planned = ideal_bound(units.assign(chunk=units.planned), 2)
    assert as_run <= as_planned * 1.0001, (as_run, as_planned)
