"""Calibrating a backend's costs on this machine: a short measured run, stored per machine.

What the simulator (perfkit/analysis/prediction/) needs to know about a backend is what it
adds around the solver's work — per unit, per work item, per worker started, per timeout. Each
figure is measured here by real runs of the synthetic solver through the real runner, as the
*difference* between two runs that differ in one thing only, so that fixed costs cancel:

- per unit: empty units (``cpu_ms=0``) on one worker, 4 000 vs 16 000 of them in chunks of
  256: the worker's lane grows by (unit wall + the backend's cost) per unit, the parent's CPU
  by its own cost per unit;
- per work item: 2 000 empty units in chunks of 1 vs chunks of 256: lane and parent CPU per
  item;
- start-up and stop: runs of one unit on 1 and on 16 workers (Dask: 4): the wall outside the
  unit's span, and its growth per worker; the first start in a fresh process (cold: the
  forkserver, the cluster) on top;
- the co-run factor: the calibration workload's CPU per pass in one process per core at once
  against one process alone, in the same short window, alternated (a speed flip hits both);
- per run and per batch in the parent: a run of one unit (the run's own cost), and a run whose
  sleeping units each end a batch of outcomes (the worker sends one every FLUSH_INTERVAL_S of a
  running item: each wakes the parent), against it;
- a timeout: units that hang (``hang_py``, ignoring their deadline) under a 0.1 s timeout:
  how late after the deadline each is stopped, and how long until the next unit starts on
  the worker's replacement.

The result is stored as ``<dir>/<machine key>.json`` (one file per machine: host, CPU model,
usable cores, Python) and reused until ``recalibrate``; measurements quoted in
docs/benchmarks.md ("Predicting a run").
"""

from __future__ import annotations

import hashlib
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable, Optional

import numpy as np

from perfkit.backends.base import FLUSH_INTERVAL_S
from perfkit.runner import calibration as yardstick
from perfkit.analysis.prediction.model import DEFAULT_COSTS, BackendCosts
from perfkit.runner.environment import cpu_model, usable_cores
from perfkit.model import PerfkitError
from perfkit.model import RunConfig, Sample, Task, TimeoutPolicy

DEFAULT_DIR = Path("reports/calibration")
#: Empty units per calibration run (small, large) and per item-cost run.
UNITS = (4000, 16000)
ITEM_UNITS = 2000
CANDIDATES = 500
#: The timeout of the stop-and-replace measurement, and how many units hang under it.
STOP_TIMEOUT_S = 0.1
HANGS = 4
#: Bump when the measurement changes: older files are then measured again.
VERSION = 6
CALIBRATED = ("inline", "process", "thread", "dask")


def machine_facts() -> dict[str, Any]:
    """What identifies this machine for calibration: host, CPU model, usable cores, Python."""
    return {"hostname": platform.node(), "cpu_model": cpu_model(), "usable_cores": usable_cores(),
            "python": platform.python_version(), "version": VERSION}


def machine_key(facts: Optional[dict[str, Any]] = None) -> str:
    """A short stable hash of :func:`machine_facts` (the calibration file's name)."""
    text = json.dumps(facts or machine_facts(), sort_keys=True)
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


def _task(n_samples: int, task_id: str = "calibration") -> Task:
    grid = np.zeros((3, 3), np.uint8)
    return Task(task_id, tuple(Sample(task_id, "demo", i, grid, grid) for i in range(n_samples)), ())


