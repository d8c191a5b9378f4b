"""The batched hot path (docs/design.md, "Layers": data flows one way): a worker killed in the middle of a batch,
units shorter than the clock, large messages both ways, candidate generation on the workers,
tasks overlapping while stages keep their order, and warm pools lent to several runs."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from builders import KEY, make_task, synthetic_config

from perfkit import runner
from perfkit.backends import WarmBackends
from perfkit.model import RunConfig, TimeoutPolicy


def _config(strategy="candidate-parallel", backend="process", **kw) -> RunConfig:
    base = synthetic_config(strategy, backend, **kw.pop("options", {}))
    return RunConfig(**{**base.__dict__, **kw})


def test_a_worker_killed_mid_batch_loses_nothing_and_counts_nothing_twice(tmp_path):
    """Batches of 4 outcomes (and no timer flush): c000-c007 of demo[0] were sent, c008 and
    c009 ran but died unsent with the worker killed in c010, c011-c015 never started."""
    tasks = [make_task("k", n_demo=2, n_test=1)]
    config = _config(chunk_size=16, timeout=TimeoutPolicy(5.0),
                     options={"candidates": 16, "cpu_ms": 0.2, "faults": "kill:c010@demo[0]"},
                     backend_options={"flush_interval_s": 3600.0, "flush_units": 4})
    run = runner.run(config, tmp_path, tasks=tasks)
    u = run.units
    assert len(u) == 3 * 16 and not u.duplicated(KEY).any()  # nothing lost, nothing twice
    assert run.summary.duplicates_dropped == 0
    by = u[(u.split == "demo") & (u["index"] == 0)].set_index("candidate")
    assert by.loc["c010", "status"] == "crashed"
    sent = [f"c{i:03d}" for i in range(8)]
    unsent = ["c008", "c009"]
    never_started = [f"c{i:03d}" for i in range(11, 16)]
    assert (by.loc[sent + unsent + never_started, "status"] == "ok").all()
    assert (by.loc[sent, "attempt"] == 1).all(), "outcomes already sent must not run again"
    assert (by.loc[unsent, "attempt"] == 2).all(), "outcomes that died unsent run again as attempt 2"
    assert (by.loc[never_started, "attempt"] == 1).all()
    others = u[~((u.split == "demo") & (u["index"] == 0) & u.candidate.isin(unsent))]
    assert (others.attempt == 1).all(), "a job queued behind the killed one keeps its attempt"
    assert sum(w["killed"] for w in run.summary.workers) == 1


@pytest.mark.parametrize("backend", ["inline", "thread", "process"])
def test_units_shorter_than_the_clock_are_recorded_truthfully(backend, tmp_path):
    """Empty units: positive wall and CPU, the CPU read inside the wall window (never more than
    the wall), one clock for queued ≤ started ≤ ended."""
    strategy = "sequential" if backend == "inline" else "candidate-parallel"
    config = _config(strategy, backend, options={"candidates": 64, "cpu_ms": 0.0})
    u = runner.run(config, tmp_path, tasks=[make_task("e", n_demo=3, n_test=1)]).units
    resolution = time.get_clock_info("thread_time").resolution
    assert len(u) == 4 * 64 and (u.status == "ok").all()
    assert (u.wall_s > 0).all()
    assert (u.cpu_s >= 0).all() and ((u.cpu_s > 0) | (resolution > 1e-6)).all()
    assert (u.cpu_s <= u.wall_s + resolution).all()
    assert (u.queued <= u.started).all() and (u.started <= u.ended).all()


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_large_job_and_a_large_batch_do_not_deadlock_the_pipes(tmp_path):
    """A worker gets two jobs of 60 000 units (~0.5 MB each, more than a pipe holds) and floods
    the parent with batches of long error messages: the parent's second job stays in its
    outbox while it reads (the same run hung for ever when the parent wrote blocking)."""
    import numpy as np

    from perfkit.model import Sample, Task

    rng = np.random.default_rng(0)
    grids = [rng.integers(0, 10, (30, 30)).astype(np.uint8) for _ in range(150)]
    task = Task("big", tuple(Sample("big", "demo", i, g, g) for i, g in enumerate(grids)), ())
    config = RunConfig(solver="plugins.example_solvers:LoudSolver", tasks="x", strategy="candidate-parallel",
                       backend="process", workers=2, chunk_size=60_000, solver_options={"candidates": 1000})
    u = runner.run(config, tmp_path, tasks=[task]).units
    assert len(u) == 150 * 1000 and not u.duplicated(KEY).any()
    assert (u.status == "error").all() and (u.error_type == "ValueError").all()
    assert u.error_message.str.len().min() == 500  # kept whole up to the cap


def test_candidates_are_generated_on_the_workers(tmp_path):
    log = tmp_path / "witness.log"
    config = RunConfig(solver="plugins.example_solvers:WitnessSolver", tasks="x", strategy="candidate-parallel",
                       backend="process", workers=2, solver_options={"log": str(log)})
    run = runner.run(config, tmp_path, tasks=[make_task("g1"), make_task("g2"), make_task("g3")])
    lines = [line.split() for line in log.read_text().splitlines()]
    generated = {words[2]: int(words[0]) for words in lines if words[1] == "candidates"}
    assert set(generated) == {"g1", "g2", "g3"}
    assert os.getpid() not in generated.values(), "candidates() ran in the parent"
    assert set(generated.values()) <= {int(w[4:]) for w in run.units.worker.unique()}
    assert run.summary.generate_s > 0


@pytest.mark.slow  # over half a second (session 14: the quick subset's time)
def test_tasks_overlap_while_stages_keep_their_order(tmp_path):
    """The last unit of t1 is a straggler (×400 its cost): the other worker does not wait for
    it but runs t2 meanwhile; inside each task, hybrid's stages (one per sample) never overlap."""
    tasks = [make_task("t1", n_demo=3, n_test=1), make_task("t2", n_demo=3, n_test=1)]
    config = _config("hybrid", options={"candidates": 8, "cpu_ms": 0.5, "faults": "slow=400:c007@t1/test[0]"})
    u = runner.run(config, tmp_path, tasks=tasks).units
    assert (u.status == "ok").all() and len(u) == 64
    t1, t2 = u[u.task_id == "t1"], u[u.task_id == "t2"]
    assert t2.started.min() < t1.ended.max(), "t2 waited for t1's straggler: a barrier between tasks"
    for _, task in u.groupby("task_id"):
        stages = task.groupby("stage").agg(first=("started", "min"), last=("ended", "max")).sort_index()
        assert (stages["last"].to_numpy()[:-1] <= stages["first"].to_numpy()[1:]).all(), "stages overlapped"


