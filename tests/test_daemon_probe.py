"""The daemon probe (perfkit/orchestration/daemon_probe.py): a unit that computed on child
processes in the reference raises in a daemonic worker (Dask's), and predict charges it there as
it ends there — not its children's CPU, which never runs (session 17: python-constraint2's
``parallel_processes``). perfkit's own process workers let a unit start children."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from builders import make_run

from perfkit.analysis.prediction import DEFAULT_COSTS, Machine, SimConfig, workload_of
from perfkit.analysis.prediction.predict import loses_answers, predict_one
from perfkit.analysis.prediction.workload import DaemonCost
from perfkit.model import TimeoutPolicy

CHILDREN = "AssertionError"


def hand_run():
    """A sequential reference of 4 samples × (plain, pool): pool's units computed on 2 cores
    (its CPU twice its wall, a child process's reaped CPU counted)."""
    rows, t = [], 0.0
    for index in range(4):
        for candidate, wall, cpu in (("plain", 0.1, 0.1), ("pool", 0.2, 0.4)):
            rows.append(dict(task_id="t1", split="demo", index=index, candidate=candidate, status="ok",
                             output_hash=None, match=None, queued=t, started=t, ended=t + wall, wall_s=wall,
                             cpu_s=cpu, worker="main", chunk=1, attempt=1, leaked_s=None, leaked=False,
                             error_type=None, error_message=None))
            t += wall
    return make_run(rows, wall_s=t, timeout_s=10.0)


def raised_in_daemon(workload):
    """The workload with every pool unit raising in a daemonic process, at 1 ms."""
    return replace(workload, in_daemon=tuple(
        DaemonCost("t1", "demo", i, "pool", "error", CHILDREN, "daemonic processes are not allowed to have children",
                   0.001, 0.001) for i in range(4)))


def test_units_whose_children_cannot_start_end_there_as_the_probe_saw_on_daemonic_backends_only():
    plain = workload_of(hand_run())
    assert plain.unit_cores > 1.1  # the children's CPU read as cores
    workload = raised_in_daemon(plain)
    on_dask = workload.on("dask")
    pool = on_dask.tasks[0].units[("demo", 0, "pool")]
    assert (pool.status, pool.cores, pool.cpu_s) == ("error", 1.0, 0.001)
    assert on_dask.unit_cores == 1.0 and on_dask.cpu_s == pytest.approx(0.404)
    assert all(workload.on(b) is workload for b in ("process", "thread", "inline"))


@pytest.mark.slow  # two simulations with scipy: ~1 s
def test_a_dask_prediction_charges_no_child_cpu_and_loses_the_raising_units_answers():
    workload = raised_in_daemon(workload_of(hand_run()))
    config = SimConfig("sample-parallel", "dask", 2, None, TimeoutPolicy(10.0))
    before = predict_one(workload_of(hand_run()), config, DEFAULT_COSTS["dask"], Machine(2))
    after = predict_one(workload, config, DEFAULT_COSTS["dask"], Machine(2))
    assert after.wall_s < before.wall_s - 0.5  # 4 × 0.2 s of pool units, on 2 workers
    assert (before.new_errors, after.new_errors, after.answers_lost) == (0, 4, 4)
    assert not loses_answers(before) and loses_answers(after)
    assert after.why.startswith("4 units that ended without error in the reference end otherwise in a dask "
                                "worker, run there by the daemon probe (answers lost): pool ×4 (AssertionError: "
                                "daemonic processes are not allowed to have children)")
    for backend in ("thread", "process"):
        other = predict_one(workload, replace(config, backend=backend), DEFAULT_COSTS[backend], Machine(2))
        assert other.new_errors == 0 and "daemon" not in other.why


@pytest.mark.slow  # a run, then a spawned interpreter: ~2 s
def test_the_probe_runs_a_wide_unit_of_each_candidate_in_a_daemonic_process(tmp_path):
    """pool raises there (its first unit, then every other it ran ok), threads ends as in the
    reference after its first unit: the rest of its units are not run."""
    from perfkit.model import RunConfig
    from perfkit.orchestration import daemon_probe
    from perfkit.runner import run

    reference = run(RunConfig(solver="child_starter:ChildStarter", tasks="synthetic:1x3+0", strategy="sequential",
                              backend="inline", workers=1, timeout=TimeoutPolicy(10.0)), tmp_path / "runs")
    assert set(reference.units["status"]) == {"ok"}  # inline: the child starts
    plain = workload_of(reference)
    # each threads and pool unit read as on 2 cores (the reference's own reading depends on the machine's load)
    wide = replace(plain, tasks=tuple(replace(t, units={u: replace(c, cores=2.0) if u[2] != "plain" else c
                                                        for u, c in t.units.items()}) for t in plain.tasks))
    assert [key[3] for key, _ in daemon_probe.units_to_run(wide)] == ["threads"] * 3 + ["pool"] * 3
    rows = daemon_probe.measure(reference, wide)
    by = {}
    for d in rows:
        by.setdefault(d.candidate, []).append(d)
    assert [d.status for d in by["pool"]] == ["error"] * 3 and by["pool"][0].error_type == CHILDREN
    assert [d.status for d in by["threads"]] == ["ok"] and "plain" not in by


@pytest.mark.slow  # a process run: ~1.5 s
def test_a_unit_starts_its_own_processes_in_a_process_worker_as_inline(tmp_path):
    """DAEMONIC_BACKENDS is a fact of perfkit/backends/process.py: its workers let a unit start
    child processes, as a ProcessPoolExecutor's do (python-constraint2's ParallelSolver in
    process mode raised in every unit of a daemonic worker)."""
    from perfkit.analysis.prediction.model import DAEMONIC_BACKENDS
    from perfkit.model import RunConfig
    from perfkit.runner import run

    measured = run(RunConfig(solver="child_starter:ChildStarter", tasks="synthetic:1x1+0",
                             strategy="sample-parallel", backend="process", workers=1,
                             timeout=TimeoutPolicy(10.0)), tmp_path / "runs").units.set_index("candidate")
    assert "process" not in DAEMONIC_BACKENDS
    assert measured["status"].eq("ok").all(), measured[["status", "error_type", "error_message"]]


@pytest.mark.slow  # a run and a prediction: ~1 s
def test_a_daemon_probe_that_fails_is_a_warning_saying_what_the_dask_predictions_assume(tmp_path, monkeypatch):
    from perfkit import api
    from perfkit.model import PerfkitError, RunConfig
    from perfkit.orchestration import calibration, daemon_probe
    from perfkit.runner import run

    def fails(run, workload):
        raise PerfkitError("daemon probe of child_starter:ChildStarter: no answer within 70 s")

    reference = run(RunConfig(solver="child_starter:ChildStarter", tasks="synthetic:1x1+0", strategy="sequential",
                              backend="inline", workers=1), tmp_path / "runs")
    monkeypatch.setattr(daemon_probe, "units_to_run", lambda workload: [(("t", "demo", 0, "pool"), "ok")])
    monkeypatch.setattr(daemon_probe, "measure", fails)
    calibration.save(dict(DEFAULT_COSTS), tmp_path / "cal")
    result = api.predict(reference.path, strategies=["sequential", "sample-parallel"], backends=["dask"],
                         workers=[2], calibration_dir=tmp_path / "cal", out=tmp_path / "pred")
    said = [n for n in result.notes if "daemon probe failed" in n]
    assert said and "no answer within 70 s" in said[0] and said[0] in result.sweep.assumptions


@pytest.mark.slow  # a compare: a spawned reference, then a process run (~4 s)
def test_a_units_own_pool_starts_as_in_the_users_process_in_the_reference_and_the_workers(tmp_path):
    """A child of multiprocessing takes the start method that started it for its default: a
    solver's own ProcessPoolExecutor got forkserver processes in a process worker (not its
    children: their CPU never reached the unit's) and spawn in the reference
    (perfkit/backends/start_method.py). Both now start as this process would."""
    import multiprocessing as mp

    import numpy as np

    from perfkit import api
    from perfkit.model import grid_hash

    expected = ["fork", "spawn", "forkserver"].index(mp.get_context().get_start_method())
    result = api.compare(None, solver="child_starter:PoolStarter", tasks="synthetic:1x1+0",
                         strategies=["sequential", "sample-parallel"], backends=["process"], workers=1,
                         repeats=1, timeout=30.0, store=tmp_path / "runs", out=tmp_path / "rep")
    answer = grid_hash(np.full((1, 1), expected, dtype=np.uint8))
    assert {r.config.backend for r in result.runs} == {"inline", "process"}
    for run in result.runs:
        assert run.units["status"].eq("ok").all(), run.units[["status", "error_message"]]
        assert set(run.units["output_hash"]) == {answer}, (run.config.backend, set(run.units["output_hash"]))


@pytest.mark.slow  # a run, then a spawned interpreter: ~3 s
def test_the_daemon_probe_does_not_run_the_callers_script_again(tmp_path):
    """A script without a ``__name__`` guard that runs and probes: its body runs once (spawn ran
    it again in the probe's process, a whole run stored twice)."""
    script = tmp_path / "noguard.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        from dataclasses import replace
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        with open({str(tmp_path / 'body')!r}, "a") as f:
            f.write("ran\\n")
        from perfkit.analysis.prediction import workload_of
        from perfkit.model import RunConfig, TimeoutPolicy
        from perfkit.orchestration import daemon_probe
        from perfkit.runner import run
        reference = run(RunConfig(solver="child_starter:ChildStarter", tasks="synthetic:1x1+0", strategy="sequential",
                                  backend="inline", workers=1, timeout=TimeoutPolicy(10.0)), {str(tmp_path / 'runs')!r})
        plain = workload_of(reference)
        wide = replace(plain, tasks=tuple(replace(t, units={{u: replace(c, cores=2.0) for u, c in t.units.items()}})
                                          for t in plain.tasks))
        print(sorted({{d.candidate: d.status for d in daemon_probe.measure(reference, wide)}}.items()))
        """))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "body").read_text() == "ran\n", done.stderr
    assert len(list((tmp_path / "runs").iterdir())) == 1
    assert done.stdout.strip().splitlines()[-1] == "[('plain', 'ok'), ('pool', 'error'), ('threads', 'ok')]"


@pytest.mark.slow  # a run, a spawned interpreter and a prediction: ~3 s
def test_what_a_solver_prints_in_predicts_daemon_probe_never_lands_among_the_paths_on_stdout(tmp_path, capfd,
                                                                                          monkeypatch):
    """perfkit predict runs the solver too (the daemon probe's daemonic process inherits file
    descriptor 1): a candidate's print came out among the report's paths."""
    from perfkit.analysis.prediction import DEFAULT_COSTS
    from perfkit.cli.app import main
    from perfkit.model import RunConfig
    from perfkit.orchestration import calibration, daemon_probe
    from perfkit.runner import run

    reference = run(RunConfig(solver="plugins.faulty_solvers:Misbehaving", tasks="synthetic:1x1+0",
                              strategy="sequential", backend="inline", workers=1,
                              solver_options={"fault": "print"}), tmp_path / "runs")
    monkeypatch.setattr(daemon_probe, "units_to_run", lambda workload: [(("syn-000", "demo", 0, "c1"), "ok")])
    calibration.save(dict(DEFAULT_COSTS), tmp_path / "cal")
    capfd.readouterr()
    with pytest.raises(SystemExit) as exited:
        main(["predict", str(reference.path), "--strategies", "sequential,sample-parallel", "--backends", "dask",
              "--workers", "2", "--no-gil-probe", "--calibration-dir", str(tmp_path / "cal"),
              "--out", str(tmp_path / "pred")])
    out, err = capfd.readouterr()
    assert exited.value.code in (0, None), err
    assert "printed by c1" in err and "written to fd 1 by c1" in err, err
    assert "by c1" not in out, out
