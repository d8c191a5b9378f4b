"""What ``perfkit predict`` says of units stopped at their deadline (docs/benchmarks.md, "Session
13: predict and stopped units"): the reference's timeouts counted as the run recorded them, a
thread run that gives up once too many abandoned units still run, and the cost past their
deadline of the units the reference stopped, as the GIL probe measures it alone."""

from __future__ import annotations

import pytest

from builders import make_run

from perfkit.analysis.prediction import BackendCosts, Machine, SimConfig, simulate, workload_of
from perfkit.analysis.prediction.model import RUNNER, Behaviour
from perfkit.analysis.prediction.predict import assumptions, doubtful, predict_one, sweep, verdict
from perfkit.backends.thread import LEAKED_PER_WORKER
from perfkit.model import TimeoutPolicy

THREAD = BackendCosts("thread", stop_delay_s=0.05,
                      behaviour=Behaviour(dispatch="shared", prefetch=1, requeue="back", gil=True, hard_stop=False,
                                          stop_kills_worker=False))
INLINE = BackendCosts("inline", stop_delay_s=0.05, behaviour=Behaviour(dispatch="shared", prefetch=1,
                                                                       stop_kills_worker=False, in_parent=True))
TIMEOUT_S = 0.1


def reference(units: list[tuple[float, str, object]]):
    """A sequential inline run at a 0.1 s timeout of ``(wall and CPU seconds, status, error
    type)`` units, back to back, one candidate each."""
    rows, t = [], 0.0
    for i, (cpu, status, error_type) in enumerate(units):
        rows.append(dict(task_id="t1", split="demo", index=0, candidate=f"c{i:02d}", status=status,
                         output_hash=None if status != "ok" else f"h{i}", match=None, queued=t, started=t,
                         ended=t + cpu, wall_s=cpu, cpu_s=cpu, worker="main", chunk=1, attempt=1, leaked_s=None,
                         leaked=False, error_type=error_type, error_message=None))
        t += cpu
    return make_run(rows, wall_s=t, timeout_s=TIMEOUT_S)


OK = (0.02, "ok", None)
STOPPED = (0.15, "timeout", "HardTimeout")  # stopped by the alarm at its deadline + grace
LATE = (0.104, "timeout", None)  # returned by itself 4 ms after its deadline: a timeout too


def test_the_references_timeouts_are_counted_as_its_statuses_say_a_late_finisher_among_them():
    # networkx: "8 units timed out in the reference" where 9 did: the ninth returned by itself
    # after its deadline, measured in full, and the count was of the units stopped
    run = reference([OK, STOPPED, OK, LATE, STOPPED, OK])
    workload = workload_of(run)
    recorded = int((run.units["status"] == "timeout").sum())
    assert workload.reference_statuses["timeout"] == recorded == 3
    said = assumptions(workload, {}, Machine(2), RUNNER, None)
    line = next(a for a in said if "in the reference" in a and "timed out" in a)
    assert line.startswith("3 units timed out in the reference: 2 were stopped, so their cost is at least 0.1 s")
    assert "1 returned by itself after its deadline (a timeout all the same), its cost measured in full" in line
    # the late one's cost is whole, the stopped ones' a lower bound
    assert workload.lower_bounds == 2


def test_a_reference_without_timeouts_says_nothing_of_them():
    said = assumptions(workload_of(reference([OK, OK])), {}, Machine(2), RUNNER, None)
    assert not any("timed out in the reference" in a for a in said)


def threads(run, workers: int = 2):
    config = SimConfig("candidate-parallel", "thread", workers, 1, TimeoutPolicy(TIMEOUT_S))
    return predict_one(workload_of(run), config, THREAD, Machine(2), sequential_wall_s=1.0, cooperative=False)


def test_a_thread_run_stops_once_more_abandoned_units_run_than_the_backend_tolerates():
    # networkx on threads: "more than 8 timed-out units are still running in threads that cannot
    # be stopped"; predict had the run go on to its end, 19 timeouts and a wall
    limit = LEAKED_PER_WORKER * 2
    run = reference([OK, STOPPED] * (limit + 3))
    p = threads(run)
    r = p.result
    assert r.stopped_s is not None and r.leak_limit == limit
    # the units stopped in the reference run on, abandoned: the (limit + 1)-th stops the run
    # (the short units beside them, stretched by their turns at the GIL, leak too, and end)
    assert int(r.units["lower_bound"].sum()) == limit
    assert r.never_run == len(run.units) - len(r.units) > 0
    assert r.wall_s == pytest.approx(r.stopped_s + r.close_s)
    assert verdict(p) == "stops early" and doubtful(p)
    assert p.why.startswith(f"the run stops at {r.stopped_s:.2f} s with {r.never_run} of its units never run: "
                            f"{limit + 1} timed-out units are then still running in threads that cannot be stopped")
    assert f"more than the {limit} the thread backend tolerates ({LEAKED_PER_WORKER} per worker × 2" in p.why


def test_a_thread_run_within_the_limit_or_whose_abandoned_units_end_runs_to_its_end():
    limit = LEAKED_PER_WORKER * 2
    within = threads(reference([OK, STOPPED] * limit)).result
    assert within.stopped_s is None and within.never_run == 0
    # units that returned by themselves just past their deadline end soon after being abandoned:
    # never more than a few still run at once
    ending = threads(reference([OK, LATE] * (limit + 3))).result
    assert ending.stopped_s is None and ending.never_run == 0


def test_a_run_stopping_early_is_never_the_best_configuration():
    run = reference([OK, STOPPED] * (LEAKED_PER_WORKER * 2 + 3))
    s = sweep(workload_of(run), {"inline": INLINE, "thread": THREAD}, Machine(2), strategies=["candidate-parallel"],
              backends=["thread"], workers=[2], cooperative=False)
    stopped = s.find("candidate-parallel", "thread", 2)
    assert stopped is not None and stopped.result.stopped_s is not None
    assert s.best[2] is None or s.best[2].result.stopped_s is None