@pytest.mark.slow  # over half a second (session 14: the quick subset's time)
def test_a_warm_pool_serves_several_runs_with_a_fresh_solver_each(tmp_path):
    log = tmp_path / "witness.log"
    config = RunConfig(solver="plugins.example_solvers:WitnessSolver", tasks="x", strategy="candidate-parallel",
                       backend="process", workers=2, solver_options={"log": str(log)})
    with WarmBackends() as warm:
        runs = [runner.run(RunConfig(**{**config.__dict__, "strategy": s}), tmp_path, tasks=[make_task("w")],
                           warm=warm) for s in ("candidate-parallel", "sample-parallel", "candidate-parallel")]
    created = [r.summary.resources["processes_created"] for r in runs]
    assert created == [2, 0, 0], "start-up is paid by the first run only"
    pids = [set(r.units.worker) for r in runs]
    assert pids[0] == pids[1] == pids[2]
    assert all(r.summary.startup_s > 0 for r in runs)  # measured apart, never hidden
    built = [int(w[0]) for w in (line.split() for line in log.read_text().splitlines()) if w[1] == "built"]
    for pid in {int(w[4:]) for w in pids[0]}:
        assert built.count(pid) == 3, "every run builds its own solver in every worker"


def test_an_opaque_solvers_sample_is_shared_among_its_candidates(tmp_path):
    """One sample-level unit, one row per candidate: its wall and CPU split evenly, so that
    sums over rows stay true."""
    config = RunConfig(solver="plugins.example_solvers:OpaqueSolver", tasks="x", strategy="sample-parallel",
                       backend="inline", solver_options={"candidates": 4})
    u = runner.run(config, tmp_path, tasks=[make_task("o", n_demo=2, n_test=1)]).units
    assert len(u) == 3 * 4 and (u.status == "ok").all()
    for _, rows in u.groupby(["split", "index"]):
        assert rows.wall_s.sum() == pytest.approx(rows.ended.iloc[0] - rows.started.iloc[0])
        assert rows.wall_s.nunique() == 1 and rows.cpu_s.nunique() == 1


