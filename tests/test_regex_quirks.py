"""Quirks of CPython's regular-expression engine as a solver (benchmarks/re_work.py,
docs/benchmarks.md "Session 10"): a few patterns backtrack for seconds inside one C call that
holds the GIL, and ``re``'s cache of compiled patterns makes a unit's cost depend on what else
ran in its process. Each test builds the runs by construction (tests/builders.py)."""

from __future__ import annotations

import pytest
from builders import CANDS, SAMPLES, timed_out, make_run, make_task, perfkit_main, reference_run, synthetic_config, unit_rows

import perfkit
from perfkit.analysis.comparison import analyse
from perfkit.reports.document import _reference_variability


def _one_lane(strategy: str, backend: str, workers: int, cpu: float = 0.1, **kw):
    """The reference's units back to back on one worker, as ``strategy``'s items of 4 units."""
    rows = unit_rows(SAMPLES, CANDS, cpu=cpu)
    for i, r in enumerate(rows):
        r["chunk"] = i // 4 + 1
    wall = kw.pop("wall_s", max(r["ended"] for r in rows) * 1.02)
    return make_run(rows, strategy, backend, workers, wall_s=wall, cpu_s=wall, **kw)


@pytest.mark.slow  # > 0.2 s: out of the quick subset (session 17, suitetime17)
def test_the_inline_backend_runs_one_unit_at_a_time_whatever_its_workers():
    # regex's inline×2 groups read "ideal 1.19 s, 35 % of the physical limit" and "workers
    # waiting at the end of stages" beside a 2.5 s sequential run: inline has one lane
    c = analyse([reference_run(), _one_lane("candidate-parallel", "inline", 2)])
    fig = c.figure_of(c.runs[1])
    assert fig.slots == 1
    assert fig.efficiency > 0.95 and fig.dispatch_overhead < 0.05
    assert not [f for f in c.findings if f.group == "candidate-parallel/inline×2"
                and f.rule in ("low-efficiency", "dispatch-overhead")], c.findings


@pytest.mark.slow
def test_each_gil_finding_names_its_strategy():
    # three thread groups read three times "The thread backend reached 27 % efficiency with
    # parallelism 0.9x": which strategy was which, the terminal did not say
    runs = [reference_run()] + [_one_lane(s, "thread", 2) for s in ("candidate-parallel", "sample-parallel")]
    gil = [f for f in analyse(runs).findings if f.rule == "gil"]
    assert [f.sentence.split(" reached")[0] for f in gil] == ["candidate-parallel/thread×2", "sample-parallel/thread×2"]


@pytest.mark.slow
def test_the_median_worker_start_of_two_runs_is_not_the_slower_one():
    # "took 0.251 s at most, 0.251 s in the median run": the first run forked the pool (0.25 s),
    # the second borrowed it (0.01 s)
    runs = [reference_run()] + [_one_lane("candidate-parallel", "process", 2, repeat=r, summary={"startup_s": s})
                                for r, s in ((0, 0.25), (1, 0.01))]
    start = next(f for f in analyse(runs).findings if f.rule == "worker-startup")
    assert "250 ms at most, 130 ms median" in start.sentence, start.sentence
    assert "threads" not in start.evidence[0], start.evidence  # a process backend's runs


@pytest.mark.slow
def test_units_dearer_than_under_sequential_because_their_process_state_was_not_theirs_are_named():
    # re's cache of 512 compiled patterns: in perfkit's own process (inline, thread) perfkit and
    # its libraries fill part of it and 400 candidates miss every time (a unit 12× its CPU under
    # the fresh sequential process); the slowdown read as the strategy's
    scale = {"calibration_cpu_s": 0.006}
    runs = [reference_run(summary=scale), _one_lane("hybrid", "inline", 2, cpu=0.2, summary=scale),
            _one_lane("hybrid", "thread", 2, cpu=0.24, summary=scale),
            _one_lane("hybrid", "process", 2, cpu=0.12, summary=scale)]
    cold = [f for f in analyse(runs).findings if f.rule == "cold-state"]
    assert len(cold) == 1, cold  # one finding for the groups in perfkit's own process, the process group left out
    assert "Units under hybrid/inline×2, hybrid/thread×2 took 2.00–2.40× the CPU" in cold[0].sentence, cold[0].sentence
    assert "perfkit's own process" in cold[0].sentence


