"""Figures on hand-made runs with known answers: ideal bound, efficiency, speedup, overhead,
contention, queue wait, tasks solved; and the answer check on removed and changed units."""

from __future__ import annotations

import numpy as np
import pytest
from builders import make_run, parallel, unit_rows

from perfkit.analysis.answers import candidate_counts, check_answers
from perfkit.analysis.comparison import analyse
from perfkit.analysis.metrics.bound import ideal_bound, unit_wait
from perfkit.analysis.metrics.dispatch import dispatch_overhead
from perfkit.analysis.metrics.run import run_figures
from perfkit.analysis.metrics.solved import tasks_solved
from perfkit.analysis.statistics import ratio_of_medians


def test_ideal_bound_per_strategy_known_answers():
    # work per sample: demo[0] 1 s, demo[1] 1 s, test[0] 4 s (two candidates each)
    rows = unit_rows(cpu=0.5)
    for r in rows:
        if r["split"] == "test":
            r["cpu_s"] = r["wall_s"] = 2.0
    df = make_run(rows).units  # sequential: one work item, one stage
    assert ideal_bound(df, 1) == pytest.approx((6.0, 6.0, 6.0))
    sp = df.copy()  # sample-parallel: one item per sample, one stage
    sp["chunk"] = sp.groupby(["split", "index"], sort=False).ngroup()
    assert ideal_bound(sp, 2) == pytest.approx((6.0, 4.0, 4.0))
    assert ideal_bound(sp, 8) == pytest.approx((6.0, 4.0, 4.0))
    cp = df.copy()  # candidate-parallel: one unit per item: largest item 2 s, even share 3 s
    cp["chunk"] = np.arange(len(cp))
    assert ideal_bound(cp, 2) == pytest.approx((6.0, 2.0, 3.0))
    # hybrid: a stage per sample: Σ max(sample work / 2, largest chunk) = 0.5 + 0.5 + 2
    hy = cp.copy()
    hy["stage"] = hy.groupby(["split", "index"], sort=False).ngroup()
    assert ideal_bound(hy, 2) == pytest.approx((6.0, 3.0, 3.0))


def test_ideal_uses_the_reference_cpu_as_work():
    ref = make_run(unit_rows(cpu=0.1))
    slow = make_run(unit_rows(cpu=0.3))
    assert ideal_bound(slow.units, 1, ref.units)[2] == pytest.approx(0.6)
    assert ideal_bound(slow.units, 1)[2] == pytest.approx(1.8)


@pytest.mark.slow  # over half a second (session 14: the quick subset's time)
def test_units_that_wait_hold_a_worker_not_a_core_in_the_ideal_bound():
    # six units of 0.1 s CPU that each sleep 0.3 s more under a quiet sequential reference: 16
    # workers on 2 cores can overlap the sleeps, but no schedule beats (CPU + wait) / workers
    def sleeping(df):
        df["wall_s"] = df["cpu_s"] * 4
        return df

    ref = make_run(unit_rows(cpu=0.1), edit=sleeping)
    wait = unit_wait(ref.units, ref.units, quiet=True)
    assert wait.to_numpy() == pytest.approx([0.3] * 6)
    cp = ref.units.assign(chunk=np.arange(6))  # one unit per item
    assert ideal_bound(cp, 2, ref.units, workers=2, wait=wait) == pytest.approx((0.6, 0.4, 1.2))
    assert ideal_bound(cp, 2, ref.units, workers=16, wait=wait) == pytest.approx((0.6, 0.4, 0.4))
    assert ideal_bound(cp, 2, ref.units)[2] == pytest.approx(0.3)  # CPU only: out of any schedule's reach
    # a unit whose wall is close to its CPU computes (the gap is a clock read, an interrupt); beside
    # other work, a unit waiting for a core reads like one waiting on I/O: nothing counts then
    computing = make_run(unit_rows(cpu=0.1), edit=lambda df: df.assign(wall_s=df["cpu_s"] * 1.4))
    assert not unit_wait(computing.units, computing.units, quiet=True).any()
    assert not unit_wait(ref.units, ref.units, quiet=False).any()


