"""Verdicts that hold on real solvers: the reference compared with itself (nondeterministic
candidates, boundary units), CPU ratios from measured CPU only, where the time goes, busy
machines, and phases that refuse a verdict without enough runs. Real runs use the synthetic
solver's quirks (perfkit/solvers/synthetic.py: ``nondet``, ``flip``, ``stale``, ``slow``)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from builders import CANDS, CHROMIUM, SAMPLES, timed_out, chromium, clean_parallel, make_run, make_task, synthetic_config, unit_rows
from builders import perfkit_main
from builders import reference_run as reference

from perfkit.analysis.answers import (BOUNDARY_FLIP, CHANGED_OUTPUT, CRASH, NEW_TIMEOUT, NOISE_TIMEOUT, NONDETERMINISTIC,
                                     VARIES_ACROSS_REPEATS)
from perfkit.analysis.comparison import analyse
from perfkit.analysis.phases import phase_table
from perfkit.api import compare
from perfkit.reports.phases import build as build_phases
from perfkit.orchestration.experiment import Experiment
from perfkit.runner import run



def rules(c):
    return {f.rule for f in c.findings}


def finding(c, rule):
    found = [f for f in c.findings if f.rule == rule]
    assert len(found) == 1, [f.rule for f in c.findings]
    return found[0]


def _set(df, candidate, split, index, **values):
    m = df["candidate"].eq(candidate) & df["split"].eq(split) & df["index"].eq(index)
    df.loc[m, list(values)] = list(values.values())
    return df


# -- the reference against itself (stored runs built in memory) ---------------------------------

@pytest.mark.slow  # > 0.2 s: out of the quick subset (session 17, suitetime17)
def test_a_flip_between_sequential_runs_is_a_boundary_flip_not_a_lost_answer():
    near = 0.7  # of the 1 s timeout: a boundary unit

    def slow(df):
        return _set(df, "c003", "demo", 4, wall_s=near, cpu_s=near)

    refs = [reference(repeat=0, edit=slow),
            reference(repeat=1, edit=lambda d: _set(slow(d), "c003", "demo", 4, status="timeout", output_hash=None,
                                                       match=None, wall_s=1.05))]
    flipped = clean_parallel(edit=lambda d: _set(d, "c003", "demo", 4, status="timeout", output_hash=None,
                                                 match=None, wall_s=1.05))
    c = analyse([*refs, flipped])
    assert not c.differences and c.headline().startswith("Answers agree beyond the reference's own variability")
    assert c.answers[0].kind_counts() == {BOUNDARY_FLIP: 1}
    f = finding(c, "boundary-units")
    # python-constraint2's report read "1 units sit at their 1 s limit and flip …"
    assert "1 unit sits at its 1 s limit and flips between" in f.sentence and "not lost answers" in f.sentence
    assert "the unit took 1.05 s under sequential" in f.sentence  # a duration, scaled as every other
    assert any("c003" in e and "0.700–1.050" in e for e in f.evidence), f.evidence
    assert "contention-timeouts" not in rules(c) and "new-timeouts" not in rules(c)


@pytest.mark.slow  # > 0.2 s: out of the quick subset (session 17, suitetime17)
def test_a_new_timeout_far_from_its_limit_still_differs():
    lost = clean_parallel(edit=lambda d: _set(d, "c003", "demo", 4, status="timeout", output_hash=None,
                                              match=None, wall_s=1.05, cpu_s=1.0))
    c = analyse([reference(repeat=0), reference(repeat=1), lost])
    assert c.differences and c.headline().startswith("ANSWERS DIFFER")
    assert c.answers[0].kind_counts() == {NEW_TIMEOUT: 1}
    assert "new timeout ×1" in c.headline()
    assert "boundary-units" not in rules(c)


@pytest.mark.slow  # > 0.4 s: the quick subset stays under 30 s (docs/testing.md)
def test_output_that_differs_between_sequential_runs_names_the_candidate():
    refs = [reference(repeat=0), reference(repeat=1, edit=lambda d: _set(d, "c005", "demo", 2, output_hash="x"))]
    par = clean_parallel(edit=lambda d: _set(d, "c005", "demo", 1, output_hash="y"))
    c = analyse([*refs, par])
    assert not c.differences
    assert c.answers[0].kind_counts() == {NONDETERMINISTIC: 1}  # another sample of the same candidate
    f = finding(c, "nondeterministic-candidates")
    assert f.severity == "problem" and "c005" in f.sentence and "solver fault" in f.sentence
    changed = clean_parallel(edit=lambda d: _set(d, "c006", "demo", 1, output_hash="y"))
    c = analyse([*refs, changed])
    assert c.differences and c.answers[0].kind_counts() == {CHANGED_OUTPUT: 1}


def _in_task(task_id, candidate, split, index, **values):
    """An edit: ``candidate`` on ``task_id``'s sample gets ``values``."""
    def edit(df):
        m = df["task_id"].eq(task_id) & df["candidate"].eq(candidate) & df["split"].eq(split) & df["index"].eq(index)
        df.loc[m, list(values)] = list(values.values())
        return df
    return edit


