"""The GIL's hand-over cost on threads: the factor, the simulator stretching thread units by it,
the probe stored per (machine, solver) and reused, the synthetic solver's GIL-releasing option."""

from __future__ import annotations

import sys
from dataclasses import replace

import numpy as np
import pytest

from builders import make_run, make_task

from perfkit.analysis.prediction import BackendCosts, Machine, SimConfig, simulate, workload_of
from perfkit.analysis.prediction.gil import Inflation
from perfkit.analysis.prediction.model import Behaviour
from perfkit.model import TimeoutPolicy

#: Threads with no cost of their own: one GIL, idle threads take the next item.
THREADS = BackendCosts("thread", behaviour=Behaviour(dispatch="shared", prefetch=1, requeue="back", gil=True,
                                                     hard_stop=False, stop_kills_worker=False))


def hand_run(cpus: list[float], samples: int = 1, timeout_s: float = 100.0):
    """A sequential run of ``samples`` demo samples, each with candidates c0.. of ``cpus`` seconds."""
    rows, t = [], 0.0
    for index in range(samples):
        for i, cpu in enumerate(cpus):
            rows.append(dict(task_id="t1", split="demo", index=index, candidate=f"c{i}", status="ok",
                             output_hash=None, match=None, queued=t, started=t, ended=t + cpu, wall_s=cpu, cpu_s=cpu,
                             worker="main", chunk=1, attempt=1, leaked_s=None, leaked=False, error_type=None,
                             error_message=None))
            t += cpu
    return make_run(rows, wall_s=t, timeout_s=timeout_s)


def simulated(run, workers, gil=None, strategy="candidate-parallel", timeout=100.0, costs=THREADS):
    workload = replace(workload_of(run), gil=gil)
    config = SimConfig(strategy, costs.backend, workers, 1 if strategy == "candidate-parallel" else None,
                       TimeoutPolicy(timeout))
    return simulate(workload, config, costs, Machine(2))


def test_the_factor_is_one_alone_interpolated_between_counts_and_held_beyond():
    f = Inflation(((2, 1.6), (4, 2.0)))
    assert f.at(1) == 1.0 and f.at(0.5) == 1.0
    assert f.at(2) == 1.6 and f.at(3) == pytest.approx(1.8) and f.at(4) == 2.0
    assert f.at(16) == 2.0 and f.largest_threads == 4  # held: never measured beyond 4
    assert "held from 4" in f.describe(8) and "held" not in f.describe(4)
    # a pure-Python solver's units barely grow: no "×1.0 in hand-overs" beside the GIL's work
    pure = Inflation(((2, 1.06),), cpu_factors=((2, 1.04),))
    assert pure.describe(2) == "with 2 threads the GIL's work ×1.1 in hand-overs"
    grows = Inflation(((2, 1.06),), cpu_factors=((2, 1.3),))
    assert grows.describe(2).startswith("with 2 threads each unit's CPU grows ×1.3 in hand-overs")
    assert Inflation.from_record(f.to_record()) == f
    assert Inflation(((2, 1.0), (4, 1.0))).neutral and not f.neutral
    with pytest.raises(ValueError):
        Inflation(((2, 0.0),))


def test_the_share_a_unit_got_gives_back_the_factor_it_paid():
    f = Inflation(((2, 1.6), (4, 2.0)))
    assert f.of_share(1 / (4 * 2.0)) == pytest.approx(2.0)
    assert f.of_share(1 / (2 * 1.6)) == pytest.approx(1.6)
    assert f.of_share(1.0) == 1.0


@pytest.mark.slow  # > 0.4 s: the quick subset stays under 30 s (docs/testing.md)
def test_a_factor_of_one_reproduces_the_model_without_it_exactly():
    run = hand_run([0.01] * 24, samples=3, timeout_s=0.06)
    for strategy, workers in (("candidate-parallel", 4), ("sample-parallel", 4), ("candidate-parallel", 2)):
        plain = simulated(run, workers, None, strategy, timeout=0.06)
        ones = simulated(run, workers, Inflation(((2, 1.0), (4, 1.0))), strategy, timeout=0.06)
        assert ones.wall_s == plain.wall_s
        assert ones.units.equals(plain.units)


