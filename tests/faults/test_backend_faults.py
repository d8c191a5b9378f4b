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
@pytest.mark.slow
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

@pytest.mark.slow
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


@pytest.mark.slow
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

# The situation: a worker runs one piece of a re-queued item and has sent some of its outcomes;
# another worker dies holding a second piece of that item, which is handed to the first worker; then
# the first worker dies too. Bookkeeping keyed by chunk alone forgets, at that hand-over, what the first
# piece had sent, and runs it again. Each step below waits for the event that makes it count (a unit's
# start, logged by the solver), never for time. Items of 8 units: c = c0-c7, d = c8-c15, e = c16-c23.
# The steps depend on how the process backend hands out items, so there is one script per rule it
# has had; both start alike: once the other worker has started its item (so every item was handed
# out), the worker holding c dies in c2 with c0 and c1 ran but not sent, and c comes back as
# A = c0-c1 (attempt 2) and B = c3-c7.

#: Each worker fills two places, in list order, from a queue where re-queued items go first in order
#: (perfkit up to issue 12). w0 takes c and d, w1 takes e, which waits until B has started, so w1
#: takes A and w0's replacement B and d. Once A's c0 was sent (c1 has started again), w0' dies in c4:
#: B's rest goes to w1 beside A; w0'' takes d, and once c8 has started w1 dies in c1.
FILL_IN_ORDER = ("c0#1:hold,c1#1:hold,c2#1:after=c16#1:die,c16#1:after=c3#1,"
                 "c4#1:after=c1#2:die,c1#2:after=c8#1:die",
                 {"c2": 1, "c4": 1, "c1": 2})
#: Each job goes to the ready worker with the fewest, re-queued ones first, last in first (perfkit
#: from issue 13 until re-queued jobs kept their order, adf1321).
#: w0 holds c and e, w1 d, held until B starts: w1 takes e, w0' takes B then A. w0' dies in c4 once
#: e has started (d is done, so w1 has one place): w1 takes A, w0'' B's rest (c5-c7) then c3 (B's
#: re-run). Once A's c0 was sent, w0'' dies in c5: c3 goes to w1 beside A, c6-c7 to w0''', and once
#: c6 has started w1 dies in c1.
FEWEST_JOBS = ("c0#1:hold,c1#1:hold,c2#1:after=c8#1:die,c8#1:after=c3#1,c4#1:after=c16#1:die,c16#1:after=c5#1,"
               "c5#1:after=c1#2:die,c1#2:after=c6#1:die",
               {"c2": 1, "c4": 1, "c5": 1, "c1": 2})


#: Each job goes to the ready worker with the fewest, re-queued ones first in their order (today).
#: w0 holds c and e, w1 d, held until B starts; w1 takes A (w0' is not ready), w0' B and e. Once A
#: has started (d is done), w0' dies in c4: B comes back as c3 (attempt 2) and c5-c7; w1 takes c3
#: beside A (two pieces of c on one worker), w0'' c5-c7 and e. Once c5 has started, w1 dies in c1.
FEWEST_JOBS_IN_ORDER = ("c0#1:hold,c1#1:hold,c2#1:after=c8#1:die,c8#1:after=c3#1,c4#1:after=c0#2:die,"
                        "c1#2:after=c5#1:die",
                        {"c2": 1, "c4": 1, "c1": 2})


def _choreography() -> tuple[str, dict, dict]:
    """The script for this perfkit's process backend, its expected deaths (candidate: attempt),
    and the backend options under which a worker sends a first attempt's outcomes only at the end
    of its item (the script's ``hold``; a backend without the options reads the solver's)."""
    from perfkit.backends.process import ProcessBackend

    if not hasattr(ProcessBackend, "submit"):  # perfkit up to issue 12: stages over a queue
        return FILL_IN_ORDER[0], FILL_IN_ORDER[1], {}
    from perfkit.runner.schedule import Schedule

    in_order = "in the order given" in (Schedule.requeue.__doc__ or "")
    script, deaths = FEWEST_JOBS_IN_ORDER if in_order else FEWEST_JOBS
    return script, deaths, {"flush_interval_s": 3600.0, "flush_units": 10**6}


@pytest.mark.slow  # four worker deaths and replacements: ~1 s, 2-3 s under load
def test_two_pieces_of_one_item_on_one_worker_keep_apart(tmp_path):
    """Fault 11: two pieces of a re-queued item meet on one worker, which then dies; each unit
    ran exactly as often as the attempt its outcome records, and the runner dropped no duplicate."""
    script, deaths, backend_options = _choreography()
    log = tmp_path / "starts.log"
    config = RunConfig(solver="plugins.faulty_solvers:Choreographed", tasks="synthetic:1x1+0",
                       strategy="candidate-parallel", backend="process", workers=2, chunk_size=8,
                       timeout=TimeoutPolicy(60.0),  # longer than any wait of the script (20 s)
                       backend_options=backend_options,
                       solver_options={"n": 24, "log": str(log), "script": script})
    run = load_run(runner.run(config, tmp_path / "runs").path)
    assert run.state == "complete" and len(run.units) == 24
    crashed = run.units[run.units.status == "crashed"]
    assert dict(zip(crashed.candidate, crashed.attempt)) == deaths, "not the script's deaths"
    assert (run.units.status.isin(["ok", "crashed"])).all(), run.units[run.units.status == "error"].error_message
    starts: dict[str, int] = {}
    for line in log.read_text().splitlines():
        candidate = line.split()[2]
        starts[candidate] = starts.get(candidate, 0) + 1
    ran_more = [f"{row.candidate} ran {starts[row.candidate]}×, its outcome says attempt {row.attempt}"
                for row in run.units.itertuples() if starts[row.candidate] != row.attempt]
    assert not ran_more, "; ".join(ran_more)
    assert run.summary.duplicates_dropped == 0


# -- a unit that ends right at its kill -----------------------------------------------------------

def test_a_worker_whose_overdue_unit_ended_before_the_kill_is_let_go_on(tmp_path):
    """The parent reads a worker's slot while the worker runs: by the time it would kill an
    overdue unit, that unit may have ended and the next one begun. The kill decision is taken
    on a stopped worker: one that moved on (its slot's start differs from the overdue one) is
    resumed, never killed; one still in the overdue unit stays stopped for the kill."""
    from builders import make_task

    from perfkit.backends.base import Assignment, SolverRef
    from perfkit.backends.process import ProcessBackend
    from perfkit.model import WorkItem

    task = make_task("s", n_demo=1, n_test=0)
    backend = ProcessBackend()
    backend.start(SolverRef("synthetic", {"candidates": 1, "cpu_ms": 0, "sleep_ms": 30_000}), 1)
    try:
        item = WorkItem(0, "s", (("demo", 0, "c000"),), uids=(0,))
        backend.submit(task, Assignment(item, time.monotonic(), timeout_s=60.0))
        w = backend.workers[0]
        deadline = time.monotonic() + 30
        while backend._slot(w)[2] == 0.0 and time.monotonic() < deadline:
            backend.collect(0.01)
        started = backend._slot(w)[2]
        assert started > 0, "the unit never started"
        worker = psutil.Process(w.process.pid)
        assert not backend._stopped_in(w, started - 1.0), "the slot shows another unit: not the overdue one"
        assert worker.status() != psutil.STATUS_STOPPED, "a worker that moved on must run on"
        assert backend._stopped_in(w, started)
        assert worker.status() == psutil.STATUS_STOPPED, "the kill must find the slot as it was checked"
    finally:
        backend.close()
