"""A run's state and summary tell the truth: a run that fails before its first unit ends
``failed`` (never stuck ``running``), and a resumed run's summary covers every session."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from builders import StopAfter, make_task, synthetic_config

import perfkit
from perfkit.model import PerfkitError, RunInterrupted
from perfkit.store import load_run


@pytest.mark.slow  # > 0.2 s: out of the quick subset (session 17, suitetime17)
def test_resumed_summary_cpu_is_the_sum_over_sessions(tmp_path):
    tasks = [make_task("t1", 3, 1), make_task("t2", 3, 1)]
    config = synthetic_config(candidates=6, cpu_ms=3)
    with pytest.raises(RunInterrupted) as stopped:
        perfkit.run(config, tmp_path, observer=StopAfter(20), tasks=tasks)
    path = stopped.value.path
    first = load_run(path)
    assert first.state == "interrupted" and 0 < len(first.units) < 48
    perfkit.resume(path, tasks=tasks)
    run = load_run(path)
    sessions = run.meta["previous_sessions"]
    assert run.state == "complete" and len(sessions) == 2 and run.summary.sessions == 2
    assert len(run.units) == 48
    cpu = [p["cpu_parent_s"] + p["cpu_workers_s"] for p in sessions]
    assert all(c > 0 for c in cpu)
    assert run.summary.cpu_s == pytest.approx(sum(cpu))
    assert run.summary.wall_s == pytest.approx(sum(p["wall_s"] for p in sessions))
    assert run.summary.generate_s == pytest.approx(sum(p["generate_s"] for p in sessions))
    # other processes' CPU covers the same sessions as the wall it is set against: a busy first
    # session must not read as quiet beside the whole run's wall
    if all(p["others_cpu_s"] is not None for p in sessions):
        assert run.summary.others_cpu_s == pytest.approx(sum(p["others_cpu_s"] for p in sessions))
        assert run.summary.machine_cpu_s == pytest.approx(sum(p["machine_cpu_s"] for p in sessions))
    # every unit's CPU is in the run's CPU: parallelism of a sequential run stays near 1, not 0.4
    assert run.summary.cpu_s >= 0.9 * run.units["cpu_s"].sum()


def test_a_resumed_run_counts_the_stray_threads_of_every_session(tmp_path, monkeypatch):
    """Threads an earlier thread run of the process left running are other work (part of
    others_cpu_s, summed over sessions): their CPU and count must cover the same sessions, not
    only the last one."""
    run_module = sys.modules["perfkit.runner.run"]  # the package exports a function of that name
    # (running, CPU so far) before the backend starts, after it started and at the end, per session
    readings = iter([(2, 1.0), (2, 1.0), (2, 1.3), (1, 2.0), (1, 2.0), (1, 2.2)])
    monkeypatch.setattr(run_module, "stray_threads", lambda: next(readings))
    tasks = [make_task("t1", 3, 1)]
    with pytest.raises(RunInterrupted) as stopped:
        perfkit.run(synthetic_config(candidates=6), tmp_path, observer=StopAfter(10), tasks=tasks)
    perfkit.resume(stopped.value.path, tasks=tasks)
    s = load_run(stopped.value.path).summary
    assert s.sessions == 2 and s.stray_threads == 2 and s.stray_cpu_s == pytest.approx(0.3 + 0.2)


def test_a_run_records_its_window_and_each_tasks_generation(tmp_path):
    run = perfkit.run(synthetic_config(candidates=4), tmp_path, tasks=[make_task("a", 1, 1), make_task("b", 1, 1)])
    s = run.summary
    assert s.started <= run.units["queued"].min() and run.units["ended"].max() <= s.ended
    assert [g[0] for g in s.generation] == ["a", "b"]
    assert all(s.started <= g[1] <= g[2] <= s.ended for g in s.generation)


@pytest.mark.slow
def test_a_run_whose_backend_cannot_start_ends_failed(tmp_path):
    """Fails before its first unit: one line, exit 2, and the folder says ``failed``."""
    store = tmp_path / "runs"
    done = subprocess.run([sys.executable, "-m", "perfkit", "run", "--solver", "synthetic", "--tasks", "synthetic:1",
                           "--backend", "dask", "--scheduler", "nosuchscheme://x", "--store", str(store)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "could not start" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    (folder,) = store.iterdir()
    assert json.loads((folder / "meta.json").read_text())["state"] == "failed"
    assert load_run(folder).summary.state == "failed" and len(load_run(folder).units) == 0


def test_a_bad_backend_name_writes_no_folder(tmp_path):
    with pytest.raises(PerfkitError):
        perfkit.run(synthetic_config(backend="procss"), tmp_path / "runs", tasks=[make_task("t")])
    assert not (tmp_path / "runs").exists()
