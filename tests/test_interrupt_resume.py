"""Ctrl-C / SIGTERM during a process-backend run, then ``--resume``, through the real CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from perfkit.store import load_run

KEY = ["task_id", "split", "index", "candidate"]
# Units that sleep 25 ms: the run lasts at least 2 × 4 × 24 × 25 ms / 2 workers = 2.4 s on any
# machine, so it is still running when the test interrupts it after 20 recorded units.
RUN = [sys.executable, "-m", "perfkit", "run", "--solver", "synthetic", "--solver-opt", "candidates=24",
       "--solver-opt", "cpu_ms=0", "--solver-opt", "sleep_ms=25", "--tasks", "synthetic:2x3+1",
       "--strategy", "candidate-parallel", "--backend", "process", "--workers", "2", "--chunk-size", "4"]
TOTAL = 2 * 4 * 24


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except OSError:
        return False


def lines(path: Path) -> int:
    return sum(1 for _ in open(path)) if path.exists() else 0


def start_and_interrupt(store: Path, sig: int) -> tuple[Path, set[int], subprocess.CompletedProcess]:
    proc = subprocess.Popen([*RUN, "--store", str(store)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    run_dir = None
    while time.monotonic() < deadline:
        runs = list(store.glob("*/units.jsonl"))
        if runs and lines(runs[0]) >= 20:
            run_dir = runs[0].parent
            break
        time.sleep(0.05)
    assert run_dir is not None, "the run never started recording"
    family = descendants(proc.pid)
    assert len(family) >= 2, "expected worker processes below perfkit"
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    return run_dir, family, subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_leaves_no_child_and_resume_runs_only_the_missing_units(sig, tmp_path):
    store = tmp_path / "runs"
    run_dir, family, result = start_and_interrupt(store, sig)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert f"resume it with: perfkit run --resume {run_dir}" in result.stderr  # typer used to drop it
    deadline = time.monotonic() + 30  # the kernel reaps them soon; a loaded machine only takes longer
    while [p for p in family if alive(p)] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in family if alive(p)], "worker processes outlived the interrupted run"

    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["state"] == "interrupted"
    before = load_run(run_dir).units
    assert 0 < len(before) < TOTAL
    assert not before.duplicated(KEY).any()

    resumed = subprocess.run([sys.executable, "-m", "perfkit", "run", "--resume", str(run_dir)],
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    run = load_run(run_dir)
    assert run.meta["state"] == "complete"
    assert len(run.units) == TOTAL and not run.units.duplicated(KEY).any()
    assert run.summary.units_recorded_this_session == TOTAL - len(before)
    kept = before.merge(run.units, on=KEY, suffixes=("", "_after"))
    assert len(kept) == len(before) and (kept.started == kept.started_after).all(), \
        "resume re-ran units that were already recorded"


def test_ctrl_c_while_the_command_line_is_still_importing_is_one_line_and_status_130(monkeypatch, capsys):
    """The first tenths of a second of every command import typer, rich and the verbs: Ctrl-C
    then (here: the import of perfkit.cli.app raising KeyboardInterrupt, as the signal would)
    ends with the same line as any other interruption, no traceback."""
    import importlib.abc
    import sys

    import perfkit.cli

    class Interrupted(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "perfkit.cli.app":
                raise KeyboardInterrupt
            return None

    monkeypatch.delitem(sys.modules, "perfkit.cli.app", raising=False)
    monkeypatch.delattr(perfkit.cli, "app", raising=False)
    monkeypatch.setattr(sys, "meta_path", [Interrupted(), *sys.meta_path])
    with pytest.raises(SystemExit) as exit_:
        perfkit.cli.entry()
    assert exit_.value.code == 130
    assert capsys.readouterr().err.strip() == "perfkit: interrupted"


@pytest.mark.slow  # a perfkit subprocess
@pytest.mark.parametrize("where", ["Meter.since_process_start", "become_subreaper"])
def test_ctrl_c_while_the_command_begins_is_the_same_line_and_status_130(tmp_path, where):
    """Ctrl-C while perfkit/cli/app.py ``entry`` makes the process one command
    (perfkit/runner/command.py ``begin``: the meter's first reading, the subreaper): a real
    SIGINT raised at that point escaped as a traceback from ``entry``. No verb ran, so no run
    folder may be left."""
    script = tmp_path / "perfkit_interrupted_in_begin.py"
    script.write_text(
        "import signal, sys\n"
        # a terminal's Ctrl-C: pytest-xdist's workers start their children with SIGINT ignored
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "from perfkit.runner import command\n"
        f"owner, name = (command.Meter, 'since_process_start') if {where!r} != 'become_subreaper' "
        "else (command, 'become_subreaper')\n"
        "def pressed(*args, **kwargs):\n"
        "    signal.raise_signal(signal.SIGINT)  # Ctrl-C lands here: Python raises KeyboardInterrupt\n"
        "    raise AssertionError('SIGINT did not interrupt')\n"
        "setattr(owner, name, pressed)\n"
        "sys.argv = ['perfkit', 'run', '--solver', 'synthetic', '--store', sys.argv[1]]\n"
        "from perfkit.cli import entry\n"
        "entry()\n")
    store = tmp_path / "store"
    done = subprocess.run([sys.executable, str(script), str(store)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 130, done.stderr
    assert done.stderr.strip() == "perfkit: interrupted"
    assert not store.exists() or not any(store.iterdir())


@pytest.mark.parametrize("where", ["parsing perfkit's own options", "building the command"])
def test_ctrl_c_outside_any_verb_is_the_same_line_and_status_130(monkeypatch, capsys, where):
    """Ctrl-C before a verb runs: while the command is built, or while perfkit's own options
    are parsed (typer imports pydantic then, ~70 ms of every command; it turns the
    KeyboardInterrupt into a returned 130 and keeps no exception). Both exited 130 silently."""
    import typer.core
    import typer.main

    from perfkit.cli import app

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    if where == "building the command":
        monkeypatch.setattr(typer.main, "get_command", interrupted)
    else:
        monkeypatch.setattr(typer.core.TyperGroup, "parse_args", interrupted)
    monkeypatch.setattr(app.Verbs, "interrupt", None)
    with pytest.raises(SystemExit) as exit_:
        app.main(["history", "--help"])
    assert exit_.value.code == 130
    assert capsys.readouterr().err.strip() == "perfkit: interrupted"


@pytest.mark.slow  # a perfkit subprocess with a process backend
def test_ctrl_c_while_the_forkserver_imports_prints_no_traceback(tmp_path):
    """A terminal's Ctrl-C reaches every process of the group, the forkserver too, which
    ignores it only once it has imported the preloaded modules: pressed earlier (while a
    comparison starts its first process run), it printed the forkserver's KeyboardInterrupt
    traceback. The plugin below is preloaded in the forkserver and presses Ctrl-C there."""
    (tmp_path / "ctrl_c_in_forkserver.py").write_text(
        "import os, signal, sys\n"
        "if sys.argv[:1] == ['-c']:  # the forkserver (python -c ...), not perfkit's own process\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n")
    done = subprocess.run([sys.executable, "-m", "perfkit", "run", "--plugin", "ctrl_c_in_forkserver",
                           "--solver", "synthetic", "--tasks", "synthetic:1x1+1", "--backend", "process",
                           "--strategy", "sample-parallel", "--workers", "1", "--store", str(tmp_path / "runs"),
                           "--no-progress"],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert "KeyboardInterrupt" not in done.stderr, done.stderr
    assert done.returncode == 0, done.stderr
