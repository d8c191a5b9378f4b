"""Fault injection on the process backend's pipe (perfkit/backends/process.py ``read_messages``,
``_Post``) and on the work items the schedule joins (perfkit/runner/schedule.py): a worker
that dies half-way through writing a message larger than the parent's read buffer, and one
that dies inside a joined taper item."""

from __future__ import annotations

import pytest
from builders import KEY

from perfkit import load_run, runner
from perfkit.backends.process import _READ_BYTES
from perfkit.model import RunConfig, TimeoutPolicy

HOLD = {"flush_interval_s": 3600.0, "flush_units": 10**6}  # a worker sends its outcomes at each item's end


@pytest.mark.slow
def test_a_worker_killed_while_writing_a_batch_larger_than_the_read_buffer_reruns_it_whole(tmp_path):
    """One item of 20 000 units: its rows (about a megabyte, several times the parent's read
    buffer) are written half-way, then the worker dies. The parent never unpickles the torn
    frame, sees the death, and the replacement runs every unit again as attempt 2: one outcome
    each."""
    # a worker sends its rows pickled, ~52 bytes a unit: 5 000 units' torn half fit in one read
    n = 20_000
    config = RunConfig(solver="plugins.faulty_solvers:TearsItsMessage", tasks="synthetic:1x1+0",
                       strategy="sample-parallel", backend="process", workers=1, timeout=TimeoutPolicy(30.0),
                       backend_options=HOLD,
                       solver_options={"n": n, "bad": f"c{n - 1}", "flag": str(tmp_path / "torn")})
    run = load_run(runner.run(config, tmp_path / "runs").path)
    torn = (tmp_path / "torn").read_text()
    assert torn, "the script did not run: no message was torn"
    assert int(torn) // 2 > _READ_BYTES  # the half that arrived took more than one read
    assert run.state == "complete" and len(run.units) == n and not run.units.duplicated(KEY).any()
    assert (run.units.status == "ok").all(), run.units.status.value_counts().to_dict()
    assert (run.units.attempt == 2).all(), run.units.attempt.value_counts().to_dict()
    died = [w for w in run.summary.workers if w.get("killed")]
    assert len(died) == 1 and "SIGKILL" in died[0]["reason"], run.summary.workers
    assert run.summary.duplicates_dropped == 0


@pytest.mark.slow  # > 0.2 s: out of the quick subset (session 17, suitetime17)
def test_a_worker_dying_inside_a_joined_taper_item_reruns_what_it_ran_and_nothing_twice(tmp_path):
    """Two tasks of 60 units, candidate-parallel on two workers with automatic chunks: task t0's
    taper pieces of 2, 1 and 1 units (c54..c57) go out joined while t1's work waits. The worker
    dies at c56, the joined item's third unit (and again at t1's c56, in a piece of its own),
    holding c54 and c55's outcomes: those run again
    as attempt 2, c56 is crashed (attempt 1), c57 runs once; every unit ran exactly as often as
    its recorded attempt says."""
    log = tmp_path / "starts.log"
    config = RunConfig(solver="plugins.faulty_solvers:Choreographed", tasks="synthetic:2x1+0",
                       strategy="candidate-parallel", backend="process", workers=2, timeout=TimeoutPolicy(60.0),
                       backend_options=HOLD, solver_options={"n": 60, "log": str(log), "script": "c56#1:die"})
    run = load_run(runner.run(config, tmp_path / "runs").path)
    units = run.units
    assert run.state == "complete" and len(units) == 120 and not units.duplicated(KEY).any()
    crashed = units[units.status == "crashed"]
    t0, t1 = sorted(units.task_id.unique())  # the script kills a worker at c56 of each task (t1's: not joined)
    assert sorted(zip(crashed.task_id, crashed.candidate, crashed.attempt)) == [(t0, "c56", 1), (t1, "c56", 1)]
    t0 = units[units.task_id == t0].set_index("candidate")
    # handed out as one item, each unit recorded under its planned piece (2, 1 and 1 units)
    assert t0.loc[["c54", "c55", "c56", "c57"], "chunk"].nunique() == 3
    assert t0.loc[["c54", "c55"], "attempt"].tolist() == [2, 2] and t0.loc["c57", "attempt"] == 1
    starts: dict[tuple, int] = {}
    for line in log.read_text().splitlines():
        _t, where, candidate = line.split()
        starts[(where.split("/")[0], candidate)] = starts.get((where.split("/")[0], candidate), 0) + 1
    ran_more = [f"{r.task_id}/{r.candidate} ran {starts[(r.task_id, r.candidate)]}×, attempt {r.attempt}"
                for r in units.itertuples() if starts[(r.task_id, r.candidate)] != r.attempt]
    assert not ran_more, "; ".join(ran_more)
    assert run.summary.duplicates_dropped == 0
