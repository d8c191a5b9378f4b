"""What perfkit makes of a solver with state between units and units that never stop (sympy,
docs/benchmarks.md "Session 9: sympy"), on small plugin solvers (tests/plugins/stateful_solvers.py)."""

from __future__ import annotations

import time

import pandas as pd
import pytest
from builders import make_run, make_task

from perfkit.analysis import gate as g
from perfkit.analysis.comparison import analyse
from perfkit.api import compare
from perfkit.backends import stray_threads
from perfkit.model import RunConfig, TimeoutPolicy
from perfkit.orchestration.experiment import Experiment
from perfkit.runner import run
from perfkit.store.baseline import Repeat, Side

SPINNER = "plugins.stateful_solvers:Spinner"
#: Longer than any run beside it can take, loaded or not: a test stops its spinners itself
#: (``_wait_for_strays``) once it has seen what it needs, so no clock decides what ran beside what.
SPIN_S = 120.0


def _config(backend: str, strategy: str, timeout_s: float, **options) -> RunConfig:
    return RunConfig(solver=SPINNER, tasks="hand-made", strategy=strategy, backend=backend,
                     workers=1, timeout=TimeoutPolicy(timeout_s), solver_options=options)


def _wait_for_strays(at_most: int, limit_s: float = 30.0) -> None:
    """Stop this test's spinning threads and wait until they have ended (threads other tests of
    this process left running may stay: the thread backend's hang tests leave some)."""
    from plugins.stateful_solvers import STOP_SPINNING

    STOP_SPINNING.set()
    end = time.monotonic() + limit_s
    while stray_threads()[0] > at_most and time.monotonic() < end:
        time.sleep(0.05)
    STOP_SPINNING.clear()


@pytest.mark.slow
def test_a_thread_left_running_by_an_earlier_run_is_other_work_not_the_next_runs_cpu(tmp_path):
    # a thread run whose `spin` unit runs past its deadline leaves its thread spinning; the
    # next run of the same process (the runs of `perfkit compare`) runs beside it. The spinner
    # spins until the test stops it (SPIN_S): with 4 s it had sometimes ended, on a slow machine,
    # before the next run's window opened (a compare's repeat 1 saw no stray thread)
    task = make_task("t1", n_demo=1, n_test=0)
    before = stray_threads()[0]
    try:
        first = run(_config("thread", "candidate-parallel", 0.05, spin_s=SPIN_S, n=1), tmp_path, tasks=[task])
        assert first.units.set_index("candidate").loc["spin", "leaked"]
        assert first.summary.stray_threads <= before  # its own leaked thread is its own work
        second = run(_config("inline", "sequential", 5.0, spin_s=0.0, n=6, sleep_s=0.1), tmp_path, tasks=[task])
    finally:
        _wait_for_strays(before)
    s = second.summary
    assert s.stray_threads >= 1
    # the spinning thread took the CPU; the run's own units slept: its CPU is not the run's
    assert s.stray_cpu_s > s.cpu_parent_s
    assert s.cpu_s == s.cpu_parent_s + s.cpu_workers_s
    if s.others_cpu_s is not None:  # /proc/stat counts in 10 ms ticks
        assert s.others_cpu_s + 0.05 >= s.stray_cpu_s


@pytest.mark.slow
def test_a_compare_names_the_runs_that_ran_beside_threads_an_earlier_thread_run_left_running(tmp_path):
    # repeat 0's thread run leaves `spin` running; repeat 1's reference (another process) and
    # thread run run beside it: the report says so, and no run counts its CPU as perfkit's own
    before = stray_threads()[0]
    try:
        result = compare(Experiment(name="strays", solver=SPINNER, strategies=("sequential", "candidate-parallel"),
                                    backends=("thread",), workers=(1,), repeats=2, timeout=0.05,
                                    solver_options={"spin_s": SPIN_S, "n": 2}),
                         out=tmp_path / "rep", store=tmp_path / "runs", task_list=[make_task("t1", 1, 0)])
    finally:
        _wait_for_strays(before)
    by = {(r.config.strategy, r.config.repeat): r.summary for r in result.runs}
    assert by[("candidate-parallel", 1)].stray_threads >= 1 and by[("sequential", 1)].stray_threads >= 1
    thread_run = by[("candidate-parallel", 1)]
    assert thread_run.stray_cpu_s > 0
    md = (result.report_dir / "report.md").read_text()
    assert "earlier thread-backend runs could not stop" in md  # the stray-threads finding
    assert "of which threads left running by earlier runs" in md  # the machine-load table
    assert result.written_apart  # by a process without the spinning threads (perfkit/api.py)


def _hybrid_behind_a_slow_candidate() -> list[dict]:
    """Two samples, one stage each (hybrid): `slow` takes 1 s on one worker while the other runs
    the two 0.1 s candidates and then waits 0.8 s for the stage to end; every item one unit."""
    rows, t, chunk = [], 0.0, 0
    for index in range(2):
        for worker, cands in (("w0", [("slow", 1.0)]), ("w1", [("c000", 0.1), ("c001", 0.1)])):
            start = t
            for cand, cost in cands:
                chunk += 1
                rows.append(dict(task_id="t1", split="demo", index=index, candidate=cand, status="ok",
                                 output_hash=f"h{index}{cand}", match=False, queued=t, started=start,
                                 ended=start + cost, wall_s=cost, cpu_s=cost, worker=worker, chunk=chunk,
                                 attempt=1, leaked_s=None, leaked=False, stage=index))
                start += cost
        t += 1.0
    return rows


