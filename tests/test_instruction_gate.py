"""The instruction-count gate, the paired timing test and the history's change points."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import types
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from builders import copy_of_package, synthetic_config

import perfkit
from perfkit import runner
from perfkit.analysis import gate as g
from perfkit.analysis.statistics import holm, paired_shift
from perfkit.model import ConfigError
from perfkit.orchestration.gate import sample_seconds
from perfkit.model import PerfkitError
from perfkit.orchestration.instructions import (
    Child,
    Target,
    child_environment,
    dump_counts,
    finish,
    instruction_count,
    marker_refusal,
    start,
    write_bytecode,
)
from perfkit.store.baseline import IncompatibleBuild, Repeat, Side, check_comparable, write_baseline
from perfkit.store.history import HistoryRecord, append_history
from perfkit.store.instructions import InstructionCount, write_instructions

KEY = ["task_id", "split", "index", "candidate"]
BUILD = {"python_build": "3.11.7 (main) [GCC 12.2.0]", "implementation": "CPython", "machine": "x86_64",
         "libc": "glibc-2.36", "cpu_model": "AMD EPYC", "valgrind": "valgrind-3.19.0", "cpu_features": "AVX2",
         "dependencies": {"numpy": "2.2.0", "pandas": "3.1.1"}}


def answers() -> pd.DataFrame:
    return pd.DataFrame([("t", "demo", i, "c0", "ok", f"h{i}") for i in range(4)], columns=KEY + ["status", "output_hash"])


def counted(*instructions: float, build=BUILD) -> Side:
    repeats = [Repeat(f"r{i}", 1.0, 1.0, None, {}, {}, n, {"t": n}) for i, n in enumerate(instructions)]
    return Side("side", repeats, answers(), {}, {}, dict(build))


def pairs_with(effect: float, spread: float, n: int = 25, seed: int = 0) -> g.PairedTiming:
    """Base samples drifting like this machine (speed states ~2× apart, slow drift) and head
    samples ``effect`` slower with log-normal pair noise of ``spread``."""
    rng = np.random.default_rng(seed)
    state = np.where(rng.random(n) < 0.5, 1.0, 2.0)
    base = state * np.exp(rng.normal(0, spread, n))
    head = state * (1 + effect) * np.exp(rng.normal(0, spread, n))
    return g.PairedTiming({"cpu": list(base)}, {"cpu": list(head)})


@pytest.mark.parametrize("effect,spread,expected", [
    (0.10, 0.06, {"regression"}),     # the slowdown the gate exists for, at this machine's pair spread
    (0.00, 0.03, {"unchanged"}),      # same code (pair log-ratio spread 0.04, as measured here)
    (-0.15, 0.06, {"improvement"}),   # clearly faster
    (0.02, 0.06, {"unchanged", "inconclusive"}),  # maybe significant, but below the floor of 5 %
    (0.10, 0.60, {"inconclusive"}),   # far too noisy to tell
])
def test_paired_decision_on_constructed_samples(effect, spread, expected):
    verdict = g.judge_pairs(pairs_with(effect, spread), ["cpu"], threshold=0.10)[0]
    assert verdict.verdict in expected, verdict
    if expected == {"regression"}:
        assert verdict.low < 1 + effect < verdict.high and verdict.p_value < g.ALPHA


def test_the_paired_test_sees_the_pairing():
    # the machine's speed states are far larger than the effect: unpaired, +10 % would drown
    pairs = pairs_with(0.10, 0.04, seed=3)
    shift = paired_shift(pairs.head["cpu"], pairs.base["cpu"])
    assert shift.p_slower < 1e-5 and abs(shift.ratio - 1.10) < 0.03
    assert np.std(np.log(pairs.base["cpu"])) > 5 * 0.04


def sleep_change_samples(n: int = 25, seed: int = 0) -> g.PairedTiming:
    """Timing samples built by construction, as timed_run.py reports them: the same CPU work
    (0.25 s, 3 % noise) on both sides, 0.25 s of sleeping in base and 0.30 s in head (+10 % of
    the 0.5 s wall), and up to 0.5 s of waiting for a core drawn afresh for every sample (two
    busy loops on 2 cores)."""
    rng = np.random.default_rng(seed)
    pairs = g.PairedTiming({m: [] for m in g.PAIRED_METRICS}, {m: [] for m in g.PAIRED_METRICS})
    for _ in range(n):
        for side, sleep_s in ((pairs.base, 0.25), (pairs.head, 0.30)):
            cpu_s, queued_s = 0.25 * np.exp(rng.normal(0, 0.03)), rng.uniform(0.0, 0.5)
            result = {"cpu_s": cpu_s, "wall_s": cpu_s + sleep_s + queued_s, "queued_s": queued_s}
            for m in g.PAIRED_METRICS:
                side[m].append(sample_seconds(result, m))
    return pairs


def test_a_sleep_change_fails_the_gate_by_its_unqueued_wall_while_instructions_pass():
    pairs = sleep_change_samples()
    verdicts = {v.metric: v for v in g.judge_pairs(pairs, g.PAIRED_METRICS, threshold=0.10)}
    assert verdicts["unqueued"].verdict == "regression" and verdicts["unqueued"].low < 1.10 < verdicts["unqueued"].high
    assert verdicts["cpu"].verdict == "unchanged"
    assert verdicts["wall"].verdict == "inconclusive"  # the same +10 %, drowned by the wait for a core
    # the whole gate: instructions cannot see a sleep (equal counts), the paired timing fails it
    result = g.gate(counted(1_000_000), counted(1_000_000), metrics=["instructions", *g.DEFAULT_PAIRED_METRICS],
                    pairs=pairs)
    assert [(m.metric, m.verdict) for m in result.metrics] == [
        ("instructions", "unchanged"), ("unqueued", "regression"), ("cpu", "unchanged")]
    assert result.exit_code == 1
    same = sleep_change_samples(seed=1)
    same.head = {m: list(v) for m, v in same.base.items()}  # head identical to base: nothing to find
    assert {v.verdict for v in g.judge_pairs(same, g.DEFAULT_PAIRED_METRICS, 0.10)} == {"unchanged"}


def test_unqueued_wall_is_judged_only_in_pairs():
    with pytest.raises(ConfigError) as exc:
        g.gate(counted(1), counted(1), metrics=["unqueued"])
    assert exc.value.field == "metrics"


@pytest.mark.slow
def test_a_timing_sample_keeps_sleeping_in_its_unqueued_wall_and_waiting_for_a_core_out(tmp_path):
    # the sample and a busy loop share one core: the sample waits for it about as long as it
    # computes; the sleeps (4 units × 25 ms, a lower bound by construction) stay in the figure
    config = replace(synthetic_config(candidates=2, cpu_ms=20.0, sleep_ms=25.0, timeout_s=10.0),
                     tasks="synthetic:1x1+1")
    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cpus)})
    try:
        loop = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            result = start(Target("head"), config, tmp_path / "store", tmp_path / "sample", valgrind=False).wait()
        finally:
            loop.kill()
            loop.wait()
    finally:
        os.sched_setaffinity(0, cpus)
    unqueued = sample_seconds(result, "unqueued")
    assert 0 < result["queued_s"] < result["wall_s"]
    assert result["queued_s"] > 0.25 * result["cpu_s"]  # relative to its own CPU: any machine speed
    assert unqueued >= 4 * 0.025 and unqueued == pytest.approx(result["wall_s"] - result["queued_s"])


def test_holm_adjusts_step_down_and_keeps_order():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5]) == [0.5]


def test_instruction_verdicts_are_exact_against_the_threshold():
    base = counted(1_000_000, 1_000_001)
    assert g.judge_instructions(base, counted(1_030_000), 0.02).verdict == "regression"
    assert g.judge_instructions(base, counted(1_000_003), 0.02).verdict == "unchanged"
    assert g.judge_instructions(base, counted(950_000), 0.02).verdict == "improvement"
    result = g.gate(base, counted(1_030_000), metrics=["instructions"], instruction_threshold=0.02)
    assert result.exit_code == 1 and result.tasks[0][0] == "t" and result.tasks[0][3] == pytest.approx(3.0, abs=0.01)


def test_builds_that_differ_are_refused_and_named():
    other = {**BUILD, "dependencies": {"numpy": "2.4.6", "pandas": "3.1.1", "scipy": "1.17"}}
    with pytest.raises(IncompatibleBuild, match=r"numpy 2\.2\.0 vs 2\.4\.6") as err:
        check_comparable(counted(1.0), counted(1.0, build=other))
    assert "pandas" not in str(err.value) and "scipy" not in str(err.value)  # same, or on one side only
    check_comparable(counted(1.0), counted(1.0, build={**BUILD, "perfkit": "9.9"}))  # the code measured: fine


def perfkit_main(args: list[str], capsys) -> tuple[int, str, str]:
    """The command line's entry point, in this process: (exit status, stdout, stderr)."""
    from perfkit.cli.app import main

    with pytest.raises(SystemExit) as exited:
        main(args)
    out = capsys.readouterr()
    return exited.value.code, out.out, out.err