def test_a_parallel_run_of_waiting_units_reads_its_efficiency_against_its_workers():
    def sleeping(df):
        df["wall_s"] = df["cpu_s"] * 4
        return df

    quiet, busy = ({"others_cpu_s": others} for others in (0.0, 2.4))  # 2.4 s of others in 2.4 s: one core
    ref = make_run(unit_rows(cpu=0.1), edit=sleeping, summary=quiet, wall_s=2.4)
    rows = [dict(r, chunk=i) for i, r in enumerate(ref.units.to_dict("records"))]  # an item per unit
    run = make_run(rows, "candidate-parallel", "thread", 4, wall_s=0.65)  # 6 × 0.4 s on 4 workers: 0.6 at best
    f = run_figures(run, ref)
    assert f.wait_s == pytest.approx(1.8) and f.ideal_wall_s == pytest.approx(0.6)
    assert f.efficiency == pytest.approx(0.6 / 0.65)
    seq = run_figures(ref)  # sequential on its own: its bound is its own wall
    assert seq.ideal_wall_s == pytest.approx(2.4)
    # the same reference beside a core of other work (markdown-it's CPU-bound units read 2.1× their
    # CPU beside 1.5 cores), or beside threads an earlier thread run left running (the GIL)
    loaded = make_run(unit_rows(cpu=0.1), edit=sleeping, summary=busy, wall_s=2.4)
    assert run_figures(run, loaded).wait_s == 0.0
    strays = make_run(unit_rows(cpu=0.1), edit=sleeping, summary={**quiet, "stray_threads": 2}, wall_s=2.4)
    assert run_figures(run, strays).wait_s == 0.0


def test_a_run_in_a_faster_speed_state_than_its_reference_is_not_above_its_limit():
    # this machine's speed flips ~2× between states: a repeat's parallel run in the faster one
    # read 102 % against its reference in the slower one (the main job). A unit's work is its
    # reference CPU, or its CPU here when that is less; a dearer unit here still counts its
    # reference CPU, so what two busy cores cost shows as lost efficiency
    ref = make_run(unit_rows(cpu=0.1))
    fast = [dict(r, chunk=i, cpu_s=0.06, wall_s=0.06) for i, r in enumerate(unit_rows(cpu=0.1))]
    f = run_figures(make_run(parallel(fast, 2, lambda r: r["chunk"]), "candidate-parallel", "process", 2), ref)
    assert f.work_s == pytest.approx(0.36) and f.efficiency == pytest.approx(1.0)
    dear = [dict(r, chunk=i, cpu_s=0.12, wall_s=0.12) for i, r in enumerate(unit_rows(cpu=0.1))]
    f = run_figures(make_run(parallel(dear, 2, lambda r: r["chunk"]), "candidate-parallel", "process", 2), ref)
    assert f.work_s == pytest.approx(0.6) and f.efficiency == pytest.approx(0.6 / 0.72)


def test_run_figures_known_answers():
    ref = make_run(unit_rows(cpu=0.1))  # 6 units × 0.1 s
    rows = parallel(unit_rows(cpu=0.2), 2, lambda r: r["candidate"])  # 2 chunks of 3 units, contended
    for r in rows:
        r["cpu_s"] = 0.1
    run = make_run(rows, "candidate-parallel", "process", 2, wall_s=0.8, cpu_s=0.7)
    f = run_figures(run, ref)
    assert f.slots == 2
    assert f.work_s == pytest.approx(0.6)
    assert f.ideal_wall_s == pytest.approx(0.3)  # max(0.6 / 2, largest chunk 0.3)
    assert f.efficiency == pytest.approx(0.3 / 0.8)
    assert f.parallelism == pytest.approx(0.7 / 0.8)
    assert f.contention == pytest.approx(2.0)  # unit wall 1.2 s over unit CPU 0.6 s
    assert f.dispatch_overhead == pytest.approx(1 - 1.2 / 1.6)
    assert f.queue_wait_max_s == pytest.approx(0.4)  # the last unit of each lane
    assert f.tasks_solved == 1


def test_a_leaked_threads_cpu_past_its_wall_is_not_a_contention_figure():
    # the thread backend gives up a unit at its deadline (wall 0.2 s) but its thread burns on to
    # the run's end (CPU 1.0 s): with it, contention would read below 1, as if units ran faster
    rows = unit_rows(cpu=0.1)
    for r in rows:
        r["wall_s"] = 0.2  # two threads sharing the GIL: each unit at half a core
    rows[0].update(status="timeout", cpu_s=1.0, leaked=True, leaked_s=0.8)
    run = make_run(rows, "candidate-parallel", "thread", 2)
    assert run_figures(run).contention == pytest.approx(2.0)


def test_dispatch_overhead_clipped():
    assert dispatch_overhead(2.0, 2, 3.0) == pytest.approx(0.25)
    assert dispatch_overhead(1.0, 1, 5.0) == 0.0
    assert np.isnan(dispatch_overhead(0.0, 2, 1.0))


def test_speedup_and_bootstrap_interval():
    point, lo, hi = ratio_of_medians([2.0], [1.0])
    assert point == 2.0 and np.isnan(lo) and np.isnan(hi)  # one run each: no interval, not a point
    s, lo, hi = ratio_of_medians([4.0, 4.1, 3.9], [1.0, 2.0, 4.0])
    assert s == pytest.approx(2.0)
    assert lo <= s <= hi and lo >= 4.1 / 4.0 * 0.9 and hi <= 4.1 / 1.0
    assert ratio_of_medians([4.0, 4.1, 3.9], [1.0, 2.0, 4.0]) == (s, lo, hi)  # seeded


