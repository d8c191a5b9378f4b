"""The batt solver: a user's generated battery module (tests/plugins/battery.py) run unchanged.

Conversions keep Python ints, ``C`` is None while perfkit scores, duplicate ids are kept apart,
a failing or timed-out sample is one outcome per declared candidate on the inline and process
backends, and the battery's own scores land in the run folder and the phase report.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from builders import KEY, make_run, make_task, unit_rows
from plugins import battery

from perfkit import runner
from perfkit.model import ConfigError, RunConfig, TimeoutPolicy
from perfkit.solvers import load_solver
from perfkit.solvers.batt import grid_to_tuples, name_outputs, returned_ids, tuples_to_grid
from perfkit.solvers.table import read_table
from perfkit.store import load_run

ROOT = Path(__file__).resolve().parents[1]
DECLARED = set(battery.SOLVER_IDS)
#: What the test battery returns for a sample: every declared id but ``fails``, plus ``twice#2``.
RETURNED = (DECLARED - {"fails"}) | {"twice#2"}


def batt_run(tmp_path, tasks, strategy="sequential", backend="inline", timeout_s=1.0, **options):
    opts = {"module": "plugins.battery", **options}
    config = RunConfig(solver="batt", tasks="hand-made", strategy=strategy, backend=backend,
                       workers=1 if backend == "inline" else 2, timeout=TimeoutPolicy(timeout_s),
                       solver_options=opts)
    return runner.run(config, tmp_path / "runs", tasks=tasks)


def by_sample(units):
    return {key: set(g.candidate) for key, g in units.groupby(["task_id", "split", "index"])}


def test_conversion_keeps_python_ints():
    grid = np.array([[0, 7], [9, 1]], dtype=np.uint8)
    converted = grid_to_tuples(grid)
    assert converted == ((0, 7), (9, 1))
    assert all(type(x) is int for row in converted for x in row)
    assert battery.ints_only(converted) == converted
    back = tuples_to_grid(converted)
    assert back.dtype == np.uint8 and (back == grid).all()
    naive = tuple(map(tuple, grid))  # the obvious conversion keeps numpy.uint8 cells
    with pytest.raises(TypeError, match="uint8"):
        battery.ints_only(naive)
    o, _ = battery.batt("t", ((converted, converted),), naive, None, os.devnull)
    assert "ints_only" not in {sid for _, _, sid, _ in o}, "the check must be able to fail"


def test_duplicate_ids_are_kept_apart():
    outputs, rows = name_outputs([(1, 0, "a", "g1"), (2, 0, "b", "g2"), (3, 1, "a", "g3"), (4, 2, "a", "g4")])
    assert outputs == {"a": "g1", "b": "g2", "a#2": "g3", "a#3": "g4"}
    assert [r[:2] for r in rows] == [["a", "a"], ["b", "b"], ["a#2", "a"], ["a#3", "a"]]


def test_a_sequential_run_of_the_battery(tmp_path):
    """Every cell a Python int, C withheld, duplicates apart, the raising program an error."""
    log = tmp_path / "battery.log"
    task = make_task("plain", n_demo=3, n_test=1)
    run = batt_run(tmp_path, [task], log_path=str(log))
    units = run.units
    assert not units.duplicated(KEY).any()
    for key, names in by_sample(units).items():
        assert names == DECLARED | {"twice#2"}, key
    ok = units[units.status == "ok"]
    assert set(ok.candidate) == RETURNED and len(ok) == len(RETURNED) * 4
    twice = ok[ok.candidate.str.startswith("twice")].groupby(["split", "index"]).output_hash.nunique()
    assert (twice == 2).all(), "the two outputs under one id are two candidates"
    fails = units[units.candidate == "fails"]
    assert (fails.status == "error").all() and (fails.error_type == "MissingOutput").all()
    assert ok[ok.candidate == "rot90"].match.all() and not ok[ok.candidate == "identity"].match.any()
    lines = log.read_text().splitlines()
    assert len(lines) == 4 and all("C=None" in line and "I=tuple" in line for line in lines)
    table = read_table(run.path)
    assert [(r["split"], r["index"]) for r in table] == [("demo", 0), ("demo", 1), ("demo", 2), ("test", 0)]
    assert set(run.scores.name) == {"demo_fit"} and len(run.scores) == 4 * len(RETURNED)


def test_pass_expected_gives_C_and_the_battery_scores_it(tmp_path):
    log = tmp_path / "battery.log"
    run = batt_run(tmp_path, [make_task("given", n_demo=2)], log_path=str(log), pass_expected=True)
    assert all("C=given" in line for line in log.read_text().splitlines())
    match = run.scores[run.scores.name == "match"].set_index(["index", "solver_id"]).value
    assert match.xs("rot90", level="solver_id").all() and not match.xs("identity", level="solver_id").any()


@pytest.mark.parametrize("function,error_type", [("batt_raises", "RuntimeError"),
                                                 ("batt_malformed", "BatteryResultError")])
def test_a_battery_that_fails_is_one_error_per_declared_candidate(tmp_path, function, error_type):
    task = make_task("raises", n_demo=2)
    units = batt_run(tmp_path, [task], function=function).units
    assert len(units) == 3 * len(DECLARED)
    for names in by_sample(units).values():
        assert names == DECLARED
    assert (units.status == "error").all() and (units.error_type == error_type).all()


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["inline", "process", "process-kill"])
def test_a_timed_out_sample_is_one_timeout_per_declared_candidate(tmp_path, backend):
    """demo[1] of task 'slow' sleeps past its deadline: stopped by SIGALRM inline, and by the
    adapter's own alarm in a process worker (which then lives on: no kill, no '*' unit); without
    that alarm the worker is killed and the parent records the sample's declared candidates."""
    task = make_task("slow", n_demo=3, n_test=1)
    kill = backend == "process-kill"
    backend = backend.removesuffix("-kill")
    run = batt_run(tmp_path, [task], "sample-parallel" if backend == "process" else "sequential", backend,
                   timeout_s=0.25, **({"stop_at_deadline": False} if kill else {}))
    units = run.units
    assert "*" not in set(units.candidate)
    slow = units[(units.split == "demo") & (units["index"] == 1)]
    assert set(slow.candidate) == DECLARED and (slow.status == "timeout").all()
    others = units[~units.index.isin(slow.index)]
    assert set(others[others.status == "ok"].candidate) == RETURNED
    assert (others.status != "timeout").all()
    if kill:
        assert slow.error_type.eq("WorkerKilled").all()
    elif backend == "process":
        assert slow.error_type.eq("DeadlineExceeded").all(), "stopped by the adapter, not by a kill"
        assert run.meta["resources"]["processes_created"] == 2