def test_the_gate_refuses_an_incompatible_baseline_with_one_line_and_exit_2(tmp_path, capsys):
    config = replace(synthetic_config(candidates=3, cpu_ms=0.1, workers=1), tasks="synthetic:1x2+1")
    stored = runner.run(config, tmp_path / "runs")
    write_instructions(stored.path, InstructionCount(1000, {"t": 1000}, build={**BUILD, "python_build": "3.12.1"}))
    base = counted(1000)
    base.answers, base.config = stored.units[list(KEY) + ["status", "output_hash"]], stored.config.to_record()
    baseline = write_baseline("old-build", base, tmp_path / "baselines")
    code, out, err = perfkit_main(["gate", "--baseline", str(baseline), "--current", str(stored.path),
                                   "--metric", "instructions"], capsys)
    assert code == 2, out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "another build" in lines[0] and "python_build" in lines[0], lines
    assert "Traceback" not in err and not out


def test_history_finds_a_change_point_placed_in_a_synthetic_history(tmp_path, capsys):
    rng = np.random.default_rng(7)
    values = [1e9 * (1 + 1e-6 * rng.normal()) for _ in range(20)] + [1.04e9 * (1 + 1e-6 * rng.normal())
                                                                     for _ in range(12)]
    append_history(tmp_path, [HistoryRecord(f"2026-11-{1 + i // 4:02d}T00:00:00", f"c{i:03d}", "bench", "instructions",
                                            v, "gate") for i, v in enumerate(values)])
    append_history(tmp_path, [HistoryRecord("2026-12-01T00:00:00", "x", "other", "instructions", 1.0, "gate")])
    found = perfkit.history("instructions", "bench", tmp_path)
    assert [cp.index for cp in found.change_points] == [20] and found.change_points[0].commit == "c020"
    assert found.change_points[0].change_pct == pytest.approx(4.0, abs=0.01)
    code, out, err = perfkit_main(["history", "--benchmark", "bench", "--store", str(tmp_path)], capsys)
    assert code == 0, err
    marked = [line for line in out.splitlines() if "◆" in line]
    assert len(marked) == 1 and "c020" in marked[0] and "+4.0 %" in marked[0]


