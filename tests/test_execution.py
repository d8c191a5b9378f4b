"""Strategies × backends on the synthetic solver: the accounting invariants of docs/design.md.

No assertion depends on the machine's speed: queues are long by construction (more work
items than workers, each item's length set by sleeps, which last as long on any machine), and
the synthetic solver's cpu_ms is nominal. Precise timing lives in tests/benchmarks and
docs/benchmarks.md; docs/testing.md says how the suite was checked on a loaded machine.
"""

from __future__ import annotations

import itertools

import pandas as pd
import pytest
from builders import KEY, make_task, synthetic_config

from perfkit import runner
from perfkit.model import PerfkitError, RunConfig, TimeoutPolicy
from perfkit.store import load_run

STRATEGIES = ["sequential", "sample-parallel", "candidate-parallel", "hybrid"]

FAULTS = {
    # inline stops hangs with SIGALRM; threads cannot be stopped, so only a C-level sleep
    # (which leaks a sleeping daemon thread, harmless) is used there
    "inline": "raise:c003@demo[1]; hang_py:c005@demo[2]; hang_c:c006@test[0]",
    "thread": "raise:c003@demo[1]; hang_c:c006@test[0]",
    "process": "raise:c003@demo[1]; hang_py:c005@demo[2]; hang_c:c006@test[0]; kill:c007@demo[0]; exit:c002@demo[2]",
}


def expected_keys(tasks, n_candidates: int) -> set[tuple]:
    return {(t.id, s.split, s.index, f"c{c:03d}") for t in tasks for s in t.samples for c in range(n_candidates)}


def check_invariants(units: pd.DataFrame, expected: set[tuple]) -> None:
    """Invariants 1, 2 (shape) and 4 of docs/design.md."""
    keys = list(units[KEY].itertuples(index=False, name=None))
    assert len(keys) == len(set(keys)), "an outcome was recorded twice"
    assert set(keys) == expected, f"missing {expected - set(keys)}, extra {set(keys) - expected}"
    ran = units[units.status != "skipped"]
    assert (ran.queued <= ran.started + 1e-9).all()
    assert (ran.started <= ran.ended).all()
    assert units.status.isin(["ok", "error", "timeout", "crashed", "skipped"]).all()