def _two_tasks(strategy="sequential", backend="inline", workers=1, repeat=0, edit=None):
    rows = unit_rows(SAMPLES, CANDS, task_id="t1") + unit_rows(SAMPLES, CANDS, task_id="t2")
    return make_run(rows, strategy, backend, workers, repeat=repeat, edit=edit)


@pytest.mark.slow  # analyse with every finding: > 0.2 s
def test_an_answer_that_varies_between_a_strategys_own_repeats_is_not_the_strategys():
    # python-constraint2's min_conflicts: its two sequential runs happened to agree, and compare
    # read "changed output" for every strategy whose run drew the other answer
    refs = [reference(repeat=0), reference(repeat=1)]
    drew = lambda d: _set(d, "c005", "demo", 1, output_hash="y")  # noqa: E731
    cp = [clean_parallel(repeat=0, edit=drew), clean_parallel(repeat=1)]  # varies between its repeats
    sp = [clean_parallel("sample-parallel", repeat=r, edit=drew) for r in (0, 1)]  # drew it both times
    c = analyse([*refs, *cp, *sp])
    assert not c.differences, c.headline()
    assert {a.run_id: a.kind_counts() for a in c.answers if not a.clean} == {
        "candidate-parallel-process-w2-r0": {VARIES_ACROSS_REPEATS: 1},
        "sample-parallel-process-w2-r0": {VARIES_ACROSS_REPEATS: 1},
        "sample-parallel-process-w2-r1": {VARIES_ACROSS_REPEATS: 1}}
    where = "c005's answers vary from run to run (seen in candidate-parallel/process×2's repeats on t1/demo[1])"
    sentence = c.answers[-1].sentence()
    assert sentence.startswith("sample-parallel/process×2 (sample-parallel-process-w2-r1) keeps every answer of "
                               "sequential; 1 output varying across repeats (demo[1]×1): " + where), sentence
    assert "not evidence that a strategy changed them (not failed)" in sentence and "changed output" not in sentence
    assert c.headline().startswith("Answers agree beyond the candidates' own variability"), c.headline()
    f = finding(c, "nondeterministic-candidates")
    assert f.sentence.startswith(where + ": different on the same sample between "
                                 "the repeats of one configuration, where the 2 sequential runs happened to agree"), \
        f.sentence
    assert "(3 such differences under the strategies)" in f.sentence
    assert not c.recommendation.sentence.startswith("No strategy kept"), c.recommendation.sentence
    assert not any("changed answers" in e for e in c.recommendation.evidence), c.recommendation.evidence


@pytest.mark.slow  # analyse with every finding: > 0.2 s
def test_a_strategy_that_changes_a_deterministic_candidate_still_changed_answers_beside_a_varying_one():
    refs = [reference(repeat=0), reference(repeat=1)]
    changed = lambda d: _set(d, "c006", "demo", 2, output_hash="z")  # noqa: E731
    # a unit lost to a dead worker in one repeat is no answer: c006 does not vary by it
    crashed = lambda d: _set(d, "c006", "demo", 3, status="crashed", output_hash=None, match=None)  # noqa: E731
    cp = [clean_parallel(repeat=0, edit=lambda d: changed(_set(d, "c005", "demo", 1, output_hash="y"))),
          clean_parallel(repeat=1, edit=lambda d: crashed(changed(d)))]
    c = analyse([*refs, *cp])
    assert c.differences and c.headline().startswith("ANSWERS DIFFER"), c.headline()
    assert [a.kind_counts() for a in c.answers] == [{CHANGED_OUTPUT: 1, VARIES_ACROSS_REPEATS: 1},
                                                    {CHANGED_OUTPUT: 1, CRASH: 1}]
    assert c.answers[0].sentence().startswith("candidate-parallel/process×2 (candidate-parallel-process-w2-r0) "
                                              "differs from sequential in 1 unit: 1 changed output (demo[2]×1); "
                                              "1 output varying across repeats (demo[1]×1): c005's answers vary")
    assert c.recommendation.sentence.startswith("No strategy kept the sequential answers")
    assert any(e.startswith("candidate-parallel/process×2") and "changed answers" in e
               for e in c.recommendation.evidence), c.recommendation.evidence