@pytest.mark.slow
@pytest.mark.longest  # two runs under valgrind, side by side
def test_the_instruction_count_is_reproducible_and_rises_with_injected_work(tmp_path):
    refusal = marker_refusal(sys.executable)
    if refusal:  # no valgrind, or an interpreter such as Debian's stripped /usr/bin/python3
        pytest.skip(refusal)
    # two counted runs at once (one valgrind phase, not two: this is the suite's longest test):
    # both run two tasks, and only the second run's second task gets +10 % of the solver's CPU
    # work. The fault strings have one length and one code path (a factor of 1.0 is applied
    # too), so the first task is the same work in both: the reproducibility pair
    def slowed(factor: str):
        return replace(synthetic_config(candidates=4, cpu_ms=2.0, workers=1,
                                        faults=f"slow={factor}:*@syn-001/demo;slow={factor}:*@syn-001/test"),
                       tasks="synthetic:2x2+1")
    config, heavier = slowed("1.0"), slowed("1.1")
    write_bytecode(config, [Target("a")], tmp_path / "warm")
    children = [start(Target(name), c, tmp_path, tmp_path / name, valgrind=True)
                for name, c in (("a", config), ("b", heavier))]
    (run_a, a), (_, b) = [finish(child) for child in children]
    # instrumented only while the runner goes through its tasks: what ran before its first
    # iteration (start-up, imports) and after its last (teardown, the build) is a few
    # instructions of the client requests' own return, not the 1.4 × 10^9 of start-up
    before, *_, after = dump_counts(tmp_path / "a")
    assert before < 1e5 and after < 1e5, (before, after)
    # identical runs side by side, on an idle machine or next to two busy loops, differed by
    # 7–25 instructions of 2.1 × 10^8 (docs/benchmarks.md; 1.1 M while both wrote bytecode):
    # ≤ 1e-5, three orders of magnitude below the gate's 2 % threshold
    assert abs(a.tasks["syn-000"] - b.tasks["syn-000"]) <= 1e-5 * a.tasks["syn-000"]
    assert a.tasks.keys() == {"syn-000", "syn-001"} and a.instructions == sum(a.tasks.values())
    assert a.startup is None and a.setup is None and a.teardown is None  # not counted at all
    assert 1.05 < b.tasks["syn-001"] / a.tasks["syn-001"] < 1.11  # +10 % of the solver's CPU work
    assert json.loads((run_a / "instructions.json").read_text())["build"]["valgrind"].startswith("valgrind-")


