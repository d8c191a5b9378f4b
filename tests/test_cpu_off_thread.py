"""Units whose CPU runs outside the thread that calls them (benchmarks/blas_work.py,
docs/benchmarks.md "Session 11"): numpy's OpenBLAS computes on threads of its own, a solver's
thread pool runs C code that releases the GIL, ``subprocess.run`` runs a program. A unit's CPU
is its whole process's where one unit runs at a time (process workers, inline), and the
analysis neither calls the rest perfkit's nor other processes' nor a wait. Runs in memory are
built by construction (tests/builders.py); the real runs measure CPU that the unit's own
helper thread or child counted itself, so no figure depends on the machine's speed."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from typing import Optional

import pytest
from builders import CANDS, SAMPLES, make_run, make_task, reference_run, synthetic_config, unit_rows

import perfkit
from perfkit.analysis.breakdown import HARNESS, PARENT, SOLVER_OWN, UNITS, run_breakdown
from perfkit.analysis.comparison import analyse
from perfkit.model import RunConfig
from perfkit.model.command import RUN_WINDOW

#: CPU (seconds) each unit's helper burns, counted by the helper itself.
BURN_S = 0.03


def burn(seconds: float, clock=time.thread_time) -> None:
    """Busy until ``clock`` has advanced ``seconds``."""
    start = clock()
    while clock() - start < seconds:
        pass


class HelperThreadSolver:
    """Each unit waits for a thread of its own that computes BURN_S of CPU (as numpy's OpenBLAS
    pool does for a large product): the calling thread itself only waits."""

    def candidates(self, task):
        return ["c000", "c001"]

    def evaluate(self, task, sample, candidate, deadline):
        t = threading.Thread(target=burn, args=(BURN_S,))
        t.start()
        t.join()
        return [[1]]


class ChildProcessSolver(HelperThreadSolver):
    """Each unit runs a program (a Python child) that computes BURN_S of CPU."""

    def evaluate(self, task, sample, candidate, deadline):
        code = f"import time\nt = time.process_time()\nwhile time.process_time() - t < {BURN_S}: pass"
        subprocess.run([sys.executable, "-S", "-c", code], check=True)
        return [[1]]


def _run(tmp_path, solver: str, backend: str, monkeypatch):
    # threads earlier tests' thread runs could not stop may still run in this process: the inline
    # backend then times units on their own thread (their CPU is not the units'); not here
    monkeypatch.setattr("perfkit.backends.inline.stray_threads", lambda: (0, 0.0))
    base = synthetic_config("sequential", backend, 1).__dict__
    config = RunConfig(**{**base, "solver": f"test_cpu_off_thread:{solver}", "solver_options": {}, "timeout": base["timeout"]})
    return perfkit.run(config, tmp_path, tasks=[make_task("t", n_demo=1, n_test=0)])


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["inline", "process"])
def test_a_units_cpu_on_another_thread_of_its_process_is_the_units(tmp_path, backend, monkeypatch):
    # OpenBLAS's threads: the calling thread read ~0 CPU for a unit that computed BURN_S
    run = _run(tmp_path, "HelperThreadSolver", backend, monkeypatch)
    assert (run.units["cpu_s"] >= BURN_S).all(), run.units[["candidate", "wall_s", "cpu_s"]]
    assert run.summary.resources["unit_cpu"] == "process"


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["inline", "process"])
def test_a_program_a_unit_runs_is_the_units_cpu_and_the_runs_not_other_processes(tmp_path, backend, monkeypatch):
    # gzip in a child: the unit read ~0 CPU (a wait), and its CPU read as other processes'
    # ("the machine was not quiet"), the reference's own efficiency 11 %
    run = _run(tmp_path, "ChildProcessSolver", backend, monkeypatch)
    assert (run.units["cpu_s"] >= BURN_S).all(), run.units[["candidate", "wall_s", "cpu_s"]]
    assert run.summary.cpu_s >= 2 * BURN_S


@pytest.mark.slow
def test_beside_threads_an_earlier_thread_run_left_the_inline_backend_times_the_units_thread(tmp_path, monkeypatch):
    # their CPU would be charged to the units as theirs
    monkeypatch.setattr("perfkit.backends.inline.stray_threads", lambda: (1, 0.5))
    base = synthetic_config("sequential", "inline", 1)
    run = perfkit.run(base, tmp_path, tasks=[make_task("t", n_demo=1, n_test=0)])
    assert run.summary.resources["unit_cpu"] == "thread"


def _many_cores(cpu_per_wall: float, **kw):
    """The reference's units back to back, each computing on ``cpu_per_wall`` cores (CPU = that
    many times its wall of 0.1 s)."""
    rows = unit_rows(SAMPLES, CANDS, cpu=0.1)
    for r in rows:
        r["cpu_s"] = 0.1 * cpu_per_wall
    return make_run(rows, **kw)


@pytest.mark.slow
def test_units_that_compute_on_two_cores_at_once_bound_the_reference_at_its_wall():
    # the sequential reference read 200 % of its physical limit once each unit's CPU counted
    # both of OpenBLAS's threads: the bound was its CPU on one slot
    c = analyse([_many_cores(2.0)])
    fig = c.figure_of(c.runs[0])
    assert fig.ideal_wall_s == pytest.approx(4.8)  # 48 units × 0.1 s of wall: one lane
    assert fig.efficiency == pytest.approx(1.0)


@pytest.mark.slow
def test_two_workers_of_two_core_units_are_bound_by_the_cores():
    # each unit takes both cores for 0.1 s: two workers cannot beat the reference's wall
    ref = _many_cores(2.0)
    rows = unit_rows(SAMPLES, CANDS, cpu=0.2)
    for i, r in enumerate(rows):
        r["chunk"], r["cpu_s"] = i // 4 + 1, 0.2  # twice the wall under sequential: they shared the cores
    par = make_run(rows, "candidate-parallel", "process", 2)
    c = analyse([ref, par])
    assert c.figure_of(c.runs[1]).ideal_wall_s == pytest.approx(4.8)  # 9.6 s of CPU on 2 cores


@pytest.mark.slow
def test_more_cpu_than_sequential_from_oversubscribed_blas_threads_is_not_blamed_on_state():
    # 2 workers × 2 OpenBLAS threads on 2 cores took 1.7–5× the reference's CPU: "the work was
    # not the same ... a cache", where each worker's BLAS threads fought for the cores
    scale = {"calibration_cpu_s": 0.006}
    ref = _many_cores(2.0, summary=scale)
    rows = unit_rows(SAMPLES, CANDS, cpu=0.4)
    for i, r in enumerate(rows):
        r["chunk"] = i // 4 + 1
    par = make_run(rows, "candidate-parallel", "process", 2, summary=scale)
    found = analyse([ref, par]).findings
    assert not [f for f in found if f.rule == "cold-state"], found
    over = [f for f in found if f.rule == "oversubscribed"]
    assert len(over) == 1 and "2.0 cores at once" in over[0].sentence and "OPENBLAS_NUM_THREADS" in over[0].sentence


def _thread_run(cpu: float, run_cpu_s: float, scale: dict, wall_s: float = 2.5):
    """A thread run whose units' calling threads read ``cpu`` each, the whole run ``run_cpu_s``."""
    rows = unit_rows(SAMPLES, CANDS, cpu=0.1)
    for i, r in enumerate(rows):
        r["chunk"], r["cpu_s"] = i // 4 + 1, cpu
    rows = [dict(r, worker=f"w{i % 2}") for i, r in enumerate(rows)]
    return make_run(rows, "candidate-parallel", "thread", 2, wall_s=wall_s, cpu_s=run_cpu_s,
                    summary={**scale, "resources": {"unit_cpu": "thread"}})


