"""What ``perfkit predict`` says of units stopped at their deadline (docs/benchmarks.md, "Session
13: predict and stopped units"): the reference's timeouts counted as the run recorded them, a
thread run that gives up once too many abandoned units still run, and the cost past their
deadline of the units the reference stopped, as the GIL probe measures it alone."""

from __future__ import annotations

import math

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


# -- the cost past their deadline of the units the reference stopped, run alone by the GIL probe ----

def _alone(*costs):
    from perfkit.analysis.prediction.gil import Inflation, StoppedCost

    return Inflation(hold_s=0.08, hold_unit_s=0.08, stopped=tuple(StoppedCost("t1", "demo", 0, c, cpu, cpu, capped)
                                                for c, cpu, capped in costs), stopped_cap_s=1.0, stopped_budget_s=10.0)


def test_the_probes_cost_of_a_stopped_unit_replaces_its_lower_bound_and_the_rest_are_named():
    # re_work on threads: the stopped matches cost 1.2–1.9 s past their timeout, which no run
    # recorded: predict ran each for what the alarm had stopped it at (0.15 s here)
    run = reference([OK, STOPPED, OK, STOPPED, OK, STOPPED])
    plain = workload_of(run)
    workload = plain.with_gil(_alone(("c01", 0.6, False), ("c03", 1.0, True)))
    assert (plain.lower_bounds, plain.stopped) == (3, 3)
    assert (workload.lower_bounds, workload.stopped) == (2, 3)  # the capped one and the unseen one
    config = SimConfig("candidate-parallel", "thread", 2, 1, TimeoutPolicy(TIMEOUT_S))
    held = simulate(workload, config, THREAD, Machine(2), cooperative=False)
    # each call holds the GIL to its end: every unit on one core, the stopped ones for what the probe saw
    assert held.wall_s == pytest.approx(3 * 0.02 + 0.6 + 1.0 + 0.15)
    assert held.wall_s > simulate(plain.with_gil(_alone()), config, THREAD, Machine(2), cooperative=False).wall_s
    said = assumptions(workload, {}, Machine(2), RUNNER, None)
    line = next(a for a in said if a.startswith("the GIL probe ran"))
    assert line.startswith("the GIL probe ran 2 of the 3 units stopped in the reference alone, each up to 1 s, "
                           "10 s for all: 1 ended after 0.60–0.60 s")
    assert "1 reached the cap or the budget's end: at least 1.00 s;" in line
    assert "1 not run (the budget spent), their cost past the timeout unseen: t1/demo[0] c05" in line
    assert "but for those the GIL probe ran alone" in next(a for a in said if "timed out in the reference" in a)


def test_a_probe_stored_before_it_ran_stopped_units_says_their_cost_is_unseen():
    from perfkit.analysis.prediction.gil import Inflation

    workload = workload_of(reference([OK, STOPPED])).with_gil(Inflation.from_record({"factors": {"2": 1.0},
                                                                                      "hold_s": 0.08}))
    line = next(a for a in assumptions(workload, {}, Machine(2), RUNNER, None) if a.startswith("the GIL probe"))
    assert line == ("the GIL probe did not run the 1 unit stopped in the reference alone (a probe stored before it "
                    "did, or its pass failed: measure it again), so its cost past the timeout is unseen: t1/demo[0] c01")


def test_the_stopped_units_and_their_costs_survive_the_probe_file():
    from perfkit.analysis.prediction.gil import Inflation
    from perfkit.orchestration import gil_probe

    probe = _alone(("c01", 0.6, False), ("c03", 1.0, True))
    assert Inflation.from_record(probe.to_record()) == probe
    run = reference([OK, STOPPED, LATE, (0.15, "crashed", "WorkerCrashed"), STOPPED])
    # stopped at their deadline; the late finisher ended by itself, the crashed one may crash the probe
    assert [u[3] for u in gil_probe.stopped_units(run)] == ["c01", "c04"]
    said = assumptions(workload_of(run), {}, Machine(2), RUNNER, None)
    assert ("3 units timed out in the reference and 1 crashed: 2 were stopped, so their cost is at least 0.1 s"
            in " ".join(said))
    assert "the crashed one cost at least what it ran; 1 returned by itself" in " ".join(said)