def test_undeclared_ids_come_from_the_reference_run(tmp_path):
    """A battery without SOLVER_IDS: a run given the reference folder declares, per sample,
    what the battery returned there, so a failed sample loses countable candidates."""
    task = make_task("plain", n_demo=2)
    opts = {"module": "plugins.battery_plain"}
    ref = batt_run(tmp_path, [task], **opts)
    assert set(ref.units.candidate) == RETURNED
    assert returned_ids(ref.path)[("plain", "demo", 0)] == ["identity", "rot90", "flip", "ints_only", "twice",
                                                            "twice#2", "slow"]
    lost = batt_run(tmp_path, [task], function="batt_raises", reference=str(ref.path), **opts).units
    for names in by_sample(lost).values():
        assert names == RETURNED
    assert (lost.status == "error").all() and len(lost) == 3 * len(RETURNED)
    alone = batt_run(tmp_path, [task], function="batt_raises", **opts).units
    assert list(alone.candidate) == ["*"] * 3, "nothing declared, nothing known: one unit per sample"


def test_battery_errors_are_one_clear_line():
    with pytest.raises(ConfigError, match="required") as missing:
        load_solver("batt")
    assert missing.value.field == "solver_options.module"
    with pytest.raises(ConfigError, match="'no_such_battery': cannot import the battery module.*PYTHONPATH"):
        load_solver("batt", {"module": "no_such_battery"})
    with pytest.raises(ConfigError, match="'nope': battery module 'plugins.battery' has no such function") as bad:
        load_solver("batt", {"module": "plugins.battery", "function": "nope"})
    assert bad.value.field == "solver_options.function"