@pytest.mark.slow  # over half a second (session 14: the quick subset's time)
def test_a_factor_stretches_thread_units_by_it_and_leaves_processes_alone():
    run = hand_run([1.0] * 8)
    flat = Inflation(((2, 1.5), (8, 1.5)))  # every count of two or more threads: ×1.5
    assert simulated(run, 1).wall_s == pytest.approx(8.0)
    assert simulated(run, 1, flat).wall_s == pytest.approx(8.0)  # one thread alone pays nothing
    # four threads keep the GIL busy throughout: its 8 s of work take 1.5 × as long
    assert simulated(run, 4).wall_s == pytest.approx(8.0)
    assert simulated(run, 4, flat).wall_s == pytest.approx(12.0)
    process = BackendCosts("process", behaviour=Behaviour(dispatch="prefetch", prefetch=1, requeue="front"))
    assert simulated(run, 2, flat, costs=process).wall_s == pytest.approx(simulated(run, 2, costs=process).wall_s)


@pytest.mark.slow  # > 0.2 s: out of the quick subset (session 17, suitetime17)
def test_the_factor_follows_the_number_of_runnable_threads():
    # two equal units on 2 threads: both run together at ×1.6 — 2 s of work in 3.2 s
    run = hand_run([1.0, 1.0])
    assert simulated(run, 2, Inflation(((2, 1.6), (4, 2.0)))).wall_s == pytest.approx(3.2)
    # one unit of 1 s and one of 3 s: ×1.6 while both run (2 × 1 s of work: 3.2 s), then alone at ×1
    uneven = hand_run([1.0, 3.0])
    assert simulated(uneven, 2, Inflation(((2, 1.6),))).wall_s == pytest.approx(3.2 + 2.0)


@pytest.mark.slow  # over half a second (session 14: the quick subset's time)
def test_predict_names_the_hand_overs_in_its_why():
    from perfkit.analysis.prediction import DEFAULT_COSTS
    from perfkit.analysis.prediction.predict import sweep

    run = hand_run([0.01] * 32, samples=6, timeout_s=0.06)
    workload = replace(workload_of(run), gil=Inflation(((2, 1.4), (4, 1.8)), cpu_factors=((2, 1.6), (4, 2.1))))
    s = sweep(workload, dict(DEFAULT_COSTS), Machine(2), strategies=["sequential", "sample-parallel"],
              backends=["thread"], workers=[4])
    threads = s.find("sample-parallel", "thread", 4)
    assert threads.wall_s > s.predictions[0].wall_s / 0.95  # slower than sequential
    assert "release the GIL: with 4 threads each unit's CPU grows ×2.1 in hand-overs, the GIL's work ×1.8" in threads.why
    plain = sweep(workload_of(run), dict(DEFAULT_COSTS), Machine(2), strategies=["sequential", "sample-parallel"],
                  backends=["thread"], workers=[4]).find("sample-parallel", "thread", 4)
    assert "release the GIL" not in plain.why


# -- the probe: stored per machine and solver, reused ----------------------------------------------

def _tiny_run(tmp_path, **options):
    from perfkit.model import RunConfig
    from perfkit.runner import run

    config = RunConfig(solver="synthetic", tasks="synthetic:1x3+1", strategy="sequential", backend="inline",
                       workers=1, solver_options={"candidates": 8, "cpu_ms": 0.5, **options})
    return run(config, tmp_path / "runs")