def test_the_probe_runs_the_stopped_units_in_a_process_of_their_own(monkeypatch):
    from perfkit.orchestration import gil_probe

    specs = []

    def process(spec):
        specs.append(spec)
        if spec.get("mode") == "stopped":
            return {"stopped": [[*u, 0.5, 0.5, False] for u in spec["stopped_units"]]}
        return {"factors": {"2": 1.0}, "cpu_factors": {"2": 1.0}, "others_cores": 0.0, "unit_cpu_s": 0.1,
                "hold_s": 0.09}

    monkeypatch.setattr(gil_probe, "_probe_process", process)
    probe = gil_probe.measure(reference([OK] * 20 + [STOPPED, OK, STOPPED]))
    stopped = next(s for s in specs if s.get("mode") == "stopped")
    assert stopped["cap_s"] == pytest.approx(gil_probe.STOPPED_CAP_TIMEOUTS * TIMEOUT_S)
    assert stopped["budget_s"] == gil_probe.STOPPED_BUDGET_S
    assert stopped["timeout_s"] == gil_probe.STOPPED_BUDGET_S + gil_probe.STOPPED_SETUP_S
    assert [c.candidate for c in probe.stopped] == ["c20", "c22"]
    assert "2 of the units the run stopped run alone, each up to 1 s, 10 s for all" in probe.source


@pytest.mark.slow  # a backtracking regex run alone a few times: ~0.5 s
def test_a_stopped_unit_runs_alone_to_its_end_or_its_cap_within_the_budget():
    """On tests/gil_holder.py (a C call holding the GIL, as re_work's): the alarm stops it at
    the cap (CPython's re lets it in), without a cap it ends, and the budget bounds them all."""
    from perfkit.orchestration import gil_probe
    from perfkit.tasks import load_tasks

    tasks = {t.id: t for t in load_tasks("synthetic:1x1+0")}
    unit = [next(iter(tasks)), "demo", 0, "c000"]

    def alone(cap_s, budget_s, n=2):
        spec = {"solver": "gil_holder:RegexHolder", "options": {}, "plugins": [], "stopped_units": [unit] * n,
                "cap_s": cap_s, "budget_s": budget_s}
        return gil_probe.run_alone(spec, tasks)

    ended = alone(60.0, 120.0)
    assert len(ended) == 2 and not any(r[6] for r in ended)
    capped = alone(0.002, 120.0)
    assert all(r[6] for r in capped) and max(r[5] for r in capped) < min(r[5] for r in ended)
    # the budget spent on the first: the second not run
    assert len(alone(60.0, 0.002)) == 1


def test_a_thread_run_coming_near_the_limit_says_it_may_stop_early():
    from perfkit.analysis.prediction.predict import AT_RISK

    limit = LEAKED_PER_WORKER * 2
    near = threads(reference([OK, STOPPED] * limit))
    assert near.result.stopped_s is None and near.result.leaks_peak == limit >= AT_RISK * limit
    assert near.why.startswith(f"the run may stop early: up to {limit} timed-out units still run at once in threads "
                               f"that cannot be stopped, against the {limit} the thread backend tolerates")
    assert doubtful(near) and verdict(near) != "stops early"
    far = threads(reference([OK, STOPPED] * 2 + [OK] * 10))
    assert far.result.leaks_peak == 2 and "stop early" not in far.why


