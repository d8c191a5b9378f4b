"""The regression gate and the phase report."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from builders import make_task, synthetic_config

import perfkit
from perfkit import runner
from perfkit.analysis import gate as g
from perfkit.analysis.phases import phase_table
from perfkit.model import ConfigError, PerfkitError
from perfkit.reports import phases as phase_report
from perfkit.store import find_runs
from perfkit.store.baseline import Repeat, Side, load_side

KEY = ["task_id", "split", "index", "candidate"]


def answers(n: int = 6, changed: int = 0, lost: int = 0) -> pd.DataFrame:
    rows = [("t", "demo", i, "c0", "ok", f"h{i}") for i in range(n)]
    for i in range(changed):
        rows[i] = rows[i][:5] + ("other",)
    return pd.DataFrame(rows[lost:], columns=KEY + ["status", "output_hash"])


def side(walls, cpus=None, ans=None, env=None, calibration=0.02) -> Side:
    cpus = cpus if cpus is not None else walls
    repeats = [Repeat(f"r{i}", w, c, calibration, {"t": c}, {"t": w}) for i, (w, c) in enumerate(zip(walls, cpus))]
    return Side("side", repeats, ans if ans is not None else answers(), env or {"cpu_model": "x", "hostname": "h"}, {})


def draws(mean: float, sd: float, n: int, seed: int) -> list[float]:
    return list(np.random.default_rng(seed).normal(mean, sd, n))


@pytest.mark.parametrize("current_mean,sd,expected", [
    (1.30, 0.01, "regression"),      # clearly slower
    (0.70, 0.01, "improvement"),     # clearly faster
    (1.00, 0.01, "unchanged"),       # the same distribution
    (1.03, 0.005, "unchanged"),      # significant but below the threshold
    (1.05, 0.30, "inconclusive"),    # too noisy to tell
])
def test_verdicts_on_known_distributions(current_mean, sd, expected):
    base = side(draws(1.0, sd, 7, seed=1))
    cur = side(draws(current_mean, sd, 7, seed=2))
    result = g.gate(base, cur, threshold=0.10, metrics=["wall"])
    assert result.metrics[0].verdict == expected, result.metrics[0]
    assert result.exit_code == (1 if expected == "regression" else 0)


def test_identical_measurements_are_unchanged():
    walls = [1.0, 1.01, 0.99, 1.0, 1.02]
    result = g.gate(side(walls), side(walls), metrics=["wall", "cpu"])
    assert [m.verdict for m in result.metrics] == ["unchanged", "unchanged"] and result.passed


def test_an_answer_failure_wins_over_a_speed_improvement():
    base = side(draws(1.0, 0.01, 5, 1))
    cur = side(draws(0.5, 0.01, 5, 2), ans=answers(changed=1))
    result = g.gate(base, cur)
    assert result.metrics[0].verdict == "improvement"
    assert not result.answers_ok and result.exit_code == 1
    assert result.to_json()["verdict"] == "answers"


def test_a_lost_candidate_fails_the_gate():
    result = g.gate(side([1.0, 1.0]), side([1.0, 1.0], ans=answers(lost=2)))
    assert result.answer_differences == 2 and result.exit_code == 1


def test_normalisation_by_calibration_across_machines():
    # the current machine is twice as slow: raw figures double, calibration doubles too
    base = side([1.0, 1.01, 0.99], calibration=0.02, env={"cpu_model": "fast", "hostname": "a"})
    cur = side([2.0, 2.02, 1.98], calibration=0.04, env={"cpu_model": "slow", "hostname": "b"})
    result = g.gate(base, cur, metrics=["cpu"])
    assert result.normalised and "machines differ" in result.normalise_reason
    assert result.metrics[0].verdict == "unchanged"
    raw = g.gate(base, cur, metrics=["cpu"], normalise="no")
    assert raw.metrics[0].verdict == "regression"


def test_single_repeats_use_a_paired_bootstrap_over_tasks():
    per_task = {f"t{i}": 1.0 + 0.01 * i for i in range(12)}
    slower = {k: v * 1.5 for k, v in per_task.items()}
    b = Side("b", [Repeat("r", 12.0, 12.0, 0.02, per_task, per_task)], answers(), {}, {})
    c = Side("c", [Repeat("r", 18.0, 18.0, 0.02, slower, slower)], answers(), {}, {})
    verdict = g.judge_metric("cpu", b, c, 0.1, normalised=False)
    assert "paired" in verdict.method and verdict.verdict == "regression"
    assert verdict.ratio == pytest.approx(1.5)


def test_a_single_repeats_change_is_the_ratio_of_the_figures_shown_beside_it():
    # a sequential baseline against candidate-parallel on 2 workers: two tasks open at once, so
    # every task's span is twice its sequential one while the run window is 0.55 of it (the
    # walkthrough's "930 ms → 1.09 s, change +449 %" was this ratio of task spans)
    spans = {f"t{i}": 1.0 + 0.01 * i for i in range(12)}
    overlapping = {k: 2.0 * v for k, v in spans.items()}
    b = Side("b", [Repeat("r", sum(spans.values()), 12.0, 0.02, spans, spans)], answers(), {}, {})
    c = Side("c", [Repeat("r", 0.55 * sum(spans.values()), 12.0, 0.02, spans, overlapping)], answers(), {}, {})
    verdict = g.judge_metric("wall", b, c, 0.1, normalised=False)
    assert verdict.ratio == pytest.approx(verdict.current / verdict.baseline) == pytest.approx(0.55)
    assert verdict.low <= verdict.ratio <= verdict.high and verdict.verdict == "improvement"
    assert "ratio of the run windows" in verdict.method


def test_bad_threshold_and_metric_are_user_errors():
    with pytest.raises(PerfkitError):
        g.parse_threshold("ten")
    with pytest.raises(ConfigError, match="metrics"):
        g.gate(side([1.0]), side([1.0]), metrics=["memory"])


#: Candidates per sample in the stored phases: the ratios between phases are what the tests use.
CANDIDATES = 6


# the tests that use it run on one xdist worker (xdist_group): the 9 runs are made once
@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """Three phases of real runs: a baseline, a phase with an eighth of its work, a phase with 24
    times the work of the one before — margins three runs a side settle every time (with half the
    work, 3 vs 3 runs were sometimes "inconclusive" about the faster phase)."""
    store = tmp_path_factory.mktemp("phases")
    tasks = [make_task("p1", seed=1), make_task("p2", seed=2)]
    labels = {"baseline": {}, "phase-1": {"cpu_ms": 0.25}, "phase-2": {"cpu_ms": 6.0}}  # nominal ms
    out: dict[str, list] = {label: [] for label in labels}
    for r in range(3):  # interleaved: the machine's speed state or load shifts hit every phase alike
        for label, opts in labels.items():
            config = synthetic_config(candidates=CANDIDATES, cpu_ms=opts.get("cpu_ms", 2.0))
            config = type(config)(**{**config.__dict__, "label": label, "repeat": r})
            out[label].append(runner.run(config, store, tasks=tasks).path)
    return store, out


def test_the_baseline_phase_shows_no_change_against_a_previous_phase_it_does_not_have():
    # the table read "wall vs prev. +0.0 %" beside the baseline, as if it had been compared
    from builders import make_run, unit_rows

    from perfkit.reports.document import Table

    rows = phase_table([("baseline", [make_run(unit_rows(), run_id="b")]),
                        ("phase-1", [make_run(unit_rows(cpu=0.2), run_id="p")])])
    assert np.isnan(rows[0].wall_vs_previous_pct) and np.isnan(rows[0].cpu_vs_previous_pct)
    assert rows[1].wall_vs_previous_pct == pytest.approx(100.0)
    table = next(b for b in phase_report.build(rows, None).blocks if isinstance(b, Table) and b.headers[1] == "phase")
    previous = [table.headers.index("wall vs previous"), table.headers.index("CPU vs previous")]
    assert [table.rows[0][i] for i in previous] == ["–", "–"]
    assert table.rows[0][table.headers.index("wall vs baseline")] == "+0.0 %"


@pytest.mark.xdist_group("gate-phases")
@pytest.mark.slow
def test_phase_report_flags_the_regression(stored, tmp_path):
    store, _ = stored
    rows = phase_table([(label, find_runs(label, store)) for label in ("baseline", "phase-1", "phase-2")])
    assert [r.label for r in rows] == ["baseline", "phase-1", "phase-2"]
    assert [r.ok for r in rows] == [True, True, False]
    assert rows[1].wall_vs_previous_pct < 0 < rows[2].wall_vs_previous_pct
    assert all(r.answers_ok for r in rows)
    assert rows[2].candidates_ok == 2 * 4 * CANDIDATES
    folder = phase_report.write(rows, tmp_path / "report")
    md = (folder / "report.md").read_text()
    assert "✗ slower | phase-2" in md and "✓ ok | phase-1" in md
    assert (folder / "phases.png").stat().st_size > 1000
    assert "data:image/png;base64," in (folder / "report.html").read_text()


@pytest.mark.slow
@pytest.mark.xdist_group("gate-phases")
def test_gate_cli_exit_codes_and_json(stored, tmp_path):
    store, paths = stored
    cli = [sys.executable, "-m", "perfkit", "gate"]

    def run(base, cur, *extra):
        args = cli + [a for p in base for a in ("--baseline", str(p))] + [a for p in cur for a in ("--current", str(p))]
        return subprocess.run(args + ["--json", str(tmp_path / "v.json"), *extra], capture_output=True, text=True,
                              timeout=120)

    slower = run(paths["phase-1"], paths["phase-2"], "--metric", "cpu")
    assert slower.returncode == 1, slower.stdout + slower.stderr
    verdict = json.loads((tmp_path / "v.json").read_text())
    assert verdict["verdict"] == "regression" and verdict["metrics"][0]["verdict"] == "regression"
    assert "gate FAIL" in slower.stderr and "✗ regression" in slower.stderr  # people read stderr
    assert slower.stdout.strip() == str(tmp_path / "v.json")  # scripts read the paths written
    faster = run(paths["phase-2"], paths["phase-1"], "--metric", "cpu")
    assert faster.returncode == 0 and json.loads((tmp_path / "v.json").read_text())["metrics"][0]["verdict"] == "improvement"
    usage = subprocess.run(cli + ["--baseline", str(tmp_path / "nope")], capture_output=True, text=True, timeout=60)
    assert usage.returncode == 2 and "Traceback" not in usage.stderr


@pytest.mark.slow  # two perfkit processes
@pytest.mark.xdist_group("gate-phases")
def test_an_answers_only_gate_says_only_what_it_judged(stored, tmp_path):
    """`gate --answers-only` read "no speed regression" and "threshold ±10 % (timing), ±2.0 %
    (instructions); normalised: no (same machine)" with no speed judged at all."""
    store, paths = stored

    def gate(*extra):
        summary = tmp_path / f"summary{len(extra)}.md"
        done = subprocess.run([sys.executable, "-m", "perfkit", "gate", "--baseline", str(paths["baseline"][0]),
                               "--current", str(paths["phase-1"][0]), "--summary", str(summary),
                               "--store", str(tmp_path / "store"), *extra],
                              capture_output=True, text=True, timeout=120)
        return done, summary.read_text()

    only, summary = gate("--answers-only")
    assert only.returncode == 0, only.stdout + only.stderr
    assert "gate PASS: answers identical to the baseline; speed not judged" in only.stderr
    for said in (only.stderr, summary):
        assert "speed regression" not in said and "threshold" not in said and "normalised" not in said
        assert "the metrics compare" not in said and "verdict" not in said
    timed, summary = gate("--metric", "cpu")  # judging speed, it says against what
    assert "thresholds: timing ±10 %" in timed.stderr and "thresholds: timing ±10 %" in summary


