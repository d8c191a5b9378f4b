"""What ``perfkit predict`` says of abandoned threads (docs/benchmarks.md, "Session 14: predict
and abandoned threads"): how long an abandoned unit's work runs on, which units never end, the
thread backend's ``max_leaked`` option, a measured run's prediction by predict's own stop rule,
and a curve with no knee."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from builders import make_run
from test_prediction_stopped import INLINE, OK, STOPPED, THREAD, TIMEOUT_S, reference

from perfkit.analysis.prediction import Machine, SimConfig, simulate, workload_of
from perfkit.analysis.prediction.predict import (config_of, execution_of, machine_of, model_check, predict_measured,
                                                 predict_one, sweep)
from perfkit.backends.thread import LEAKED_PER_WORKER
from perfkit.model import RunConfig, TimeoutPolicy
from perfkit.store import Run

SHORT = (0.01, "ok", None)


def _thread_config(workers: int = 2, max_leaked=None) -> SimConfig:
    return SimConfig("candidate-parallel", "thread", workers, 1, TimeoutPolicy(TIMEOUT_S), max_leaked)


# -- how long an abandoned unit's work runs on ---------------------------------------------------

def test_an_abandoned_units_predicted_life_past_its_deadline_is_recorded():
    # networkx on threads: the measured run records each abandoned unit's life past its deadline
    # (leaked_s); the model's was not kept, so nothing could be set beside it
    from dataclasses import replace

    from test_prediction_stopped import _alone

    workload = workload_of(reference([SHORT, STOPPED] + [SHORT] * 160))  # (too short to be late at the GIL)
    alone = replace(_alone(("c01", 0.4, False)), hold_s=0.001)  # it ends 0.4 s in, run alone
    result = simulate(workload.with_gil(alone), _thread_config(), THREAD, Machine(2), cooperative=False)
    u = result.units.set_index("candidate")
    assert bool(u.loc["c01", "leaked"]) and not u["leaked"].drop("c01").any()
    # half the GIL until it is given up at its deadline + 50 ms (0.075 s of its 0.4), then a third
    # of it beside the two threads' units: the 0.325 s left take 0.975 s, to 1.125 s
    assert float(u.loc["c01", "leaked_s"]) == pytest.approx(1.125 - TIMEOUT_S)
    assert u["leaked_s"].drop("c01").isna().all()
    # one the reference stopped and the probe never saw end has no end: nan, as still running
    endless = simulate(workload, _thread_config(), THREAD, Machine(2), cooperative=False).units.set_index("candidate")
    assert bool(endless.loc["c01", "leaked"]) and math.isnan(endless.loc["c01", "leaked_s"])


# -- the thread backend's max_leaked option, and a measured run's prediction ---------------------

def _measured_thread_run(backend_options: dict) -> Run:
    """A candidate-parallel thread×2 run of the reference's units, with ``backend_options``."""
    rows = reference([OK, STOPPED]).units.to_dict("records")
    config = RunConfig(solver="synthetic", tasks="hand-made", strategy="candidate-parallel", backend="thread",
                       workers=2, timeout=TimeoutPolicy(TIMEOUT_S), label="test", backend_options=backend_options)
    base = make_run(rows, timeout_s=TIMEOUT_S)
    meta = {**base.meta, "run_id": "thread", "config": config.to_record()}
    return Run.from_records(Path("thread"), meta, {"state": "complete", "wall_s": 1.0, "cpu_s": 1.0, "workers": []},
                            base.units)


def test_a_thread_runs_max_leaked_option_is_its_limit_of_abandoned_units():
    # the thread backend stops a run past its max_leaked option (perfkit/backends/thread.py);
    # the model always took 4 per worker
    limit = LEAKED_PER_WORKER * 2
    workload = workload_of(reference([OK, STOPPED] * (limit + 3)))
    default = simulate(workload, _thread_config(), THREAD, Machine(2), cooperative=False)
    assert default.leak_limit == limit and default.stopped_s is not None
    tolerant = simulate(workload, _thread_config(max_leaked=limit + 10), THREAD, Machine(2), cooperative=False)
    assert tolerant.leak_limit == limit + 10 and tolerant.stopped_s is None and tolerant.never_run == 0
    strict = predict_one(workload, _thread_config(max_leaked=2), THREAD, Machine(2), sequential_wall_s=1.0,
                         cooperative=False)
    assert strict.result.leak_limit == 2 and strict.result.stopped_s is not None
    assert "more than the 2 the thread backend tolerates (its max_leaked option" in strict.why
    # a measured run's option is read from its configuration
    assert config_of(_measured_thread_run({"max_leaked": 20})).max_leaked == 20
    assert config_of(_measured_thread_run({})).max_leaked is None