@pytest.mark.slow  # analyse with every finding: > 0.2 s
def test_a_strategy_that_makes_a_deterministic_candidate_answer_anew_every_run_still_changed_answers():
    # the gate's rule (check_repeats): outputs that differ between a strategy's repeats, none of
    # them sequential's, are the strategy's new nondeterminism (a race on shared state), not a
    # candidate that varies by itself
    refs = [reference(repeat=0), reference(repeat=1)]
    cp = [clean_parallel(repeat=r, edit=lambda d, r=r: _set(d, "c006", "demo", 2, output_hash=f"race-{r}"))
          for r in (0, 1)]
    c = analyse([*refs, *cp])
    assert c.differences and [a.kind_counts() for a in c.answers] == [{CHANGED_OUTPUT: 1}] * 2, c.headline()
    assert "nondeterministic-candidates" not in rules(c)


@pytest.mark.slow  # analyse with every finding: > 0.2 s
def test_a_candidate_whose_sequential_runs_differ_in_one_task_varies_in_every_task():
    # code that draws unseeded random numbers draws in every task, also where its answer
    # happened to stay the same between the sequential runs
    refs = [_two_tasks(repeat=0), _two_tasks(repeat=1, edit=_in_task("t1", "c005", "demo", 2, output_hash="x"))]
    par = [_two_tasks("candidate-parallel", "process", 2, repeat=r,
                      edit=_in_task("t2", "c005", "demo", 1, output_hash="y")) for r in (0, 1)]
    c = analyse([*refs, *par])
    assert not c.differences, c.headline()
    # repeat 1's own sequential run drew the other answer on t1/demo[2]
    assert [a.kind_counts() for a in c.answers] == [{NONDETERMINISTIC: 1}, {NONDETERMINISTIC: 2}]
    assert ("1 unit of a nondeterministic candidate (t2/demo[1]×1): c005's answers vary from run to run (seen in "
            "sequential's runs on t1/demo[2])") in c.answers[0].sentence(), c.answers[0].sentence()
    # a deterministic candidate changed in the task where another one varied still differs
    par = [_two_tasks("candidate-parallel", "process", 2, repeat=r,
                      edit=_in_task("t1", "c006", "demo", 2, output_hash="y")) for r in (0, 1)]
    c = analyse([*refs, *par])
    assert c.differences and [a.kind_counts() for a in c.answers] == [{CHANGED_OUTPUT: 1},
                                                                     {CHANGED_OUTPUT: 1, NONDETERMINISTIC: 1}]


@pytest.mark.slow  # analyse with every finding: > 0.2 s
def test_a_strategy_that_always_changes_a_candidate_in_one_task_is_not_excused_by_another_strategys_repeats():
    # candidate-parallel drew another answer for c005 on t1/demo[1] in one repeat of two (a race
    # on shared state, or a draw); sample-parallel gives c005 a different answer on t2/demo[2] in
    # both of its repeats, every time: nothing seen on t2, nor under sample-parallel, varied
    refs = [_two_tasks(repeat=r) for r in (0, 1)]
    cp = [_two_tasks("candidate-parallel", "process", 2, repeat=0, edit=_in_task("t1", "c005", "demo", 1,
                                                                                  output_hash="y")),
          _two_tasks("candidate-parallel", "process", 2, repeat=1)]
    sp = [_two_tasks("sample-parallel", "process", 2, repeat=r, edit=_in_task("t2", "c005", "demo", 2,
                                                                                output_hash="z")) for r in (0, 1)]
    c = analyse([*refs, *cp, *sp])
    assert c.differences and c.headline().startswith("ANSWERS DIFFER"), c.headline()


