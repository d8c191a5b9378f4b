"""What keeps `perfkit compare`'s own wall down without changing what it measures: the report's
pure pieces in a forked child (perfkit/orchestration/forked.py) and the reference interpreters
spawned ahead of their turn (perfkit/orchestration/reference.py)."""

from __future__ import annotations

import json
import os
import threading
from dataclasses import replace

import pytest

from builders import make_task, synthetic_config

import perfkit
from perfkit.orchestration import forked as forked_module
from perfkit.orchestration.forked import Forked
from perfkit.orchestration.reference import AHEAD, References

PARENT = os.getpid()


def _pid_and(value):
    return os.getpid(), value


def _fails_in_the_child_only():
    if os.getpid() != PARENT:
        os._exit(3)  # dies without a word, as a child killed by the OOM killer would
    return "computed here"


def _raises():
    raise KeyError("the work's own error")


def test_forked_work_runs_in_another_process_and_returns_its_value(monkeypatch):
    monkeypatch.setattr(forked_module, "_can_fork", lambda: True)  # also on a one-core machine
    job = Forked(_pid_and, {"a": [1, 2]})
    assert job.forked
    pid, value = job.result()
    assert value == {"a": [1, 2]} and pid != os.getpid()


def test_with_another_thread_alive_the_work_runs_here_when_asked_for():
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        job = Forked(_pid_and, 5)
        assert not job.forked  # a fork now could copy a lock that thread holds
        assert job.result() == (os.getpid(), 5)
    finally:
        stop.set()
        other.join()


@pytest.mark.slow
def test_beside_other_threads_work_that_asks_for_it_runs_in_a_fresh_interpreter_without_them():
    # threads the thread backend could not stop hold the GIL: the report is written apart from them
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        job = Forked(threading.active_count, spawn_beside_threads=True)
        pid = Forked(os.getpid, spawn_beside_threads=True)
        assert job.forked and pid.forked
        assert job.result() == 1 and pid.result() != os.getpid()
        assert Forked(_fails_in_the_child_only, spawn_beside_threads=True).result() == "computed here"
    finally:
        stop.set()
        other.join()


def test_a_child_that_dies_or_raises_is_not_trusted_the_work_runs_here(monkeypatch):
    monkeypatch.setattr(forked_module, "_can_fork", lambda: True)
    assert Forked(_fails_in_the_child_only).result() == "computed here"
    job = Forked(_raises)
    with pytest.raises(KeyError, match="the work's own error"):  # its own type, raised here
        job.result()


def _references(n):
    base = synthetic_config(candidates=2, cpu_ms=0.1)
    return [replace(base, repeat=r, label="refs") for r in range(n)]


@pytest.mark.slow
def test_references_run_in_fresh_interpreters_spawned_ahead_and_none_outlives_the_experiment(tmp_path):
    configs = _references(AHEAD + 1)
    tasks = [make_task("t1", 1, 1)]
    with References(configs, tmp_path, tasks) as references:
        first = references.run(configs[0])
        waiting = [child.process for child in references._waiting]
        assert len(waiting) == AHEAD - 1 and all(p.is_alive() for p in waiting)  # spawned with the first
        second = references.run(configs[1])
    assert not any(p.is_alive() for p in waiting)  # the ones whose turn never came are stopped
    pids = {first.environment["pid"], second.environment["pid"]}
    assert len(pids) == 2 and os.getpid() not in pids
    assert (first.config.repeat, second.config.repeat) == (0, 1)
    assert first.summary.state == second.summary.state == "complete"


@pytest.mark.slow
def test_a_reference_out_of_plan_still_runs_in_its_own_interpreter(tmp_path):
    planned, other = _references(2)
    with References([planned], tmp_path, [make_task("t1", 1, 1)]) as references:
        stored = references.run(other)
        assert not references._waiting  # nothing spawned ahead for a reference it was not told of
    assert stored.config.repeat == 1 and stored.environment["pid"] != os.getpid()


def test_the_runs_bar_stops_its_refresh_thread_before_the_report():
    from rich.console import Console
    from rich.progress import Progress

    from perfkit.cli.progress import RunsBar

    display = Progress(console=Console(force_terminal=True, file=open(os.devnull, "w")), auto_refresh=True)
    before = threading.active_count()  # pytest-xdist runs threads of its own
    with display:
        bar = RunsBar(display)
        assert threading.active_count() == before + 1  # rich redraws from a thread of its own
        bar.runs_done()
        assert threading.active_count() == before  # so the report may fork


def _unpicklable():
    return lambda: None