def run_units(config: RunConfig, tasks, tmp_path) -> tuple[pd.DataFrame, dict]:
    path = runner.run(config, tmp_path / "runs", tasks=tasks).path
    run = load_run(path)
    return run.units, run.summary


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The sequential inline run without faults: the answers every other run must agree with."""
    tasks = [make_task("t1", seed=1), make_task("t2", seed=2)]
    units, _ = run_units(synthetic_config(), tasks, tmp_path_factory.mktemp("ref"))
    return tasks, units


#: One strategy per backend runs in the quick subset; the rest of the matrix is marked slow.
QUICK = {("sequential", "inline"), ("candidate-parallel", "thread"), ("hybrid", "process")}


@pytest.mark.parametrize("strategy,backend", [
    pytest.param(strategy, backend, marks=() if (strategy, backend) in QUICK else pytest.mark.slow)
    for backend in ["inline", "thread", "process"] for strategy in STRATEGIES])
def test_faults_are_accounted_for(strategy, backend, reference, tmp_path):
    tasks, ref = reference
    config = synthetic_config(strategy, backend, timeout_s=0.15, faults=FAULTS[backend])
    units, summary = run_units(config, tasks, tmp_path)

    check_invariants(units, expected_keys(tasks, 8))
    by = units.set_index(KEY)
    # invariant 2: an exception is an error with its type, never a timeout
    raised = by.loc[[(t.id, "demo", 1, "c003") for t in tasks]]
    assert (raised.status == "error").all() and (raised.error_type == "InjectedError").all()
    hung = by.loc[[(t.id, "test", 0, "c006") for t in tasks]]
    assert (hung.status == "timeout").all()
    if backend == "thread":
        assert hung.leaked.all(), "a thread that could not be stopped must be marked leaked"
    if backend == "process":
        killed = by.loc[[(t.id, s, i, c) for t in tasks for s, i, c in [("demo", 0, "c007"), ("demo", 2, "c002")]]]
        assert (killed.status == "crashed").all()
    # invariant 3: every unit that is ok here is ok with the same output in the reference
    ok = units[units.status == "ok"].merge(ref, on=KEY, suffixes=("", "_ref"))
    assert len(ok) == (units.status == "ok").sum()
    assert (ok.output_hash == ok.output_hash_ref).all()
    faulty = {(t.id, "demo", 1, "c003") for t in tasks} | {(t.id, "test", 0, "c006") for t in tasks}
    healthy = units[[k not in faulty for k in units[KEY].itertuples(index=False, name=None)]]
    assert (healthy.status.isin(["ok", "crashed", "timeout"])).all()
    # that the run returned at all shows each hang was cut at its timeout: hang_py never ends
    # by itself, and hang_c sleeps an hour, longer than pytest's timeout


@pytest.mark.parametrize("strategy,backend", list(itertools.product(STRATEGIES, ["thread", "process"])))
def test_clean_runs_match_sequential_answers(strategy, backend, reference, tmp_path):
    tasks, ref = reference
    units, _ = run_units(synthetic_config(strategy, backend), tasks, tmp_path)
    check_invariants(units, expected_keys(tasks, 8))
    assert (units.status == "ok").all()
    merged = units.merge(ref, on=KEY, suffixes=("", "_ref"))
    assert (merged.output_hash == merged.output_hash_ref).all()
    assert (merged.match == merged.match_ref).all()


@pytest.mark.parametrize("backend", [pytest.param("thread", marks=pytest.mark.slow), "process"])
def test_queue_wait_does_not_count_toward_the_timeout(backend, tmp_path):
    # The queue by construction: 6 samples (work items) on 2 workers, each item 10 units that
    # sleep 25 ms. A sleep lasts as long on any machine, so an item holds its worker at least
    # 0.25 s, longer than the 0.2 s timeout, and the items behind the first two wait at least
    # that long; each unit alone runs 25 ms, an eighth of the timeout.
    timeout_s, candidates, sleep_s, workers = 0.2, 10, 0.025, 2
    tasks = [make_task("q", n_demo=5, n_test=1)]
    config = synthetic_config("sample-parallel", backend, workers=workers, timeout_s=timeout_s,
                              candidates=candidates, cpu_ms=0, sleep_ms=sleep_s * 1000)
    units, _ = run_units(config, tasks, tmp_path)
    check_invariants(units, expected_keys(tasks, candidates))
    assert (units.status == "ok").all(), units.status.value_counts().to_dict()
    first_units = units.groupby(["split", "index"]).queued.idxmin()
    waits = (units.started - units.queued).loc[first_units].sort_values()
    item_s = candidates * sleep_s
    # the items queued behind the first two waited at least one item's length: past the timeout
    assert (waits.iloc[workers:] >= item_s - 1e-3).all(), waits.to_dict()
    assert item_s > timeout_s


@pytest.mark.slow  # > 0.2 s: out of the quick subset (session 17, suitetime17)
def test_process_kill_of_a_hang_keeps_the_rest_of_its_chunk(tmp_path):
    tasks = [make_task("k", n_demo=2, n_test=1)]
    config = synthetic_config("candidate-parallel", "process", timeout_s=0.3, candidates=8,
                              faults="hang_c:c001@demo[0]")
    config = RunConfig(**{**config.__dict__, "chunk_size": 8})
    units, summary = run_units(config, tasks, tmp_path)
    check_invariants(units, expected_keys(tasks, 8))
    by = units.set_index(KEY)
    assert by.loc[("k", "demo", 0, "c001")].status == "timeout"
    chunk = by.loc[[("k", "demo", 0, f"c{c:03d}") for c in range(8) if c != 1]]
    assert (chunk.status == "ok").all()
    assert any(w["killed"] for w in summary.workers), "the hung worker must have been killed"
    assert summary.resources["processes_created"] == 3  # 2 workers + 1 replacement


@pytest.mark.slow  # > 0.2 s: out of the quick subset (session 17, suitetime17)
def test_budgets_skip_units_not_started(tmp_path):
    # 20 units of 20 ms of sleep per sample (0.4 s on any machine) against a 0.1 s sample budget
    tasks = [make_task("b", n_demo=3, n_test=1)]
    config = synthetic_config("sequential", "inline", candidates=20, cpu_ms=0, sleep_ms=20)
    config = RunConfig(**{**config.__dict__, "timeout": TimeoutPolicy(1.0, sample_budget_s=0.1)})
    units, _ = run_units(config, tasks, tmp_path)
    check_invariants(units, expected_keys(tasks, 20))
    skipped = units[units.status == "skipped"]
    assert len(skipped) > 0 and skipped.started.isna().all()
    assert skipped.error_message.str.contains("sample budget").all()
    # every sample started: the budget is per sample, not per run
    assert set(zip(units[units.status == "ok"].split, units[units.status == "ok"]["index"])) == {
        ("demo", 0), ("demo", 1), ("demo", 2), ("test", 0)}


@pytest.mark.slow  # > 0.2 s: out of the quick subset (session 17, suitetime17)
def test_opaque_solver_runs_sample_level_only(tmp_path):
    tasks = [make_task("o", n_demo=2, n_test=1)]
    config = RunConfig(solver="plugins.example_solvers:OpaqueSolver", tasks="x", strategy="sample-parallel",
                       backend="process", workers=2, timeout=TimeoutPolicy(0.3),
                       solver_options={"candidates": 3, "hang_sample": "demo[1]"})
    units, _ = run_units(config, tasks, tmp_path)
    by_sample = units.groupby(["split", "index"]).candidate.apply(sorted).to_dict()
    assert by_sample[("demo", 0)] == ["p0", "p1", "p2"]
    assert by_sample[("demo", 1)] == ["*"]
    assert units.set_index(["split", "index"]).loc[("demo", 1)].status == "timeout"
    with pytest.raises(PerfkitError, match="opaque"):
        runner.run(RunConfig(**{**config.__dict__, "strategy": "candidate-parallel"}), tmp_path, tasks=tasks)


@pytest.mark.slow  # > 0.2 s: out of the quick subset (session 17, suitetime17)
def test_what_a_run_creates_is_bounded_and_recorded(tmp_path):
    """meta.json states the limits before the run and what was created after it."""
    import json

    tasks = [make_task("m", n_demo=2, n_test=1)]
    config = synthetic_config("candidate-parallel", "process", timeout_s=0.3, faults="exit:c003")
    path = runner.run(config, tmp_path, tasks=tasks).path
    meta = json.loads((path / "meta.json").read_text())
    assert meta["limits"]["worker_processes"] == 2 and meta["limits"]["nested_pools"] is False
    crashed = (load_run(path).units.status == "crashed").sum()
    assert crashed == 3  # c003 on each of the 3 samples
    # each crash costs exactly one replacement: never more processes than workers + crashes
    assert meta["resources"]["processes_created"] == 2 + crashed


@pytest.mark.slow
def test_arc_solver_answers_identical_under_every_strategy(tmp_path):
    """The reference ARC solver on real tasks: every strategy × backend agrees with sequential."""
    from perfkit.tasks import load_tasks

    tasks = load_tasks("default:2")
    options = {"max_candidates": 120}
    base = RunConfig(solver="arc", tasks="default:2", timeout=TimeoutPolicy(5.0), solver_options=options)
    ref, _ = run_units(base, tasks, tmp_path)
    assert (ref.status == "ok").sum() > 100 and ref.match.any()
    for strategy, backend in itertools.product(STRATEGIES, ["thread", "process"]):
        config = RunConfig(**{**base.__dict__, "strategy": strategy, "backend": backend, "workers": 2})
        units, _ = run_units(config, tasks, tmp_path)
        merged = ref.merge(units, on=KEY, how="outer", suffixes=("_ref", ""), indicator=True)
        assert (merged._merge == "both").all(), f"{strategy}/{backend} lost or added units"
        assert (merged.status == merged.status_ref).all(), f"{strategy}/{backend} changed a status"
        assert (merged.output_hash.fillna("") == merged.output_hash_ref.fillna("")).all(), \
            f"{strategy}/{backend} changed an output"


def test_a_user_strategy_registered_by_a_plugin_runs_on_processes(tmp_path, reference):
    tasks, ref = reference
    config = RunConfig(**{**synthetic_config("sample-parallel", "process").__dict__, "strategy": "reversed",
                          "plugins": ("plugins.reversed_strategy",)})
    units, _ = run_units(config, tasks, tmp_path)
    check_invariants(units, expected_keys(tasks, 8))
    first = units[(units.task_id == "t1") & (units.split == "demo") & (units["index"] == 0)].sort_values("started")
    assert list(first.candidate) == [f"c{c:03d}" for c in reversed(range(8))]
    merged = units.merge(ref, on=KEY, suffixes=("", "_ref"))
    assert (merged.output_hash == merged.output_hash_ref).all()


def test_process_backend_runs_when_its_pipes_get_file_descriptors_above_1023(tmp_path):
    # A solver or a notebook that holds many files open pushes the workers' pipes past fd
    # 1023, where select.select fails ("filedescriptor out of range"): the parent must not use it.
    import os
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip(f"this machine allows {hard} open files")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200) if soft != resource.RLIM_INFINITY else soft, hard))
    null = os.open(os.devnull, os.O_RDONLY)
    held = [os.dup(null) for _ in range(1100)]
    try:
        tasks = [make_task("fd", n_demo=2, n_test=1)]
        units, _ = run_units(synthetic_config("candidate-parallel", "process", candidates=8), tasks, tmp_path)
        check_invariants(units, expected_keys(tasks, 8))
        assert (units.status == "ok").all()
    finally:
        for fd in held + [null]:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_tasks_given_as_a_generator_are_all_run_and_listed(tmp_path):
    """``perfkit.run(config, tasks=...)`` from a notebook: a generator is read once, for
    meta.json's task list and for the run alike (it was used up by the first: a 'complete'
    run of no units)."""
    tasks = [make_task("g1", seed=1), make_task("g2", seed=2)]
    run = load_run(runner.run(synthetic_config(), tmp_path, tasks=(t for t in tasks)).path)
    assert run.meta["task_ids"] == ["g1", "g2"]
    assert sorted(run.units.task_id.unique()) == ["g1", "g2"] and len(run.units) == 2 * 8 * 4