@pytest.mark.slow  # > 0.2 s: out of the quick subset (session 17, suitetime17)
def test_an_observer_that_takes_batches_is_not_also_sent_each_outcome(tmp_path):
    """The progress bar takes batches and outcomes: each unit reaches it once, in a batch (the
    runner built an Outcome per row for it too, and the bar counted every unit twice)."""
    from perfkit.runner.run import Observer

    class Both(Observer):
        def __init__(self):
            self.in_batches = self.one_by_one = 0

        def batch(self, batch):
            self.in_batches += len(batch)

        def outcome(self, outcome):
            self.one_by_one += 1

    class OneByOne(Observer):
        def __init__(self):
            self.one_by_one = 0

        def outcome(self, outcome):
            self.one_by_one += 1

    tasks = [make_task("o", n_demo=2, n_test=1)]
    config = _config("sequential", "inline", workers=1, options={"candidates": 5, "cpu_ms": 0.0})
    both, single = Both(), OneByOne()
    run = runner.run(config, tmp_path, tasks=tasks, observer=both)
    assert (both.in_batches, both.one_by_one) == (len(run.units), 0)
    run = runner.run(config, tmp_path, tasks=tasks, observer=single)
    assert single.one_by_one == len(run.units) == 15


@pytest.mark.slow  # a pool, a killed worker, ~0.5 s of units
def test_a_replacement_worker_in_a_warm_pool_counts_its_cpu_once(tmp_path):
    """A worker forked during one run to replace a killed one stays in the warm pool; the next
    run counts only what it used in that run — never more CPU than its workers' slots could
    hold (it counted the replacement's whole life again: 6.7 s of workers' CPU in a 1.4 s run)."""
    busy = RunConfig(solver="synthetic", tasks="x", strategy="candidate-parallel", backend="process", workers=2,
                     timeout=TimeoutPolicy(5.0),
                     solver_options={"candidates": 24, "cpu_ms": 20.0, "faults": "kill:c001@w/demo[0]"})
    light = RunConfig(**{**busy.__dict__, "solver_options": {"candidates": 2, "cpu_ms": 0.0}})
    with WarmBackends() as warm:
        first = runner.run(busy, tmp_path, tasks=[make_task("w")], warm=warm)
        second = runner.run(light, tmp_path, tasks=[make_task("w")], warm=warm)
    assert sum(w["killed"] for w in first.summary.workers) == 1  # a replacement was forked
    assert first.summary.resources["processes_created"] == 3
    s = second.summary
    # os.times() counts in clock ticks: up to 10 ms off at each of a worker's two readings
    assert s.cpu_workers_s <= 2 * (s.wall_s + s.startup_s) + 2 * 2 * 0.01, (s.cpu_workers_s, s.wall_s, s.startup_s)


def test_a_stopped_processs_cpu_is_read_to_the_clock_the_unit_loop_reads():
    """The CPU of a worker killed in a unit is read from its process CPU clock while it does
    not run (perfkit/backends/usage.py ``process_clock_s``): exactly its ``time.process_time()``,
    not in 10 ms clock ticks — a unit killed at a 6 ms limit must not read as starved."""
    from perfkit.backends.usage import process_clock_s

    code = ("import sys, time\n"
            "t0 = time.process_time()\n"
            "while time.process_time() - t0 < float(sys.argv[1]): pass\n"
            "print(time.process_time(), flush=True)\n"
            "sys.stdin.read()\n")  # not running while it is read
    for busy_s in (0.013, 0.021, 0.034):
        child = subprocess.Popen([sys.executable, "-c", code, str(busy_s)], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
        try:
            seen = float(child.stdout.readline())
            time.sleep(0.01)  # it blocks in read()
            read = process_clock_s(child.pid)
        finally:
            child.stdin.close()
            child.wait(timeout=30)
        assert read is not None and seen <= read <= seen + 0.002, (busy_s, seen, read)
