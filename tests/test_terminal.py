"""What a person reads on the terminal: at 80 columns and in a non-TTY log every number is
whole (checked on the captured output against report.json), narrower terminals get a stacked
form, ``--quiet`` prints only paths, and ``perfkit report`` refuses runs that do not belong
together and names the runs that did not finish."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from builders import StopAfter, make_task, synthetic_config

import perfkit
from perfkit.analysis.text import duration
from perfkit.model import RunInterrupted
from perfkit.store import load_run

CLI = [sys.executable, "-m", "perfkit"]
COMPARE = ["compare", "--solver", "synthetic", "--tasks", "synthetic:1x2+1", "--strategies",
           "sequential,candidate-parallel,sample-parallel", "--backends", "thread", "--workers", "2",
           "--repeats", "2", "--solver-opt", "candidates=6", "--solver-opt", "cpu_ms=1"]
NUMBER = re.compile(r"\d+(?:\.\d+)?")


def cli(*args: str, columns: int = 80, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TERM")}
    env.update(COLUMNS=str(columns), PERFKIT_PROGRESS="0")
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=300, cwd=cwd)


def whole_numbers_only(text: str, columns: int) -> None:
    assert "…" not in text and "..." not in text, text
    long = [line for line in text.splitlines() if len(line) > columns]
    assert not long, long


# the tests that use it run on one xdist worker (xdist_group): one compare for all
@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("compare")
    # in an empty folder: no calibration stored under reports/calibration by an earlier predict
    done = cli(*COMPARE, "--out", str(tmp / "rep"), "--store", str(tmp / "runs"), "--json", str(tmp / "out.json"),
               cwd=tmp)
    assert done.returncode == 0, done.stderr
    return tmp, done


@pytest.mark.slow
@pytest.mark.xdist_group("terminal-compare")
def test_compare_at_80_columns_in_a_log_shows_every_number_whole(compared):
    tmp, done = compared
    whole_numbers_only(done.stderr, 80)
    record = json.loads((tmp / "out.json").read_text())
    assert record == json.loads((tmp / "rep" / "report.json").read_text())
    lines = done.stderr.splitlines()
    for group in record["groups"]:
        # its row in the summary table, then in the predictions' own table (at 80 columns the
        # predicted column does not fit beside the others)
        line, predicted = [x for x in lines if re.match(re.escape(group["group"]) + r" +\d", x)]
        model = group["predicted"]
        # the model's error only against this machine's measured backend costs
        error = "uncalibrated" if model["model_error"] is None else f"{model['model_error']:+.0%}"
        # (an error against a calibrated backend's costs is given even when another backend of
        # the comparison is not calibrated, and model_calibrated says "all of them")
        assert model["model_error"] is not None or not record["model_calibrated"]
        # then the timed-out units, measured / predicted (no budgets: no skipped column)
        counts = f"{model['measured_timeouts']:g} / {model['timeouts']:g}"
        assert re.search(re.escape(f"{duration(model['wall_s'])} ({error})") + " +" + re.escape(counts) + "$",
                         predicted.rstrip()), predicted
        wall, speed = group["figures"]["wall_s"]["median"], group["speedup"]
        assert duration(wall) in line
        shown = NUMBER.findall(line[len(group["group"]):])
        want = [f"{speed[k]:.2f}" for k in ("value", "low", "high") if speed[k] is not None]
        assert want and all(w in shown for w in want), (line, want)
    # stdout: the files written, for scripts
    paths = done.stdout.split()
    assert paths[:3] == [str(tmp / "rep" / f) for f in ("report.md", "report.html", "report.json")]
    assert all(Path(p).exists() for p in paths) and any(p.endswith("timeline.png") for p in paths)


@pytest.mark.slow
@pytest.mark.xdist_group("terminal-compare")
def test_a_narrow_terminal_gets_a_stacked_table_with_whole_numbers(compared):
    tmp, _ = compared
    runs = sorted(str(p) for p in (tmp / "runs").iterdir())
    done = cli("report", *runs, "--out", str(tmp / "narrow"), columns=50)
    assert done.returncode == 0, done.stderr
    whole_numbers_only(done.stderr, 50)
    record = json.loads((tmp / "narrow" / "report.json").read_text())
    for group in record["groups"]:
        assert f"wall: {duration(group['figures']['wall_s']['median'])}" in done.stderr
        assert f"{group['speedup']['value']:.2f}×" in done.stderr


@pytest.mark.slow
@pytest.mark.xdist_group("terminal-compare")
def test_quiet_prints_only_the_paths(compared):
    tmp, _ = compared
    runs = sorted(str(p) for p in (tmp / "runs").iterdir())
    done = cli("report", *runs, "--out", str(tmp / "quiet"), "--quiet")
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.split()[0] == str(tmp / "quiet" / "report.md")


@pytest.mark.slow
def test_report_refuses_mixed_task_sets_and_names_unfinished_runs(tmp_path):
    store = tmp_path / "runs"
    one = perfkit.run(synthetic_config(candidates=3), store, tasks=[make_task("a", 2, 1)])
    two = perfkit.run(synthetic_config(candidates=3), store, tasks=[make_task("a", 2, 1), make_task("b", 2, 1)])
    done = cli("report", str(one.path), str(two.path), "--out", str(tmp_path / "mixed"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "different task sets" in done.stderr and one.run_id in done.stderr and two.run_id in done.stderr
    assert "--allow-mixed" in done.stderr and not (tmp_path / "mixed").exists()
    assert cli("report", str(one.path), str(two.path), "--out", str(tmp_path / "m2"), "--allow-mixed",
               "--allow-differences").returncode == 0
    # a different solver option is a different solver
    other = perfkit.run(dataclasses.replace(synthetic_config(candidates=3), solver_options={"candidates": 4}),
                        store, tasks=[make_task("a", 2, 1)])
    done = cli("report", str(one.path), str(other.path), "--out", str(tmp_path / "m3"))
    assert done.returncode == 2 and "different solvers" in done.stderr

    with pytest.raises(RunInterrupted) as stopped:
        perfkit.run(synthetic_config("candidate-parallel", "thread", candidates=3), store,
                    observer=StopAfter(2), tasks=[make_task("a", 2, 1)])
    done = cli("report", str(one.path), str(stopped.value.path), "--out", str(tmp_path / "left"))
    assert done.returncode == 0, done.stderr
    left = Path(stopped.value.path).name
    recorded = len(load_run(stopped.value.path).units)  # the batch that held the 2nd outcome, whole
    assert recorded >= 2 and f"{left} (interrupted, {recorded} units recorded)" in " ".join(done.stderr.split())
    assert f"{left} (interrupted" in (tmp_path / "left" / "report.md").read_text()
    assert json.loads((tmp_path / "left" / "report.json").read_text())["left_out"][0]["state"] == "interrupted"
    done = cli("report", str(stopped.value.path), "--out", str(tmp_path / "none"))
    assert done.returncode == 2 and "interrupted" in done.stderr