def _time_out(df, units):
    """``units`` (split, index, candidate) time out, far from their 0.1 s CPU cost."""
    for split, index, cand in units:
        _set(df, cand, split, index, status="timeout", output_hash=None, match=None, wall_s=1.05)
    return df


@pytest.mark.slow
def test_timeouts_within_the_machines_own_noise_do_not_fail_the_comparison():
    """Sequential itself timed out 8 units that take a tenth of the limit (a busy machine): a
    run with as many new timeouts is within that noise, one with far more is not."""
    grid = [(s, i, c) for s, i in SAMPLES for c in CANDS]
    refs = [reference(repeat=0, edit=lambda d: _time_out(d, grid[:4])),
            reference(repeat=1, edit=lambda d: _time_out(d, grid[4:8]))]
    c = analyse([*refs, clean_parallel(edit=lambda d: _time_out(d, grid[10:16]))])
    assert not c.differences
    assert c.answers[0].kind_counts()[NOISE_TIMEOUT] == 6
    f = finding(c, "timeout-noise")
    assert "within this machine's noise" in f.sentence and "timed out 8 units" in f.sentence
    assert "boundary-units" not in rules(c) and "new-timeouts" not in rules(c)
    c = analyse([*refs, clean_parallel(edit=lambda d: _time_out(d, grid[10:40]))])
    assert c.differences and c.answers[0].kind_counts()[NEW_TIMEOUT] == 30
    assert "went beyond it" in finding(c, "timeout-noise").sentence


# -- contention from measured CPU only ----------------------------------------------------------

def _timed_out_far_from_limit(cpu_s):
    def edit(df):
        m = df["split"].eq("demo") & df["index"].eq(4) & df["candidate"].isin(["c005", "c006"])
        timed_out(df, m, 1.05, cpu_s)
        return df
    return clean_parallel("sample-parallel", "process", 2, edit=edit)


@pytest.mark.parametrize("cpu_s,rule,says", [
    (1.0, "new-timeouts", "slow at full speed, not starved"),     # killed slow units with their CPU
    (None, "new-timeouts", "CPU was not measured"),                 # units without a CPU are not 0 %
    (0.25, "contention-timeouts", "contention"),
])
@pytest.mark.slow  # > 0.2 s: out of the quick subset (session 17, suitetime17)
def test_timeouts_blame_contention_only_from_measured_cpu(cpu_s, rule, says):
    c = analyse([reference(repeat=0), reference(repeat=1), _timed_out_far_from_limit(cpu_s)])
    f = finding(c, rule)
    assert says in f.sentence
    if rule != "contention-timeouts":
        assert "contention-timeouts" not in rules(c) and "(contention" not in f.sentence
    g = c.groups.set_index("group").loc["sample-parallel/process×2"]
    if cpu_s is None:  # the two units without CPU are left out of the contention figure
        assert g["contention_median"] == pytest.approx(c.groups["contention_median"].iloc[0], rel=0.05)


# -- busy machine -------------------------------------------------------------------------------

@pytest.mark.slow
def test_busy_machine_warns_and_marks_the_recommendation():
    busy = {"others_cpu_s": 1.2, "machine_cpu_s": 4.0, "load_avg_1m": 3.4}
    runs = [reference(repeat=r, summary=busy) for r in range(2)] + [clean_parallel(repeat=r) for r in range(2)]
    c = analyse(runs)
    f = finding(c, "busy-machine")
    assert "not quiet" in f.sentence and "load average up to 3.4" in f.sentence
    assert "busy machine" in c.recommendation.sentence
    quiet = {"others_cpu_s": 0.0, "machine_cpu_s": 1.0, "load_avg_1m": 0.1}
    c = analyse([reference(repeat=r, summary=quiet) for r in range(2)] + [clean_parallel(repeat=r) for r in range(2)])
    assert "busy-machine" not in rules(c) and "busy" not in c.recommendation.sentence


# -- phases ---------------------------------------------------------------------------------------

