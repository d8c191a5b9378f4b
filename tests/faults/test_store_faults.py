"""Fault injection: the run store under torn writes, foreign records, two writers, a solver
that changes directory and a full disk (issue 12, faults 3, 6, 7 and 14)."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest
from builders import KEY, error_lines, perfkit_main, tmpfs

from perfkit import load_run, runner
from perfkit.model import PerfkitError, RunConfig, TimeoutPolicy
from perfkit.store import RunSummary, RunWriter

TASKS = "synthetic:1x3+1"  # loadable by name, so that a resume finds the same tasks
CANDIDATES = 6
TOTAL = 4 * CANDIDATES


def finished_run(store: Path, per_record: bool = True, **options) -> Path:
    """A complete run; ``per_record``: its units.jsonl rewritten one unit record per line (as
    runs before outcome batches wrote it, and readers still read it), so that these tests can
    cut it record by record."""
    config = RunConfig(solver="synthetic", tasks=TASKS, timeout=TimeoutPolicy(5.0),
                       solver_options={"candidates": CANDIDATES, "cpu_ms": 0.1, **options})
    path = runner.run(config, store).path
    if per_record:
        one_record_per_line(path / "units.jsonl")
    return path


def one_record_per_line(jsonl: Path) -> None:
    lines = []
    for line in jsonl.read_bytes().splitlines():
        batch = json.loads(line).get("columns")
        if batch is None:
            lines.append(line)
            continue
        for i in range(len(batch["task_id"])):
            lines.append(json.dumps({name: values[i] for name, values in batch.items()}).encode())
    jsonl.write_bytes(b"".join(line + b"\n" for line in lines))


def as_interrupted(path: Path, keep: int, tail: bytes = b"") -> None:
    """Make a finished run look like one killed after ``keep`` records, with ``tail`` (a torn
    record, say) after them."""
    (path / "units.parquet").unlink()
    (path / "summary.json").unlink()
    meta = json.loads((path / "meta.json").read_text())
    meta["state"] = "interrupted"
    (path / "meta.json").write_text(json.dumps(meta))
    lines = (path / "units.jsonl").read_bytes().splitlines(keepends=True)
    (path / "units.jsonl").write_bytes(b"".join(lines[:keep]) + tail)


# -- fault 3: a torn last record, then --resume -----------------------------------------------

def test_resume_after_a_torn_last_record_finishes_every_unit_exactly_once(tmp_path):
    path = finished_run(tmp_path)
    lines = (path / "units.jsonl").read_bytes().splitlines(keepends=True)
    as_interrupted(path, keep=10, tail=lines[10][:40])  # the writer died 40 bytes into record 11

    run = runner.resume(path)
    assert run.state == "complete"
    assert len(run.units) == TOTAL and not run.units.duplicated(KEY).any()
    assert any("resume cut 40 bytes" in n for n in run.notes), run.notes
    # every line of the file is whole again: a second reader (or resume) sees nothing torn
    for line in (path / "units.jsonl").read_bytes().splitlines():
        json.loads(line)


def test_resume_after_a_torn_batch_reruns_only_that_batch(tmp_path):
    """A batch is one line: torn, it is lost whole (never acknowledged), and a resume runs its
    units again, once."""
    path = finished_run(tmp_path, per_record=False, sleep_ms=2)  # ~2 ms units: several batches
    lines = (path / "units.jsonl").read_bytes().splitlines(keepends=True)
    assert len(lines) >= 2
    as_interrupted(path, keep=1, tail=lines[1][:40])
    kept = load_run(path)
    assert 0 < len(kept.units) < TOTAL and any("torn" in n for n in kept.notes)
    run = runner.resume(path)
    assert run.state == "complete"
    assert len(run.units) == TOTAL and not run.units.duplicated(KEY).any()
    assert any("resume cut 40 bytes" in n for n in run.notes), run.notes


# -- fault 14: readers and torn or foreign records --------------------------------------------

@pytest.mark.parametrize("junk", [b"[1, 2]", b"3", b'"text"', b"null", b'{"a": 1}', b'{"task_id": "t"}',
                                  b'{"task_id": "t", "split": "demo", "index": 0, "candidate": "c0"}'])
def test_a_foreign_record_is_skipped_and_reported(tmp_path, junk):
    path = finished_run(tmp_path)
    as_interrupted(path, keep=TOTAL)
    lines = (path / "units.jsonl").read_bytes().splitlines(keepends=True)
    (path / "units.jsonl").write_bytes(b"".join(lines[:5]) + junk + b"\n" + b"".join(lines[5:]) + junk + b"\n")

    run = load_run(path)
    assert len(run.units) == TOTAL and not run.units.duplicated(KEY).any()
    assert run.units.status.notna().all()
    assert any("lines 6, 26" in n and "not a unit record" in n for n in run.notes), run.notes


def test_a_torn_record_is_skipped_and_reported(tmp_path):
    path = finished_run(tmp_path)
    lines = (path / "units.jsonl").read_bytes().splitlines(keepends=True)
    as_interrupted(path, keep=7, tail=lines[7][:25])
    run = load_run(path)
    assert len(run.units) == 7
    assert any("line 8" in n and "torn" in n for n in run.notes), run.notes


@pytest.mark.slow
def test_a_truncated_parquet_file_falls_back_to_the_jsonl_record(tmp_path, capsys):
    path = finished_run(tmp_path)
    parquet = path / "units.parquet"
    parquet.write_bytes(parquet.read_bytes()[:100])
    run = load_run(path)
    assert len(run.units) == TOTAL
    assert any("units.parquet" in n and "unreadable" in n for n in run.notes)
    code, _, err = perfkit_main(["report", str(path), "--out", str(tmp_path / "report")], capsys)
    assert code == 0, err
    assert "units.parquet" in err and "unreadable" in err


@pytest.mark.slow
def test_report_survives_a_run_with_no_units(tmp_path, capsys):
    full = finished_run(tmp_path / "full")
    empty = tmp_path / "empty"
    empty.mkdir()
    meta = json.loads((full / "meta.json").read_text())
    (empty / "meta.json").write_text(json.dumps({**meta, "state": "interrupted"}))
    (empty / "units.jsonl").write_bytes(b"")
    code, out, err = perfkit_main(["report", str(empty), "--out", str(tmp_path / "alone")], capsys)
    assert code == 2 and len(error_lines(err)) == 1 and "0 units" in err, out + err  # nothing to compare: one line
    code, out, err = perfkit_main(["report", str(empty), str(full), "--out", str(tmp_path / "both")], capsys)
    assert code == 0, err
    assert (tmp_path / "both" / "report.md").exists()


def test_a_baseline_without_repeats_is_one_line_and_exit_2(tmp_path, capsys):
    path = finished_run(tmp_path)
    baseline = tmp_path / "empty.json"
    config = json.loads((path / "meta.json").read_text())["config"]
    baseline.write_text(json.dumps({"format": "perfkit-baseline/1", "repeats": [], "answers": [],
                                    "config": config}))
    code, out, err = perfkit_main(["gate", "--baseline", str(baseline), "--current", str(path)], capsys)
    assert code == 2, out + err
    assert error_lines(err) == [f"perfkit: error: {baseline}: field 'repeats': expected a list of at "
                                          "least one repeat"]


# -- fault 6: one writer per run ----------------------------------------------------------------

def test_a_second_writer_of_a_live_run_is_refused(tmp_path):
    writer = RunWriter.create(tmp_path, "live", {"config": {}})
    with pytest.raises(PerfkitError, match="being written by another perfkit"):
        RunWriter.reopen(tmp_path / "live")
    writer.finish(RunSummary(state="interrupted"))  # the end of the run frees the folder
    RunWriter.reopen(tmp_path / "live").finish(RunSummary(state="complete"))


def test_resume_of_a_run_still_being_written_is_refused_with_one_line(tmp_path, capsys):
    store, log, go = tmp_path / "runs", tmp_path / "starts.log", tmp_path / "go"
    config = RunConfig(solver="plugins.faulty_solvers:Misbehaving", tasks="synthetic:1x2+1",
                       solver_options={"log": str(log), "wait_for": str(go)})
    live = threading.Thread(target=runner.run, args=(config, store))
    live.start()  # its first unit waits until ``go`` exists: the run is live while we resume it
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (log.exists() and log.read_text()):
            time.sleep(0.01)
        run_dir = next(store.iterdir())
        code, out, err = perfkit_main(["run", "--resume", str(run_dir)], capsys)
    finally:
        go.touch()
        live.join(60)
    assert code == 2, out + err
    assert error_lines(err) == [f"perfkit: error: {run_dir}: the run is being written by another perfkit "
                                f"(pid {os.getpid()}); wait for it to end or stop it, then resume"]
    run = load_run(run_dir)
    assert run.state == "complete" and len(run.units) == 3 * 4 and not run.units.duplicated(KEY).any()


# -- fault 7: a solver that changes directory -------------------------------------------------------

@pytest.mark.parametrize("backend", ["inline", "thread"])
def test_a_solver_chdir_cannot_move_the_store(tmp_path, backend, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the solver moves this process to /; monkeypatch moves it back
    code, out, err = perfkit_main(["run", "--solver", "plugins.faulty_solvers:Misbehaving", "--solver-opt",
                                   "fault=chdir", "--tasks", "synthetic:1x2+1", "--backend", backend, "--workers",
                                   "1", "--store", "runs"], capsys)
    assert code == 0, err
    assert os.getcwd() == "/"  # the solver did move
    run = load_run(next((tmp_path / "runs").iterdir()))
    assert run.state == "complete" and len(run.units) == 3 * 4
    assert (run.path / "units.parquet").exists() and (run.path / "summary.json").exists()
    assert out.strip() == str(run.path)


# -- full disk ------------------------------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs (root only); skipped with the reason when mounting is not permitted."""
    disk = tmp_path / "disk"
    disk.mkdir()
    with tmpfs(disk, "size=1m", "a small tmpfs to fill"):
        yield disk