@pytest.mark.slow
def test_bytecode_is_cached_before_counting_even_where_the_caller_forbids_writing_it(tmp_path, monkeypatch):
    # counted runs that write bytecode race for it, and compiling instead of loading moves the
    # count (docs/benchmarks.md): the plain warm-up run writes it, counted runs never do
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")  # as many CI images and shells set it
    tree = tmp_path / "tree"
    copy_of_package(Path(perfkit.__file__).parent, tree / "perfkit")
    config = replace(synthetic_config(candidates=2, cpu_ms=0.1, workers=1), tasks="synthetic:1x1+1")
    write_bytecode(config, [Target("base", pythonpath=str(tree))], tmp_path / "warm")
    assert list((tree / "perfkit" / "runner" / "__pycache__").glob("run.*.pyc"))
    assert child_environment(["python", "driver.py"], str(tree))["PYTHONDONTWRITEBYTECODE"] == "1"


def test_a_counted_run_makes_no_choice_by_the_clock(tmp_path, monkeypatch):
    # the store's flush every 50 ms of wall time made the count depend on valgrind's speed
    # (docs/benchmarks.md), and so would the workers' batches every 20 ms and the read of
    # children's CPU after units of 0.2 ms or more: a counted run sends batches by count and at
    # job ends only, and reads children after every unit; a timed one keeps the time limits
    from perfkit.backends import base, unit
    from perfkit.orchestration import measured_run
    from perfkit.store import writer

    interval, batch_interval, child_wall = writer.FLUSH_INTERVAL_S, base.FLUSH_INTERVAL_S, unit.CHILD_MIN_WALL_S
    monkeypatch.setattr(writer, "FLUSH_INTERVAL_S", interval)  # restored after the test
    monkeypatch.setattr(base, "FLUSH_INTERVAL_S", batch_interval)
    monkeypatch.setattr(unit, "CHILD_MIN_WALL_S", child_wall)
    config = replace(synthetic_config(candidates=2, cpu_ms=0.1, workers=1), tasks="synthetic:1x1+1")
    for markers in (False, True):
        request = tmp_path / f"request-{markers}.json"
        request.write_text(json.dumps({"config": config.to_record(), "store": str(tmp_path / "store"),
                                       "markers": markers, "build": False}))
        measured_run.main(str(request), str(tmp_path / "result.json"))
        assert writer.FLUSH_INTERVAL_S == (float("inf") if markers else interval)
        assert base.FLUSH_INTERVAL_S == (float("inf") if markers else batch_interval)
        assert unit.CHILD_MIN_WALL_S == (0.0 if markers else child_wall)
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["status_counts"] == {"ok": 4} and result["markers"][-1] == "end"


