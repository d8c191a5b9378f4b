"""Builders shared by the tests: hand-made tasks, run configurations of the synthetic solver,
and stored-run objects built in memory with known figures. Test modules import from here,
never from each other or from conftest."""

from __future__ import annotations

import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import numpy as np
import pandas as pd
import pytest

from perfkit.model import UNIT_COLUMNS, UNIT_KEY, RunConfig, Sample, Task, TimeoutPolicy
from perfkit.runner import Observer
from perfkit.store import Run, typed_units

KEY = list(UNIT_KEY)
Row = dict[str, Any]


def make_task(task_id: str, n_demo: int = 3, n_test: int = 1, seed: int = 0) -> Task:
    """A task of random 4×4 grids whose outputs are the inputs rotated (candidate c000 solves it)."""
    rng = np.random.default_rng(seed)

    def sample(split: str, i: int) -> Sample:
        grid = rng.integers(0, 10, (4, 4)).astype(np.uint8)
        return Sample(task_id, split, i, grid, np.rot90(grid).astype(np.uint8))

    return Task(task_id, tuple(sample("demo", i) for i in range(n_demo)),
                tuple(sample("test", i) for i in range(n_test)))


def synthetic_config(strategy: str = "sequential", backend: str = "inline", workers: int = 2,
                     timeout_s: float = 1.0, **options) -> RunConfig:
    """A run of the synthetic solver with ``options`` (candidates, cpu_ms, faults, ...)."""
    opts = {"candidates": 8, "cpu_ms": 0.5}
    opts.update(options)
    return RunConfig(solver="synthetic", tasks="hand-made", strategy=strategy, backend=backend,
                     workers=1 if strategy == "sequential" and backend == "inline" else workers,
                     timeout=TimeoutPolicy(timeout_s), solver_options=opts)


class StopAfter(Observer):
    """Ctrl-C after ``n`` outcomes, as a user would press it (an observer of ``perfkit.run``)."""

    def __init__(self, n: int):
        self.n = n

    def outcome(self, outcome) -> None:
        self.n -= 1
        if self.n == 0:
            raise KeyboardInterrupt


def timed_out(df, mask, wall_s: float, cpu_s: float):
    """The rows ``mask`` of a units frame made timeouts of ``wall_s`` wall and ``cpu_s`` CPU
    seconds, with no output (as a backend records a unit stopped at its deadline)."""
    df.loc[mask, ["status", "output_hash", "match", "wall_s", "cpu_s"]] = ["timeout", None, None, wall_s, cpu_s]
    return df


def unit_rows(samples=(("demo", 0), ("demo", 1), ("test", 0)), candidates=("c000", "c001"), task_id="t1",
              cpu: float = 0.1, **fields: Any) -> list[Row]:
    """Units run back to back on one worker (sequential timing): every unit ``cpu`` s of CPU and
    wall; c000 matches everywhere, others never."""
    rows, t = [], 0.0
    for split, index in samples:
        for cand in candidates:
            rows.append(dict(task_id=task_id, split=split, index=index, candidate=cand, status="ok",
                             output_hash=f"h-{split}{index}-{cand}", match=cand == "c000",
                             queued=0.0, started=t, ended=t + cpu, wall_s=cpu, cpu_s=cpu, worker="main",
                             chunk=1, attempt=1, leaked_s=None, leaked=False, **fields))
            t += cpu
    return rows


def make_run(rows: list[Row], strategy: str = "sequential", backend: str = "inline", workers: int = 1,
             wall_s: Optional[float] = None, cpu_s: Optional[float] = None, cores: int = 2, repeat: int = 0,
             run_id: Optional[str] = None, edit: Optional[Callable[[pd.DataFrame], pd.DataFrame]] = None,
             summary: Optional[dict] = None, timeout_s: float = 1.0,
             budgets: Optional[TimeoutPolicy] = None) -> Run:
    """A stored-run object built in memory (no folder): meta, summary and the units table.
    ``budgets``: a whole timeout policy (sample and task budgets), instead of ``timeout_s``."""
    df = typed_units(pd.DataFrame(rows))[list(UNIT_COLUMNS)].copy()
    if edit is not None:
        df = edit(df)
    wall = wall_s if wall_s is not None else float(df["ended"].max() - df["queued"].min())
    cpu = cpu_s if cpu_s is not None else float(df["cpu_s"].sum())
    rid = run_id or f"{strategy}-{backend}-w{workers}-r{repeat}"
    config = RunConfig(solver="synthetic", tasks="hand-made", strategy=strategy, backend=backend, workers=workers,
                       repeat=repeat, timeout=budgets or TimeoutPolicy(timeout_s), label="test")
    meta = {"run_id": rid, "environment": {"usable_cores": cores, "python": "3.11"}, "config": config.to_record()}
    s = {"state": "complete", "wall_s": wall, "cpu_s": cpu, "workers": []}
    s.update(summary or {})
    return Run.from_records(Path(rid), meta, s, df)


