"""Each finding fires on a run built to trigger it and stays silent on a clean run."""

from __future__ import annotations

import pytest

from builders import CANDS, SAMPLES, timed_out, clean_parallel, make_run, parallel, unit_rows, whole_samples
from builders import reference_run as reference

from perfkit.analysis.comparison import analyse


def rules(c):
    return {f.rule for f in c.findings}


@pytest.mark.slow  # over half a second (session 14: the quick subset's time)
def test_clean_run_is_silent_and_recommended():
    c = analyse([reference(repeat=0), reference(repeat=1), clean_parallel(repeat=0), clean_parallel(repeat=1)])
    assert c.findings == []
    assert not c.differences
    rec = c.recommendation.sentence
    assert rec.startswith("Use candidate-parallel on the process backend with 2 workers")
    assert "faster than sequential" in rec and "of the physical limit" in rec
    assert "95 % CI" in rec and "busy" not in rec


def test_one_run_gives_no_verdict_and_no_point_interval():
    c = analyse([reference(repeat=0), reference(repeat=1), clean_parallel()])
    rec = c.recommendation.sentence
    assert rec.startswith("No verdict") and "no interval: one run" in rec
    assert not rec.startswith("Use")


@pytest.mark.slow
def test_contention_timeouts():
    def edit(df):
        m = df["split"].eq("demo") & df["index"].eq(4) & df["candidate"].isin(["c005", "c006", "c007"])
        timed_out(df, m, 1.0, 0.25)
        df.loc[df["split"].eq("demo") & df["index"].eq(4), "started"] += 18.2
        return df

    c = analyse([reference(), make_run(clean_parallel().units.to_dict("records"), "sample-parallel", "thread", 4,
                                       wall_s=3.0, cpu_s=3.0, edit=edit)])
    f = [f for f in c.findings if f.rule == "contention-timeouts"]
    assert len(f) == 1
    assert "demo[4]" in f[0].sentence and "not under sequential" in f[0].sentence
    assert "25% of a core" in f[0].sentence and "contention" in f[0].sentence
    assert "take turns at the GIL" in f[0].sentence  # threads of one process: their contention is the GIL
    assert "3 candidates lost; under sequential they took at most 100 ms, under 50% of the 1 s limit" \
        in f[0].sentence, f[0].sentence
    assert any("s in the queue" in e and "demo[4]" in e for e in f[0].evidence), f[0].evidence
    assert float(f[0].evidence[0].split("waited ")[1].split(" s")[0]) >= 18.2
    assert c.differences  # a lost candidate is also an answer difference
    assert "contention-timeouts" not in rules(analyse([reference(), clean_parallel()]))


@pytest.mark.slow
def test_gil_bound_thread_backend():
    rows = unit_rows(SAMPLES, CANDS, cpu=0.1)
    rows = parallel(rows, 2, lambda r: (r["index"], r["split"]))
    for r in rows:  # each unit got half a core: wall doubled, CPU unchanged
        r["wall_s"] = 0.2
    c = analyse([reference(), make_run(rows, "sample-parallel", "thread", 2, wall_s=4.9, cpu_s=4.8)])
    f = [f for f in c.findings if f.rule == "gil"]
    assert len(f) == 1 and "(GIL)" in f[0].sentence and "process backend" in f[0].sentence
    assert "gil" not in rules(analyse([reference(), clean_parallel(backend="thread")]))


@pytest.mark.slow
def test_dispatch_overhead_with_chunk_size():
    rows = unit_rows(SAMPLES, CANDS, cpu=0.001)
    for i, r in enumerate(rows):
        r["_i"] = i
    rows = parallel(rows, 2, lambda r: r["_i"])  # one unit per item
    for r in rows:  # every item pays 4 ms of dispatch before its 1 ms unit
        r.pop("_i")
        r["started"] += 0.004 * r["chunk"] / 2
        r["ended"] = r["started"] + 0.001
    wall = max(r["ended"] for r in rows)
    c = analyse([reference(cpu=0.001), make_run(rows, "candidate-parallel", "process", 2, wall_s=wall, cpu_s=wall)])
    f = [f for f in c.findings if f.rule == "dispatch-overhead"]
    assert len(f) == 1 and "raise the chunk size to" in f[0].sentence and "units per work item" in f[0].sentence
    assert "dispatch-overhead" not in rules(analyse([reference(), clean_parallel()]))