@pytest.mark.slow  # > 0.2 s: out of the quick subset (session 17, suitetime17)
def test_a_unit_given_up_while_it_waited_for_the_gil_is_not_called_leaked_work():
    # a thread ran (a|a)*b for 0.5 s in one C call holding the GIL; the other thread's 3 µs unit
    # could not return meanwhile, was given up, and read "0.84 s of leaked work"
    def edit(df):
        for cand, cpu, late in (("c003", 0.25, 0.18), ("c005", 0.002, 0.84)):
            m = df["candidate"].eq(cand) & df["split"].eq("demo") & df["index"].eq(0)
            df.loc[m, ["status", "output_hash", "match", "leaked", "leaked_s", "cpu_s", "error_type"]] = \
                ["timeout", None, None, True, late, cpu, "ThreadLeaked"]
        return df

    c = analyse([reference_run(), _one_lane("candidate-parallel", "thread", 2, edit=edit, timeout_s=0.1)])
    f = next(f for f in c.findings if f.rule == "leaked-timeouts")
    assert "leaked work" not in f.sentence
    assert "(1.02 s past it over 1 run, 252 ms of CPU); 1 of them used under 50 % of a core" in f.sentence, f.sentence
    assert any(e.endswith("c005: 0.84 s past its deadline, 2.00 ms of CPU") for e in f.evidence), f.evidence


@pytest.mark.slow  # > 0.2 s: out of the quick subset (session 17, suitetime17)
def test_units_starved_on_threads_while_another_thread_ran_name_the_gil_not_other_processes():
    # a 3 µs unit timed out on thread w1 while w0 ran (a|a)*b for 0.5 s in one C call holding
    # the GIL; the report blamed "contention", and the other processes' 1.07 cores
    def edit(df):
        at = lambda split, index, cand: df["split"].eq(split) & df["index"].eq(index) & df["candidate"].eq(cand)
        df.loc[at("demo", 0, "c000"), ["worker", "started", "ended", "wall_s", "cpu_s"]] = ["w0", 10.0, 10.5, 0.5, 0.49]
        df.loc[at("demo", 1, "c001"), ["worker", "started", "ended", "wall_s", "cpu_s", "status", "output_hash",
                                       "match"]] = ["w1", 10.05, 10.55, 0.5, 0.0001, "timeout", None, None]
        return df

    ref = reference_run(cpu=0.001, timeout_s=0.1)
    run = _one_lane("candidate-parallel", "thread", 2, cpu=0.001, edit=edit, wall_s=11.0, timeout_s=0.1,
                    summary={"others_cpu_s": 11.0})
    f = next(f for f in analyse([ref, run]).findings if f.rule == "contention-timeouts")
    assert "another thread held the GIL" in f.sentence and "t1/demo[0] c000, 490 ms of CPU" in f.sentence, f.sentence
    assert "part of the contention is theirs" not in f.sentence


@pytest.mark.slow
def test_the_json_copy_may_be_the_report_folders_own_report_json(tmp_path, capsys):
    # `perfkit compare --out D --json D/report.json` wrote the report, then ended in a traceback
    # (shutil.SameFileError) with exit status 1
    run = perfkit.run(synthetic_config(), tmp_path / "runs", tasks=[make_task("t1", 1, 0)])
    out = tmp_path / "rep"
    code, _out, err = perfkit_main(["report", str(run.path), "--out", str(out), "--json", str(out / "report.json"),
                                    "-q"], capsys)
    assert code == 0 and "Traceback" not in err and "SameFileError" not in err, err
    assert (out / "report.json").stat().st_size > 0