@pytest.mark.slow  # writes the report and its chart: ~0.5 s
def test_a_run_stopping_early_has_no_speedup_in_the_report(tmp_path):
    import math

    from perfkit.reports import prediction as prediction_report

    run = reference([OK, STOPPED] * (LEAKED_PER_WORKER * 2 + 3))
    s = sweep(workload_of(run), {"inline": INLINE, "thread": THREAD}, Machine(2), strategies=["candidate-parallel"],
              backends=["thread"], workers=[2], cooperative=False)
    stopped = s.find("candidate-parallel", "thread", 2)
    # its wall is when the backend gave up, before its work was done: no speedup to read
    assert math.isnan(stopped.speedup)
    prediction_report.write(s, tmp_path, run.run_id)
    text = (tmp_path / "report.md").read_text()
    assert "candidate-parallel/thread×2: stops early" in text and "(its work unfinished)" in text


def test_a_thread_run_the_model_stops_just_past_the_limit_may_stop_early_and_one_far_past_it_stops():
    # review13: a synthetic solver whose 20 stopped units ended 50–70 ms past their stop read
    # "stops early" at 9 abandoned units of 8, its four measured thread runs peaked at 6–7 and ran
    # to their end: the model's mean pace at the GIL decides the peak within a few units
    from dataclasses import replace

    limit = LEAKED_PER_WORKER * 2

    def probed(n: int, cost_s: float):
        # (a tail of 10 ms units: the synthetic's abandoned units ended within its run; one that
        # outlasts the run is counted whole, test_prediction_life.py)
        workload = workload_of(reference([OK, STOPPED] * n + [(0.01, "ok", None)] * 60))
        alone = replace(_alone(*[(f"c{2 * i + 1:02d}", cost_s, False) for i in range(n)]), hold_s=0.001)
        config = SimConfig("candidate-parallel", "thread", 2, 1, TimeoutPolicy(TIMEOUT_S))
        return predict_one(workload.with_gil(alone), config, THREAD, Machine(2), sequential_wall_s=1.0,
                           cooperative=False)

    near = probed(limit + 2, 0.3)  # run on without the limit, 10 at most at once
    assert near.result.stopped_s is None and near.result.never_run == 0 and near.result.leak_limit == limit
    assert limit < near.result.leaks_peak < limit / 0.6
    assert verdict(near) != "stops early" and doubtful(near)
    assert near.why.startswith("the run may stop early: run as modelled, at "), near.why
    assert (f"{near.result.leaks_peak} timed-out units still run at once in threads that cannot be stopped, more than "
            f"the {limit}") in near.why  # what it hangs on: tests/test_prediction_what_it_knows.py
    far = probed(limit + 12, 2.0)
    assert verdict(far) == "stops early" and far.result.stopped_s is not None


def test_a_process_run_s_ideal_counts_a_stopped_unit_only_up_to_its_timeout():
    """The probe ran the stopped units to 6–10× their timeout; a process run kills them at it,
    so the ideal bound charged the probe's cost: efficiency 124 % on python-constraint2
    (session 17)."""
    from perfkit.analysis.prediction import DEFAULT_COSTS

    run = reference([OK, STOPPED, OK, STOPPED, OK, STOPPED])
    workload = workload_of(run).with_gil(_alone(("c01", 0.6, False), ("c03", 1.0, True), ("c05", 1.0, True)))
    config = SimConfig("candidate-parallel", "process", 2, 1, TimeoutPolicy(TIMEOUT_S))
    result = simulate(workload, config, DEFAULT_COSTS["process"], Machine(2))
    assert result.efficiency <= 1.0
    # each stopped unit counts TIMEOUT_S of its worker: 3 × (0.02 + 0.1) over 2 workers
    assert result.ideal_wall_s == pytest.approx(3 * (0.02 + TIMEOUT_S) / 2)


@pytest.mark.slow  # a thread prediction run free and limited: ~0.6 s
def test_a_run_stopping_early_has_no_efficiency():
    stopped = threads(reference([OK, STOPPED] * (LEAKED_PER_WORKER * 2 + 3)))
    assert stopped.result.stopped_s is not None and stopped.result.ideal_wall_s > stopped.wall_s
    assert math.isnan(stopped.result.efficiency)