def _dispatch_bound_sample_parallel(per_item_s: float) -> list:
    """sample-parallel on 2 workers, one sample (8 units of 1 ms) per item, each item paying
    ``per_item_s`` of dispatch before it starts."""
    rows = parallel(unit_rows(SAMPLES, CANDS, cpu=0.001), 2, lambda r: (r["split"], r["index"]))
    for r in rows:
        r["started"] += per_item_s * ((r["chunk"] + 1) // 2)  # the k-th item of its lane waited k times
        r["ended"] = r["started"] + 0.001
    return rows


@pytest.mark.slow
def test_dispatch_overhead_names_only_strategies_that_apply_to_an_opaque_solver():
    # --solver batt (whole samples only) was told "use candidate-parallel with chunks of 14 units"
    ref = make_run(unit_rows(SAMPLES, CANDS, cpu=0.001))
    fine = _dispatch_bound_sample_parallel(0.04)
    wall = max(r["ended"] for r in fine)
    (f,) = [f for f in analyse([ref, make_run(fine, "sample-parallel", "process", 2, wall_s=wall, cpu_s=wall)]).findings
            if f.rule == "dispatch-overhead"]
    assert "use candidate-parallel with chunks of" in f.sentence  # a fine-grained solver: it applies
    opaque = [make_run(whole_samples(unit_rows(SAMPLES, CANDS, cpu=0.001))),
              make_run(whole_samples(fine), "sample-parallel", "process", 2, wall_s=wall, cpu_s=wall)]
    (f,) = [f for f in analyse(opaque).findings if f.rule == "dispatch-overhead"]
    assert "candidate-parallel" not in f.sentence and "chunk" not in f.sentence, f.sentence
    assert "each work item is a whole sample" in f.sentence and "(sequential, sample-parallel)" in f.sentence


@pytest.mark.slow  # > 0.2 s: out of the quick subset (session 17, suitetime17)
def test_dispatch_overhead_per_unit_is_not_fixed_by_chunks():
    cands = tuple(f"c{i:03d}" for i in range(128))
    rows = unit_rows(SAMPLES, cands, cpu=0.001)
    rows = parallel(rows, 2, lambda r: (r["split"], r["index"]))  # 128 units per item
    for r in rows:  # every unit pays 1 ms outside the solver
        r["started"] *= 2
        r["ended"] = r["started"] + 0.001
    wall = max(r["ended"] for r in rows)
    ref = make_run(unit_rows(SAMPLES, cands, cpu=0.001))
    c = analyse([ref, make_run(rows, "sample-parallel", "process", 2, wall_s=wall, cpu_s=wall)])
    f = [f for f in c.findings if f.rule == "dispatch-overhead"]
    assert len(f) == 1 and "per unit, not per item" in f[0].sentence and "--chunk-size" not in f[0].sentence


@pytest.mark.slow
def test_critical_path_dominates_sample_parallel():
    rows = unit_rows(SAMPLES, CANDS, cpu=0.01)
    for r in rows:
        if r["split"] == "demo" and r["index"] == 4:
            r["wall_s"] = r["cpu_s"] = 0.5
    ref = make_run(rows)
    prow = parallel(rows, 4, lambda r: (r["split"], r["index"]))
    wall = max(r["ended"] for r in prow)
    c = analyse([ref, make_run(prow, "sample-parallel", "process", 4, wall_s=wall, cpu_s=wall * 1.3, cores=4)])
    f = [f for f in c.findings if f.rule == "critical-path"]
    assert len(f) == 1 and "demo[4]" in f[0].sentence and "critical path" in f[0].sentence
    assert "critical-path" not in rules(analyse([reference(), clean_parallel()]))
    assert "split the work finer (candidate-parallel or hybrid)" in f[0].sentence
    opaque = analyse([make_run(whole_samples(rows)),
                      make_run(whole_samples(prow), "sample-parallel", "process", 4, wall_s=wall, cpu_s=wall * 1.3,
                               cores=4)])
    (f,) = [f for f in opaque.findings if f.rule == "critical-path"]
    assert "candidate-parallel" not in f.sentence and "only a cheaper slowest sample shortens it" in f.sentence


def test_straggler_worker():
    def edit(df):
        df.loc[df["worker"].eq("w0"), "wall_s"] *= 5
        return df

    run = clean_parallel(edit=edit)
    c = analyse([reference(), run])
    assert "straggler" in rules(c)


@pytest.mark.slow  # > 0.2 s: out of the quick subset (session 17, suitetime17)
def test_leaked_timeouts():
    def edit(df):
        m = df["candidate"].eq("c003") & df["split"].eq("demo")
        df.loc[m, ["status", "output_hash", "match", "leaked", "leaked_s"]] = ["timeout", None, None, True, 2.5]
        return df

    c = analyse([reference(), clean_parallel(backend="thread", edit=edit)])
    f = [f for f in c.findings if f.rule == "leaked-timeouts"]
    assert len(f) == 1 and "kept running after their deadline" in f[0].sentence and "12.50 s" in f[0].sentence


def test_budget_skips():
    def edit(df):
        m = df["split"].eq("test")
        df.loc[m, ["status", "output_hash", "match", "started", "ended", "wall_s", "cpu_s"]] = \
            ["skipped", None, None, None, None, None, None]
        return df

    c = analyse([reference(), clean_parallel(edit=edit)])
    f = [f for f in c.findings if f.rule == "budget-skips"]
    assert len(f) == 1 and f[0].sentence.startswith("8 units were skipped") and "test[0]" in f[0].evidence[0]


@pytest.mark.slow  # over half a second (session 14: the quick subset's time)
def test_crashed_workers():
    def edit(df):
        m = df["split"].eq("demo") & df["index"].eq(2) & df["candidate"].eq("c004")
        df.loc[m, ["status", "output_hash", "match", "error_message"]] = ["crashed", None, None, "worker exited (70)"]
        return df

    c = analyse([reference(), clean_parallel(edit=edit, summary={"workers": [{"worker": "w0", "killed": True}]})])
    f = [f for f in c.findings if f.rule == "crashed-workers"]
    assert len(f) == 1 and "dead workers" in f[0].sentence
    assert any("worker exited (70)" in e for e in f[0].evidence)


def test_low_efficiency():
    good = clean_parallel()
    slow = make_run(good.units.to_dict("records"), "candidate-parallel", "process", 2,
                    wall_s=good.summary.wall_s * 4, cpu_s=good.summary.cpu_s)
    c = analyse([reference(), slow])
    f = [f for f in c.findings if f.rule == "low-efficiency"]
    assert len(f) == 1 and "of the physical limit" in f[0].sentence



@pytest.mark.slow
def test_low_efficiency_of_units_that_wait_is_measured_against_their_workers():
    # units that sleep (I/O, a GPU) for two thirds of their wall: the bound counts the sleep,
    # which each unit spends holding a worker, so a run at its workers' limit is not warned of
    # and a run 4× slower is, with the waiting in its evidence
    def waiting(df):
        df["cpu_s"] = df["wall_s"] / 3
        return df

    good = clean_parallel(edit=waiting)
    slow = make_run(good.units.to_dict("records"), "candidate-parallel", "process", 2,
                    wall_s=good.summary.wall_s * 4, cpu_s=good.summary.cpu_s)
    quiet = reference(edit=waiting, summary={"others_cpu_s": 0.0})
    assert not [f for f in analyse([quiet, good]).findings if f.rule == "low-efficiency"]
    f = [f for f in analyse([quiet, slow]).findings if f.rule == "low-efficiency"]
    assert len(f) == 1 and f[0].severity == "warning", f
    assert any("waited off the CPU under sequential" in e for e in f[0].evidence), f[0].evidence
    # the same reference beside a core of other work: a CPU-bound solver starved reads so too
    # (markdown-it, sympy next to two busy loops), so nothing is counted as waiting
    busy = reference(edit=waiting, summary={"others_cpu_s": 0.0})
    busy = reference(edit=waiting, summary={"others_cpu_s": float(busy.summary.wall_s)})  # one core
    f = [f for f in analyse([busy, good]).findings if f.rule == "low-efficiency"]
    assert len(f) == 1 and not any("waited off the CPU" in e for e in f[0].evidence), f
    assert any("cannot be told from waiting for a core" in e for e in f[0].evidence), f[0].evidence


@pytest.mark.slow
def test_recommendation_skips_strategies_that_changed_answers():
    fast_but_wrong = clean_parallel(edit=lambda d: d.iloc[2:])
    c = analyse([reference(), fast_but_wrong])
    assert c.recommendation.sentence.startswith("No strategy kept the sequential answers")
    assert any("changed answers" in e for e in c.recommendation.evidence)
    slow = [make_run(reference().units.to_dict("records"), "sample-parallel", "process", 2, wall_s=w, repeat=i)
            for i, w in enumerate((10.0, 10.5))]
    c = analyse([reference(repeat=0), reference(repeat=1), *slow])
    assert c.recommendation.sentence.startswith("Stay sequential")


@pytest.mark.slow
def test_no_significant_difference_when_the_interval_contains_one():
    """Two identical configurations on a noisy machine: the faster median is not a verdict."""
    ref = reference()
    refs = [make_run(ref.units.to_dict("records"), wall_s=w, repeat=i) for i, w in enumerate((4.8, 3.2, 4.0))]
    par = [make_run(ref.units.to_dict("records"), "sample-parallel", "process", 2, wall_s=w, repeat=i)
           for i, w in enumerate((3.0, 4.6, 3.5))]
    c = analyse(refs + par)
    g = c.groups.set_index("group").loc["sample-parallel/process×2"]
    assert g["speedup"] > 1.0 and g["speedup_low"] < 1.0 < g["speedup_high"]
    rec = c.recommendation.sentence
    assert rec.startswith("No significant difference") and "includes 1.0" in rec
    assert f"{g['speedup_low']:.2f}–{g['speedup_high']:.2f}" in rec and not rec.startswith("Use")


@pytest.mark.slow  # over half a second (session 14: the quick subset's time)
def test_candidate_generation_dominating():
    base = clean_parallel()
    slow_gen = clean_parallel(summary={"generate_s": base.summary.wall_s})
    c = analyse([reference(summary={"generate_s": base.summary.wall_s}), slow_gen])
    f = [f for f in c.findings if f.rule == "candidate-generation"]
    assert len(f) == 1 and "of the solver's work" in f[0].sentence and "candidates()" in f[0].sentence
    assert "candidate-generation" not in rules(analyse([reference(), clean_parallel()]))


@pytest.mark.slow
def test_candidate_generation_is_said_once_of_the_solver():
    # a property of the solver, said once however many groups ran (the main job: three times before)
    base = clean_parallel()
    slow_gen = clean_parallel(summary={"generate_s": base.summary.wall_s})
    other = clean_parallel("hybrid", summary={"generate_s": base.summary.wall_s})
    f = [f for f in analyse([reference(summary={"generate_s": base.summary.wall_s}), slow_gen, other]).findings
         if f.rule == "candidate-generation"]
    assert len(f) == 1 and "under every strategy" in f[0].sentence
    assert sum("generation took" in e for e in f[0].evidence) == 2
    # a group whose budget skipped half its units ran half the evaluation, not the solver's: the
    # share is the reference's (4.8 s of units against 1.5 s of generation: 24 %, not 38 %)
    def half_skipped(df):
        df.loc[df.index[24:], ["status", "wall_s", "cpu_s"]] = ["skipped", None, None]
        return df

    cut = clean_parallel(summary={"generate_s": 1.5}, edit=half_skipped)
    (g,) = [f for f in analyse([reference(summary={"generate_s": 1.5}), cut]).findings
            if f.rule == "candidate-generation"]
    assert "(1.50 s of candidates() against 4.80 s of evaluation, CPU)" in g.sentence


@pytest.mark.slow
def test_candidate_generation_counts_as_work_by_its_cpu_not_its_wall():
    """A loaded machine stretches candidates()' wall (3× its CPU here, 5× on the workers): the ideal bound and the
    finding count generation's CPU in the reference, as they count each unit's (work = CPU)."""
    from perfkit.analysis.metrics.run import run_figures

    ref = reference(summary={"generate_s": 6.0, "generate_cpu_s": 2.0})
    run = clean_parallel(summary={"generate_s": 12.0, "generate_cpu_s": 2.2})
    f = run_figures(run, ref)
    assert f.generate_work_s == 2.0 and f.generate_s == 12.0
    assert f.ideal_wall_s == max((f.work_s + 2.0) / f.slots, f.critical_path_s)
    # a reference without generation's CPU counts its wall, 6 s; this run's own 2.2 s of CPU is less
    assert run_figures(run, reference(summary={"generate_s": 6.0})).generate_work_s == 2.2
    [finding] = [x for x in analyse([ref, run]).findings if x.rule == "candidate-generation"]
    total = f.work_s + 2.0
    assert f"({2.0:.2f} s of candidates() against {f.work_s:.2f} s of evaluation, CPU)" in finding.sentence
    assert f"{round(200 / total)}" in finding.sentence and "12.000 s of wall" in finding.evidence[1]


@pytest.mark.slow  # > 0.4 s: the quick subset stays under 30 s (docs/testing.md)
def test_worker_startup_is_said_once_per_warm_pool():
    # the main job's report said it once per strategy: "0.001 s ... 0 worker processes forked",
    # of a pool the first strategy's run had started and lent to the others; the process backend's
    # warm pool is one per backend, grown to each run's worker count (perfkit/backends/__init__.py
    # WarmBackends): ×2 then ×4 is one pool, not two
    def started(strategy, startup_s, created, workers=2, backend="process"):
        return clean_parallel(strategy, backend=backend, workers=workers,
                              summary={"startup_s": startup_s, "resources": {"processes_created": created}})

    runs = [reference(), started("candidate-parallel", 0.139, 2), started("hybrid", 0.001, 0),
            started("hybrid", 0.2, 2, workers=4)]
    (pool,) = [f for f in analyse(runs).findings if f.rule == "worker-startup"]
    assert "Starting the process workers (×2, ×4) took 200 ms at most" in pool.sentence
    assert "(3 runs of candidate-parallel, hybrid)" in pool.sentence and pool.group == ""
    assert pool.evidence[0].startswith("4 worker processes started over 3 runs (a warm pool is started once")
    # one strategy on one worker count: its group; threads start with each run, no process
    alone = [reference(), started("hybrid", 0.01, 0, backend="thread"), started("hybrid", 0.02, 0, backend="thread")]
    (threads,) = [f for f in analyse(alone).findings if f.rule == "worker-startup"]
    assert threads.group == "hybrid/thread×2" and "(2 runs of hybrid)" in threads.sentence
    assert threads.evidence == ("no process started over 2 runs: the workers are threads each run starts",)


def test_the_waiting_the_bound_counts_reads_right_on_one_worker():
    # units that sleep 0.3 s beside 0.1 s of CPU, on one thread worker that spent as long again
    # outside them: low efficiency, and the evidence names one worker, not "1 workers"
    sleeping = lambda df: df.assign(wall_s=df["cpu_s"] * 4)  # noqa: E731
    ref = make_run(unit_rows(SAMPLES, CANDS, cpu=0.1), edit=sleeping, summary={"others_cpu_s": 0.0}, wall_s=19.2)
    rows = parallel([dict(r, chunk=i) for i, r in enumerate(ref.units.to_dict("records"))], 1, lambda r: r["chunk"])
    run = make_run(rows, "candidate-parallel", "thread", 1, wall_s=3 * 19.2)
    (low,) = [f for f in analyse([ref, run]).findings if f.rule == "low-efficiency"]
    assert low.evidence[-1].endswith("so 1 worker allows at most 1 at once")


@pytest.mark.slow  # > 0.2 s: out of the quick subset (session 17, suitetime17)
def test_a_run_whose_time_outside_units_is_all_start_up_is_told_so_not_divided_by_zero():
    # one worker, units back to back, the rest of the wall before the first unit: nothing
    # between units, so no share of it can be the stages' tails (it raised ZeroDivisionError)
    rows = parallel([dict(r, chunk=i) for i, r in enumerate(unit_rows(SAMPLES, CANDS, cpu=0.1))], 1,
                    lambda r: r["chunk"])
    run = make_run(rows, "candidate-parallel", "thread", 1, wall_s=3 * 4.8)
    (d,) = [f for f in analyse([reference(), run]).findings if f.rule == "dispatch-overhead"]
    assert "worker start-up takes 9.60 s of 14.40 s" in d.sentence


@pytest.mark.slow  # > 0.2 s: out of the quick subset (session 17, suitetime17)
@pytest.mark.parametrize("backend", ["process", "thread"])
def test_start_up_that_dominates_advises_threads_only_to_a_run_not_on_them(backend):
    # a thread run whose wall was mostly its start-up was told "or the thread backend"
    rows = parallel([dict(r, chunk=i) for i, r in enumerate(unit_rows(SAMPLES, CANDS, cpu=0.1))], 2,
                    lambda r: r["chunk"])
    # the run's wall is 3 s longer than its units' span: the workers' start-up and teardown
    run = make_run(rows, "candidate-parallel", backend, 2, wall_s=max(r["ended"] for r in rows) + 3.0)
    (f,) = [f for f in analyse([reference(), run]).findings if f.rule == "dispatch-overhead"]
    assert "worker start-up takes 3.00 s" in f.sentence and "more work per run" in f.sentence
    assert ("or the thread backend" in f.sentence) == (backend == "process")


@pytest.mark.slow
def test_one_candidate_lost_at_full_speed_is_told_in_the_singular():
    # markdown-it's report: "(1 candidate lost, far from its limit …): the units ran at 95 % of a
    # core: they were slow"
    def edit(df):
        m = df["split"].eq("demo") & df["index"].eq(4) & df["candidate"].eq("c005")
        timed_out(df, m, 1.0, 0.95)
        return df

    def lost(others_cpu_s):
        return analyse([reference(), make_run(clean_parallel().units.to_dict("records"), "sample-parallel", "process",
                                              2, wall_s=3.0, cpu_s=3.0, edit=edit,
                                              summary={"others_cpu_s": others_cpu_s})])

    c = lost(0.0)
    (f,) = [f for f in c.findings if f.rule == "new-timeouts"]
    assert ("(1 candidate lost; under sequential it took 100 ms, under 50% of the 1 s limit): the unit ran at 95% "
            "of a core: it was slow") in f.sentence, f.sentence
    assert c.recommendation.sentence == "No strategy kept the sequential answers: fix the differences before tuning speed."
    # lost beside 1.5 cores of other work: the recommendation says where they were measured
    busy = lost(4.5).recommendation.sentence
    assert busy.startswith("No strategy kept the sequential answers") and "other processes used up to 1.50 cores " \
        "during 1 of them): compare again on a quiet one" in busy, busy


def _gil_bound_run(backend: str, others_cores: float = 0.0, parallelism: float = 0.98):
    """A sample-parallel run on 2 workers whose units each got half a core (wall doubled), with
    ``others_cores`` of other work beside it and ``parallelism`` CPU/wall."""
    rows = parallel(unit_rows(SAMPLES, CANDS, cpu=0.1), 2, lambda r: (r["index"], r["split"]))
    for r in rows:
        r["wall_s"] = 0.2
    return make_run(rows, "sample-parallel", backend, 2, wall_s=4.9, cpu_s=4.9 * parallelism,
                    summary={"others_cpu_s": 4.9 * others_cores})


@pytest.mark.slow
def test_threads_beside_busy_cores_or_no_faster_in_processes_are_not_called_gil_bound():
    # markdown-it beside 1.3 cores of other work: thread runs at parallelism 0.65 were told
    # "(GIL): use the process backend" while the process backend reached 0.68
    quiet = [reference(summary={"others_cpu_s": 0.0}), _gil_bound_run("thread")]
    assert "gil" in rules(analyse(quiet))
    busy = [reference(summary={"others_cpu_s": 0.0}), _gil_bound_run("thread", others_cores=1.3, parallelism=0.65)]
    c = analyse(busy)
    assert "gil" not in rules(c)
    (low,) = [f for f in c.findings if f.rule == "low-efficiency"]
    assert low.evidence[-1].startswith("other processes used 1.30 of the 2 usable cores during these runs (median)")
    no_better = quiet + [_gil_bound_run("process", parallelism=1.05)]
    assert "gil" not in rules(analyse(no_better))
    better = quiet + [_gil_bound_run("process", parallelism=1.9)]
    (gil,) = [f for f in analyse(better).findings if f.rule == "gil"]
    assert "the process backend reached parallelism 1.90" in gil.evidence[-1]


def test_the_memory_finding_tells_one_tasks_sample_from_the_same_sample_of_another():
    # two tasks, one item per sample: only t1's demo[0] peaks. Keyed without its task, that
    # sample was also in t2's light item, and the finding named no sample at all
    rows = [r for task in ("t1", "t2") for r in unit_rows((("demo", 0), ("demo", 1)), ("c000", "c001"), task_id=task)]
    for r in rows:
        r["chunk"] = 1 + r["index"]
    items = [{"task_id": t, "chunk": 1 + i, "worker": "main", "peak_rss_bytes": (500 if (t, i) == ("t1", 0) else 100)
              * 2**20} for t in ("t1", "t2") for i in (0, 1)]
    (memory,) = [f for f in analyse([make_run(rows, summary={"items": items})]).findings if f.rule == "memory"]
    assert "sample t1/demo[0], in every such item and no other" in memory.sentence, memory.sentence


def test_the_efficiency_evidence_leaves_out_waiting_too_small_to_move_the_bound():
    # markdown-it's thread runs read "the bound counts 0.000 s the units waited off the CPU under
    # sequential (sleep, I/O) beside 2.118 s of CPU": true, and nothing to act on
    from types import SimpleNamespace

    from perfkit.analysis.findings.cost import NEGLIGIBLE_WAIT_SHARE, _waiting_evidence

    def figs(wait_s):
        return [SimpleNamespace(wait_s=wait_s, work_s=2.0, workers=2)]

    assert _waiting_evidence(figs(0.4 * NEGLIGIBLE_WAIT_SHARE * 2.0), None) == ()
    said = _waiting_evidence(figs(0.5), None)
    assert len(said) == 1 and "counts 0.500 s the units waited off the CPU" in said[0], said
