"""The schedule's work items: a stage's taper pieces are joined while a later task's work is
queued, never across stages or tasks, and the run's last task keeps the plan's taper; every
planned unit is handed out exactly once, in the plan's order."""

from __future__ import annotations

import numpy as np

from builders import make_task
from perfkit import strategies
from perfkit.backends import Generation
from perfkit.model import TimeoutPolicy
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


def test_taper_pieces_are_joined_while_later_work_waits_and_the_last_task_keeps_its_taper():
    tasks = [make_task(f"t{i}", n_demo=3, n_test=1, seed=i) for i in range(3)]
    plain, joined = _handed_out(tasks, join=False), _handed_out(tasks, join=True)
    for t in tasks:
        planned = [u for stage in _plan(t, CANDIDATES) for item in stage for u in item]
        assert [u for item in plain[t.id] for u in item.units] == planned
        assert [u for item in joined[t.id] for u in item.units] == planned  # same units, same order
        largest = max(len(item.units) for item in plain[t.id])
        assert all(len(item.units) <= largest for item in joined[t.id])
    for t in tasks[:-1]:
        assert len(joined[t.id]) < len(plain[t.id])
    last = tasks[-1].id
    assert [item.units for item in joined[last]] == [item.units for item in plain[last]]
    uids = np.concatenate([np.asarray(item.uids) for items in joined.values() for item in items])
    assert sorted(uids.tolist()) == list(range(len(uids)))  # each planned unit exactly once


def test_a_task_list_without_a_length_joins_nothing_it_cannot_see_past():
    tasks = [make_task(f"t{i}", n_demo=3, n_test=1, seed=i) for i in range(2)]
    joined = _handed_out(tasks, join=True, source=iter(tasks))
    plain = _handed_out(tasks, join=False)
    assert len(joined["t0"]) < len(plain["t0"])
    assert sum(len(item.units) for item in joined["t1"]) == sum(len(item.units) for item in plain["t1"])
