"""The soak test of issue 12: many short runs through the real command line, each with random
faults on random units, on every backend, checked after each run.

After every run: perfkit's exit status is 0 and the run ``complete`` (every fault is the
solver's, none is perfkit's); every planned unit has exactly one outcome; every faulty unit has
the status its fault deserves and every other unit is ``ok`` (or a ``timeout`` that truly ran
past its deadline, on a loaded machine); no process started for the run is left (every child
inherits a marker in its environment, looked for with psutil); stdout reaches EOF (a grandchild
holding it would hang ``perfkit run | cat``); the store reads back without a note.

Bounded in time (SOAK_S, default 20 s of runs in the suite, every backend at least once; a
longer soak with PERFKIT_SOAK_S=600), reproducible (PERFKIT_SOAK_SEED; the seed and each run's command are in the failure
message).
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time

import psutil
import pytest
from builders import KEY, cli_env

from perfkit import load_run
from perfkit.solvers.synthetic import GRANDCHILD_MARK

SOAK_S = float(os.environ.get("PERFKIT_SOAK_S", "20"))
TIMEOUT_S = 0.5
#: Fault kind -> (status, error type or None when any): what the unit's outcome must say.
EXPECTED = {
    "raise": ("error", "InjectedError"),
    "raise_base": ("error", "InjectedBaseException"),
    "sys_exit": ("error", "SystemExit"),
    "interrupt": ("error", "KeyboardInterrupt"),
    "bad_message": ("error", "UnprintableError"),
    "bad_output": ("error", None),
    "hang_py": ("timeout", None),
    "hang_c": ("timeout", None),
    "exit": ("crashed", None),
    "kill": ("crashed", None),
    "grandchild": ("timeout", None),
}
#: Faults that end or fork the process running the unit: only where a unit has a process of its
#: own to lose (on inline and thread backends that process is perfkit itself).
PROCESS_ONLY = ("exit", "kill", "grandchild")
BACKENDS = ("inline", "thread", "process", "dask")
STRATEGIES = ("sequential", "sample-parallel", "candidate-parallel", "hybrid")


def plan_run(rng: random.Random, backend: str) -> dict:
    """One run: its shape and its faults, each on its own unit."""
    n_demo, n_cand = rng.randint(1, 2), rng.randint(6, 10)
    samples = [f"demo[{i}]" for i in range(n_demo)] + ["test[0]"]
    kinds = [k for k in EXPECTED if backend in ("process", "dask") or k not in PROCESS_ONLY]
    if backend == "thread":  # a thread cannot be stopped: one runaway loop is enough per run
        kinds = [k for k in kinds if k != "hang_py"] + (["hang_py"] if rng.random() < 0.3 else [])
    places = rng.sample([(s, c) for s in samples for c in range(1, n_cand)], rng.randint(1, 3))
    faults = [(rng.choice(kinds), s, c) for s, c in places]
    return {"backend": backend, "strategy": rng.choice(STRATEGIES), "n_demo": n_demo, "n_cand": n_cand,
            "faults": faults}


def command(run: dict, store) -> list[str]:
    width = max(3, len(str(run["n_cand"] - 1)))
    faults = "; ".join(f"{k}:c{c:0{width}d}@{s}" for k, s, c in run["faults"])
    return [sys.executable, "-m", "perfkit", "run", "--solver", "synthetic", "--solver-opt",
            f"candidates={run['n_cand']}", "--solver-opt", "cpu_ms=0.2", "--solver-opt", f"faults={faults}",
            "--tasks", f"synthetic:1x{run['n_demo']}+1", "--strategy", run["strategy"], "--backend", run["backend"],
            "--workers", "2", "--chunk-size", "3", "--timeout", str(TIMEOUT_S), "--store", str(store)]


def marked(token: str) -> list[psutil.Process]:
    """Live processes started for the run (they inherit the marker) or by a grandchild fault."""
    found = []
    for p in psutil.process_iter(["pid", "cmdline", "environ", "status"]):
        try:
            if p.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            env = p.info["environ"] or {}
            if env.get("PERFKIT_SOAK") == token or GRANDCHILD_MARK in (p.info["cmdline"] or []):
                found.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def check(run: dict, proc: subprocess.CompletedProcess, store, token: str) -> None:
    assert proc.returncode == 0, f"exit status {proc.returncode}: {proc.stderr[-2000:]}"
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    folders = list(store.iterdir())
    assert len(folders) == 1 and proc.stdout.strip().endswith(folders[0].name)
    stored = load_run(folders[0])
    assert stored.state == "complete", stored.summary.error
    assert not stored.notes, stored.notes
    units = stored.units
    width = max(3, len(str(run["n_cand"] - 1)))
    expected = {("syn-000", s.split("[")[0], int(s[s.index("[") + 1:-1]), f"c{c:0{width}d}")
                for s in [f"demo[{i}]" for i in range(run["n_demo"])] + ["test[0]"] for c in range(run["n_cand"])}
    keys = list(units[KEY].itertuples(index=False, name=None))
    assert len(keys) == len(set(keys)), "a unit has two outcomes"
    assert set(keys) == expected, f"lost {sorted(expected - set(keys))[:5]}, extra {sorted(set(keys) - expected)[:5]}"
    by = units.set_index(KEY)
    faulty = set()
    for kind, sample, c in run["faults"]:
        key = ("syn-000", sample.split("[")[0], int(sample[sample.index("[") + 1:-1]), f"c{c:0{width}d}")
        faulty.add(key)
        status, etype = EXPECTED[kind]
        row = by.loc[key]
        assert row.status == status, f"{kind} on {key}: {row.status} ({row.error_type}: {row.error_message})"
        if etype is not None:
            assert row.error_type == etype, f"{kind} on {key}: error type {row.error_type}"
    innocent = units[[k not in faulty for k in keys]]
    slow = innocent[innocent.status == "timeout"]
    assert set(innocent.status) <= {"ok", "timeout"}, innocent[innocent.status != "ok"][KEY + ["status"]]
    assert (slow.wall_s.fillna(TIMEOUT_S) >= TIMEOUT_S * 0.99).all(), "an innocent unit was called a timeout early"
    give_up = time.monotonic() + 10  # killed processes take a moment to be reaped
    while marked(token) and time.monotonic() < give_up:
        time.sleep(0.1)
    left = marked(token)
    assert not left, f"processes left behind: {[(p.pid, p.info['cmdline']) for p in left]}"


@pytest.mark.slow
@pytest.mark.longest
def test_soak_random_faults_on_every_backend(tmp_path):
    seed = int(os.environ.get("PERFKIT_SOAK_SEED", random.SystemRandom().randrange(10**6)))
    rng = random.Random(seed)
    started, n = time.monotonic(), 0
    while n < len(BACKENDS) or time.monotonic() - started < SOAK_S:
        backend = BACKENDS[n % len(BACKENDS)] if n < len(BACKENDS) else rng.choice(BACKENDS)
        run = plan_run(rng, backend)
        store, token = tmp_path / f"run{n}", f"{seed}-{n}"
        argv = command(run, store)
        try:
            proc = subprocess.run(argv, env=cli_env(PERFKIT_SOAK=token), capture_output=True, text=True, timeout=180)
            check(run, proc, store, token)
        except (AssertionError, subprocess.TimeoutExpired) as exc:
            for p in marked(token):
                p.kill()
            raise AssertionError(f"soak seed {seed}, run {n}: {run}\n$ {' '.join(argv)}\n{exc}") from None
        n += 1
