"""The process backend's parent leaves the workers' messages unread only while no worker can run
dry (perfkit/backends/process.py ``HOLD_SHARE``): built by construction, no process started."""

from __future__ import annotations

import pytest

from perfkit.backends.base import KILL_GRACE_S, Assignment, Generation
from perfkit.backends.process import HOLD_SHARE, JOBS_PER_WORKER, WAKE_S, ProcessBackend, _Worker
from perfkit.model.plan import WorkItem

UNIT_S = 0.001


def item(n_units: int, timeout_s: float = 5.0) -> Assignment:
    units = tuple(("demo", 0, f"c{i}") for i in range(n_units))
    return Assignment(WorkItem(1, "t", units, uids=range(n_units)), queued=0.0, timeout_s=timeout_s)


def worker(jobs: dict, unit_s: float = UNIT_S, started: float = 0.0) -> _Worker:
    """A worker as the parent sees it; ``started``: its slot's unit start (0: between units)."""
    view = [min(jobs, default=0), 0.0, started, 0.0]  # dispatch, unit position, start, CPU clock
    return _Worker(process=None, conn=None, sock=None, slot=None, view=view, pid=4242, ready=True,
                   jobs=dict(jobs), unit_s=unit_s)


def backend(*workers: _Worker) -> ProcessBackend:
    b = ProcessBackend()
    b.workers = list(workers)
    return b


def test_the_parent_holds_for_a_share_of_the_shortest_waiting_item():
    assert JOBS_PER_WORKER == 2
    b = backend(worker({1: item(10), 2: item(40)}), worker({3: item(10), 4: item(20)}))
    assert b._hold_s() == pytest.approx(HOLD_SHARE * UNIT_S * 20)


def test_the_hold_is_at_most_the_usual_wake_up():
    b = backend(worker({1: item(10), 2: item(10_000)}), worker({3: item(10), 4: item(10_000)}))
    assert b._hold_s() == pytest.approx(WAKE_S)


@pytest.mark.parametrize("why", ["nothing waiting", "pace unknown", "generation waiting", "not ready"])
def test_no_hold_while_a_worker_could_run_dry(why):
    others = worker({3: item(10), 4: item(40)})
    lone = {"nothing waiting": worker({1: item(40)}),
            "pace unknown": worker({1: item(10), 2: item(40)}, unit_s=0.0),
            "generation waiting": worker({1: item(10), 2: Generation("t")}),
            "not ready": worker({1: item(10), 2: item(40)})}[why]
    lone.ready = why != "not ready"
    assert backend(lone, others)._hold_s() == 0.0


def test_the_hold_ends_before_a_unit_in_flight_is_due_to_be_stopped(monkeypatch):
    now = 100.0
    monkeypatch.setattr("perfkit.backends.process.time.monotonic", lambda: now)
    # worker 1's unit (1 s timeout) is to be stopped 5 ms from now: the parent must be awake then
    late = worker({1: item(10, timeout_s=1.0), 2: item(10_000)}, started=now - 1.0 - KILL_GRACE_S + 0.005)
    b = backend(late, worker({3: item(10), 4: item(10_000)}))
    assert b._hold_s() == pytest.approx(0.005)


def test_a_finished_item_tells_the_parent_its_pace():
    w = worker({1: item(10), 2: item(40)}, unit_s=0.0)
    b = backend(w, worker({3: item(10), 4: item(40)}))
    events: list = []
    b._handle(w, ("rows", None, (1,), None, 0.004), events)
    assert w.unit_s == 0.004 and list(w.jobs) == [2]
    assert b._hold_s() == 0.0  # worker 1 now has nothing waiting behind item 2