def _run(store: Path, backend: str, units: int, chunk: int, workers: int = 1, timeout_s: float = 10.0,
         strategy: str = "candidate-parallel", **options: Any) -> Any:
    from perfkit.runner import run

    candidates = options.pop("candidates", min(CANDIDATES, units))
    config = RunConfig(solver="synthetic", tasks="calibration", strategy=strategy, backend=backend,
                       workers=workers, chunk_size=chunk, timeout=TimeoutPolicy(timeout_s), label="calibration",
                       solver_options={"candidates": candidates, "cpu_ms": 0, **options})
    return run(config, store, tasks=[_task(max(1, units // candidates))])


def _lane(run: Any) -> tuple[float, float, float]:
    """(span of the units on the worker, Σ unit wall, parent CPU) of a one-worker run."""
    u = run.units
    return float(u["ended"].max() - u["queued"].min()), float(u["wall_s"].sum()), float(run.summary.cpu_parent_s)


def _per_unit(store: Path, backend: str) -> tuple[float, float]:
    """(lane seconds, parent CPU seconds) per unit outside the solver's call."""
    small, large = (_lane(_run(store, backend, n, 256, strategy="sequential" if backend == "inline" else
                               "candidate-parallel")) for n in UNITS)
    n = UNITS[1] - UNITS[0]
    lane = ((large[0] - small[0]) - (large[1] - small[1])) / n
    parent = (large[2] - small[2]) / n
    return max(0.0, lane), max(0.0, parent)


def _per_item(store: Path, backend: str) -> tuple[float, float, float]:
    """(worker CPU, extra lane wall, parent CPU) per work item."""
    units = ITEM_UNITS // 5 if backend == "dask" else ITEM_UNITS  # a Dask task costs milliseconds
    few = _run(store, backend, units, 256)
    many = _run(store, backend, units, 1)
    items = many.units["chunk"].nunique() - few.units["chunk"].nunique()
    lane = ((_lane(many)[0] - _lane(few)[0]) - (_lane(many)[1] - _lane(few)[1])) / items
    parent = (_lane(many)[2] - _lane(few)[2]) / items
    worker = (many.summary.cpu_workers_s - few.summary.cpu_workers_s
              - (many.units["cpu_s"].sum() - few.units["cpu_s"].sum())) / items
    worker = min(max(0.0, worker), max(0.0, lane))
    return worker, max(0.0, lane - worker), max(0.0, parent)


def _stops(store: Path, backend: str) -> tuple[float, float]:
    """(stop delay after the deadline, seconds until the next unit starts on a replacement)."""
    hang = "hang_c" if backend == "thread" else "hang_py"  # a spinning abandoned thread would hold the GIL
    faults = "; ".join(f"{hang}:c{2 + 3 * i:03d}" for i in range(HANGS))
    run = _run(store, backend, 16, 16, timeout_s=STOP_TIMEOUT_S, strategy="sequential", candidates=16,
               cooperative=False, faults=faults)
    u = run.units.sort_values("started").reset_index(drop=True)
    stopped = u.index[u["status"] == "timeout"]
    delays = (u.loc[stopped, "ended"] - u.loc[stopped, "started"] - STOP_TIMEOUT_S).tolist()
    gaps = [float(u.loc[i + 1, "started"] - u.loc[i, "ended"]) for i in stopped if i + 1 < len(u)]
    if not delays:
        raise PerfkitError(f"calibration of {backend}: no unit timed out in the stop measurement")
    return statistics.median(delays), statistics.median(gaps) if gaps else 0.0


_COLD_START = """
import time
from perfkit.backends import SolverRef, get_backend
b = get_backend({backend!r})
t0 = time.monotonic()
b.start(SolverRef("synthetic", {{"cpu_ms": 0}}), 1)
print(time.monotonic() - t0)
b.close()
"""


#: Rounds of the start-up measurement (each: one run on 1 worker, one on many).
START_ROUNDS = 2
#: The CPU-bound units timed inline and on a backend's worker for :func:`_cpu_factor`.
FACTOR_UNITS, FACTOR_CPU_MS, FACTOR_ROUNDS = 150, 2.0, 5


def _cpu_factor(store: Path, backend: str) -> float:
    """Σ unit CPU of the same CPU-bound units on one worker of ``backend`` / inline: the median
    over ``FACTOR_ROUNDS`` rounds of each round's ratio, the two runs of a round back to back
    (~0.3 s each). Each run's figure is divided by its own calibration workload
    (``calibration_cpu_s``). The machine's speed may change between two runs
    (docs/benchmarks.md, section 4), which is not the backend's doing, and the workload does not
    always follow it: a median of each side over 3 rounds once read 1.21 and once 0.735 where
    ARC's units showed 1.0 and the same measurement minutes later 1.01–1.02; a change hits one
    round's pair together, or one round of five."""
    ratios = []
    for _ in range(FACTOR_ROUNDS):
        per_side = []
        for name in ("inline", backend):
            run = _run(store, name, FACTOR_UNITS, 16, strategy="sequential", candidates=FACTOR_UNITS // 5,
                       cpu_ms=FACTOR_CPU_MS)
            per_side.append(float(run.units["cpu_s"].sum()) / (run.summary.calibration_cpu_s or 1.0))
        ratios.append(per_side[1] / per_side[0])
    return statistics.median(ratios)


#: Rounds of the co-run measurement (each: one process alone, then one per core at once) and
#: each side's window, seconds.
CORUN_ROUNDS, CORUN_WINDOW_S = 5, 0.15


def _corun_factor() -> float:
    """CPU per pass of the calibration workload with every usable core busy (one process per
    core at once) / with one process alone: the median over ``CORUN_ROUNDS`` rounds of the ratio,
    each round measuring both sides back to back (the machine's speed flips, docs/benchmarks.md
    section 4, then moves both). A process pool of the standard library: the figure is the
    machine's, not a backend's."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from perfkit.backends.process import main_not_reimported

    cores = usable_cores()
    if cores < 2:
        return 1.0

    def window(n: int) -> list[float]:
        start = time.monotonic() + 0.05  # every process waits for the same start
        jobs = [pool.submit(yardstick.cpu_per_pass, start, start + CORUN_WINDOW_S) for _ in range(n)]
        return [job.result() for job in jobs]

    with ProcessPoolExecutor(cores, mp_context=multiprocessing.get_context("forkserver")) as pool:
        with main_not_reimported():  # (the pool starts its processes on the first submits)
            window(cores)  # start every process of the pool before measuring
        ratios = []
        for _ in range(CORUN_ROUNDS):
            alone = window(1)[0]
            ratios.append(statistics.median(window(cores)) / alone)
    # busy neighbours never make a core faster: a ratio below 1 is the machine's noise
    return max(1.0, statistics.median(ratios))


#: Units of the per-batch measurement, and each unit's sleep (longer than the batch interval:
#: each unit's end sends a batch), milliseconds.
BATCH_UNITS, BATCH_SLEEP_MS = 16, 25.0


def _per_run_and_batch(store: Path, costs: BackendCosts) -> tuple[float, float]:
    """(parent CPU per run, per batch of outcomes sent before an item's end), seconds: a run of
    one unit (its parent CPU less one unit's and one item's cost) against a run of
    ``BATCH_UNITS`` sleeping units in one item — each unit's end sends a batch, so
    ``BATCH_UNITS`` batches more (median of ``START_ROUNDS`` + 1 alternations)."""
    one, batches = [], []
    for _ in range(START_ROUNDS + 1):
        one.append(_run(store, costs.backend, 1, 1).summary.cpu_parent_s)
        batches.append(_run(store, costs.backend, BATCH_UNITS, BATCH_UNITS, strategy="sequential",
                            candidates=BATCH_UNITS, sleep_ms=BATCH_SLEEP_MS).summary.cpu_parent_s)
    run = statistics.median(one) - costs.unit.parent_cpu_s - costs.item.parent_cpu_s
    extra_units = (BATCH_UNITS - 1) * costs.unit.parent_cpu_s
    per_batch = (statistics.median(batches) - statistics.median(one) - extra_units) / BATCH_UNITS
    return max(0.0, run), max(0.0, per_batch)


def _start_costs(store: Path, backend: str, most: int) -> tuple[float, float, float]:
    """(extra wall of a cold start, wall per worker, wall per run) of starting and stopping a
    backend's workers: the first start in a fresh Python process (cold: forkserver, cluster),
    then runs of one unit here, warm, on 1 and on ``most`` workers — the wall outside the unit's
    span is the start and the stop, and its growth from 1 to ``most`` workers is per worker."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _COLD_START.format(backend=backend)], capture_output=True,
                          text=True, timeout=300)
    try:
        cold = float(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise PerfkitError(f"calibration of {backend}: the start-up measurement failed: "
                           f"{done.stderr.strip().splitlines()[-1:] or done.returncode}") from None
    outside: dict[int, list[float]] = {1: [], most: []}
    _run(store, backend, 1, 1)  # the first start of this process may be cold
    for _ in range(START_ROUNDS):
        for n in outside:
            run = _run(store, backend, 1, 1, workers=n)
            outside[n].append(run.summary.wall_s - _lane(run)[0])
    one, many = statistics.median(outside[1]), statistics.median(outside[most])
    per_worker = max(0.0, (many - one) / (most - 1))
    return max(0.0, cold - one), per_worker, max(0.0, one - per_worker)


def calibrate_backend(backend: str, store: Optional[Path] = None) -> BackendCosts:
    """Measure ``backend``'s costs on this machine (a few seconds; dask: ~20 s)."""
    if backend not in CALIBRATED:
        raise PerfkitError(f"backend {backend!r}: cannot calibrate; known: {', '.join(CALIBRATED)}")
    with tempfile.TemporaryDirectory(prefix="perfkit-calibration-") as tmp:
        store = Path(store or tmp)
        # the machine's speed while measuring: a run in another speed state scales the costs
        before = yardstick.measure()
        costs = DEFAULT_COSTS[backend]
        if backend != "inline":
            cold, per_worker, close = _start_costs(store, backend, 4 if backend == "dask" else 16)
            costs = costs.changed(start_cold_s=cold, start_per_worker_s=per_worker, close_s=close)
        lane, parent = _per_unit(store, backend)
        if backend in ("inline", "thread"):
            # one thread (inline) or one GIL (threads): the parent's share is the worker's too
            costs = costs.changed(unit_worker_cpu_s=lane, unit_parent_cpu_s=0.0)
        else:
            costs = costs.changed(unit_worker_cpu_s=lane, unit_parent_cpu_s=parent)
        if backend != "inline":
            worker, gap, item_parent = _per_item(store, backend)
            if backend == "thread":
                worker, item_parent = worker + item_parent, 0.0
            if backend == "dask":  # a LocalCluster's scheduler runs in the parent: one serial server
                costs = costs.changed(scheduler_item_cpu_s=item_parent)
                item_parent = 0.0
            costs = costs.changed(item_worker_cpu_s=worker, item_latency_s=gap, item_parent_cpu_s=item_parent)
        if backend in ("process", "dask"):
            costs = costs.changed(unit_cpu_factor=_cpu_factor(store, backend), corun_cpu_factor=_corun_factor())
        if backend == "process":
            run, batch = _per_run_and_batch(store, costs)
            costs = costs.changed(run_parent_cpu_s=run, batch_parent_cpu_s=batch, batch_interval_s=FLUSH_INTERVAL_S)
        if backend != "dask":  # a Dask restart takes seconds per hang: docs/benchmarks-dask.md
            delay, gap = _stops(store, backend)
            costs = costs.changed(stop_delay_s=delay, replace_s=gap if costs.behaviour.stop_kills_worker else 0.0)
        return costs.changed(calibrated=True, yardstick_cpu_s=min(before, yardstick.measure()))


def load(directory: Path = DEFAULT_DIR) -> dict[str, BackendCosts]:
    """The stored calibration of this machine ({} when there is none)."""
    path = Path(directory) / f"{machine_key()}.json"
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        # a file written before each backend kept its own yardstick: the file's
        return {name: BackendCosts.from_record({"yardstick_cpu_s": data.get("yardstick_cpu_s"), **rec})
                for name, rec in data.get("backends", {}).items()}
    except (json.JSONDecodeError, TypeError, ValueError, AttributeError):
        raise PerfkitError(f"{path}: malformed calibration file (delete it, or recalibrate)") from None


def save(costs: dict[str, BackendCosts], directory: Path = DEFAULT_DIR) -> Path:
    """Store ``costs`` (merged with what is stored) as this machine's calibration."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    merged = {**load(directory), **costs}
    path = directory / f"{machine_key()}.json"
    record = {"machine": machine_facts(), "measured": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              "measured_at": time.time(),
              "yardstick_cpu_s": yardstick.measure(),
              "backends": {name: c.to_record() for name, c in sorted(merged.items())}}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2), encoding="utf-8")
    tmp.replace(path)
    return path


def costs_for(backends: Iterable[str], directory: Path = DEFAULT_DIR, recalibrate: bool = False,
              measure: bool = True) -> dict[str, BackendCosts]:
    """Each backend's costs on this machine: stored ones reused, missing ones (or all, with
    ``recalibrate``) measured and stored — or, with ``measure=False``, the built-in defaults."""
    stored = {} if recalibrate else load(directory)
    out, fresh = {}, {}
    for name in backends:
        if name in stored:
            out[name] = stored[name]
        elif measure:
            out[name] = fresh[name] = calibrate_backend(name)
        elif name in DEFAULT_COSTS:
            out[name] = DEFAULT_COSTS[name]
        else:
            raise PerfkitError(f"backend {name!r}: no costs known; known: {', '.join(DEFAULT_COSTS)}")
    if fresh:
        save(fresh, directory)
    return out