@pytest.mark.slow  # > 0.2 s: out of the quick subset (session 17, suitetime17)
def test_a_full_disk_fails_the_run_with_one_line_and_keeps_it_resumable(small_disk, capsys):
    filler = small_disk / "filler"
    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
    filler.write_bytes(b"\0" * (free - 300 * 1024))  # ~300 KiB left: about 800 outcomes fit
    store = small_disk / "runs"
    args = ["--solver", "synthetic", "--solver-opt", "candidates=400", "--solver-opt", "cpu_ms=0",
            "--tasks", "synthetic:1x3+1", "--store", str(store)]  # 1 600 outcomes, ~550 KiB
    code, out, err = perfkit_main(["run", *args], capsys)
    assert code == 2, out + err
    lines = error_lines(err)
    assert len(lines) == 1 and "No space left on device" in lines[0], err
    run_dir = next(store.iterdir())
    run = load_run(run_dir)  # what was written is readable, and says how the run ended
    assert run.state == "failed" and "No space left on device" in run.summary.error
    assert 0 < len(run.units) < 1600 and not run.units.duplicated(KEY).any()
    for line in (run_dir / "units.jsonl").read_bytes().splitlines():  # no torn record left behind
        json.loads(line)

    filler.unlink()
    code, out, err = perfkit_main(["run", "--resume", str(run_dir)], capsys)
    assert code == 0, err
    run = load_run(run_dir)
    assert run.state == "complete" and len(run.units) == 1600 and not run.units.duplicated(KEY).any()
