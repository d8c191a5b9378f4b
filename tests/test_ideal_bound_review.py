"""The ideal bound never lies above what a perfect schedule of the run reaches (efficiency ≤ 100 %):
waits measured in the sequential reference that this run did not have, and units this run never
ran, are not work it could have done faster (perfkit/analysis/metrics/bound.py ``unit_wait``,
``unit_work``)."""

from __future__ import annotations

import pytest
from builders import CANDS, SAMPLES, make_run, parallel, unit_rows

from perfkit.analysis.metrics.run import run_figures


def test_a_reference_unit_stalled_by_other_work_does_not_lift_the_bound_above_a_perfect_schedule():
    # a quiet reference on average, but one unit read 2.0 s of wall for 0.1 s of CPU (preempted by
    # a burst of other work, a cold disk read); the parallel run computes every unit in 0.1 s
    def stalled(df):
        df.loc[0, "wall_s"] = 2.0
        return df

    ref = make_run(unit_rows(SAMPLES, CANDS, cpu=0.1), edit=stalled, summary={"others_cpu_s": 0.0}, wall_s=6.7)
    rows = parallel(unit_rows(SAMPLES, CANDS, cpu=0.1), 2, lambda r: r["candidate"])  # perfect on 2 workers
    f = run_figures(make_run(rows, "candidate-parallel", "process", 2), ref)
    assert f.wait_s == 0.0
    assert f.ideal_wall_s == pytest.approx(f.wall_s) and f.efficiency <= 1.0 + 1e-9
    assert f.critical_path_s == pytest.approx(0.6)  # the c000 item: six units of CPU, no phantom wait


def test_a_sleep_the_run_had_too_still_counts_and_only_as_long_as_it_held_the_worker():
    sleeping = lambda df: df.assign(wall_s=df["cpu_s"] * 4)  # noqa: E731 (0.3 s asleep per unit)
    ref = make_run(unit_rows(SAMPLES, CANDS, cpu=0.1), edit=sleeping, summary={"others_cpu_s": 0.0}, wall_s=19.2)
    rows = [dict(r, chunk=i, wall_s=0.4) for i, r in enumerate(unit_rows(SAMPLES, CANDS, cpu=0.1))]
    f = run_figures(make_run(parallel(rows, 4, lambda r: r["chunk"]), "candidate-parallel", "thread", 4), ref)
    assert f.wait_s == pytest.approx(48 * 0.3) and f.ideal_wall_s == pytest.approx(19.2 / 4)
    # the same units cut short at 0.35 s (their timeout) held their workers 0.25 s asleep, not 0.3 s
    cut = [dict(r, wall_s=0.35, status="timeout") for r in rows]
    f = run_figures(make_run(parallel(cut, 4, lambda r: r["chunk"]), "candidate-parallel", "thread", 4), ref)
    assert f.wait_s == pytest.approx(48 * 0.25) and f.ideal_wall_s == pytest.approx(f.wall_s)


def test_units_a_budget_skipped_hold_neither_work_nor_wait_in_the_bound():
    # the reference ran all 48 units (0.1 s of CPU each); this run's budget ran out after 24 of
    # them, perfectly scheduled on 2 workers: its bound is their 2.4 s / 2, not the reference's 4.8 s / 2
    ref = make_run(unit_rows(SAMPLES, CANDS, cpu=0.1), summary={"others_cpu_s": 0.0})
    rows = parallel([dict(r, chunk=i) for i, r in enumerate(unit_rows(SAMPLES, CANDS, cpu=0.1))], 2,
                    lambda r: r["chunk"])
    for r in rows[24:]:
        r.update(status="skipped", wall_s=None, cpu_s=None, started=None, ended=None, output_hash=None, match=None)
    f = run_figures(make_run(rows, "candidate-parallel", "process", 2, wall_s=1.2), ref)
    assert f.work_s == pytest.approx(2.4) and f.ideal_wall_s == pytest.approx(1.2)
    assert f.efficiency <= 1.0 + 1e-9


def test_units_that_compute_less_here_than_in_the_reference_hold_their_worker_no_longer_than_here():
    # the reference's units compute 0.1 s and sleep 0.3 s; a thread run's compute 0.06 s (numpy's
    # arrays page-fault afresh in a main thread, not in a worker thread) and sleep the same 0.3 s,
    # back to back on one worker: nothing is faster than that, so its efficiency is 100 %, not 111 %
    sleeping = lambda df: df.assign(wall_s=df["cpu_s"] * 4)  # noqa: E731
    ref = make_run(unit_rows(SAMPLES, CANDS, cpu=0.1), edit=sleeping, summary={"others_cpu_s": 0.0}, wall_s=19.2)
    rows = [dict(r, chunk=i, cpu_s=0.06, wall_s=0.36) for i, r in enumerate(unit_rows(SAMPLES, CANDS, cpu=0.1))]
    f = run_figures(make_run(parallel(rows, 1, lambda r: r["chunk"]), "candidate-parallel", "thread", 1), ref)
    assert f.wall_s == pytest.approx(48 * 0.36)
    assert f.ideal_wall_s == pytest.approx(f.wall_s) and f.efficiency <= 1.0 + 1e-9