@pytest.mark.slow  # a real probe in a fresh interpreter: ~2.5 s
def test_the_probe_is_stored_per_solver_and_reused_not_measured_again(tmp_path):
    from perfkit.orchestration import gil_probe

    reference = _tiny_run(tmp_path)
    assert len(gil_probe.sample_units(reference)) == 32  # fewer than MIN_UNITS exist: all of them
    measured, fresh = gil_probe.inflation_for(reference, tmp_path / "cal")
    assert fresh and measured.largest_threads >= 4 and "units of run" in measured.source
    assert gil_probe.path_of(tmp_path / "cal").exists()
    again, fresh = gil_probe.inflation_for(reference, tmp_path / "cal")
    assert not fresh and again == measured  # the stored one, not a new measurement
    other = _tiny_run(tmp_path, releases_per_ms=5)
    assert gil_probe.solver_key(other) != gil_probe.solver_key(reference)
    assert gil_probe.load(other, tmp_path / "cal") is None  # another solver: not measured yet
    gil_probe.save(other, Inflation(((2, 1.3),)), tmp_path / "cal")
    assert gil_probe.load(reference, tmp_path / "cal") == measured  # one file, both kept


def test_the_sample_takes_every_kth_unit_of_each_task_and_skips_units_that_did_not_end(tmp_path):
    from perfkit.orchestration import gil_probe

    run = hand_run([0.01] * 40, samples=5)
    units = run.units.copy()
    units.loc[units.index[3], "status"] = "timeout"
    run = replace(run, units=units)
    picked = gil_probe.sample_units(run, cpu_s=0.5, least=10)
    # 1.99 s of CPU in 199 units that ended, for 0.5 s: every 3rd (int(1.99 / 0.5)), 67 units
    assert len(picked) == 67 and ("t1", "demo", 0, "c3") not in picked
    assert {p[2] for p in picked} == {0, 1, 2, 3, 4}