@pytest.mark.slow  # > 0.4 s: the quick subset stays under 30 s (docs/testing.md)
@pytest.mark.xdist_group("gate-phases")
def test_baseline_file_round_trip_and_changed_answers(stored, tmp_path):
    store, paths = stored
    # the history it appends goes to tmp_path too: by default it is reports/runs of the checkout,
    # which the suite must not write (a read-only checkout refused it)
    path = perfkit.save_baseline("unit", paths["baseline"], directory=tmp_path, store=tmp_path / "store")
    base = load_side([str(path)], "baseline")
    assert len(base.repeats) == 3 and len(base.answers) == 2 * 4 * CANDIDATES
    assert base.environment.get("cpu_model")
    # a current side with a different solver option changes the answers
    cur = load_side([str(p) for p in paths["phase-1"]], "current")
    assert g.gate(base, cur, metrics=["cpu"]).answers_ok
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "perfkit-baseline/1", "repeats": []')
    with pytest.raises(PerfkitError, match="broken.json: malformed JSON"):
        load_side([str(broken)], "baseline")


def test_a_gate_measured_beside_other_work_says_so_and_a_quiet_one_does_not():
    # sympy's gate read "+81 % regression" next to ~1.7 cores of other work, without a word
    from dataclasses import replace

    base, cur = side([1.0, 1.01, 0.99]), side([1.8, 1.81, 1.79])
    quiet = g.gate(base, cur, metrics=["wall"])
    assert not any("busy machine" in n for n in quiet.notes)
    loaded = replace(cur, repeats=[replace(r, others_cpu_s=1.7 * r.wall_s) for r in cur.repeats])
    busy = g.gate(base, loaded, metrics=["wall"])
    note = next(n for n in busy.notes if "busy machine" in n)
    assert "1.70 cores" in note and "3 repeats" in note and "instruction counts do not" in note
    assert busy.metrics[0].verdict == quiet.metrics[0].verdict  # a note, not a different verdict
    # judging answers only, other work on the machine moved nothing it judged
    assert not any("busy machine" in n for n in g.gate(base, loaded, metrics=[]).notes)
    # a side of run folders is labelled by their names: the run id is named once, with its role
    one = replace(loaded, label="r1", repeats=loaded.repeats[1:2])
    note = next(n for n in g.gate(base, one, metrics=["wall"]).notes if "busy machine" in n)
    assert "1 repeat (current run r1)" in note and note.count("r1") == 1