def parallel(rows: list[Row], workers: int, chunk_of: Callable[[Row], Any]) -> list[Row]:
    """Re-time rows as perfect list scheduling over ``workers`` lanes, one chunk per item."""
    lanes = [0.0] * workers
    items: dict[Any, list[Row]] = {}
    for r in rows:
        items.setdefault(chunk_of(r), []).append(dict(r))
    out = []
    for n, (key, members) in enumerate(items.items(), start=1):
        lane = int(np.argmin(lanes))
        for r in members:
            r.update(started=lanes[lane], ended=lanes[lane] + r["wall_s"], worker=f"w{lane}", chunk=n)
            lanes[lane] += r["wall_s"]
            out.append(r)
    return out


def whole_samples(rows: list[Row]) -> list[Row]:
    """Rows re-recorded as an opaque solver's run records them (perfkit/backends/unit.py): one
    evaluation per sample, so its rows share the sample's start and end and split its wall and CPU."""
    samples: dict[tuple, list[Row]] = {}
    for r in rows:
        samples.setdefault((r["task_id"], r["split"], r["index"]), []).append(dict(r))
    out = []
    for members in samples.values():
        start, end = min(r["started"] for r in members), max(r["ended"] for r in members)
        wall, cpu = sum(r["wall_s"] for r in members), sum(r["cpu_s"] for r in members)
        for r in members:
            r.update(started=start, ended=end, wall_s=wall / len(members), cpu_s=cpu / len(members))
        out += members
    return out


SAMPLES = tuple(("demo", i) for i in range(5)) + (("test", 0),)
CANDS = tuple(f"c{i:03d}" for i in range(8))


def reference_run(cpu=0.1, **kw):
    return make_run(unit_rows(SAMPLES, CANDS, cpu=cpu), **kw)


def clean_parallel(strategy="candidate-parallel", backend="process", workers=2, per_chunk=4, **kw):
    """A near-ideal parallel run: chunks of ``per_chunk`` units perfectly scheduled."""
    rows = unit_rows(SAMPLES, CANDS, cpu=0.1)
    for i, r in enumerate(rows):
        r["_i"] = i
    rows = parallel(rows, workers, lambda r: r["_i"] // per_chunk)
    for r in rows:
        r.pop("_i")
    wall = max(r["ended"] for r in rows) * 1.02
    return make_run(rows, strategy, backend, workers, wall_s=wall, cpu_s=wall * workers * 0.97, **kw)


TESTS = Path(__file__).resolve().parent


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a ``perfkit`` child process: test plugins (``plugins.*``) importable."""
    import os

    env = dict(os.environ, **extra)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), str(TESTS.parent), env.get("PYTHONPATH")]))
    return env


def perfkit_cli(*args: str, cwd: Optional[Path] = None, timeout: float = 300):
    """Run ``python -m perfkit ARGS`` to its end; returns the CompletedProcess (text)."""
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "perfkit", *args], cwd=cwd, env=cli_env(), capture_output=True,
                          text=True, timeout=timeout)


def perfkit_popen(*args: str, cwd: Optional[Path] = None):
    """Start ``python -m perfkit ARGS`` in the background (stdout and stderr piped, text)."""
    import subprocess
    import sys

    return subprocess.Popen([sys.executable, "-m", "perfkit", *args], cwd=cwd, env=cli_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def error_lines(stderr: str) -> list[str]:
    """The non-empty lines of a command's stderr."""
    return [line for line in stderr.splitlines() if line.strip()]


def perfkit_main(argv: list[str], capsys) -> tuple[int, str, str]:
    """Run the ``perfkit`` entry point in this process (no interpreter start-up); returns
    (exit status, stdout, stderr). ``capsys`` is pytest's fixture."""
    from perfkit.cli.app import main

    capsys.readouterr()
    try:
        main(list(argv))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


#: Debian's headless browser, where CI installs it.
CHROMIUM = "/usr/bin/chromium"


def chromium(page: Path, tmp_path: Path, *extra: str):
    """Open ``page`` in headless Chromium with ``extra`` flags (``--dump-dom``, ``--screenshot``)."""
    import subprocess

    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000",
           "--hide-scrollbars", *extra, page.as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@contextmanager
def tmpfs(folder: Path, options: str, what: str) -> Iterator[Path]:
    """``folder`` with a tmpfs mounted on it (``mount -o options``; root only), unmounted after;
    the test is skipped, naming ``what`` and the reason, when mounting is not permitted."""
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount {what}: {mounted.stderr.strip() or mounted.returncode}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def copy_of_package(source: Path, target: Path) -> Path:
    """A writable copy of the perfkit package at ``source`` (without bytecode) in ``target``: the
    copy's files and folders are the test's, whatever the modes of a read-only checkout."""
    import os
    import shutil

    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
    for folder, _, files in os.walk(target):
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)
    return target