def test_a_runs_stated_limit_of_abandoned_threads_is_its_max_leaked_option():
    # meta.json's limits read 4 × workers whatever the option the backend was built with
    from perfkit.runner.run import _limits

    def limit(**options) -> int:
        config = RunConfig(solver="synthetic", tasks="hand-made", strategy="candidate-parallel", backend="thread",
                           workers=2, backend_options=options)
        return _limits(config)["max_leaked_threads"]

    assert (limit(), limit(max_leaked=20), limit(max_leaked=0)) == (LEAKED_PER_WORKER * 2, 20, 0)


def test_a_measured_runs_prediction_follows_predicts_own_stop_rule():
    # compare's model column simulated a measured thread run without predict's rule: a run the
    # model stops just past the limit (which predict says "may stop early" and runs on) read as
    # stopped, its wall the stop's, against a complete measured run
    from dataclasses import replace

    from test_prediction_stopped import _alone

    limit = LEAKED_PER_WORKER * 2
    n = limit + 2
    workload = workload_of(reference([OK, STOPPED] * n + [SHORT] * 60))
    alone = replace(_alone(*[(f"c{2 * i + 1:02d}", 0.3, False) for i in range(n)]), hold_s=0.001)
    workload = workload.with_gil(alone)
    raw = simulate(workload, _thread_config(), THREAD, Machine(2), cooperative=False)
    assert raw.stopped_s is not None  # stopped by the plain simulation ...
    measured = _measured_thread_run({})
    (_, predicted), = predict_measured(workload, [measured], {"thread": THREAD}, cooperative=False)
    said = predict_one(workload, config_of(measured), THREAD, machine_of(measured), execution_of(measured),
                       sequential_wall_s=1.0, cooperative=False)
    assert predicted.stopped_s is None and predicted.wall_s == pytest.approx(said.wall_s)  # ... not by predict's rule
    assert predicted.config == config_of(measured)


def test_a_stopped_runs_why_counts_the_units_the_reference_stopped_as_it_did():
    # networkx on threads: the reference stopped 8 units, the GIL probe saw 3 of them end, and
    # the why read "(the 5 units stopped in the reference taken to run on until stopped)" beside
    # the assumptions' "8 were stopped"
    from dataclasses import replace

    from perfkit.analysis.prediction.predict import why_stopped
    from test_prediction_stopped import _alone

    n = LEAKED_PER_WORKER * 2 + 4
    workload = workload_of(reference([OK, STOPPED] * n))
    alone = replace(_alone(("c01", 0.3, False), ("c03", 0.3, False)), hold_s=0.001)
    workload = workload.with_gil(alone)
    assert (workload.lower_bounds, workload.stopped) == (n - 2, n)
    result = simulate(workload, _thread_config(), THREAD, Machine(2), cooperative=False)
    assert result.stopped_s is not None
    assert (f"({n - 2} of the {n} units stopped in the reference, whose end nothing measured, taken to run on until "
            "stopped)") in why_stopped(result, workload)


def test_a_measured_run_predicted_to_stop_early_has_no_model_error():
    # a wall the model stops at, set against a complete run's wall, is no error of the model
    from perfkit.analysis.prediction.model import BackendCosts

    limit = LEAKED_PER_WORKER * 2
    ref = reference([OK, STOPPED] * (limit + 3))
    measured = _measured_thread_run({})
    costs = {"inline": INLINE, "thread": BackendCosts.from_record({**THREAD.to_record(), "calibrated": True})}
    model = model_check([measured], workload_of(ref), costs)
    row = model.iloc[0]
    assert not math.isnan(row["predicted_stopped_s"]) and math.isnan(row["model_error"])


