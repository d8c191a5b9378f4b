"""The run store round trip, solver loading by reference, and invariants 1, 2 and 4 on a
sequential run of the synthetic solver with injected errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from builders import KEY, make_task, synthetic_config

from perfkit import load_run, runner
from perfkit.model import Outcome, PerfkitError
from perfkit.solvers import load_solver
from perfkit.store import RunWriter, read_units_jsonl

TESTS = Path(__file__).parent


def test_sequential_run_with_errors_keeps_invariants(tmp_path):
    tasks = [make_task("a", seed=3), make_task("b", seed=4)]
    config = synthetic_config(faults="raise:c002@demo[0]; raise:c005")
    path = runner.run(config, tmp_path, tasks=tasks).path
    run = load_run(path)
    units = run.units
    assert len(units) == 2 * 4 * 8 and not units.duplicated(KEY).any()          # invariant 1
    errors = units[units.status == "error"]
    expected_errors = {("a", "demo", 0, "c002"), ("b", "demo", 0, "c002")} | {
        (t.id, s.split, s.index, "c005") for t in tasks for s in t.samples}
    assert set(errors[KEY].itertuples(index=False, name=None)) == expected_errors  # invariant 2
    assert (errors.error_type == "InjectedError").all()
    assert errors.error_message.str.contains("injected").all()
    assert (units.queued <= units.started).all() and (units.started <= units.ended).all()  # invariant 4
    ok = units[units.status == "ok"]
    assert ok.output_hash.str.fullmatch(r"[0-9a-f]{16}").all()
    assert ok[ok.candidate == "c000"].match.all() and not ok[ok.candidate == "c001"].match.any()
    assert (units.wall_s >= 0).all() and (units.cpu_s >= 0).all()


def test_store_round_trip(tmp_path):
    tasks = [make_task("r", seed=5)]
    path = runner.run(synthetic_config(), tmp_path, tasks=tasks).path
    assert {p.name for p in path.iterdir()} >= {"meta.json", "units.jsonl", "units.parquet", "summary.json"}
    run = load_run(path)
    from_jsonl = read_units_jsonl(path / "units.jsonl")
    pd.testing.assert_frame_equal(run.units.reset_index(drop=True), from_jsonl.reset_index(drop=True),
                                  check_dtype=False)
    meta = json.loads((path / "meta.json").read_text())
    env = meta["environment"]
    for field in ["python", "platform", "cpu_model", "cpu_count", "packages", "git_commit", "command_line"]:
        assert field in env
    assert meta["config"]["solver"] == "synthetic" and meta["state"] == "complete"
    assert run.summary.units == len(run.units) == 32
    assert run.summary.status_counts == {"ok": 32}
    assert run.summary.wall_s > 0 and run.summary.cpu_s > 0


def test_interrupted_jsonl_survives_a_torn_line_and_amendments(tmp_path):
    writer = RunWriter.create(tmp_path, "run", {"config": synthetic_config().to_record()})
    writer.append([Outcome("t", "demo", 0, "c0", "ok", queued=0.0, started=0.1, ended=0.2),
                   Outcome("t", "demo", 0, "c1", "timeout", queued=0.0, started=0.1, ended=0.9, leaked=True)])
    writer.amend(("t", "demo", 0, "c1"), leaked_s=2.5)
    with open(writer.path / "units.jsonl", "ab") as fh:
        fh.write(b'{"task_id": "t", "spl')  # the process died mid-line
    units = load_run(tmp_path / "run").units
    assert list(units.candidate) == ["c0", "c1"]
    assert units.set_index("candidate").loc["c1", "leaked_s"] == 2.5


@pytest.mark.parametrize("attr", ["TinySolver", "tiny_factory", "tiny_instance"])
def test_plugin_loading_by_reference(attr):
    solver = load_solver(f"plugins.example_solvers:{attr}")
    task = make_task("p")
    assert list(solver.candidates(task)) == ["identity", "rot90"]


def test_plugin_loading_in_a_child_process(tmp_path):
    """A user's solver named ``module:attr`` is imported by worker processes, not pickled."""
    config = synthetic_config("candidate-parallel", "process")
    config = type(config)(**{**config.__dict__, "solver": "plugins.example_solvers:tiny_factory",
                             "solver_options": {}})
    path = runner.run(config, tmp_path, tasks=[make_task("p")]).path
    units = load_run(path).units
    assert set(units.candidate) == {"identity", "rot90"}
    assert units.worker.str.startswith("pid-").all()
    assert (units.worker != f"pid-{os.getpid()}").all()
    assert units[units.candidate == "rot90"].match.all()


@pytest.mark.parametrize("spec,message", [
    ("no_such_module:Solver", "cannot import module 'no_such_module'"),
    ("plugins.example_solvers:Missing", "has no attribute 'Missing'"),
    ("nonsense", "expected one of"),
])
def test_plugin_errors_are_one_clear_line(spec, message):
    with pytest.raises(PerfkitError, match=message):
        load_solver(spec)


def test_cli_plugin_error_exits_2_without_traceback(tmp_path, capsys):
    from perfkit.cli.app import main

    with pytest.raises(SystemExit) as info:  # any other exception fails the test, as a traceback would
        main(["run", "--solver", "no_such_module:Solver", "--tasks", "synthetic:1", "--store", str(tmp_path)])
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert "no_such_module" in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir()), "nothing is written for a run that could not start"


@pytest.mark.slow
def test_solver_that_fails_in_workers_stops_cleanly(tmp_path, monkeypatch):
    """A solver importable in the parent but not in workers: a clear error, the run kept."""
    env_module = tmp_path / "parent_only.py"
    env_module.write_text(
        "import os\nif os.environ.get('PERFKIT_TEST_WORKER'):\n    raise ImportError('not here')\n"
        "from plugins.example_solvers import TinySolver\n")
    code = (
        "import os, sys; sys.path[:0] = [%r, %r]\n"
        "from perfkit import runner\nfrom perfkit.model import RunConfig\nfrom builders import make_task\n"
        "from perfkit.model import PerfkitError\n"
        "import parent_only\nos.environ['PERFKIT_TEST_WORKER'] = '1'\n"
        "try:\n    runner.run(RunConfig(solver='parent_only:TinySolver', tasks='x', strategy='candidate-parallel',"
        " backend='process', workers=2), %r, tasks=[make_task('w')])\n"
        "except PerfkitError as e:\n    print('ERROR', e)\n"
    ) % (str(tmp_path), str(TESTS), str(tmp_path / "runs"))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            cwd=str(TESTS.parent))
    assert "ERROR" in result.stdout and "cannot build solver" in result.stdout, result.stdout + result.stderr
    run_dir = next((tmp_path / "runs").iterdir())
    assert json.loads((run_dir / "meta.json").read_text())["state"] == "failed"


def test_a_solver_failing_in_candidates_stops_the_run_cleanly(tmp_path):
    from perfkit.model import RunConfig

    config = RunConfig(solver="plugins.example_solvers:BrokenCandidates", tasks="x")
    with pytest.raises(PerfkitError, match="task 'second': the solver's candidates\\(\\) raised RuntimeError"):
        runner.run(config, tmp_path, tasks=[make_task("first"), make_task("second")])
    run = load_run(next(tmp_path.iterdir()))
    assert run.meta["state"] == "failed"
    assert set(run.units.task_id) == {"first"} and len(run.units) == 2 * 4  # what ran is kept