@pytest.mark.slow
def test_one_boundary_flip_reads_as_one():
    # "its 1 differences are 1 boundary flip", "1 units flipped between finishing and timeout"
    def flip(status):
        def edit(df):
            m = df["split"].eq("demo") & df["index"].eq(0) & df["candidate"].eq("c001")
            df.loc[m, ["wall_s", "cpu_s"]] = 0.09
            if status == "timeout":
                df.loc[m, ["status", "output_hash", "match"]] = ["timeout", None, None]
            return df
        return edit

    refs = [reference_run(cpu=0.001, timeout_s=0.1, repeat=r, edit=flip(s)) for r, s in ((0, "ok"), (1, "timeout"))]
    run = _one_lane("candidate-parallel", "process", 2, cpu=0.001, timeout_s=0.1, edit=flip("timeout"))
    c = analyse(refs + [run])
    check = next(a for a in c.answers if a.run_id == run.run_id)
    assert "its 1 difference is 1 boundary flip" in check.sentence(), check.sentence()
    text = " ".join(b.text for b in _reference_variability(c) if hasattr(b, "text"))
    assert "1 unit flipped between finishing" in text and "0 units of 0 candidates" in text, text


def test_a_phase_that_finishes_the_baselines_timeouts_says_so():
    # nested quantifiers made atomic: 13 units that timed out under the baseline finished; the
    # phase report read "13 status changes (…).; re-atomic-hybrid …" and "baseline (1 runs)"
    from perfkit.analysis.phases import phase_table
    from perfkit.reports.phases import build

    def timed_out(df):
        m = df["split"].eq("demo") & df["index"].eq(0) & df["candidate"].eq("c001")
        df.loc[m, ["status", "output_hash", "match"]] = ["timeout", None, None]
        return df

    base = reference_run(run_id="base", edit=timed_out)
    phases = [("base", [base]), ("atomic", [reference_run(run_id="atomic")]),
              ("atomic-hybrid", [_one_lane("hybrid", "process", 2, run_id="hybrid")])]
    rows = phase_table(phases)
    # an answer gained: named, and no ✗ (session 13)
    sentence = rows[1].answers
    assert "keeps every answer of the baseline; gained: 1 unit (1 timeout now finished (demo[0]×1))." in sentence, sentence
    assert rows[1].answers_ok and rows[1].gained == 1
    assert rows[0].basis == "1 run"
    headline = build(rows, __import__("pathlib").Path("p.png")).headline
    assert ".;" not in headline and headline.endswith("; gained: atomic 1 unit, atomic-hybrid 1 unit"), headline