@pytest.mark.slow  # > 0.4 s: the quick subset stays under 30 s (docs/testing.md)
def test_group_figures_median_spread_and_speedup():
    runs = [make_run(unit_rows(), wall_s=w, repeat=i) for i, w in enumerate([2.0, 2.2, 1.8])]
    runs += [make_run(parallel(unit_rows(), 2, lambda r: r["index"]), "sample-parallel", "process", 2,
                      wall_s=w, repeat=i) for i, w in enumerate([1.0, 1.1, 0.9])]
    c = analyse(runs)
    g = c.groups.set_index("group")
    assert list(g.index) == ["sequential/inline×1", "sample-parallel/process×2"]
    sp = g.loc["sample-parallel/process×2"]
    assert sp["repeats"] == 3
    assert (sp["wall_s_median"], sp["wall_s_min"], sp["wall_s_max"]) == pytest.approx((1.0, 0.9, 1.1))
    assert sp["speedup"] == pytest.approx(2.0)
    assert sp["speedup_low"] <= 2.0 <= sp["speedup_high"]
    assert g.loc["sequential/inline×1", "speedup"] == pytest.approx(1.0)


@pytest.mark.slow
def test_status_counts_of_a_group_come_from_one_repeat_and_add_up_to_its_units():
    def timed_out(rows, n):
        for r in rows[:n]:
            r["status"], r["output_hash"] = "timeout", None
        return rows
    rows = unit_rows()
    runs = [make_run(timed_out(unit_rows(), k), wall_s=1.0, repeat=i) for i, k in enumerate([0, 3, 1])]
    runs[0].units.loc[runs[0].units.index[0], "status"] = "error"  # the first repeat: 1 error, no timeout
    g = analyse(runs).groups.iloc[0]
    worst = [g[f"n_{k}_worst"] for k in ("ok", "error", "timeout", "crashed", "skipped")]
    assert worst == [len(rows) - 3, 0, 3, 0, 0]  # the repeat with the fewest ok, whole
    assert (g["n_ok_max"], g["n_error_max"], g["n_timeout_max"]) == (len(rows) - 1, 1, 3)  # maxima of different repeats


def test_tasks_solved_needs_every_demo_and_known_test():
    rows = unit_rows(task_id="a") + unit_rows(task_id="b")
    for r in rows:
        if r["task_id"] == "b" and r["split"] == "demo" and r["index"] == 1:
            r["match"] = False  # c000 fails one demo of task b
        if r["split"] == "test":
            r["match"] = None  # unknown test output: not required
    assert tasks_solved(make_run(rows).units) == 1


def test_answer_check_removed_and_changed_units():
    ref = make_run(unit_rows())

    def edit(df):
        df = df.drop(df.index[0]).copy()  # demo[0] c000 missing
        df.loc[df["candidate"].eq("c001") & df["split"].eq("demo") & df["index"].eq(1), "output_hash"] = "other"
        t = df["split"].eq("test") & df["candidate"].eq("c001")
        df.loc[t, ["status", "output_hash"]] = ["timeout", None]
        return df

    run = make_run(unit_rows(), edit=edit)
    extra = make_run(unit_rows() + unit_rows(samples=(("demo", 9),), candidates=("c000",)))
    check = check_answers(ref.units, run.units, "r", "g")
    assert not check.clean and check.n_differences == 3
    assert [tuple(x) for x in check.missing[["split", "index", "candidate"]].itertuples(index=False)] == [("demo", 0, "c000")]
    assert list(check.output_changed["candidate"]) == ["c001"]
    assert list(check.status_changed["status_run"]) == ["timeout"]
    assert "1 lost unit" in check.sentence() and "1 changed output" in check.sentence()
    assert "1 new timeout" in check.sentence() and not check.agrees  # no variability known: all count
    assert len(check_answers(ref.units, extra.units).extra) == 1
    assert check_answers(ref.units, ref.units).clean
    counts = candidate_counts({"sequential": ref.units, "parallel": run.units})
    assert counts.loc["total"].tolist() == [6, 4]
    assert counts.loc["demo[0]"].tolist() == [2, 1]


@pytest.mark.slow  # over half a second (session 14: the quick subset's time)
def test_comparison_headline_first_and_differences():
    ref = make_run(unit_rows())
    bad = make_run(unit_rows(), "sample-parallel", "process", 2, edit=lambda d: d.iloc[1:])
    c = analyse([ref, bad])
    assert c.differences and c.headline().startswith("ANSWERS DIFFER")
    good = analyse([ref, make_run(unit_rows(), "sample-parallel", "process", 2)])
    assert not good.differences and good.headline().startswith("Answers identical: the run agrees with")