def test_a_value_that_cannot_travel_back_is_computed_here(monkeypatch, capfd):
    monkeypatch.setattr(forked_module, "_can_fork", lambda: True)
    value = Forked(_unpicklable).result()
    assert callable(value)  # the parent's own, not lost
    assert "Traceback" not in capfd.readouterr().err  # and the child said nothing


@pytest.mark.slow
def test_ctrl_c_during_a_comparison_ends_it_in_one_line_with_no_process_left(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from builders import cli_env

    store = tmp_path / "runs"
    # units that sleep 25 ms: the first reference alone lasts 2 × 4 × 24 × 25 ms = 4.8 s on any machine
    cmd = [sys.executable, "-m", "perfkit", "compare", "--solver", "synthetic", "--tasks", "synthetic:2x3+1",
           "--strategies", "sequential,candidate-parallel", "--backends", "process", "--workers", "2",
           "--repeats", "2", "--solver-opt", "candidates=24", "--solver-opt", "cpu_ms=0",
           "--solver-opt", "sleep_ms=25", "--store", str(store), "--out", str(tmp_path / "rep")]
    # its own process group, Ctrl-C handled as in a terminal (a shell's background job ignores it)
    proc = subprocess.Popen(cmd, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(
            sum(1 for _ in open(p)) >= 5 for p in store.glob("*/units.jsonl")):
        time.sleep(0.05)  # until the first reference records, with the others spawned and waiting
    os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches the whole group
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert "Traceback" not in err and "Traceback" not in out
    assert err.strip().splitlines()[-1].startswith("perfkit: run interrupted; resume it with: perfkit run --resume")
    assert not _alive_in_group(proc.pid), "a reference's interpreter outlived the comparison"


def _alive_in_group(pgid: int) -> list[int]:
    """Processes of process group ``pgid`` still alive (not zombies), read from /proc."""
    from pathlib import Path

    alive = []
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if entry.name.isdigit() and int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(entry.name))
    return alive


def _record(folder) -> dict:
    record = json.loads((folder / "report.json").read_text())
    record.pop("created")
    return json.loads(json.dumps(record).replace(str(folder), "<out>"))


def _markdown(folder) -> str:
    return (folder / "report.md").read_text().replace(str(folder), "<out>")


@pytest.mark.slow
def test_report_and_compare_are_the_same_with_and_without_forking(tmp_path, monkeypatch):
    """compare's report (its pieces forked), and ``perfkit report`` of the same runs with
    forking forced on and off: the same report.json (but its creation time) and report.md."""
    monkeypatch.setattr(forked_module, "_can_fork", lambda: True)
    result = perfkit.compare(solver="synthetic", tasks="synthetic:2x2+1", strategies=["sequential", "candidate-parallel"],
                             backends=["process"], workers=2, repeats=2, solver_options={"candidates": 6, "cpu_ms": 0.2},
                             store=tmp_path / "runs", out=tmp_path / "compare", name="forking")
    dirs = [r.path for r in result.runs]
    outs = {}
    for fork in (True, False):
        monkeypatch.setattr(forked_module, "_can_fork", lambda fork=fork: fork)
        outs[fork] = perfkit.report(dirs, out=tmp_path / f"report-{fork}", name="forking").report_dir
    assert result.comparison.model is not None  # the forked piece is in the report
    forked, here = _record(outs[True]), _record(outs[False])
    assert forked == here
    assert _record(result.report_dir) == here
    assert _markdown(outs[True]) == _markdown(outs[False]) == _markdown(result.report_dir)


@pytest.mark.slow
@pytest.mark.parametrize("module, line", [
    ("fresh_import_fails", "perfkit: error: --solver"),
    ("fresh_import_dies", "perfkit: error: the reference run's process ended without a result (exit status 3)")])
def test_a_reference_that_cannot_import_its_solver_is_one_line_and_leaves_no_process(tmp_path, module, line):
    """More references than are spawned ahead; the first one's interpreter cannot import the
    solver (the parent could): it raises, or the interpreter dies before its turn. One line,
    exit status 2, no traceback, and no reference interpreter outlives the command."""
    import subprocess
    import sys

    from builders import cli_env

    cmd = [sys.executable, "-m", "perfkit", "compare", "--solver", f"plugins.{module}:Solver",
           "--tasks", "synthetic:1x1+0", "--strategies", "sequential,candidate-parallel", "--backends", "thread",
           "--workers", "2", "--repeats", str(AHEAD + 1), "--store", str(tmp_path / "runs"),
           "--out", str(tmp_path / "rep")]
    proc = subprocess.Popen(cmd, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, (out, err)
    assert "Traceback" not in err + out
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(line), err
    assert not _alive_in_group(proc.pid), "a reference's interpreter outlived the comparison"
