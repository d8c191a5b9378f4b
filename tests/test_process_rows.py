"""A process worker sends its rows as recorded and the parent makes the batch from the jobs it
holds (perfkit/backends/unit.py, ``rows_batch``): on a real pool, the parent must still label
every row with its own job — sample-level rows of an opaque solver, a re-run sent unit by unit,
jobs lost at a deadline, several runs of one warm pool — and never need a job it has closed."""

from __future__ import annotations

import pytest
from builders import KEY, make_task, synthetic_config

from perfkit import runner
from perfkit.backends import WarmBackends
from perfkit.model import RunConfig, TimeoutPolicy

#: Rows sent only at the end of a job: whatever ran before a loss in the job died unsent.
AT_JOB_END = {"flush_interval_s": 3600.0, "flush_units": 100_000}


def _config(base: RunConfig, **kw) -> RunConfig:
    return RunConfig(**{**base.__dict__, **kw})


def _labels(units):
    """Each unit's stage and planned item, the item counted from its task's first (chunks are
    numbered run-wide, in an order of tasks that may differ between runs)."""
    u = units.set_index(KEY).sort_index()
    first = u.groupby(level="task_id").chunk.transform("min")
    return u.assign(chunk=u.chunk - first)[["chunk", "stage"]]


@pytest.mark.slow  # a deadline kill: over half a second
def test_an_opaque_solvers_rows_keep_their_samples_through_a_kill_and_a_rerun(tmp_path):
    """One worker, one item of five samples (sequential: the task is the item), rows sent at the item's end; demo[2] hangs and is
    killed at its deadline. demo[0] and demo[1] ran but died unsent: they run again as
    attempt 2, which sends each sample's rows as they end; the parent must make those rows
    (one per declared candidate, the sample's share of wall) with the samples' own keys."""
    config = RunConfig(solver="plugins.example_solvers:DeclaredOpaqueSolver", tasks="x",
                       strategy="sequential", backend="process", workers=1,
                       timeout=TimeoutPolicy(0.3), backend_options=AT_JOB_END,
                       solver_options={"candidates": 3, "hang_sample": "demo[2]"})
    u = runner.run(config, tmp_path, tasks=[make_task("o", n_demo=4, n_test=1)]).units
    assert len(u) == 5 * 3 and not u.duplicated(KEY).any()
    by = u.set_index(["split", "index", "candidate"]).sort_index()
    for split, index in [("demo", 0), ("demo", 1), ("demo", 2), ("demo", 3), ("test", 0)]:
        assert sorted(by.loc[(split, index)].index) == ["p0", "p1", "p2"]
    assert (by.loc[("demo", 2), "status"] == "timeout").all()
    assert (by.loc[("demo", 0), "attempt"] == 2).all() and (by.loc[("demo", 1), "attempt"] == 2).all()
    assert (by.loc[("demo", 3), "attempt"] == 1).all() and (by.loc[("test", 0), "attempt"] == 1).all()
    ok = u[u.status == "ok"]
    assert len(ok) == 4 * 3
    for _, rows in ok.groupby(["split", "index"]):  # one sample's wall, shared by its candidates
        assert rows.wall_s.sum() == pytest.approx(rows.ended.iloc[0] - rows.started.iloc[0])
        assert rows.started.nunique() == 1
    started = u[u.started.notna()]
    assert (started.queued <= started.started).all() and (started.started <= started.ended).all()


@pytest.mark.slow  # three runs on a real pool, one of them losing a worker three times
def test_a_warm_pool_labels_every_row_with_its_own_runs_job_after_a_loss(tmp_path):
    """Run 1 on a warm pool loses a worker in c005 of demo[0] (rows sent at each job's end, so
    c003 and c004 of its job die unsent and run again, sent unit by unit); run 2
    reuses the pool, the replacement included. In both runs every unit is recorded once, with
    the task, chunk and stage a clean run gives it — the parent made each row's labels from
    the job it holds, never from another run's or a closed job."""
    tasks = [make_task("a", n_demo=2, n_test=1), make_task("b", n_demo=2, n_test=1)]
    faulty = _config(synthetic_config("candidate-parallel", "process", timeout_s=5.0, candidates=8, cpu_ms=0.1,
                                      faults="kill:c005@a/demo[0]"),
                     chunk_size=3, backend_options=AT_JOB_END)
    clean = _config(faulty, solver_options={**faulty.solver_options, "faults": ""})
    with WarmBackends() as warm:
        runs = [runner.run(faulty, tmp_path, tasks=tasks, warm=warm),
                runner.run(clean, tmp_path, tasks=tasks, warm=warm)]
    reference = _labels(runner.run(clean, tmp_path, tasks=tasks).units)
    for run in runs:
        u = run.units
        assert len(u) == 2 * 3 * 8 and not u.duplicated(KEY).any()
        assert run.summary.duplicates_dropped == 0
        assert _labels(u).equals(reference)
        started = u[u.started.notna()]
        assert (started.queued <= started.started).all()
    u = runs[0].units.set_index(KEY)
    assert u.loc[("a", "demo", 0, "c005"), "status"] == "crashed"
    assert u.loc[("a", "demo", 0, "c005"), "attempt"] == 1
    assert (u.loc[("a", "demo", 0, ["c003", "c004"]), "attempt"] == 2).all(), "ran before the kill, died unsent"
    assert (u.drop(("a", "demo", 0, "c005")).status == "ok").all()
    assert (u.drop([("a", "demo", 0, c) for c in ("c003", "c004")]).attempt == 1).all()
    assert (runs[1].units.status == "ok").all() and (runs[1].units.attempt == 1).all()


@pytest.mark.slow  # two worker deaths: over 0.2 s
def test_an_opaque_solvers_rerun_sends_each_sample_as_it_ends(tmp_path):
    """A re-run after a lost worker sends each outcome as it ends, sample-level units too: the
    item (the task: demo[0..2], test[0]) sends at its end; its worker dies in demo[2], so
    demo[0] and demo[1] run again as attempt 2, and that re-run's worker dies in demo[1]. demo[0]
    was sent before: it stays at attempt 2 instead of being charged demo[1]'s death."""
    config = RunConfig(solver="plugins.faulty_solvers:OpaqueDiesOnStart", tasks="x", strategy="sequential",
                       backend="process", workers=1, timeout=TimeoutPolicy(30.0), backend_options=AT_JOB_END,
                       solver_options={"script": "demo[2]#1,demo[1]#2", "log": str(tmp_path / "starts.log")})
    u = runner.run(config, tmp_path, tasks=[make_task("o", n_demo=3, n_test=1)]).units
    assert len(u) == 4 * 3 and not u.duplicated(KEY).any()
    got = u.groupby(["split", "index"]).agg(status=("status", "first"), attempt=("attempt", "max"),
                                             rows=("candidate", "nunique")).to_dict("index")
    assert got == {("demo", 0): {"status": "ok", "attempt": 2, "rows": 3},
                   ("demo", 1): {"status": "crashed", "attempt": 2, "rows": 3},
                   ("demo", 2): {"status": "crashed", "attempt": 1, "rows": 3},
                   ("test", 0): {"status": "ok", "attempt": 1, "rows": 3}}