@pytest.mark.parametrize("text", ["{", '{"solvers": []}', '{"solvers": "x"}', '{"solvers": null}'])
def test_a_malformed_probe_file_is_one_line_and_measuring_again_replaces_it(tmp_path, text):
    """load: one PerfkitError naming the file; save (what measuring again does) replaces the
    file. A file whose "solvers" was not an object made save raise TypeError: the remedy the
    line names crashed with a traceback."""
    from perfkit.model import PerfkitError
    from perfkit.orchestration import gil_probe

    run = hand_run([0.01] * 4)
    path = gil_probe.path_of(tmp_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    with pytest.raises(PerfkitError, match="malformed or unreadable GIL probe file"):
        gil_probe.load(run, tmp_path)
    gil_probe.save(run, Inflation(((2, 1.3),)), tmp_path)
    assert gil_probe.load(run, tmp_path) == Inflation(((2, 1.3),))


def test_an_unreadable_probe_file_is_one_line_not_a_traceback(tmp_path):
    """compare and report read the stored probe and go on without it on a PerfkitError; a
    file they cannot read (here a folder in its place) raised IsADirectoryError through them."""
    from perfkit.model import PerfkitError
    from perfkit.orchestration import gil_probe

    gil_probe.path_of(tmp_path).mkdir(parents=True)
    with pytest.raises(PerfkitError, match="GIL probe file"):
        gil_probe.load(hand_run([0.01] * 4), tmp_path)


def test_a_factor_below_one_measured_next_to_other_work_is_taken_as_one(monkeypatch):
    """Hand-overs can only cost: threads never run Python faster than one core does, so a
    probe's factor below 1 (the one-thread pass slowed by another program) is noise."""
    from perfkit.orchestration import gil_probe

    measured = {"factors": {"2": 0.9, "4": 1.5}, "cpu_factors": {"2": 0.95, "4": 2.0}, "others_cores": 0.0,
                "unit_cpu_s": 0.1}
    monkeypatch.setattr(gil_probe, "_probe_process", lambda spec: measured)  # the probe's process, not run
    inflation = gil_probe.measure(hand_run([0.01] * 40, samples=5))
    assert inflation.factors == ((1, 1.0), (2, 1.0), (4, 1.5))
    assert inflation.cpu_factors == ((1, 1.0), (2, 1.0), (4, 2.0))
    stored = Inflation.from_record({"factors": {"2": 0.9, "4": 1.5}})  # a probe stored before the rule
    assert stored.factors == ((1, 1.0), (2, 1.0), (4, 1.5))


@pytest.mark.slow  # over half a second (session 14: the quick subset's time)
def test_a_thread_prediction_reuses_the_stored_probe_and_says_so(tmp_path):
    from perfkit import api
    from perfkit.analysis.prediction import DEFAULT_COSTS
    from perfkit.orchestration import calibration, gil_probe

    reference = _tiny_run(tmp_path)
    calibration.save(dict(DEFAULT_COSTS), tmp_path / "cal")
    gil_probe.save(reference, Inflation(((2, 1.5), (4, 1.9)), "by hand"), tmp_path / "cal")
    result = api.predict(reference.path, strategies=["sequential", "sample-parallel"], backends=["thread"],
                         workers=[1, 4], calibration_dir=tmp_path / "cal", out=tmp_path / "pred")
    assert "stored, reused: by hand" in result.gil_probe and "×1.90 at 4 threads" in result.gil_probe
    assert result.sweep.workload.gil == Inflation(((2, 1.5), (4, 1.9)), "by hand")
    skipped = api.predict(reference.path, strategies=["sequential"], backends=["thread"], workers=[1],
                          calibration_dir=tmp_path / "cal", gil_probe=False, out=tmp_path / "pred2")
    assert skipped.gil_probe == "" and skipped.sweep.workload.gil is None


# -- the synthetic solver's GIL-releasing calls -----------------------------------------------------

def test_releases_are_off_by_default_and_change_no_answer():
    from perfkit.solvers.synthetic import OptionError, SyntheticSolver

    task = make_task("t1")
    sample = task.demo[0]
    plain, releasing = SyntheticSolver(cpu_ms=0.5), SyntheticSolver(cpu_ms=0.5, releases_per_ms=40)
    assert plain.plan(task, sample, "c001").releases == 0
    assert releasing.plan(task, sample, "c001").releases == 20
    assert releasing.plan(task, sample, "c001").cpu_iters == plain.plan(task, sample, "c001").cpu_iters
    for candidate in ("c000", "c001"):
        assert np.array_equal(plain.evaluate(task, sample, candidate, None),
                              releasing.evaluate(task, sample, candidate, None))
    with pytest.raises(OptionError, match="releases_per_ms"):
        SyntheticSolver(releases_per_ms=-1)


@pytest.mark.slow  # > 0.2 s: out of the quick subset (session 17, suitetime17)
def test_a_release_lets_another_thread_run_python():
    """Each release hands the GIL over: a thread waking every 0.5 ms gets its turns while a unit
    with releases runs, and none in a unit of pure Python shorter than the switch interval
    (a relative claim: the same unit with and without releases)."""
    import sys
    import threading
    import time

    from perfkit.solvers.synthetic import SyntheticSolver

    task = make_task("t1")
    progress = []

    def count(stop):  # always waiting for the GIL: a turn at every release (sleep(0) hands it back)
        while not stop.is_set():
            progress.append(None)
            time.sleep(0)

    def turns(solver):
        stop = threading.Event()
        old = sys.getswitchinterval()
        counter = threading.Thread(target=count, args=(stop,))
        counter.start()
        try:
            while not progress:
                time.sleep(0.001)
            sys.setswitchinterval(1.0)  # without releases the counter gets no turn during the unit
            before = len(progress)
            solver.evaluate(task, task.demo[0], "c001", None)
            during = len(progress) - before
        finally:
            stop.set()
            counter.join()
            sys.setswitchinterval(old)
            progress.clear()
        return during

    # The counter never sleeps, so it waits for the GIL at every release, but it still needs a
    # core at that moment, a race the OS decides: ~900 turns of the 2 400 releases on a quiet
    # machine, 3 next to two busy loops, 0 in 3 of 10 units next to four (seen). So the
    # releasing unit gets up to five tries; a unit of pure Python gives the counter a turn
    # only when asked to drop the GIL (a drop asked for before the interval was raised): 0-2.
    plain = turns(SyntheticSolver(cpu_ms=120))
    releasing = 0
    for _ in range(5):
        releasing = max(releasing, turns(SyntheticSolver(cpu_ms=120, releases_per_ms=20)))
        if releasing >= 3 + plain:
            break
    assert releasing >= 3 + plain, (releasing, plain)


def test_a_solver_of_long_units_replays_only_as_many_as_the_threads_need():
    from perfkit.orchestration import gil_probe

    run = hand_run([2.0] * 20, samples=5)  # 100 units of 2 s: 16 of them would be 32 s a pass
    picked = gil_probe.sample_units(run)
    assert max(gil_probe.THREADS) <= len(picked) <= 5 + max(gil_probe.THREADS)


# -- the probe's import path (session 17) -----------------------------------------------------------

def _probe_spec(solver: str) -> dict:
    """The stopped units' probe with none to run: it imports the solver and the tasks, no more."""
    return {"mode": "stopped", "solver": solver, "options": {}, "plugins": [], "tasks": "synthetic:1x1+0",
            "stopped_units": [], "cap_s": 1.0, "budget_s": 1.0, "timeout_s": 60.0}


@pytest.mark.slow  # a fresh interpreter: ~1 s
def test_the_probe_imports_the_solver_with_this_process_import_path():
    """tests/ is on this process's sys.path (pytest's ``pythonpath``), not on PYTHONPATH: the
    probe's process imported from its working directory alone and failed on gil_holder."""
    from perfkit.orchestration import gil_probe

    assert gil_probe._probe_process(_probe_spec("gil_holder:RegexHolder")) == {"stopped": []}


@pytest.mark.slow  # a fresh interpreter: ~1 s
def test_a_solver_the_probe_cannot_import_is_a_config_error_naming_it():
    from perfkit.model import ConfigError
    from perfkit.orchestration import gil_probe

    with pytest.raises(ConfigError) as info:
        gil_probe._probe_process(_probe_spec("nowhere_p17:Solver"))
    assert info.value.field == "solver" and info.value.value == "nowhere_p17:Solver"
    assert "cannot import module 'nowhere_p17': ModuleNotFoundError" in info.value.reason


@pytest.mark.slow  # a run, then the probe's process: ~1.5 s
def test_predict_stops_with_one_line_when_the_probe_cannot_import_the_solver(tmp_path, monkeypatch, capsys):
    """The run had the solver on its path, predict has not: exit 2, one line naming the solver
    and the import that failed — not a sweep whose thread half went on without the probe."""
    import importlib

    from perfkit.analysis.prediction import DEFAULT_COSTS
    from perfkit.cli.app import main
    from perfkit.model import RunConfig
    from perfkit.orchestration import calibration
    from perfkit.runner import run

    (tmp_path / "gone_p17.py").write_text("from gil_holder import RegexHolder as Solver\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reference = run(RunConfig(solver="gone_p17:Solver", tasks="synthetic:1x1+0", strategy="sequential",
                              backend="inline", workers=1), tmp_path / "runs")
    (tmp_path / "gone_p17.py").unlink()
    monkeypatch.delitem(sys.modules, "gone_p17")
    importlib.invalidate_caches()
    calibration.save(dict(DEFAULT_COSTS), tmp_path / "cal")
    with pytest.raises(SystemExit) as info:
        main(["predict", str(reference.path), "--backends", "process,thread", "--workers", "2",
              "--calibration-dir", str(tmp_path / "cal"), "--out", str(tmp_path / "pred")])
    err = capsys.readouterr().err.strip().splitlines()
    assert info.value.code == 2 and len(err) == 1, err
    assert err[0].startswith("perfkit: error: --solver gone_p17:Solver: cannot import module 'gone_p17'"), err
    assert err[0].endswith("(--gil-probe/--no-gil-probe to go ahead)") and not (tmp_path / "pred").exists()