@pytest.mark.slow  # over half a second (session 14: the quick subset's time)
def test_phases_refuse_a_speed_verdict_from_one_run_each():
    base = make_run(unit_rows(SAMPLES, CANDS, cpu=0.1), run_id="b0")
    slower = make_run(unit_rows(SAMPLES, CANDS, cpu=0.3), run_id="s0")
    rows = phase_table([("baseline", [base]), ("phase-1", [slower])])
    assert rows[1].speed == "no verdict" and "1 vs 1 runs" in rows[1].basis
    assert rows[1].ok and not rows[1].judged  # not ❌ from one run
    more = [make_run(unit_rows(SAMPLES, CANDS, cpu=0.3 + 0.01 * i), run_id=f"s{i}", repeat=i) for i in range(3)]
    bases = [make_run(unit_rows(SAMPLES, CANDS, cpu=0.1 + 0.01 * i), run_id=f"b{i}", repeat=i) for i in range(3)]
    rows = phase_table([("baseline", bases), ("phase-1", more)])
    assert rows[1].speed == "slower" and rows[1].basis.startswith("3 vs 3 runs") and not rows[1].ok


@pytest.mark.slow  # over half a second (session 14: the quick subset's time)
def test_the_phase_headline_claims_no_speed_a_verdict_did_not_establish(tmp_path):
    def runs(name, n, cpu):
        return [make_run(unit_rows(SAMPLES, CANDS, cpu=cpu + 0.0001 * i), run_id=f"{name}{i}", repeat=i)
                for i in range(n)]
    base, same, slower_once = runs("b", 3, 0.1), runs("p", 3, 0.1), runs("s", 1, 0.1171)  # +17 %, one run
    rows = phase_table([("baseline", base), ("phase-1", same), ("phase-2", slower_once)])
    assert [r.speed for r in rows[1:]] == ["unchanged", "no verdict"]
    headline = build_phases(rows, tmp_path / "phases.png").headline
    assert headline == ("every phase keeps the baseline's answers; phase-2 has no speed verdict against the phase "
                        "before (+17.0 % wall; no verdict: 3 vs 1 runs: at least 2 each are needed); none of the "
                        "others is slower than the phase before")
    judged = build_phases(rows[:2], tmp_path / "phases.png").headline
    assert judged == "every phase keeps the baseline's answers and none is slower than the phase before"


# -- where the time goes (real runs) -----------------------------------------------------------

@pytest.mark.slow
def test_cost_concentration_names_the_expensive_candidates(tmp_path):
    tasks = [make_task("t1", 3, 1, seed=3)]
    opts = dict(candidates=32, cpu_ms=0.3, faults="slow=200:c003; slow=200:c011")  # ~90 % of unit time
    runs = [run(_repeat(synthetic_config(**opts), r), tmp_path, tasks=tasks) for r in range(2)]
    c = analyse(runs)
    f = finding(c, "cost-by-candidate")
    # both take ~45 % each: the finding names those needed to reach half the unit time (one of
    # them alone when the machine slowed it more), and no cheap candidate
    named = {cid for cid in (f"c{i:03d}" for i in range(32)) if f"{cid} (" in f.sentence}
    assert named in ({"c003", "c011"}, {"c003"}, {"c011"}) and f"{len(named)} of 32 candidates" in f.sentence
    assert "units timed out" in f.sentence
    top = c.cost["candidate"]["name"].head(2).tolist()
    assert sorted(top) == ["c003", "c011"]


def _repeat(config, r):
    return type(config)(**{**config.__dict__, "repeat": r})


# -- real comparisons: the reference in fresh processes ----------------------------------------

@pytest.mark.slow
def test_nondeterministic_candidate_is_named_and_does_not_fail_the_comparison(tmp_path):
    tasks = [make_task("t1", 3, 1, seed=1)]
    result = compare(Experiment(name="nondet", solver="synthetic", strategies=("sequential", "candidate-parallel"),
                                backends=("thread",), workers=(2,), repeats=1, timeout=1.0,
                                solver_options={"candidates": 6, "cpu_ms": 0.2, "faults": "nondet:c004"}),
                     out=tmp_path / "rep", store=tmp_path / "runs", task_list=tasks)
    c = result.comparison
    refs = [r for r in result.runs if r.config.strategy == "sequential"]
    assert len(refs) == 2  # one repeat, yet the reference ran twice …
    pids = {r.environment["pid"] for r in refs}
    assert len(pids) == 2 and os.getpid() not in pids  # … each in a fresh process
    f = finding(c, "nondeterministic-candidates")
    assert "c004" in f.sentence and "fresh process" in f.sentence
    assert not result.differences
    assert set(c.answers[0].kind_counts()) == {NONDETERMINISTIC}
    md = (result.report_dir / "report.md").read_text()
    assert md.startswith("**Answers agree beyond the reference's own variability")
    assert "Sequential against itself" in md and "nondeterministic" in md