@pytest.mark.slow  # > 0.2 s: out of the quick subset (session 17, suitetime17)
def test_threads_idle_while_another_thread_holds_the_gil_are_not_told_to_raise_the_chunk_size():
    # hybrid/thread×2: "Dispatch overhead is 35 % of wall: raise the chunk size to 252 units per
    # work item" — the time outside units was one thread waiting while the other ran a 0.5 s match
    def long_first(df):
        m = df["split"].eq("demo") & df["index"].eq(0) & df["candidate"].eq("c000")
        df.loc[m, ["wall_s", "cpu_s"]] = 0.5
        return df

    rows = unit_rows(SAMPLES, CANDS, cpu=0.001)
    rows[0].update(wall_s=0.5, cpu_s=0.5)
    lanes = [0.0, 0.5]  # w1 takes its first unit only once w0's match returns the GIL
    for i, r in enumerate(rows):
        lane = i % 2
        r.update(worker=f"w{lane}", started=lanes[lane], ended=lanes[lane] + r["wall_s"], chunk=i // 4 + 1)
        lanes[lane] += r["wall_s"]
    run = make_run(rows, "hybrid", "thread", 2, wall_s=max(lanes), cpu_s=max(lanes))
    c = analyse([reference_run(cpu=0.001, edit=long_first), run])
    assert c.figure_of(run).gil_wait_s > 0.45
    f = next(f for f in c.findings if f.rule == "dispatch-overhead")
    assert "raise the chunk size" not in f.sentence and "another thread ran a unit holding the GIL" in f.sentence, f


@pytest.mark.slow
def test_perfkit_leaves_the_regular_expression_cache_of_its_own_process_alone():
    # scipy.stats imports numpy.f2py, which sets re._MAXCACHE = 50 for the whole process: a
    # solver of 400 patterns on the inline and thread backends then compiled every one afresh
    import subprocess
    import sys

    code = ("import re; size = re._MAXCACHE\n"
            "import perfkit.api, perfkit.cli.app, perfkit.cli.compare, perfkit.cli.run\n"
            "print(size, re._MAXCACHE)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    before, after = out.stdout.split()
    assert after == before, out.stderr


@pytest.mark.slow  # > 0.2 s: out of the quick subset (session 17, suitetime17)
def test_a_thread_unit_that_held_the_gil_past_the_grace_is_told_as_unstoppable():
    # (a|a)*b on a thread ended by itself 0.41 s past its 0.1 s deadline: the watcher needs the
    # GIL to give a unit up, so it never could; the report named only the units it gave up
    def held(df):
        m = df["split"].eq("demo") & df["index"].eq(0) & df["candidate"].eq("c001")
        timed_out(df, m, 0.51, 0.5)
        return df

    run = _one_lane("candidate-parallel", "thread", 2, cpu=0.001, edit=held, timeout_s=0.1,
                    summary={"resources": {"kill_grace_s": 0.05}})
    f = [f for f in analyse([reference_run(cpu=0.001, timeout_s=0.1, edit=held), run]).findings
         if f.rule == "leaked-timeouts"]
    assert len(f) == 1 and "1 more unit ended by itself up to 410 ms past its deadline" in f[0].sentence, f
    assert "the backend could not give it up" in f[0].sentence


@pytest.mark.slow  # > 0.2 s: out of the quick subset (session 17, suitetime17)
def test_a_thread_given_up_that_ran_on_holding_the_gil_is_named_as_the_holder():
    # the (a|a)*b unit was given up at 0.15 s but its thread matched on for 0.4 s more; a unit
    # that left the CPU ratios (leaked) must still count as the one that held the GIL
    def edit(df):
        at = lambda split, index, cand: df["split"].eq(split) & df["index"].eq(index) & df["candidate"].eq(cand)
        df.loc[at("demo", 0, "c000"), ["worker", "started", "ended", "wall_s", "cpu_s", "status", "output_hash",
                                       "match", "leaked", "leaked_s", "error_type"]] = \
            ["w0", 10.0, 10.15, 0.15, 0.49, "timeout", None, None, True, 0.4, "ThreadLeaked"]
        df.loc[at("demo", 1, "c001"), ["worker", "started", "ended", "wall_s", "cpu_s", "status", "output_hash",
                                       "match"]] = ["w1", 10.2, 10.45, 0.25, 0.0001, "timeout", None, None]
        return df

    def slow_first(df):
        m = df["split"].eq("demo") & df["index"].eq(0) & df["candidate"].eq("c000")
        timed_out(df, m, 0.15, 0.15)
        return df

    run = _one_lane("candidate-parallel", "thread", 2, cpu=0.001, edit=edit, wall_s=11.0, timeout_s=0.1)
    f = next(f for f in analyse([reference_run(cpu=0.001, timeout_s=0.1, edit=slow_first), run]).findings
             if f.rule == "contention-timeouts")
    assert "another thread held the GIL" in f.sentence and "t1/demo[0] c000, 490 ms of CPU" in f.sentence, f.sentence