@pytest.mark.slow
@pytest.mark.longest
def test_a_base_revision_is_measured_in_a_temporary_worktree_in_interleaved_pairs(tmp_path, monkeypatch):
    repo = Path(__file__).resolve().parents[1]
    git_dir = subprocess.run(["git", "-C", str(repo), "rev-parse", "--path-format=absolute", "--git-common-dir"],
                             capture_output=True, text=True)
    if git_dir.returncode != 0:  # e.g. a checkout owned by another user, which git refuses (safe.directory)
        pytest.skip(f"git refuses this checkout: {git_dir.stderr.strip()}")
    if not os.access(git_dir.stdout.strip(), os.W_OK):
        pytest.skip("this checkout's .git is read-only: the gate's temporary worktree (git worktree add) writes there")
    # the gate's temporary worktree goes under tmp_path, so only this test's worktree is looked
    # at: another checkout of the same repository may run its own gate meanwhile
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    def base_worktrees() -> list[str]:
        listing = subprocess.run(["git", "-C", str(repo), "worktree", "list", "--porcelain"], capture_output=True,
                                 text=True).stdout
        return [line for line in listing.splitlines()
                if line.startswith("worktree ") and f"{tmp_path}/perfkit-base-" in line]

    before = base_worktrees()
    assert before == []
    config = replace(synthetic_config(candidates=4, cpu_ms=1.0, workers=1), tasks="synthetic:1x2+1")
    # 5 pairs, not the gate's 10 before a verdict: each pair is two timed runs, each an interpreter
    # start, and the mechanism (worktree, interleaving, removal, history) is the same at any count
    result = perfkit.gate(base="HEAD", config=config, metrics=["cpu", "wall"], pairs=5, store=tmp_path, seed=1)
    # the mechanism, not the verdict: timed pairs of identical code next to a busy machine
    # can still alarm (its false-alarm rate is measured by benchmarks/gate_quality.py)
    assert result.answers_ok and result.exit_code in (0, 1), result
    assert [m.pairs for m in result.metrics] == [5, 5] and "temporary worktree" in result.notes[0]
    assert base_worktrees() == before  # removed again
    assert {r.metric for r in perfkit.history("cpu", store=tmp_path).records} == {"cpu"}