@pytest.mark.slow
def test_a_thread_run_that_sees_only_its_calling_threads_is_told_from_less_work():
    # gzip units on threads read 0.10× the reference's CPU: efficiency 9 % (the bound took each
    # unit's own CPU as its work) and, had it been below, "warm state"
    scale = {"calibration_cpu_s": 0.006}
    ref = reference_run(summary={**scale, "resources": {"unit_cpu": "process"}})
    c = analyse([ref, _thread_run(0.01, 4.8, scale)])
    fig = c.figure_of(c.runs[1])
    assert fig.work_s == pytest.approx(4.8)  # the reference's CPU, not the threads' 0.48 s
    # ... but never more than the run's own CPU: its efficiency read 105 %
    cheaper = analyse([ref, _thread_run(0.01, 4.0, scale)])
    assert cheaper.figure_of(cheaper.runs[1]).work_s == pytest.approx(4.0)
    rules = {f.rule for f in c.findings}
    assert "cpu-off-thread" in rules and "warm-state" not in rules, c.findings
    # the same units with less CPU in the whole run too: the work itself shrank, and each unit's
    # own CPU is its work (OpenBLAS on one thread: 117 % of the limit when the reference's counted)
    less = analyse([ref, _thread_run(0.01, 0.5, scale)])
    assert {f.rule for f in less.findings} >= {"warm-state"} and "cpu-off-thread" not in {f.rule for f in less.findings}
    assert less.figure_of(less.runs[1]).work_s == pytest.approx(0.48)
    # parallelism 1.07 on threads whose CPU ran in gzip children: "GIL: use the process backend"
    slow = analyse([ref, _thread_run(0.01, 4.8, scale, wall_s=4.5)])
    assert "gil" not in {f.rule for f in slow.findings}, slow.findings


