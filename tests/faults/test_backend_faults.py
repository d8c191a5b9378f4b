"""Fault injection: the backends against what a candidate can do to the process running it
(issue 12, faults 1, 2, 4, 5 and 11)."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil
import pytest
from builders import KEY, cli_env, perfkit_main

from perfkit import load_run, runner
from perfkit.model import PerfkitError, RunConfig, TimeoutPolicy
from plugins.faulty_solvers import BOUNDARY, GRANDCHILD_MARK

# -- fault 1: flow control ------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.timeout(300)
def test_work_items_of_100_000_units_cannot_deadlock_the_pipes(tmp_path):
    """Two items of 100 000 units each on two worker processes: the parent sends megabytes of
    item while the workers send batches back; neither side may wait for the other forever."""
    config = RunConfig(solver="plugins.faulty_solvers:Instant", tasks="synthetic:1x1+1", strategy="sample-parallel",
                       backend="process", workers=2, timeout=TimeoutPolicy(5.0), solver_options={"n": 100_000})
    run = load_run(runner.run(config, tmp_path).path)
    assert run.state == "complete" and len(run.units) == 200_000
    assert not run.units.duplicated(KEY).any() and (run.units.status == "ok").all()


# -- fault 2: the unit boundary ---------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["inline", pytest.param("thread", marks=pytest.mark.slow), "process",
                                     pytest.param("dask", marks=pytest.mark.slow)])
def test_everything_a_candidate_can_raise_is_an_error_with_its_type(tmp_path, backend):
    config = RunConfig(solver="plugins.faulty_solvers:Raises", tasks="synthetic:1x1+1", strategy="candidate-parallel",
                       backend=backend, workers=1 if backend == "inline" else 2, chunk_size=3)
    run = load_run(runner.run(config, tmp_path).path)
    n = len(BOUNDARY) + 1
    assert run.state == "complete" and len(run.units) == 2 * n and not run.units.duplicated(KEY).any()
    by = run.units.set_index("candidate")
    for i, (etype, _fire) in enumerate(BOUNDARY):
        rows = by.loc[[f"c{i + 1}"]]
        assert (rows.status == "error").all(), f"{etype} on {backend}: {rows.status.tolist()}"
        assert (rows.error_type == etype).all(), f"{etype} on {backend}: {rows.error_type.tolist()}"
    assert (by.loc[["c0"]].status == "ok").all()
    if backend != "inline":
        assert not any(w.get("killed") for w in run.summary.workers), "a worker died for an exception"


# -- fault 4: supervised workers -------------------------------------------------------------------

def test_a_unit_that_kills_every_worker_it_touches_ends_crashed_after_a_few_attempts(tmp_path):
    config = RunConfig(solver="plugins.faulty_solvers:KillsItsWorker", tasks="synthetic:1x1+1",
                       strategy="candidate-parallel", backend="process", workers=2, chunk_size=4,
                       timeout=TimeoutPolicy(2.0), solver_options={"n": 8, "bad": "c2"})
    run = load_run(runner.run(config, tmp_path).path)
    assert run.state == "complete" and len(run.units) == 2 * 8 and not run.units.duplicated(KEY).any()
    bad = run.units[run.units.candidate == "c2"]
    assert (bad.status == "crashed").all(), bad[["status", "error_message"]]
    assert bad.error_message.str.contains("attempts").all()
    assert (run.units[run.units.candidate != "c2"].status == "ok").all()
    assert run.summary.resources["processes_created"] <= 2 + 2 * 4, "replacements were not capped"


@pytest.mark.parametrize("how", ["raise", "exit"])
def test_a_replacement_that_cannot_start_fails_the_run_with_one_line(tmp_path, capsys, how):
    code, out, err = perfkit_main(["run", "--solver", "plugins.faulty_solvers:BuildFails", "--solver-opt",
                                   f"flag={tmp_path / 'flag'}", "--solver-opt", f"how={how}", "--tasks",
                                   "synthetic:1x1+1", "--strategy", "candidate-parallel", "--backend", "process",
                                   "--workers", "2", "--store", str(tmp_path / "runs")], capsys)
    assert code == 2, out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "worker" in lines[0], err
    run = load_run(next((tmp_path / "runs").iterdir()))
    assert run.state == "failed"


@pytest.mark.slow  # waits out a replacement's start deadline: seconds
def test_a_replacement_that_never_becomes_ready_fails_the_run_after_its_deadline(tmp_path):
    config = RunConfig(solver="plugins.faulty_solvers:BuildFails", tasks="synthetic:1x1+1",
                       strategy="candidate-parallel", backend="process", workers=2,
                       solver_options={"flag": str(tmp_path / "flag"), "how": "hang"},
                       backend_options={"start_timeout_s": 2.0})
    with pytest.raises(PerfkitError, match="did not start within 2 s"):
        runner.run(config, tmp_path / "runs")


# -- fault 5: process groups -----------------------------------------------------------------------------

def grandchildren() -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["cmdline"]) if GRANDCHILD_MARK in (p.info["cmdline"] or [])]


@pytest.mark.slow  # a process group killed and reaped at a unit's timeout: seconds
def test_a_timeout_kills_the_whole_process_group_and_the_output_pipe_closes(tmp_path):
    """``perfkit run ... | cat``: a grandchild holding stdout would keep the pipe open forever."""
    before = {p.pid for p in grandchildren()}
    argv = [sys.executable, "-m", "perfkit", "run", "--solver", "plugins.faulty_solvers:Misbehaving", "--solver-opt",
            "fault=grandchild", "--tasks", "synthetic:1x1+1", "--strategy",
            "candidate-parallel", "--backend", "process", "--workers", "2", "--timeout", "0.5", "--store",
            str(tmp_path / "runs")]
    proc = subprocess.run(argv, env=cli_env(), capture_output=True, text=True, timeout=120)  # EOF on stdout
    assert proc.returncode == 0, proc.stderr
    deadline = time.monotonic() + 5
    while {p.pid for p in grandchildren()} - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not {p.pid for p in grandchildren()} - before, "a grandchild outlived its timed-out unit"
    run = load_run(next((tmp_path / "runs").iterdir()))
    assert (run.units[run.units.candidate == "c1"].status == "timeout").all()


# -- fault 11: bookkeeping per (item, attempt) ---------------------------------------------------------------

@pytest.mark.slow
def test_no_unit_runs_more_often_than_its_attempts_say(tmp_path):
    """A killed worker's item comes back in pieces, which may land on one worker together:
    each unit's evaluations (logged by the solver) must equal the attempt its outcome records."""
    log = tmp_path / "starts.log"
    config = RunConfig(solver="plugins.faulty_solvers:Misbehaving", tasks="synthetic:1x2+1",
                       strategy="candidate-parallel", backend="process", workers=2, chunk_size=6,
                       timeout=TimeoutPolicy(0.3),
                       solver_options={"n": 12, "bad": "c2,c5,c9", "fault": "sleep=30", "log": str(log),
                                       "sleep_s": 0.004})
    run = load_run(runner.run(config, tmp_path / "runs").path)
    assert run.state == "complete" and len(run.units) == 3 * 12
    counts: dict[tuple, int] = {}
    for line in log.read_text().splitlines():
        _t, where, cand = line.split()
        task, sample = where.split("/")
        split, index = sample[:-1].split("[")
        counts[(task, split, int(index), cand)] = counts.get((task, split, int(index), cand), 0) + 1
    for row in run.units.itertuples():
        ran = counts.get((row.task_id, row.split, row.index, row.candidate), 0)
        assert ran == row.attempt, f"{row.split}[{row.index}] {row.candidate}: ran {ran}×, attempt {row.attempt}"