@pytest.mark.slow
@pytest.mark.parametrize("flip_at,varies", [("1", True), ("1,4", False)])
def test_a_candidate_whose_answer_a_run_counter_decides_is_blamed_only_when_a_strategy_always_changes_it(
        tmp_path, flip_at, varies):
    # by construction, not by chance: coin answers 1 on the evaluations numbered flip_at (runs in
    # the order seq, sp, cp of repeat 0, then of repeat 1): "1" is sample-parallel's repeat 0 alone,
    # "1,4" both of its repeats, as a strategy that changes a deterministic candidate's answer
    count = tmp_path / "count"
    result = compare(Experiment(name="coin", solver="plugins.stateful_solvers:Counted",
                                strategies=("sequential", "sample-parallel", "candidate-parallel"),
                                backends=("process",), workers=(2,), repeats=2, timeout=5.0,
                                solver_options={"count": str(count), "flip_at": flip_at}),
                     out=tmp_path / "rep", store=tmp_path / "runs", task_list=[make_task("t1", 2, 1)])
    assert count.stat().st_size == 6  # one evaluation a run: the order above holds
    c = result.comparison
    repeat = {r.run_id: r.config.repeat for r in result.runs}
    kinds = {(a.group, repeat[a.run_id]): a.kind_counts() for a in c.answers if not a.clean}
    md = (result.report_dir / "report.md").read_text()
    if varies:
        assert kinds == {("sample-parallel/process×2", 0): {VARIES_ACROSS_REPEATS: 1}}, kinds
        assert not result.differences and "ANSWERS DIFFER" not in md
        assert "coin's answers vary from run to run (seen in sample-parallel/process×2's repeats on t1/demo[0])" in md
        assert "No strategy kept" not in c.recommendation.sentence
    else:
        assert kinds == {("sample-parallel/process×2", r): {CHANGED_OUTPUT: 1} for r in (0, 1)}, kinds
        assert result.differences and md.startswith("**⚠ ANSWERS DIFFER") and "vary from run to run" not in md
        assert any(e.startswith("sample-parallel/process×2") and "changed answers" in e
                   for e in c.recommendation.evidence), c.recommendation.evidence


def _compare_args(tmp_path, faults, backend, strategy, timeout):
    return ["compare", "--solver", "synthetic", "--tasks", "synthetic:1x4+1", "--strategies",
            f"sequential,{strategy}", "--backends", backend, "--workers", "2", "--repeats", "1",
            "--timeout", str(timeout), "--solver-opt", "candidates=6", "--solver-opt", "cpu_ms=0.2",
            "--solver-opt", f"faults={faults}", "--out", str(tmp_path / "rep"), "--store", str(tmp_path / "runs")]


@pytest.mark.slow
def test_boundary_units_that_flip_are_boundary_flips_and_the_comparison_exits_0(tmp_path, capsys):
    """Ten units sleep 60 % or 150 % of their time limit at random: they flip between the
    sequential runs and under the strategy, and nothing else differs."""
    code, out, err = perfkit_main(_compare_args(tmp_path, "flip:c001; flip:c002", "thread", "candidate-parallel", 0.1),
                                  capsys)
    assert code == 0, out + err
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "ANSWERS DIFFER" not in md.splitlines()[0]
    assert "sit at their 0.1 s limit and flip between finishing (ok or error) and timing out" in md and "not lost answers" in md
    diff_rows = [line for line in md.splitlines() if line.startswith("| candidate-parallel") and line.count("|") == 12]
    assert {line.split("|")[3].strip() for line in diff_rows} <= {BOUNDARY_FLIP}