@pytest.mark.slow  # > 0.2 s: out of the quick subset (session 17, suitetime17)
def test_workers_waiting_at_stage_barriers_are_not_told_to_raise_the_chunk_size():
    # sympy under hybrid: each sample's stage ends with its costliest candidate (integrate) and the
    # other worker waits; larger work items cannot remove that, so no chunk-size advice
    rows = _hybrid_behind_a_slow_candidate()
    ref_rows, t = [], 0.0
    for r in rows:
        ref_rows.append({**r, "started": t, "ended": t + r["wall_s"], "queued": 0.0, "worker": "main", "stage": 0})
        t += r["wall_s"]
    ref = make_run(ref_rows)
    c = analyse([ref, make_run(rows, "hybrid", "process", 2, wall_s=2.0, cpu_s=2.4)])
    fig = c.figure_of(c.runs[1])
    assert fig.stage_tail_idle_s == pytest.approx(1.6)  # 0.8 s per stage on the faster worker
    f = [f for f in c.findings if f.rule == "dispatch-overhead"]
    assert len(f) == 1, c.findings
    assert "raise the chunk size" not in f[0].sentence
    assert "waiting at the end of stages" in f[0].sentence


def test_the_gate_credits_no_improvement_to_a_side_that_cut_units_at_their_timeout():
    # sympy next to busy loops: the costly units time out, so the current side's CPU drops by
    # half; that is less work, not faster code (the answers fail the gate anyway)
    def side(cpu: float, statuses: list[str]) -> Side:
        units = pd.DataFrame([("t", "demo", i, "c0", st, "h" if st == "ok" else None) for i, st in enumerate(statuses)],
                             columns=["task_id", "split", "index", "candidate", "status", "output_hash"])
        repeats = [Repeat(f"r{i}", cpu * 2, cpu * (1 + 0.01 * i), 0.02, {"t": cpu}, {"t": cpu * 2}) for i in range(3)]
        return Side("side", repeats, units, {"cpu_model": "x", "hostname": "h"}, {})

    result = g.gate(side(12.0, ["ok"] * 6), side(6.0, ["ok", "ok", "timeout", "timeout", "ok", "ok"]),
                    metrics=["cpu"])
    assert not result.answers_ok and result.exit_code == 1
    assert result.metrics[0].verdict == "inconclusive", result.metrics[0]
    assert any("stopped 2 units at their timeout" in n for n in result.notes)
    # the same drop without timeouts is an improvement
    faster = g.gate(side(12.0, ["ok"] * 6), side(6.0, ["ok"] * 6), metrics=["cpu"])
    assert faster.metrics[0].verdict == "improvement" and faster.passed


@pytest.mark.slow
def test_units_cheaper_than_under_sequential_because_of_state_kept_between_runs_are_named(tmp_path):
    # the inline runs share this process, and its cache, from their second repeat on; each
    # sequential reference starts in a fresh process and pays every unit
    result = compare(Experiment(name="memo", solver="plugins.stateful_solvers:Memo",
                                strategies=("sequential", "candidate-parallel"), backends=("inline",), workers=(1,),
                                repeats=3, timeout=1.0, solver_options={"n": 6, "cost_ms": 3.0, "salt": str(tmp_path)}),
                     out=tmp_path / "rep", store=tmp_path / "runs", task_list=[make_task("t1", 2, 1)])
    warm = [f for f in result.comparison.findings if f.rule == "warm-state"]
    assert len(warm) == 1 and warm[0].group == "candidate-parallel/inline×1", result.comparison.findings
    assert "module-level cache" in (result.report_dir / "report.md").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["process", pytest.param("dask", marks=pytest.mark.xdist_group("dask"))])
def test_a_worker_leaves_its_heap_out_of_the_collectors_full_passes_as_the_parent_does(tmp_path, backend):
    # unfrozen, a full pass walked a worker's heap inside a unit (5.5–7.9 ms on a process worker,
    # 20–52 ms on a Dask worker) against 0.3 ms in the inline reference, and markdown-it's 2 ms
    # units timed out there only (docs/benchmarks.md, "Session 12: a full collection inside a
    # unit", "Session 13: a full collection inside a Dask unit")
    tasks = [make_task("t1", 1, 0, seed=1)]
    config = RunConfig(solver="plugins.stateful_solvers:HeapWitness", tasks="x", strategy="candidate-parallel",
                       backend=backend, workers=1, timeout=TimeoutPolicy(5.0))
    (message,) = run(config, tmp_path, tasks=tasks).units["error_message"]
    frozen, oldest = (int(part.split("=")[1]) for part in message.split())
    assert frozen > 10_000 and oldest < frozen / 10, message  # its imports and solver, not walked