def _measured_thread_run(window_cpu_s: float, threads_cpu_s: float, solver_threads_cpu_s: Optional[float],
                         children_cpu_s: float = 0.0, backend_cpu: str = "thread"):
    """A thread run of 48 units of 0.01 s of their calling threads' CPU (0.48 s), whose run window
    used ``window_cpu_s`` of CPU, its worker threads ``threads_cpu_s`` (units included), the rest
    of its process's threads ``solver_threads_cpu_s`` (None: a run recorded before perfkit
    measured them) and the programs its units ran ``children_cpu_s``."""
    measured = {} if solver_threads_cpu_s is None else {"worker_threads_cpu_s": threads_cpu_s,
                                                        "solver_threads_cpu_s": solver_threads_cpu_s}
    command = {"command_origin": "call", "command_spans": [{"name": RUN_WINDOW, "wall_s": 2.5, "cpu_s": window_cpu_s}],
               "command_wall_s": 2.5, "command_cpu_s": window_cpu_s, "cpu_workers_s": children_cpu_s}
    scale = {"calibration_cpu_s": 0.006, **command, "resources": {"unit_cpu": backend_cpu, **measured}}
    rows = unit_rows(SAMPLES, CANDS, cpu=0.1)
    for i, r in enumerate(rows):
        r["chunk"], r["cpu_s"] = i // 4 + 1, 0.01
    rows = [dict(r, worker=f"w{i % 2}") for i, r in enumerate(rows)]
    return make_run(rows, "candidate-parallel", "thread", 2, wall_s=2.5, cpu_s=window_cpu_s, summary=scale)


def _window_items(run) -> dict[str, float]:
    return {i.name: i.seconds for i in run_breakdown(run).window.items}


def test_the_breakdown_names_the_solvers_own_threads_and_programs_on_a_thread_run_not_perfkit():
    # numpy's OpenBLAS pool on a thread run read as "perfkit in the parent 83 %"
    run = _measured_thread_run(4.8, threads_cpu_s=0.6, solver_threads_cpu_s=4.0)
    items = _window_items(run)
    assert items[SOLVER_OWN] == pytest.approx(4.0)
    assert items[UNITS] == pytest.approx(0.48)
    assert items[HARNESS] == pytest.approx(0.12)  # the worker threads' CPU outside their units
    assert items[PARENT] == pytest.approx(0.2)  # what the run's thread and perfkit's own threads used
    # gzip children of thread units read as "harness in workers": they are the solver's programs
    gzip = _window_items(_measured_thread_run(4.8, threads_cpu_s=0.6, solver_threads_cpu_s=0.1, children_cpu_s=3.9))
    assert gzip[SOLVER_OWN] == pytest.approx(4.0) and gzip[HARNESS] == pytest.approx(0.12)
    assert gzip[PARENT] == pytest.approx(0.2)
    # more measured than the window left (the figure spans worker start and teardown too): capped
    capped = _window_items(_measured_thread_run(1.0, threads_cpu_s=0.6, solver_threads_cpu_s=4.0))
    assert capped[SOLVER_OWN] == pytest.approx(0.4) and capped[PARENT] == pytest.approx(0.0)


def test_runs_that_did_not_measure_the_solvers_threads_keep_their_breakdown():
    # recorded before perfkit measured them, or units charged their whole process's CPU (inline,
    # process workers: their units' CPU has the solver's threads already)
    for run in (_measured_thread_run(4.8, 0.6, None), _measured_thread_run(4.8, 0.6, 4.0, backend_cpu="process")):
        items = _window_items(run)
        assert SOLVER_OWN not in items
        assert items[PARENT] == pytest.approx(4.8 - 0.48) and items[HARNESS] == 0.0


@pytest.mark.slow
def test_the_breakdown_agrees_with_the_cpu_off_thread_finding():
    scale = {"calibration_cpu_s": 0.006}
    ref = reference_run(summary={**scale, "resources": {"unit_cpu": "process"}})
    c = analyse([ref, _measured_thread_run(4.8, threads_cpu_s=0.6, solver_threads_cpu_s=4.0)])
    assert "cpu-off-thread" in {f.rule for f in c.findings}
    window = c.breakdowns["candidate-parallel/thread×2"].window
    solver, parent = (next(i for i in window.items if i.name == n) for n in (SOLVER_OWN, PARENT))
    assert solver.seconds > 10 * parent.seconds


@pytest.mark.slow
def test_a_thread_run_measures_the_cpu_of_its_solvers_own_threads(tmp_path, monkeypatch):
    # each unit's helper thread computes BURN_S, which its calling thread never sees
    run = _run(tmp_path, "HelperThreadSolver", "thread", monkeypatch)
    resources = run.summary.resources
    assert resources["solver_threads_cpu_s"] >= len(run.units) * BURN_S * 0.99, resources
    assert resources["worker_threads_cpu_s"] >= float(run.units["cpu_s"].sum()), resources
    assert (run.units["cpu_s"] < BURN_S).all()  # the calling threads only waited