@pytest.mark.slow
def test_a_deterministic_unit_whose_output_changes_under_a_strategy_exits_1(tmp_path, capsys):
    """``stale``: a cache keyed by candidate only. Sequential runs in the same order every time,
    so its answers repeat; a second worker starts from another sample and answers differently."""
    code, out, err = perfkit_main(_compare_args(tmp_path, "stale:c002", "process", "sample-parallel", 1.0), capsys)
    assert code == 1, out + err
    md = (tmp_path / "rep" / "report.md").read_text()
    assert md.startswith("**⚠ ANSWERS DIFFER") and f"{CHANGED_OUTPUT} ×" in md.splitlines()[0]
    assert "nondeterministic-candidates" not in md and "gave different answers on the same sample" not in md


@pytest.mark.slow
def test_a_compare_next_to_a_cpu_hog_carries_the_busy_machine_warning(tmp_path):
    hog = [sys.executable, "-c", "while True: pass"]
    hogs = [subprocess.Popen(hog) for _ in range(2)]
    try:
        result = compare(Experiment(name="hog", solver="synthetic", strategies=("sequential", "candidate-parallel"),
                                    backends=("thread",), workers=(2,), repeats=1, timeout=1.0,
                                    solver_options={"candidates": 4, "cpu_ms": 2}),
                         out=tmp_path / "rep", store=tmp_path / "runs", task_list=[make_task("t1", 2, 1)])
    finally:
        for p in hogs:
            p.kill()
            p.wait()
    md = (result.report_dir / "report.md").read_text()
    # "other processes and threads left running by earlier runs" when earlier tests of this
    # process left thread-backend units running (the stray-threads finding)
    assert "The machine was not quiet: other processes " in md
    assert "Measured on a busy machine" in result.comparison.recommendation.sentence
    assert Path(result.report_dir / "report.html").read_text().count("not quiet") >= 1


# -- slots, not pids ------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_run_with_worker_kills_has_as_many_lanes_as_slots_and_no_straggler(tmp_path):
    """Four hanging units are killed at their deadline, each time with their worker: 2 slots
    run 6 worker processes, drawn and counted as 2 lanes, and no slot is a straggler."""
    from perfkit.analysis.metrics.slots import busy_by_slot, slot_lanes

    tasks = [make_task("t1", 3, 1, seed=2)]
    # not cooperative: a unit past its deadline is always killed with its worker. A cooperative
    # unit whose 20 ms cost alone outran the 50 ms deadline on a loaded machine stopped itself
    # before its hang, and no worker was killed
    opts = dict(candidates=8, cpu_ms=20, faults="hang_c:c002", cooperative=False)
    ref = run(_repeat(synthetic_config(timeout_s=0.05, **opts), 0), tmp_path, tasks=tasks)
    par = run(synthetic_config("candidate-parallel", "process", 2, timeout_s=0.05, **opts), tmp_path, tasks=tasks)
    assert par.units["worker"].nunique() > 2  # replacements are new processes …
    lanes = slot_lanes(par.units)
    assert sorted(set(lanes.values())) == [0, 1]  # … in the same two slots
    assert list(busy_by_slot(par.units).index) == ["slot 0", "slot 1"]
    c = analyse([ref, par])
    assert "straggler" not in rules(c)


# -- every unit that ran: its status and its CPU -------------------------------------------------

@pytest.mark.parametrize("sample_level", [False, True])
def test_a_result_after_the_deadline_is_a_timeout_whatever_it_contains(sample_level):
    """A valid grid and an invalid one, each returned after the deadline: both ``timeout``."""
    from plugins.example_solvers import LateSolver

    from perfkit.backends.base import Assignment
    from perfkit.backends.unit import BatchRecorder, run_job
    from perfkit.model import WHOLE_SAMPLE, WorkItem

    solver, task = LateSolver(), make_task("late", 1, 0)
    units = (("demo", 0, WHOLE_SAMPLE),) if sample_level else (("demo", 0, "grid"), ("demo", 0, "junk"))
    a = Assignment(WorkItem(1, task.id, units, sample_level), queued=0.0, timeout_s=0.01)
    rec = BatchRecorder("main", flush_interval_s=3600.0, flush_units=1 << 30)
    for _ in run_job(solver, task, 1, a, rec):
        pass
    outs = rec.take()[0].outcomes()
    assert sorted(o.candidate for o in outs) == ["grid", "junk"]
    assert {o.status for o in outs} == {"timeout"}
    junk = next(o for o in outs if o.candidate == "junk")
    assert "after its deadline" in junk.error_message and "InvalidOutput" in junk.error_message