def test_abandoned_units_that_outlast_the_run_count_whole_toward_its_stop():
    # networkx on threads: predict said "may stop early" (peak 10 of 8, the units it had end
    # counted at 60 %) and every one of the 7 thread runs measured stopped; units whose work the
    # model has still running when its run ends run on together at its end, and real lives were
    # a median 0.9–1.3× the model's, 5–10× for the threads the GIL starved
    from dataclasses import replace

    from test_prediction_stopped import _alone

    limit = LEAKED_PER_WORKER * 2
    n = limit + 2

    def probed(tail: int):
        workload = workload_of(reference([OK, STOPPED] * n + [SHORT] * tail))
        alone = replace(_alone(*[(f"c{2 * i + 1:02d}", 0.3, False) for i in range(n)]), hold_s=0.001)
        return predict_one(workload.with_gil(alone), _thread_config(), THREAD, Machine(2), sequential_wall_s=1.0,
                           cooperative=False)

    # run on, the run ends while 8 of the units it gave up still run (0.3 s each at a third of
    # the GIL): 8 whole + 60 % of the other 2 pass the 8 tolerated; stopped, it had given up 9
    outlasting = probed(0)
    assert outlasting.result.stopped_s is not None and outlasting.why.startswith("the run stops at")
    assert "of the 9 units given up 1 ends 0.1 s past its deadline, 8 still run when the run ends" in outlasting.why
    # with 0.6 s more work after them, every one ends within the run: counted at 60 %
    within = probed(60)
    assert within.result.stopped_s is None and within.why.startswith("the run may stop early")


# -- a curve with no knee ------------------------------------------------------------------------

@pytest.mark.slow  # writes the report and its chart: ~0.5 s
def test_a_curve_whose_every_worker_count_stops_says_it_has_no_knee_in_words(tmp_path):
    # the report read "candidate-parallel/thread: knee at 1 worker (nan×; best nan×)"
    from perfkit.reports import prediction as prediction_report
    from perfkit.reports.prediction import knee_where

    run = reference([OK, STOPPED] * (LEAKED_PER_WORKER * 2 + 3))
    s = sweep(workload_of(run), {"inline": INLINE, "thread": THREAD}, Machine(2), strategies=["candidate-parallel"],
              backends=["thread"], workers=[1, 2], cooperative=False)
    curve = [p for p in s.predictions if p.config.backend == "thread"]
    assert len(curve) == 2 and all(p.result.stopped_s is not None for p in curve)
    knee, = s.knees
    assert not knee.found and knee_where(knee) == "no knee"
    assert knee.why == ("no worker count keeps the sequential answers: the run stops early at every worker count "
                        "(1, 2), its work unfinished, no speedup to compare")
    prediction_report.write(s, tmp_path, run.run_id)
    text = (tmp_path / "report.md").read_text()
    assert f"candidate-parallel/thread: no knee — {knee.why}" in text
    assert "nan×" not in text and "nan" not in text.split("Knees")[1].split("Every configuration")[0]


def test_a_unit_the_probe_stopped_at_its_cap_never_ends_under_a_timeout_shorter_than_the_cap():
    # the probe's cap (10× the timeout, or its budget's end) is a lower bound: under a timeout
    # longer than the reference's but shorter than the cap, the unit was taken to cost exactly its
    # lower bound, so given up on threads its work ended there, an end nothing measured
    from dataclasses import replace

    from test_prediction_stopped import _alone

    workload = workload_of(reference([OK, STOPPED] + [SHORT] * 100)).with_gil(
        replace(_alone(("c01", 0.6, True)), hold_s=0.001))
    config = _thread_config().with_timeout(0.3)
    u = simulate(workload, config, THREAD, Machine(2), cooperative=False).units.set_index("candidate")
    assert bool(u.loc["c01", "endless"]) and bool(u.loc["c01", "leaked"]) and math.isnan(u.loc["c01", "leaked_s"])
    # past its lower bound the timeout cuts nothing measured: it runs its 0.6 s, a lower bound still
    longer = simulate(workload, _thread_config().with_timeout(1.0), THREAD, Machine(2), cooperative=False).units
    assert not longer.set_index("candidate").loc["c01", "endless"]