@pytest.mark.parametrize("whole", [True, False])
def test_the_count_is_the_runners_loop_over_its_tasks_whatever_was_instrumented(whole):
    # iteration 1 is the set-up's listing of the task ids, iteration 2 the runner's loop; the
    # whole process instrumented (a machine without client requests' code) adds start and end
    loop = ["task:1:t1", "task:1:t2", "tasks-end:1", "task:2:t1", "task:2:t2", "tasks-end:2"]
    labels = ["start", *loop, "end"] if whole else loop
    counts = [1000, 5, 1, 1, 50, 700, 300, 40, 2] if whole else [3, 1, 1, 50, 700, 300, 4]
    count = instruction_count({"run_dir": "r", "markers": labels, "build": {}}, counts, "valgrind-3.19.0")
    assert count.tasks == {"t1": 700, "t2": 300} and count.instructions == 1000
    if whole:
        assert (count.startup, count.setup, count.teardown) == (1000, 5 + 1 + 1 + 50, 40)
        assert "(the whole process)" in count.tool
    else:
        assert (count.startup, count.setup, count.teardown) == (None, None, None)
        assert "(the task loop only)" in count.tool


def test_a_client_request_outside_valgrind_does_nothing():
    # the request's code runs natively as a no-op returning the default (valgrind.h's contract)
    from perfkit.orchestration import callgrind_requests as requests

    if not requests.supported():
        pytest.skip(f"no client request code for {requests.platform.machine()}")
    assert requests.client_request(requests.RUNNING_ON_VALGRIND) == 0
    assert requests.client_request(requests.START_INSTRUMENTATION) == 0
    assert not requests.supported("aarch64") and requests.supported("x86_64")


def test_a_kernel_that_refuses_an_executable_page_gets_a_whole_process_count(monkeypatch, tmp_path):
    # a hardened kernel (SELinux execmem, PaX) refuses the page: count as before session 15, do not fail
    from perfkit.orchestration import callgrind_requests as requests
    from perfkit.orchestration import instructions

    def refuse(*_a, **_k):
        raise OSError(13, "Permission denied")

    monkeypatch.setattr(requests, "_request", None)
    monkeypatch.setattr(requests.mmap, "mmap", refuse)
    assert not requests.available()
    started = []
    fake = types.SimpleNamespace(**vars(subprocess))  # run() and the rest as they are, no process started
    fake.Popen = lambda command, **_k: started.append(command)
    monkeypatch.setattr(instructions, "subprocess", fake)
    monkeypatch.setattr(instructions, "valgrind_version", lambda: "valgrind-3.19.0")
    instructions.start(instructions.Target("current"), synthetic_config(), tmp_path, tmp_path / "f", valgrind=True)
    assert started and "--instr-atstart=no" not in started[0]
    assert json.loads((tmp_path / "f" / "request.json").read_text())["instrument_tasks"] is False


def test_a_build_that_hides_the_marker_is_named_rather_than_the_solver_blamed(tmp_path):
    # Debian's /usr/bin/python3 is stripped: callgrind never cuts the count, one dump for 4 markers
    folder = tmp_path / "0000"
    folder.mkdir()
    (folder / "callgrind.out").write_text("totals: 2543846743\n")
    result = {"run_dir": str(tmp_path / "run"), "status_counts": {"ok": 4}, "build": {},
              "markers": ["start", "task:1:syn-000", "tasks-end:1", "end"]}
    (folder / "result.json").write_text(json.dumps(result))
    done = subprocess.Popen(["true"], stderr=subprocess.PIPE, text=True)
    child = Child(Target("a1", python="/usr/bin/python3"), done, folder, folder / "result.json", "valgrind-3.19.0", [])
    with pytest.raises(PerfkitError, match=r"^a1: callgrind sees no call of sys_getswitchinterval in "
                                           r"/usr/bin/python3: .*stripped") as err:
        finish(child)
    assert "did the solver call" not in str(err.value)


@pytest.mark.slow  # valgrind starts a shell
def test_the_marker_probe_says_what_is_missing(tmp_path, monkeypatch):
    # an "interpreter" that never calls the marker, as a stripped build looks to callgrind
    never = tmp_path / "python"
    never.write_text("#!/bin/sh\nexit 0\n")
    never.chmod(0o755)
    if shutil.which("valgrind"):
        assert "no symbol for it" in marker_refusal(str(never))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert marker_refusal(sys.executable) == "valgrind: not installed; instruction counts need it (Debian package 'valgrind')"