@pytest.mark.slow
def test_a_killed_slow_unit_has_its_cpu_and_is_named_slow_not_contention(tmp_path):
    """c002 on demo[1] loops in pure Python past its deadline under the process backend and is
    killed with its worker; sequential (no fault) ran it in no time. The unit keeps the CPU it
    consumed, so its share of a core is measured, and the verdict follows that measurement."""
    from perfkit.analysis.findings.timeouts import CONTENTION_SHARE

    tasks = [make_task("t1", 3, 1, seed=4)]
    ref = run(synthetic_config(timeout_s=0.3, candidates=6, cpu_ms=0.2), tmp_path, tasks=tasks)
    par = run(synthetic_config("candidate-parallel", "process", 2, timeout_s=0.3, candidates=6, cpu_ms=0.2,
                               faults="hang_py:c002@demo[1]"), tmp_path, tasks=tasks)
    killed = par.units[par.units["error_type"].eq("WorkerKilled")]
    assert len(killed) == 1
    cpu, wall = float(killed["cpu_s"].iloc[0]), float(killed["wall_s"].iloc[0])
    assert 0.0 < cpu <= wall + 0.02  # measured (one clock tick of slack), never 0 or missing
    c = analyse([ref, par])
    if cpu / wall >= CONTENTION_SHARE:  # a core of its own (a quiet machine): slow, not starved
        assert "slow at full speed, not starved" in finding(c, "new-timeouts").sentence
        assert "contention-timeouts" not in rules(c)
    else:  # a loaded machine really starved it: then, and only then, contention
        assert "contention" in finding(c, "contention-timeouts").sentence


@pytest.mark.slow
def test_opaque_solver_timing_out_on_the_process_backend_records_every_declared_candidate(tmp_path):
    from perfkit.model import RunConfig, TimeoutPolicy

    tasks = [make_task("o", n_demo=2, n_test=1)]
    config = RunConfig(solver="plugins.example_solvers:DeclaredOpaqueSolver", tasks="x", strategy="sample-parallel",
                       backend="process", workers=2, timeout=TimeoutPolicy(0.2),
                       solver_options={"candidates": 3, "hang_sample": "demo[1]"})
    units = run(config, tmp_path, tasks=tasks).units
    hung = units[units["split"].eq("demo") & units["index"].eq(1)]
    assert sorted(hung["candidate"]) == ["p0", "p1", "p2"] and set(hung["status"]) == {"timeout"}
    assert len(units) == 9 and "*" not in set(units["candidate"])


# -- memory: measured by the process backend, shown in the report ------------------------------

@pytest.mark.slow
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="/usr/bin/chromium absent (CI installs Debian's chromium)")
def test_peak_memory_of_workers_and_items_reaches_the_html_report_in_chromium(tmp_path):
    """c004 allocates 120 MB on every sample: the process backend records each work item's
    peak, the finding names c004, and the HTML report shows the memory table and the cost
    chart in Chromium."""
    from perfkit.reports import write_report

    tasks = [make_task("t1", 3, 1, seed=5)]
    opts = dict(timeout_s=5.0, candidates=6, cpu_ms=0.2, faults="alloc=120:c004")
    ref = run(synthetic_config(**opts), tmp_path, tasks=tasks)
    one_candidate_per_item = replace(synthetic_config("candidate-parallel", "process", 2, **opts), chunk_size=1)
    par = run(one_candidate_per_item, tmp_path, tasks=tasks)
    items = par.summary.items
    assert len(items) == 24 and all(i["peak_rss_bytes"] for i in items)  # one unit per item
    heavy = max(items, key=lambda i: i["peak_rss_bytes"])
    light = min(items, key=lambda i: i["peak_rss_bytes"])
    assert heavy["peak_rss_bytes"] - light["peak_rss_bytes"] >= 100 * 2**20  # the 120 MB, per item
    assert all(w.get("peak_rss_bytes") for w in par.summary.workers)
    c = analyse([ref, par])
    assert "candidate c004" in finding(c, "memory").sentence
    out = write_report(c, tmp_path / "rep")
    dom = chromium(out / "report.html", tmp_path, "--dump-dom").stdout
    assert "Memory (peak resident set, MB)" in dom and "Memory under candidate-parallel" in dom
    assert "Where the time goes: unit time by candidate" in dom
