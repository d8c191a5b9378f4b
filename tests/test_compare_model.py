"""Compare's predicted column takes the reference's workload as ``perfkit predict`` does
(perfkit/api.py ``_reference_workload``): on a daemonic backend, the units the daemon probe saw
raise there are charged as they end there, not their children's CPU (session 17, python-constraint2's
``parallel_processes``: predict and compare gave two answers for one reference)."""

from __future__ import annotations

import contextlib

import pytest

from builders import make_run
from test_daemon_probe import hand_run, raised_in_daemon

from perfkit import api
from perfkit.analysis.prediction import DEFAULT_COSTS, simulate, workload_of
from perfkit.analysis.prediction.predict import config_of, execution_of, machine_of
from perfkit.model import ConfigError, PerfkitError
from perfkit.orchestration import daemon_probe

#: A backend with daemonic workers (perfkit/analysis/prediction/model.py DAEMONIC_BACKENDS).
DAEMONIC = "dask"


def measured_on(backend: str):
    """A run of the hand-made reference's work on 2 workers of ``backend`` (its figures are
    not what is tested: the prediction beside it is)."""
    rows = [dict(r, worker=f"w{r['index'] % 2}") for r in hand_run().units.to_dict("records")]
    return make_run(rows, "sample-parallel", backend, 2, wall_s=0.6, timeout_s=10.0)


@pytest.fixture
def probed(monkeypatch):
    """The daemon probe stood in for (every pool unit raises, 1 ms), its calls counted; the
    built-in costs (no calibration read from this machine)."""
    calls = []

    def measure(run, workload):
        calls.append(run.run_id)
        return raised_in_daemon(workload).in_daemon

    monkeypatch.setattr(daemon_probe, "measure", measure)
    monkeypatch.setattr(api, "costs_for", lambda backends, *a, **k: {b: DEFAULT_COSTS[b] for b in backends})
    return calls


def test_compare_s_predicted_column_charges_the_units_as_the_daemon_probe_saw_them_end(probed):
    reference, measured = hand_run(), measured_on(DAEMONIC)
    table, _, note = api._model([reference, measured])
    row = table.set_index("backend").loc[DAEMONIC]
    c, costs = config_of(measured), DEFAULT_COSTS[DAEMONIC]

    def wall_of(workload):
        return simulate(workload.on(DAEMONIC), c, costs, machine_of(measured), execution_of(measured)).wall_s

    # the workload predict sweeps, not the reference's children's CPU
    assert row["predicted_wall_s"] == pytest.approx(wall_of(raised_in_daemon(workload_of(reference))))
    assert row["predicted_wall_s"] < wall_of(workload_of(reference)) - 0.3  # 4 × 0.2 s of pool units on 2 workers
    assert probed == [reference.run_id] and note == ""


def test_the_daemon_probe_runs_for_compare_only_beside_a_daemonic_backend(probed):
    reference = hand_run()
    workload, note = api._compared_workload([reference, measured_on("thread")])
    assert probed == [] and workload.in_daemon == () and note == ""
    workload, note = api._compared_workload([reference, measured_on(DAEMONIC)])
    assert probed == [reference.run_id] and len(workload.in_daemon) == 4


def test_the_daemon_probe_does_not_run_when_no_unit_computed_on_several_cores(probed):
    rows = [dict(r, cpu_s=r["wall_s"]) for r in hand_run().units.to_dict("records")]
    api._compared_workload([make_run(rows, timeout_s=10.0), measured_on(DAEMONIC)])
    assert probed == []


@pytest.mark.parametrize("error", [ConfigError("solver", "child_starter:ChildStarter", "no module named child_starter"),
                                   PerfkitError("daemon probe of child_starter:ChildStarter: no answer within 70 s")])
def test_a_daemon_probe_that_fails_in_compare_is_a_warning_not_a_stopped_report(monkeypatch, error):
    """A report of stored runs may be written without the solver on the import path (predict,
    which needs the solver anyway, stops on the ConfigError)."""
    def fails(run, workload):
        raise error

    monkeypatch.setattr(daemon_probe, "measure", fails)
    workload, note = api._compared_workload([hand_run(), measured_on(DAEMONIC)])
    assert workload.in_daemon == ()
    assert note.startswith(f"the daemon probe failed ({error})") and DAEMONIC in note
    stops = pytest.raises(ConfigError) if isinstance(error, ConfigError) else contextlib.nullcontext()
    with stops:  # predict's call
        api._reference_workload(hand_run(), [DAEMONIC], measure=True, daemon=True)


def test_compare_builds_the_workload_before_forking_only_where_the_daemon_probe_may_run():
    """The forked model child is daemonic and cannot start the probe's process: the workload is
    built first in compare's own process then, and only then (it costs that process time)."""
    reference, flat = hand_run(), make_run([dict(r, cpu_s=r["wall_s"]) for r in hand_run().units.to_dict("records")],
                                           timeout_s=10.0)
    assert api._daemonic([reference, measured_on(DAEMONIC)])
    assert not api._daemonic([reference, measured_on("thread")])
    assert not api._daemonic([flat, measured_on(DAEMONIC)])