def test_a_checkout_git_refuses_is_named_with_gits_reason(tmp_path, monkeypatch):
    # a checkout owned by another user: git's "dubious ownership" line, not its hint, and not
    # "not inside a git repository" alone
    from perfkit.orchestration import gate as orchestration_gate

    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "git").write_text("#!/bin/sh\necho \"fatal: detected dubious ownership in repository at '/ro'\" >&2\n"
                              "echo 'To add an exception for this directory, call:' >&2\necho >&2\n"
                              "echo '\tgit config --global --add safe.directory /ro' >&2\nexit 128\n")
    (fake / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(ConfigError, match="not inside a git repository git will use .*fatal: detected dubious "
                                          "ownership in repository at '/ro'"):
        orchestration_gate.repository(tmp_path)


def test_the_driver_reads_the_build_beside_an_older_trees_perfkit(tmp_path):
    # measured_run.py loads this tree's perfkit/runner/environment.py by its path to read the
    # build of a base revision's run, whose own perfkit is first on the path: an import of a
    # module this tree added (perfkit.runner.cpu_quota) failed every gate against an
    # incompatible baseline ("No module named 'perfkit.runner.cpu_quota'")
    import perfkit.orchestration.measured_run as driver

    older = tmp_path / "older" / "perfkit" / "runner"  # a perfkit with none of this tree's modules
    older.mkdir(parents=True)
    (older.parent / "__init__.py").write_text("")
    (older / "__init__.py").write_text("")
    code = ("import importlib.util, sys; sys.path.insert(0, sys.argv[2]); "
            "spec = importlib.util.spec_from_file_location('driver', sys.argv[1]); "
            "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); "
            "print(m._this_trees_environment().cpu_model())")
    done = subprocess.run([sys.executable, "-I", "-c", code, driver.__file__, str(older.parents[1])],
                          capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()


class _TimedRunsHere:
    """``start`` of timed runs, in this process: runs the config and says which target ran."""

    def __init__(self, fail: str = ""):
        self.targets: list[str] = []
        self.runs: dict[str, list] = {"base": [], "head": []}
        self.fail = fail

    def __call__(self, target, config, store, folder, *, valgrind):
        assert not valgrind, "a side's timing never comes from a counted run"
        self.targets.append(target.name)
        if target.name == self.fail:
            raise PerfkitError(f"{target.name}: the measured run failed (exit 1): ModuleNotFoundError")
        stored = runner.run(config, store)
        self.runs[target.name].append(stored)
        return type("Done", (), {"wait": lambda self: {"run_dir": str(stored.path)}})()


def _gate_rebuilding_a_baseline(tmp_path, monkeypatch, timed_runs: _TimedRunsHere, repeats: int = 3):
    """A gate with instructions and wall against a baseline counted on another build: every
    counted run (under valgrind) reports 1000 s, so a side timed by one is seen at once."""
    from contextlib import contextmanager

    import perfkit.api as api
    from perfkit.orchestration import gate as gauge
    from perfkit.store.baseline import side_of_runs

    config = replace(synthetic_config(candidates=2, cpu_ms=0.1, workers=1), tasks="synthetic:1x2+1")
    stored = runner.run(config, tmp_path / "runs")

    def counted_side(name: str, build: dict) -> Side:
        side = side_of_runs(name, [stored])
        side.build = build
        side.repeats = [replace(r, wall_s=1000.0, cpu_s=1000.0, instructions=1e6) for r in side.repeats]
        return side

    @contextmanager
    def base_revision(ref, shared=False):
        yield Target("base", pythonpath=str(Path(perfkit.__file__).resolve().parents[1])), f"base {ref}"

    baseline_file = tmp_path / "old.json"
    baseline_file.write_text("{}")
    monkeypatch.setattr(api, "load_side", lambda specs, label: counted_side("old", {**BUILD, "cpu_model": "Xeon"}))
    monkeypatch.setattr(gauge, "count_instructions", lambda cfg, store, targets: [counted_side(t.name, BUILD)
                                                                                   for t in targets])
    monkeypatch.setattr(gauge, "repository", lambda: tmp_path)
    monkeypatch.setattr(gauge, "last_commit_of", lambda path, repo: "0ldc0mm1t")
    monkeypatch.setattr(gauge, "base_revision", base_revision)
    monkeypatch.setattr(gauge, "start", timed_runs)
    return perfkit.gate([str(baseline_file)], config=config, metrics=["instructions", "wall"], repeats=repeats,
                        rebuild_incompatible=True, store=tmp_path / "gate", seed=1)


@pytest.mark.slow  # seven synthetic runs: > 0.2 s
def test_a_rebuilt_baseline_is_timed_by_timed_runs_of_it_never_by_its_counted_run(tmp_path, monkeypatch):
    # session 15: the rebuilt base took its wall from its one counted run, ~60× slower under
    # valgrind, and `make gate --metric instructions,wall` read "wall 15.4 s → 257 ms, improvement"
    timed_runs = _TimedRunsHere()
    result = _gate_rebuilding_a_baseline(tmp_path, monkeypatch, timed_runs)
    instructions, wall = result.metrics
    assert (instructions.n_baseline, instructions.n_current) == (1, 1), instructions.method
    assert (wall.n_baseline, wall.n_current) == (3, 3), wall
    # each side's wall is the median of its own timed runs
    from perfkit.store.baseline import side_of_runs

    for side, figure in (("base", wall.baseline), ("head", wall.current)):
        assert figure == np.median([r.wall_s for r in side_of_runs(side, timed_runs.runs[side]).repeats]), side
    # as many timed runs of each, alternated: every round holds one of each
    assert sorted(timed_runs.targets) == ["base"] * 3 + ["head"] * 3
    assert all(sorted(timed_runs.targets[i:i + 2]) == ["base", "head"] for i in (0, 2, 4)), timed_runs.targets
    assert any("timed by 3 timed runs" in n for n in result.notes), result.notes


@pytest.mark.slow  # a gate of synthetic runs: > 0.2 s
def test_a_rebuilt_baseline_that_cannot_be_timed_is_not_judged_on_timing(tmp_path, monkeypatch):
    result = _gate_rebuilding_a_baseline(tmp_path, monkeypatch, _TimedRunsHere(fail="base"))
    assert [m.metric for m in result.metrics] == ["instructions"] and result.exit_code == 0, result.metrics
    said = [n for n in result.notes if n.startswith("timing not judged")]
    assert len(said) == 1 and "\n" not in said[0] and "ModuleNotFoundError" in said[0], result.notes


def test_a_gate_refuses_a_bad_repeats_before_it_measures_anything(tmp_path, monkeypatch):
    # review15: --repeats -1 with a rebuilt baseline was read as "the base revision could not be
    # timed" (the ConfigError caught with the run's failures) and the gate passed on instructions
    timed_runs = _TimedRunsHere()
    with pytest.raises(ConfigError) as refused:
        _gate_rebuilding_a_baseline(tmp_path, monkeypatch, timed_runs, repeats=-1)
    assert refused.value.field == "repeats" and timed_runs.targets == []


@pytest.mark.slow  # a gate of synthetic runs: > 0.2 s
def test_a_timed_run_of_the_current_code_that_fails_is_not_excused_as_the_base_revisions(tmp_path, monkeypatch):
    # review15: the head's timed run failing read "timing not judged: the base revision could not
    # be timed (head: the measured run failed …)" and the gate passed on instructions alone
    with pytest.raises(PerfkitError, match="^head: the measured run failed"):
        _gate_rebuilding_a_baseline(tmp_path, monkeypatch, _TimedRunsHere(fail="head"))