@pytest.mark.slow
def test_a_battery_that_does_not_import_is_one_line_and_exit_2():
    done = subprocess.run([sys.executable, "-m", "perfkit", "run", "--solver", "batt", "--solver-opt",
                           "module=no_such_battery", "--tasks", "default:1"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [done.stderr.strip()] and "--solver-opt module=" in done.stderr


def test_solve_sample_can_be_called_directly():
    """The adapter is usable outside a run (a notebook): no alarm where SIGALRM is taken."""
    solver = load_solver("batt", {"module": "plugins.battery"})
    task = make_task("direct")
    outputs = solver.solve_sample(task, task.demo[0], time.monotonic() + 10)
    assert set(outputs) == RETURNED
    assert (tuples_to_grid(outputs["rot90"]) == task.demo[0].output).all()


@pytest.mark.slow
def test_compare_counts_the_batterys_candidates_and_what_a_timeout_lost(tmp_path):
    """The README's command, on two default tasks: the sequential reference inline and
    sample-parallel on worker processes; 67a3c6ac/demo[1] times out under both and is
    reported as its 7 declared candidates."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests")}
    done = subprocess.run([sys.executable, "-m", "perfkit", "compare", "--solver", "batt", "--solver-opt",
                           "module=plugins.battery", "--tasks", "default:67a3c6ac,3c9b0459", "--strategies",
                           "sequential,sample-parallel", "--repeats", "1", "--out", str(tmp_path / "rep"),
                           "--store", str(tmp_path / "runs")],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    report = (tmp_path / "rep" / "report.md").read_text()
    assert report.startswith("**Answers identical")
    # candidates per sample: in report.json (report.md shows only the samples that differ)
    per_sample = json.loads((tmp_path / "rep" / "report.json").read_text())["candidates_per_sample"]["samples"]
    counts = {s["sample"]: s["ok"] for s in per_sample}
    assert counts["67a3c6ac/demo[1]"] == [0, 0]
    assert counts["67a3c6ac/demo[0]"] == [len(RETURNED)] * 2
    assert [sum(c[i] for c in counts.values()) for i in (0, 1)] == [8 * len(RETURNED)] * 2
    runs = [load_run(p) for p in sorted((tmp_path / "runs").iterdir())]
    parallel = next(r for r in runs if r.config.strategy == "sample-parallel")
    assert parallel.config.solver_options["reference"].endswith(next(
        r.path.name for r in runs if r.config.strategy == "sequential"))
    for run in runs:
        lost = run.units[(run.units.task_id == "67a3c6ac") & (run.units.split == "demo") & (run.units["index"] == 1)]
        assert set(lost.candidate) == DECLARED and (lost.status == "timeout").all()
        assert "*" not in set(run.units.candidate)
    # its own runs report together, without --allow-mixed (the reference option is where, not what)
    done = subprocess.run([sys.executable, "-m", "perfkit", "report", *(str(r.path) for r in runs), "--out",
                           str(tmp_path / "again"), "--quiet"], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "again" / "report.md").read_text().startswith("**Answers identical")


def test_the_runs_of_one_comparison_are_one_workload_though_each_names_its_reference():
    """``perfkit report`` of a batt comparison's own runs refused them as "runs of different
    solvers": compare hands every run but the reference the reference run's folder (option
    ``reference``), a different folder in every repeat."""
    from dataclasses import replace

    from perfkit.analysis.runset import mixed_workloads

    def batt(strategy: str, **options):
        run = make_run(unit_rows(), strategy)
        return replace(run, config=replace(run.config, solver="batt", solver_options={"module": "plugins.battery",
                                                                                      **options}))

    reference = batt("sequential")
    repeats = [batt("sample-parallel", reference=f"runs/sequential-r{i}") for i in range(2)]
    assert mixed_workloads([reference, *repeats]) is None
    other = batt("sample-parallel", reference="runs/sequential-r0", function="other_battery")
    assert mixed_workloads([reference, other]).startswith("runs of different solvers")


def test_the_example_battery_runs(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "examples" / "battery"))
    task = make_task("example", n_demo=2)
    config = RunConfig(solver="batt", tasks="hand-made", solver_options={"module": "my_battery"})
    units = runner.run(config, tmp_path / "runs", tasks=[task]).units
    assert (units.status == "ok").any() and units[units.candidate == "rot90"].match.all()


@pytest.mark.slow  # > 0.2 s: out of the quick subset (session 17, suitetime17)
def test_the_phase_report_shows_the_batterys_scores(tmp_path):
    from perfkit.analysis.phases import phase_table
    from perfkit.reports import phases as render
    from perfkit.reports.document import Table

    task = make_task("phase", n_demo=2)
    first = batt_run(tmp_path, [task])
    second = batt_run(tmp_path, [task], pass_expected=True)
    rows = phase_table([("first", [load_run(first.path)]), ("second", [load_run(second.path)])])
    assert set(rows[0].battery_scores) == {"demo_fit"} and set(rows[1].battery_scores) == {"demo_fit", "match"}
    assert rows[1].battery_scores["match"] == pytest.approx(1 / len(RETURNED))  # rot90 matches, nothing else
    doc = render.build(rows, tmp_path / "phases.png")
    table = [b for b in doc.blocks if isinstance(b, Table) and b.headers[0] == "phase"][-1]
    assert table.headers == ("phase", "demo_fit", "match") and table.rows[0][2] == "—"


@pytest.mark.slow
def test_predict_sweeps_only_the_strategies_an_opaque_solver_can_run_under(tmp_path):
    # the battery evaluates whole samples: predict swept candidate-parallel and hybrid for it,
    # and its GIL probe failed with "'BattSolver' object has no attribute 'evaluate'"
    from perfkit import api
    from perfkit.analysis.prediction import DEFAULT_COSTS
    from perfkit.orchestration import calibration

    run = batt_run(tmp_path, [make_task("t1", n_demo=2)])
    calibration.save(dict(DEFAULT_COSTS), tmp_path / "cal")  # nothing measured here
    result = api.predict(run.path, backends=("inline", "thread", "process"), workers=(1, 2),
                         calibration_dir=tmp_path / "cal", out=tmp_path / "pred")
    strategies = {p.config.strategy for p in result.sweep.predictions}
    assert strategies == {"sequential", "sample-parallel"}, strategies
    said = " ".join(result.sweep.assumptions)
    assert "candidate-parallel, hybrid left out" in said and "no GIL probe" in said and "failed" not in said
    with pytest.raises(ConfigError) as info:
        api.predict(run.path, strategies=("candidate-parallel",), backends=("process",), workers=(2,),
                    calibration_dir=tmp_path / "cal", out=tmp_path / "pred2")
    assert info.value.field == "strategies"
