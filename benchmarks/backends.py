"""Backend benchmarks behind docs/benchmarks.md: perfkit's own cost per unit, efficiency against
a bare ``ProcessPoolExecutor.map``, the main job's wall, and how quickly a hung unit is stopped.

    python benchmarks/backends.py overhead     # harness cost per unit, every backend
    python benchmarks/backends.py efficiency   # strategies × unit sizes vs ProcessPoolExecutor.map
    python benchmarks/backends.py efficiency-steady  # the same, ≥ 0.4 ms units in ~4 s runs
    python benchmarks/backends.py demo         # `perfkit compare experiments/default.toml`, timed
    python benchmarks/backends.py joins        # the main job with joined items of 1 and 4 planned items
    python benchmarks/backends.py unit-gaps    # perfkit's time between two ARC units, and its parts
    python benchmarks/backends.py unit-classes # 0.47 ms units' CPU after a batch sent, preempted, or neither
    python benchmarks/backends.py main-units   # the main job's units' CPU against two references, by class
    python benchmarks/backends.py thirdparty   # markdown-it-py units vs a chunked ProcessPoolExecutor
    python benchmarks/backends.py arcdsl       # arc-dsl's 400 programs on ARC tasks vs ProcessPoolExecutor.map
    python benchmarks/backends.py hangs        # p50/p99 stop latency over 50 hangs
    python benchmarks/backends.py store        # CPU per outcome of the store's append formats
    python benchmarks/backends.py parent-batches  # the parent's CPU per batch it makes from a worker's rows

``--against DIR`` measures another checkout of perfkit (with its own ``DIR/.venv``) in the same
run, A and B interleaved round by round (this machine's speed drifts: never compare figures
from two runs), e.g. ``--against /work/wt-base --rounds 3``. Each prints a Markdown table.
Figures come from perfkit's own run store (unit wall, run wall), so the benchmark measures
exactly what the reports show.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Optional

import numpy as np

HERE = Path(__file__).resolve().parents[1]
# the checkout measured: this one, or the one a driver asked for (``--against``)
TREE = Path(os.environ.get("PERFKIT_TREE", HERE))
sys.path.insert(0, str(TREE))
sys.path.insert(1, str(Path(__file__).resolve().parent))  # workers import NoopSolver as backends:NoopSolver

from perfkit import runner  # noqa: E402
from perfkit.model import RunConfig, Sample, Task, TimeoutPolicy, grid_hash, output_hash  # noqa: E402
from perfkit.runner.environment import usable_cores  # noqa: E402

try:
    from perfkit.analysis.metrics.dispatch import work_items  # noqa: E402
except ImportError:  # a tree before session 8 (--against): its chunk column is the item handed out
    def work_items(run) -> int:
        return int(run.units.groupby(["task_id", "chunk"]).ngroups)
from perfkit.solvers.synthetic import SyntheticSolver  # noqa: E402

#: (backend, strategy, workers) measured by ``overhead``.
OVERHEAD_CONFIGS = [("inline", "sequential", 1), ("thread", "candidate-parallel", 2), ("process", "candidate-parallel", 2)]
#: Units of the two runs whose difference cancels start-up and teardown.
SMALL, LARGE = 4_000, 44_000
#: (cpu_ms of the synthetic solver, candidates, samples) measured by ``efficiency``: ~50 µs,
#: ~0.4 ms and ~5 ms units (an empty synthetic unit costs ~20 µs of its own).
EFFICIENCY_SIZES = [(0.03, 2000, 30), (0.4, 500, 20), (5.0, 40, 15)]
#: The same for ``efficiency-steady``: ≥ 0.4 ms units (~0.41 ms and ~2.6 ms here) in runs of ~4 s
#: on 2 workers. A ~1 s run spends a few percent of its wall in the last item's tail and each
#: worker's first units (cold caches), which a bare executor pays too (docs/benchmarks.md).
EFFICIENCY_STEADY_SIZES = [(0.8, 500, 32), (5.0, 40, 75)]


class NoopSolver:
    """Units that do nothing (a constant grid back): what is left of a unit's time is the
    harness. The synthetic solver's ``cpu_ms=0`` units still run ~10 µs of its own Python."""

    def __init__(self, candidates: int = 500):
        self.ids = [f"c{i:04d}" for i in range(candidates)]
        self.grid = np.zeros((6, 6), dtype=np.uint8)

    def candidates(self, task):
        return self.ids

    def evaluate(self, task, sample, candidate, deadline):
        return self.grid


def make_tasks(n_tasks: int, n_samples: int) -> list[Task]:
    rng = np.random.default_rng(0)
    out = []
    for t in range(n_tasks):
        tid = f"b{t:03d}"
        samples = [Sample(tid, "demo", i, rng.integers(0, 10, (6, 6)).astype(np.uint8)) for i in range(n_samples)]
        out.append(Task(tid, tuple(samples), ()))
    return out


def perfkit_run(store: Path, tasks, strategy, backend, workers, options, chunk=None, timeout=5.0, solver="synthetic"):
    config = RunConfig(solver=solver, tasks="bench", strategy=strategy, backend=backend, workers=workers,
                       chunk_size=chunk, timeout=TimeoutPolicy(timeout), solver_options=options)
    return runner.run(config, store, tasks=tasks)


# -- the bare executor --------------------------------------------------------------------

_SOLVER = None


def _pool_init(options):
    global _SOLVER
    _SOLVER = SyntheticSolver(**options)


def _pool_unit(args):
    task, split, index, cand = args
    out = _SOLVER.evaluate(task, task.sample(split, index), cand, time.monotonic() + 60)
    return grid_hash(out)


def _noop(_):
    return os.getpid()


def pool_map_wall(tasks, options, workers) -> float:
    """The hand-written baseline: ``ProcessPoolExecutor.map`` with chunksize = units / (8 ×
    workers), workers started (and the solver built) before the clock starts, like perfkit's
    run window. It times and records nothing per unit: the floor for "just run the units"."""
    solver = SyntheticSolver(**options)
    with ProcessPoolExecutor(workers, initializer=_pool_init, initargs=(options,)) as pool:
        list(pool.map(_noop, range(8 * workers)))  # every worker up and its solver built
        t0 = time.monotonic()
        for task in tasks:
            args = [(task, s.split, s.index, c) for s in task.samples for c in solver.candidates(task)]
            list(pool.map(_pool_unit, args, chunksize=max(1, len(args) // (8 * workers))))
        return time.monotonic() - t0


# -- one measurement in this process (the tree given by PERFKIT_TREE) -----------------------

def _window(run) -> float:
    """The run's window: ``wall_s`` (start-up excluded since perfkit records ``startup_s``;
    older trees included it, so their span of units is taken instead)."""
    if "startup_s" in run.summary.__dataclass_fields__:
        return float(run.summary.wall_s)
    u = run.units
    return float(u.ended.max() - u.queued.min())


#: The two empty-unit workloads of ``overhead``: (label, solver, options).
EMPTY_WORKLOADS = [("synthetic cpu_ms=0", "synthetic", {"candidates": 500, "cpu_ms": 0.0}),
                   ("no-op", "backends:NoopSolver", {"candidates": 500})]


def measure_overhead(store: Path) -> dict:
    out = {}
    for label, solver, options in EMPTY_WORKLOADS:
        for backend, strategy, workers in OVERHEAD_CONFIGS:
            for n in (SMALL, LARGE):
                run = perfkit_run(store, make_tasks(1, n // 500), strategy, backend, workers, options, solver=solver)
                out[f"{label}/{backend}/{n}"] = {"wall_s": float(run.summary.wall_s),
                                                 "unit_wall_s": float(run.units.wall_s.sum()),
                                                 "units": len(run.units), "workers": workers}
    return out


def measure_efficiency(store: Path, sizes: list[tuple[float, int, int]] = EFFICIENCY_SIZES) -> dict:
    """Per size: the sequential reference (inline), the bare executor and the three parallel
    strategies on the process backend, back to back."""
    workers = min(2, usable_cores())
    out = {}
    for cpu_ms, n_candidates, n_samples in sizes:
        tasks = make_tasks(1, n_samples)
        options = {"candidates": n_candidates, "cpu_ms": cpu_ms}
        seq = perfkit_run(store, tasks, "sequential", "inline", 1, options)
        row = {"units": len(seq.units), "unit_cpu_s": float(seq.units.cpu_s.mean()),
               "ideal_s": float(seq.units.cpu_s.sum()) / workers,
               "pool_map_s": pool_map_wall(tasks, options, workers)}
        for strategy in ["candidate-parallel", "hybrid", "sample-parallel"]:
            run = perfkit_run(store, tasks, strategy, "process", workers, options)
            row[strategy] = _window(run)
        # the bare executor once more after the strategies: the machine's speed drifts over the
        # ~20 s of a size, and a bare run only before them put every drift on perfkit's side
        row["pool_map_after_s"] = pool_map_wall(tasks, options, workers)
        out[str(cpu_ms)] = row
    return out


#: The third-party workloads of ``thirdparty`` (benchmarks/markdown_work.py): (label, options).
THIRD_PARTY = [("markdown-it, 1–6 ms units", {"samples": 10, "candidates": 200, "low": 1500, "high": 9000,
                                              "spread": "uniform"}),
               ("markdown-it, 10 µs–0.4 s units", {"samples": 6, "candidates": 200, "low": 10, "high": 300_000,
                                                   "spread": "log"})]

_MD = None


def _md_init(options):
    global _MD
    from markdown_work import MarkdownSolver
    _MD = MarkdownSolver(**options)


def _md_unit(args):
    s, c = args
    from markdown_work import render
    return int(render(_MD.md, _MD.text, int(_MD.chars[s, c]))[0, 0])


def md_pool_wall(options: dict, workers: int) -> float:
    """The same units through a hand-written ``ProcessPoolExecutor.map``, chunksize = units /
    (8 × workers), workers up before the clock starts."""
    args = [(s, c) for s in range(options["samples"]) for c in range(options["candidates"])]
    with ProcessPoolExecutor(workers, initializer=_md_init, initargs=(options,)) as pool:
        list(pool.map(_noop, range(8 * workers)))
        t0 = time.monotonic()
        list(pool.map(_md_unit, args, chunksize=max(1, len(args) // (8 * workers))))
        return time.monotonic() - t0


def measure_thirdparty(store: Path) -> dict:
    workers = min(2, usable_cores())
    out = {}
    for label, options in THIRD_PARTY:
        tasks = make_tasks(1, options["samples"])
        row = {"pool_map_s": md_pool_wall(options, workers)}
        for strategy in ["candidate-parallel", "hybrid", "sample-parallel"]:
            run = perfkit_run(store, tasks, strategy, "process", workers, options, solver="markdown_work:MarkdownSolver")
            row[strategy] = _window(run)
            if strategy == "candidate-parallel":
                cpu = run.units.cpu_s
                row.update(units=len(run.units), unit_cpu_min_s=float(cpu.min()), unit_cpu_max_s=float(cpu.max()),
                           work_s=float(cpu.sum()))
        out[label] = row
    return out


#: The ``arcdsl`` workload (benchmarks/arc_dsl_work.py): arc-dsl's folder (635de49; how to fetch
#: it: docs/benchmarks.md, "Session 9") and ARC-AGI-1 training tasks whose every unit ends well
#: inside ARC_DSL_TIMEOUT_S, so that perfkit and the bare executor run the same work to the end.
ARC_DSL = os.environ.get("ARC_DSL", "/work/arc-dsl")
ARC_DSL_TASKS = ("arc1-training:007bbfb7,017c7c7b,025d127b,0520fde7,05269061,05f2a901,08ed6ac7,0962bcdd,"
                 "0a938d79,0ca9ddb6,0d3d703e,10fcaaa3,11852cab")
ARC_DSL_TIMEOUT_S = 10.0

_DSL = None


def _dsl_init():
    global _DSL
    from arc_dsl_work import ArcDslSolver
    _DSL = ArcDslSolver(dsl=ARC_DSL)


def _dsl_unit(args):
    """One unit as perfkit's worker sees it: evaluate, hash the output (None: raised or no grid)."""
    task, split, index, candidate = args
    try:
        return output_hash(_DSL.evaluate(task, task.sample(split, index), candidate, time.monotonic() + 60))
    except Exception:
        return None


def dsl_pool_wall(tasks, workers: int) -> float:
    """Every unit of ``tasks`` through ``ProcessPoolExecutor.map``, chunksize = units / (8 ×
    workers), workers up (and arc-dsl imported) before the clock starts."""
    from arc_dsl_work import ArcDslSolver
    ids = ArcDslSolver(dsl=ARC_DSL).ids
    args = [(t, s.split, s.index, c) for t in tasks for s in t.samples for c in ids]
    with ProcessPoolExecutor(workers, initializer=_dsl_init) as pool:
        list(pool.map(_noop, range(8 * workers)))
        t0 = time.monotonic()
        list(pool.map(_dsl_unit, args, chunksize=max(1, len(args) // (8 * workers))))
        return time.monotonic() - t0


def measure_arcdsl(store: Path) -> dict:
    """arc-dsl's 400 programs as candidates on ARC_DSL_TASKS: the bare executor and perfkit's
    three parallel strategies (process ×2, run window), back to back, the bare one first in odd
    calls and last in even ones (``--rounds``: A and B interleaved)."""
    from perfkit.tasks import load_tasks
    tasks = load_tasks(ARC_DSL_TASKS)
    workers = min(2, usable_cores())
    options = {"dsl": ARC_DSL}
    row: dict = {}
    bare_first = int(os.environ.get("PERFKIT_BENCH_ROUND", "0")) % 2 == 0
    if bare_first:
        row["pool_map_s"] = dsl_pool_wall(tasks, workers)
    for strategy in ["candidate-parallel", "hybrid", "sample-parallel"]:
        run = perfkit_run(store, tasks, strategy, "process", workers, options, timeout=ARC_DSL_TIMEOUT_S,
                          solver="arc_dsl_work:ArcDslSolver")
        row[strategy] = _window(run)
        if strategy == "candidate-parallel":
            cpu = run.units.cpu_s
            row.update(units=len(run.units), unit_cpu_min_s=float(cpu.min()), unit_cpu_max_s=float(cpu.max()),
                       work_s=float(cpu.sum()), timeouts=int((run.units.status == "timeout").sum()),
                       errors=int((run.units.status == "error").sum()))
    if not bare_first:
        row["pool_map_s"] = dsl_pool_wall(tasks, workers)
    return {"arc-dsl, 13 tasks × 400 programs": row}


def print_arcdsl(results: dict[str, list[dict]]) -> None:
    """Each round's three strategies and the bare executor, the best against it, and the median
    of the rounds' ratios (each ratio measured within one round, seconds apart)."""
    print("| tree | round | units (unit CPU) | errors | timeouts | candidate-parallel s | hybrid s | "
          "sample-parallel s | best | ProcessPoolExecutor.map s | best / map |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for label, ms in results.items():
        ratios = []
        for i, m in enumerate(ms):
            for row in m.values():
                best = min(("candidate-parallel", "hybrid", "sample-parallel"), key=lambda s: row[s])
                ratios.append(row[best] / row["pool_map_s"])
                print(f"| {label} | {i + 1} | {row['units']} ({row['unit_cpu_min_s'] * 1e3:.2f}–"
                      f"{row['unit_cpu_max_s'] * 1e3:.0f} ms, Σ {row['work_s']:.1f} s) | {row['errors']} | "
                      f"{row['timeouts']} | {row['candidate-parallel']:.3f} | {row['hybrid']:.3f} | "
                      f"{row['sample-parallel']:.3f} | {best} | {row['pool_map_s']:.3f} | **{ratios[-1]:.3f}** |")
        print(f"\n{label}: best / map, median of {len(ratios)} rounds: **{statistics.median(ratios):.3f}**")


def measure_demo(store: Path) -> dict:
    """``perfkit compare experiments/default.toml``, the whole command, and its report's
    candidate-parallel row."""
    out_dir = store / "report"
    exe = TREE / ".venv" / "bin" / "perfkit"
    t0 = time.monotonic()
    done = subprocess.run([str(exe), "compare", str(TREE / "experiments" / "default.toml"), "--store", str(store / "runs"),
                           "--out", str(out_dir)], cwd=str(TREE), capture_output=True, text=True)
    wall = time.monotonic() - t0
    report = (out_dir / "report.md").read_text(encoding="utf-8") if (out_dir / "report.md").exists() else ""
    row = re.search(r"\|\s*candidate-parallel/process×2\s*\|([^\n]*)", report)
    findings = [line.strip() for line in report.splitlines() if line.lstrip().startswith("- ") and
                ("warning" in line or "problem" in line)][:6]
    return {"command_s": wall, "exit": done.returncode, "candidate_parallel_row": row.group(1).strip() if row else "",
            "findings": findings}


def timeline(run, reference=None) -> dict:
    """Where a parallel run's worker-slot time went, from its store: each worker's units
    (started/ended, work item, task) and the run's generation jobs (summary ``generation``;
    each is put on the worker whose units leave room for it). Slot seconds over the run window
    (summary started..ended, × workers): unit wall, generation wall, and the idle rest split into
    before the worker's first job, after its last, between two units of one work item, between
    work items of one task, and between items of two tasks. With ``reference`` (the sequential
    run), unit and generation work is its CPU there, as the ideal bound counts it. Units record
    their planned item (``chunk``): a gap between two planned items that went out joined counts
    as between items, though no dispatch came between them."""
    s, u = run.summary, run.units
    t0, t1 = float(s.started), float(s.ended)
    workers = sorted(u.worker.unique())
    gens = sorted((float(a), float(b), str(t)) for t, a, b in s.generation)
    out = {k: 0.0 for k in ("units", "generation", "start", "end", "in_item", "between_items", "between_tasks",
                            "around_generation")}
    per_worker = {}
    placed = set()
    for w in workers:
        d = u[u.worker == w].sort_values("started")
        st, en = d.started.to_numpy(float), d.ended.to_numpy(float)
        chunk, task = d.chunk.to_numpy(), d.task_id.to_numpy()
        out["units"] += float((en - st).sum())
        acts = [(a, b, "unit", c, tk) for a, b, c, tk in zip(st, en, chunk, task)]
        # a generation job sits in a gap of this worker's units (both workers: the larger gap wins)
        mine: list[tuple[float, float]] = []
        for i, (a, b, tk) in enumerate(gens):
            if i in placed:
                continue
            k = np.searchsorted(st, a)
            prev_end = en[k - 1] if k > 0 else t0
            nxt = st[k] if k < len(st) else t1
            free = all(b <= x or a >= y for x, y in mine)  # one job at a time on a worker
            if free and prev_end <= a + 1e-4 and b <= nxt + 1e-4:
                acts.append((a, b, "gen", -1, tk))
                mine.append((a, b))
                placed.add(i)
        acts.sort()
        prev = None
        w_idle = {"start": 0.0, "end": 0.0}
        for a, b, kind, c, tk in acts:
            gap = a - (prev[1] if prev else t0)
            if prev is None:
                out["start"] += gap
                w_idle["start"] = gap
            elif kind == "gen" or prev[2] == "gen":
                out["around_generation"] += gap
            elif c == prev[3]:
                out["in_item"] += gap
            elif tk == prev[4]:
                out["between_items"] += gap
            else:
                out["between_tasks"] += gap
            if kind == "gen":
                out["generation"] += b - a
            prev = (a, b, kind, c, tk)
        tail = t1 - (prev[1] if prev else t0)
        out["end"] += tail
        w_idle["end"] = tail
        per_worker[w] = w_idle
    out["unplaced_generation"] = float(sum(b - a for i, (a, b, _) in enumerate(gens) if i not in placed))
    out["slot_s"] = (t1 - t0) * len(workers)
    out["wall_s"] = t1 - t0
    out["n_items"] = work_items(run)  # handed out: a joined item once
    out["units_n"] = len(u)
    out["unit_cpu"] = float(u.cpu_s.sum())
    out["gen_cpu"] = float(s.generate_cpu_s)
    if reference is not None:
        out["ref_unit_cpu"] = float(reference.units.cpu_s.sum())
        out["ref_gen_cpu"] = float(reference.summary.generate_cpu_s)
    out["parent_cpu"] = float(s.cpu_parent_s)
    out["per_worker"] = per_worker
    return out


#: The idle pieces of :func:`timeline`, in the order printed.
IDLE = ("start", "around_generation", "between_items", "in_item", "between_tasks", "end")


def print_timeline(store: Path) -> None:
    """One row per parallel run found under ``store`` (e.g. a ``--keep`` folder of ``demo``):
    where its slot seconds went (:func:`timeline`), against the sequential run of its repeat."""
    from perfkit.store.reader import load_run

    runs = [load_run(p.parent) for p in sorted(store.rglob("summary.json"))]
    refs = {(str(r.path.parent), r.config.repeat): r for r in runs if r.config.strategy == "sequential"}
    print("| run | wall s | slot s | unit wall | generation wall | " + " | ".join(IDLE) +
          " | unplaced gen | items | ref unit CPU | ref gen CPU | ideal | efficiency |")
    print("|---|" + "---|" * (4 + len(IDLE) + 6))
    for r in runs:
        if r.config.strategy == "sequential":
            continue
        ref = refs.get((str(r.path.parent), r.config.repeat))
        t = timeline(r, ref)
        work = t.get("ref_unit_cpu", t["unit_cpu"]) + t.get("ref_gen_cpu", t["gen_cpu"])
        slots = len(t["per_worker"])
        print(f"| {r.config.strategy} r{r.config.repeat} | {t['wall_s']:.3f} | {t['slot_s']:.3f} | {t['units']:.3f} | "
              f"{t['generation']:.3f} | " + " | ".join(f"{t[k]:.3f}" for k in IDLE) +
              f" | {t['unplaced_generation']:.3f} | {t['n_items']} | {t.get('ref_unit_cpu', t['unit_cpu']):.3f} | "
              f"{t.get('ref_gen_cpu', t['gen_cpu']):.3f} | {work / slots:.3f} | {work / slots / t['wall_s']:.2f} |")
    print("\nThe same runs' CPU, core-seconds of the run window (cores × wall): the solver's (units and "
          "candidates() on the workers), the workers' own outside it (perfkit in the worker), the parent's, "
          "other processes', and what no process used.")
    print("| run | cores × wall | units CPU | candidates() CPU | workers outside the solver | parent | others | unused |")
    print("|---|---|---|---|---|---|---|---|")
    for r in runs:
        if r.config.strategy == "sequential":
            continue
        s, u = r.summary, r.units
        cores = min(int(r.config.workers), usable_cores()) * float(s.wall_s)
        unit_cpu, gen_cpu = float(u.cpu_s.sum()), float(s.generate_cpu_s)
        harness = float(s.cpu_workers_s) - unit_cpu - gen_cpu
        others = float(s.others_cpu_s or 0.0)
        unused = cores - unit_cpu - gen_cpu - harness - float(s.cpu_parent_s) - others
        print(f"| {r.config.strategy} r{r.config.repeat} | {cores:.3f} | {unit_cpu:.3f} | {gen_cpu:.3f} | {harness:.3f} | "
              f"{s.cpu_parent_s:.3f} | {others:.3f} | {unused:.3f} |")


# -- the main job's units through a bare executor --------------------------------------------

_ARC = None


def _arc_init():
    global _ARC
    from perfkit.solvers import load_solver
    _ARC = load_solver("arc", {})


def _arc_candidates(task):
    return list(_ARC.candidates(task))


def _arc_units(args):
    """A chunk of units of one task: evaluate each, hash its output (what perfkit records)."""
    task, units = args
    out = []
    for split, index, candidate in units:
        try:
            grid = _ARC.evaluate(task, task.sample(split, index), candidate, time.monotonic() + 60)
            out.append(grid_hash(grid))
        except Exception:
            out.append(None)
    return out


def arc_pool_wall(tasks, workers: int, chunk: int) -> float:
    """The default ARC tasks through a hand-written ``ProcessPoolExecutor``: each task's
    candidates() as a job on a worker, then its units in chunks of ``chunk`` (grid order, every
    task's chunks queued as soon as its candidates are known: no barrier between tasks), each
    unit's output hashed; nothing timed or recorded per unit. Workers up first."""
    from concurrent.futures import FIRST_COMPLETED, wait
    with ProcessPoolExecutor(workers, initializer=_arc_init) as pool:
        list(pool.map(_noop, range(8 * workers)))
        t0 = time.monotonic()
        gens = {pool.submit(_arc_candidates, t): t for t in tasks}
        work = set()
        while gens or work:
            done, _ = wait(set(gens) | work, return_when=FIRST_COMPLETED)
            for f in done:
                if f in gens:
                    task = gens.pop(f)
                    units = [(s.split, s.index, c) for s in task.samples for c in f.result()]
                    work.update(pool.submit(_arc_units, (task, units[i:i + chunk])) for i in range(0, len(units), chunk))
                else:
                    work.discard(f)
                    f.result()
        return time.monotonic() - t0


def _arc_whole_job(start_at: float) -> tuple[float, float]:
    """The main job's work with nothing around it: every default task's candidates() and every
    unit, outputs hashed, from monotonic time ``start_at``, on a solver built afresh as a run builds
    it (the ARC solver keeps what it computed); returns (wall s, CPU s)."""
    from perfkit.tasks import load_tasks
    tasks = load_tasks("default")
    _arc_init()
    time.sleep(max(0.0, start_at - time.monotonic()))
    t0, c0 = time.monotonic(), time.thread_time()
    for task in tasks:
        _arc_units((task, [(s.split, s.index, c) for s in task.samples for c in _arc_candidates(task)]))
    return time.monotonic() - t0, time.thread_time() - c0


def demo_limit(rounds: int) -> None:
    """What two busy cores of this machine allow on the main job, whatever the harness: the whole
    job (:func:`_arc_whole_job`) on one worker while the other idles, then on both at once (each
    worker does all of it: no scheduling, no messages, no recording), alternating. A perfect
    machine gives the pair the wall of the one alone; ``alone / pair`` is the efficiency no
    harness can pass here, since perfkit's efficiency counts each unit's work as its CPU on one
    busy core (perfkit/analysis/metrics/bound.py). ``alone / pair CPU`` is the same without the time
    other processes of the machine took from the pair (what slowing the two cores down costs)."""
    from concurrent.futures import wait
    limits = []
    print("| round | alone: wall s (CPU s) | pair: wall s (CPU s), each | alone CPU / pair wall | alone CPU / pair CPU |"
          "\n|---|---|---|---|---|")
    with ProcessPoolExecutor(2, initializer=_arc_init) as pool:
        list(pool.map(_noop, range(16)))
        pool.submit(_arc_whole_job, 0.0).result()  # warm-up: imports, caches
        for r in range(rounds):
            alone = pool.submit(_arc_whole_job, time.monotonic() + 0.05).result()
            at = time.monotonic() + 0.05
            pair = [f.result() for f in wait([pool.submit(_arc_whole_job, at) for _ in range(2)]).done]
            limits.append((alone[1] / max(w for w, _c in pair), alone[1] / max(c for _w, c in pair)))
            print(f"| {r + 1} | {alone[0]:.3f} ({alone[1]:.3f}) | "
                  f"{', '.join(f'{w:.3f} ({c:.3f})' for w, c in pair)} | {limits[-1][0]:.3f} | {limits[-1][1]:.3f} |")
    print(f"\nmedians: alone CPU / pair wall {statistics.median(x for x, _ in limits):.3f}; "
          f"alone CPU / pair CPU {statistics.median(y for _, y in limits):.3f}")


def joins(store: Path, rounds: int, limits: tuple[int, ...] = (1, 4)) -> None:
    """The main job's candidate-parallel run (process ×2) with joined items limited to each of
    ``limits`` planned items (``perfkit.model.plan.JOIN_LIMIT_ITEMS``, read when a stage is
    queued), in one process, alternating, after a sequential reference per round; prints each
    run's efficiency (reference CPU / workers / wall), items and CPU, then the medians."""
    from perfkit.model import plan
    from perfkit.tasks import load_tasks
    tasks = load_tasks("default")
    config = dict(solver="arc", tasks="default", timeout=TimeoutPolicy(1.0))
    effs: dict[int, list[float]] = {k: [] for k in limits}
    print("| round | reference CPU s | join limit (planned items) | wall s | efficiency | items | parent CPU s | "
          "workers' CPU s |\n|---|---|---|---|---|---|---|---|")
    for r in range(rounds):
        ref = runner.run(RunConfig(strategy="sequential", backend="inline", workers=1, **config), store, tasks=tasks)
        work = float(ref.units.cpu_s.sum()) + float(ref.summary.generate_cpu_s)
        for k in (limits if r % 2 == 0 else limits[::-1]):
            plan.JOIN_LIMIT_ITEMS = k
            run = runner.run(RunConfig(strategy="candidate-parallel", backend="process", workers=2, **config), store,
                             tasks=tasks)
            s, items = run.summary, work_items(run)  # handed out: a joined item once
            effs[k].append(work / 2 / float(s.wall_s))
            print(f"| {r + 1} | {work:.3f} | {k} | {s.wall_s:.3f} | {effs[k][-1]:.2f} | {items} | "
                  f"{s.cpu_parent_s:.3f} | {s.cpu_workers_s:.3f} |")
    print("\n" + "; ".join(f"join limit {k}: median efficiency {statistics.median(v):.3f}" for k, v in effs.items()))


def unit_gaps(rounds: int) -> None:
    """perfkit's time per unit of the main job outside the units, inline: ``run_job`` on every
    unit of the default ARC tasks, its batches taken every ~20 ms and sealed as a worker does,
    the loop's wall minus the units' recorded wall, per unit; as it is, without hashing the
    output, without the CPU-clock reads (they fall inside a unit's wall: this shows what they
    cost the code around them), without both (the two stubbed for the measurement only), and
    as the process and inline backends run it (their units' CPU is the process's and its reaped
    children's: perfkit/backends/unit.py ``PROCESS_CPU``), and as the inline backend runs it beside
    one thread of perfkit's own (a live progress display's refresh thread, idle between redraws:
    its CPU clock read at each end of a unit, perfkit/backends/own_threads.py). Rounds alternate
    the six; prints each variant's median."""
    import threading
    import timeit

    import perfkit.backends.unit as unit
    from perfkit.backends.base import Assignment
    from perfkit.backends.own_threads import own_thread_clocks, started_as_own
    from perfkit.model import WorkItem
    from perfkit.solvers import load_solver
    from perfkit.tasks import load_tasks
    solver = load_solver("arc", {})
    items = []
    for task in load_tasks("default"):
        units = tuple((s.split, s.index, c) for s in task.samples for c in solver.candidates(task))
        items.append((task, WorkItem(0, task.id, units, uids=range(len(units)))))
    real = (unit.output_hash, time.thread_time)

    def gap_per_unit_us(cpu: str = unit.THREAD_CPU, beside: tuple[int, ...] = ()) -> float:
        outside, n = 0.0, 0
        for task, item in items:
            rec = unit.BatchRecorder("w")
            t0 = time.monotonic()
            batches = [rec.take()[0] for _ in unit.run_job(solver, task, 1, Assignment(item, time.monotonic(), 5.0),
                                                           rec, cpu=cpu, beside=beside)]
            batches.append(rec.take()[0])  # a worker's last batch
            for batch in batches:
                batch.sealed()
            wall = time.monotonic() - t0
            units = sum(float(np.nansum(b.columns["wall_s"])) for b in batches)
            outside += wall - units
            n += sum(len(b) for b in batches)
        return outside / n * 1e6

    variants = {"as it is": real, "no output hash": (lambda out: "0", real[1]),
                "no CPU clock": (real[0], lambda: 0.0), "neither": (lambda out: "0", lambda: 0.0),
                "process CPU": real, "process CPU beside a perfkit thread": real}
    redraws = threading.Event()
    with started_as_own():
        threading.Thread(target=redraws.wait, daemon=True).start()
    display = own_thread_clocks()
    gap_per_unit_us()  # warm-up: caches and the solver's per-task state
    out: dict[str, list[float]] = {k: [] for k in variants}
    try:
        for _ in range(rounds):
            for name, (hashed, clock) in variants.items():
                unit.output_hash, time.thread_time = hashed, clock
                cpu = unit.PROCESS_CPU if name.startswith("process CPU") else unit.THREAD_CPU
                out[name].append(gap_per_unit_us(cpu, display if "beside" in name else ()))
    finally:
        unit.output_hash, time.thread_time = real
    print("| variant | perfkit per unit outside units, µs, each round | median |\n|---|---|---|")
    for name, each in out.items():
        print(f"| {name} | {' / '.join(f'{x:.2f}' for x in each)} | **{statistics.median(each):.2f}** |")
    # the clock reads themselves fall inside the units' windows: one read each, best of 5
    clocks = {"thread": unit.cpu_clock_of(unit.THREAD_CPU), "process": unit.cpu_clock_of(unit.PROCESS_CPU),
              "process beside a perfkit thread": unit.cpu_clock_of(unit.PROCESS_CPU, display)}
    print("\n| unit CPU clock | one read, ns (best of 5 × 200 000) |\n|---|---|")
    for name, clock in clocks.items():
        print(f"| {name} | {min(timeit.repeat(clock, number=200_000, repeat=5)) / 200_000 * 1e9:.0f} |")
    redraws.set()


def measure_demo_bare(store: Path) -> dict:
    """The main job's work three ways, back to back: perfkit's sequential reference (the work),
    perfkit's candidate-parallel run (process ×2), and the bare executor on the same units
    (:func:`arc_pool_wall`, chunks as perfkit's first automatic chunk)."""
    from perfkit.tasks import load_tasks
    tasks = load_tasks("default")
    workers = min(2, usable_cores())
    config = dict(solver="arc", tasks="default", timeout=TimeoutPolicy(1.0))
    ref = runner.run(RunConfig(strategy="sequential", backend="inline", workers=1, **config), store, tasks=tasks)
    work = float(ref.units.cpu_s.sum()) + float(ref.summary.generate_cpu_s)
    run = runner.run(RunConfig(strategy="candidate-parallel", backend="process", workers=workers, **config), store,
                     tasks=tasks)
    chunk = max(1, min(256, -(-len(ref.units) // len(tasks) // (8 * workers))))
    bare = arc_pool_wall(tasks, workers, chunk)
    s = run.summary
    units_cpu = float(run.units.cpu_s.sum())
    return {"work_s": work, "perfkit_s": float(s.wall_s), "bare_s": bare, "workers": workers, "chunk": chunk,
            "units": len(run.units), "parent_cpu_s": float(s.cpu_parent_s),
            "workers_outside_s": float(s.cpu_workers_s) - units_cpu - float(s.generate_cpu_s),
            "cpu_over_reference": (units_cpu + float(s.generate_cpu_s)) / work}


def print_demo_bare(results: dict[str, list[dict]]) -> None:
    """The rows of ``demo-bare``, then each tree's medians. "perfkit in the workers" is their CPU
    outside the units and candidates() (workers' CPU is read in 10 ms clock ticks: ±20 ms a
    run); "units' CPU / reference" is the run's units and candidates() against the same work in
    the sequential reference (two busy cores, and the workers' own heap, slow them)."""
    print("| tree | round | work s (reference CPU) | candidate-parallel s | its efficiency | bare executor s | "
          "its efficiency | perfkit / bare | perfkit in the workers µs/unit | parent CPU s | "
          "units' CPU / reference |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    figures: dict[str, dict[str, list[float]]] = {}
    for label, ms in results.items():
        for i, m in enumerate(ms):
            ideal = m["work_s"] / m["workers"]
            row = {"efficiency": ideal / m["perfkit_s"], "bare efficiency": ideal / m["bare_s"],
                   "perfkit / bare": m["perfkit_s"] / m["bare_s"],
                   "perfkit in the workers µs/unit": m["workers_outside_s"] / m["units"] * 1e6,
                   "parent CPU s": m["parent_cpu_s"], "units' CPU / reference": m["cpu_over_reference"]}
            for k, v in row.items():
                figures.setdefault(label, {}).setdefault(k, []).append(v)
            print(f"| {label} | {i + 1} | {m['work_s']:.3f} | {m['perfkit_s']:.3f} | {row['efficiency']:.2f} | "
                  f"{m['bare_s']:.3f} | {row['bare efficiency']:.2f} | {row['perfkit / bare']:.2f} | "
                  f"{row['perfkit in the workers µs/unit']:.1f} | {m['parent_cpu_s']:.3f} | "
                  f"{m['cpu_over_reference']:.3f} |")
    for label, fs in figures.items():
        print(f"\n{label}, medians: " + "; ".join(f"{k} {statistics.median(v):.3f}" for k, v in fs.items()))


#: ``unit-classes``: a gap before a unit over this (µs) is an event between units (a batch
#: sent, or the parent on the worker's core); wall beyond CPU over PREEMPTED_US inside a unit is
#: something else on its core meanwhile.
GAP_US, PREEMPTED_US = 15.0, 10.0


def measure_unit_classes(store: Path) -> dict:
    """One sample-parallel run on the process backend (2 workers) of ``efficiency-steady``'s
    ~0.47 ms units, each unit classed by what came just before it on its worker: a gap over
    GAP_US ("after a gap"), wall beyond CPU over PREEMPTED_US inside it ("preempted"), neither
    ("clean"). The units do identical work, so a class's CPU above the clean one's is what the
    event cost the unit after it (caches refilled), beside the gap itself."""
    cpu_ms, n_candidates, n_samples = EFFICIENCY_STEADY_SIZES[0]
    run = perfkit_run(store, make_tasks(1, n_samples), "sample-parallel", "process", 2,
                      {"candidates": n_candidates, "cpu_ms": cpu_ms})
    u = run.units.sort_values(["worker", "started"])
    gap_us = (u.started - u.groupby("worker").ended.shift()).to_numpy() * 1e6
    cpu_us = u.cpu_s.to_numpy() * 1e6
    inside_us = (u.wall_s - u.cpu_s).to_numpy() * 1e6
    classes = {"after a gap": gap_us > GAP_US, "preempted": ~(gap_us > GAP_US) & (inside_us > PREEMPTED_US)}
    classes["clean"] = ~(classes["after a gap"] | classes["preempted"])
    return {"wall_s": float(run.summary.wall_s), "parent_cpu_s": float(run.summary.cpu_parent_s),
            "classes": {name: {"units": int(mask.sum()), "cpu_us": float(np.median(cpu_us[mask])),
                               "gap_us": float(np.nanmedian(gap_us[mask]))} for name, mask in classes.items()}}


def measure_main_units(store: Path) -> dict:
    """The main job's lost efficiency, inside one run: candidate-parallel (process ×2) between
    two sequential inline references, each unit's CPU against the mean of its two reference
    readings (the machine's speed drifts between runs; the bracket shows by how much), the units
    classed as in ``unit-classes`` (after a gap over GAP_US on their worker: the first unit of
    an item, or after a batch sent; "clean" otherwise), and candidates() against its reference."""
    import pandas as pd
    from perfkit.tasks import load_tasks
    tasks = load_tasks("default")
    config = dict(solver="arc", tasks="default", timeout=TimeoutPolicy(1.0))
    sequential = RunConfig(strategy="sequential", backend="inline", workers=1, **config)
    ref1 = runner.run(sequential, store, tasks=tasks)
    run = runner.run(RunConfig(strategy="candidate-parallel", backend="process", workers=2, **config), store,
                     tasks=tasks)
    ref2 = runner.run(sequential, store, tasks=tasks)
    key = ["task_id", "split", "index", "candidate"]
    u = run.units.sort_values(["worker", "started"])
    gap_us = ((u.started - u.groupby("worker").ended.shift()) * 1e6).to_numpy()
    at = pd.MultiIndex.from_frame(u[key])
    ref_cpu = ((ref1.units.set_index(key).cpu_s + ref2.units.set_index(key).cpu_s) / 2).reindex(at).to_numpy()
    cpu = u.cpu_s.to_numpy()
    after = gap_us > GAP_US
    gen = [float(r.summary.generate_cpu_s) for r in (ref1, run, ref2)]
    return {"bracket": float(ref2.units.cpu_s.sum() / ref1.units.cpu_s.sum()),
            "generation": gen[1] / ((gen[0] + gen[2]) / 2), "generation_s": gen[1],
            "classes": {name: {"units": int(m.sum()), "cpu_s": float(cpu[m].sum()),
                               "reference_s": float(np.nansum(ref_cpu[m])),
                               "median_ratio": float(np.nanmedian(cpu[m] / ref_cpu[m]))}
                        for name, m in (("after a gap", after), ("clean", ~after))}}


def print_main_units(results: dict[str, list[dict]]) -> None:
    """The table of ``main-units``: per round, each class's units, CPU against the reference
    (sum and median unit ratio), and candidates()'s CPU against its reference."""
    print("| tree | round | references' drift | class | units | CPU s | reference s | ratio of sums | "
          "median unit ratio | candidates() CPU s | its ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for label, ms in results.items():
        for i, m in enumerate(ms):
            for name, c in m["classes"].items():
                print(f"| {label} | {i + 1} | {m['bracket']:.3f} | {name} | {c['units']} | {c['cpu_s']:.3f} | "
                      f"{c['reference_s']:.3f} | {c['cpu_s'] / c['reference_s']:.3f} | {c['median_ratio']:.3f} | "
                      f"{m['generation_s']:.3f} | {m['generation']:.3f} |")


def print_unit_classes(results: dict[str, list[dict]]) -> None:
    """The table of ``unit-classes``: per tree and round, each class's units, CPU and gap medians."""
    print("| tree | round | wall s | parent CPU s | class | units | CPU µs, median | gap before µs, median |")
    print("|---|---|---|---|---|---|---|---|")
    for label, ms in results.items():
        for i, m in enumerate(ms):
            for name, c in m["classes"].items():
                print(f"| {label} | {i + 1} | {m['wall_s']:.3f} | {m['parent_cpu_s']:.3f} | {name} | {c['units']} | "
                      f"{c['cpu_us']:.1f} | {c['gap_us']:.1f} |")


MEASURES = {"overhead": measure_overhead, "efficiency": measure_efficiency,
            "efficiency-steady": lambda store: measure_efficiency(store, EFFICIENCY_STEADY_SIZES), "demo": measure_demo,
            "demo-bare": measure_demo_bare,
            "thirdparty": measure_thirdparty, "arcdsl": measure_arcdsl, "unit-classes": measure_unit_classes,
            "main-units": measure_main_units}


def measure(what: str, tree: Path, keep: Optional[Path] = None, round_: int = 0) -> dict:
    """Run ``what`` for the checkout ``tree`` in a fresh process of that tree's venv; its run
    store goes to ``keep`` when given (kept for ``timeline``), else to a temporary folder."""
    python = tree / ".venv" / "bin" / "python"
    env = {**os.environ, "PERFKIT_TREE": str(tree), "PERFKIT_BENCH_ROUND": str(round_)}
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        env["PERFKIT_BENCH_STORE"] = str(keep)
    done = subprocess.run([str(python), str(Path(__file__).resolve()), "_measure", what], env=env,
                          capture_output=True, text=True, cwd=str(tree))
    if done.returncode != 0:
        raise SystemExit(f"{tree}: {what} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- tables ---------------------------------------------------------------------------------

def overhead_rows(label: str, m: dict) -> list[str]:
    """Harness per unit = (Δwall × workers − Δ Σ unit wall) / Δ units between the two runs:
    worker-slot time outside units, start-up and teardown cancelled."""
    rows = []
    for workload, _solver, _options in EMPTY_WORKLOADS:
        for backend, _strategy, workers in OVERHEAD_CONFIGS:
            small, large = m[f"{workload}/{backend}/{SMALL}"], m[f"{workload}/{backend}/{LARGE}"]
            units = large["units"] - small["units"]
            dwall = large["wall_s"] - small["wall_s"]
            dunit = large["unit_wall_s"] - small["unit_wall_s"]
            harness = (dwall * workers - dunit) / units
            rows.append(f"| {label} | {workload} | {backend} ×{workers} | {small['wall_s']:.3f} | {large['wall_s']:.3f} | "
                        f"{dwall / units * 1e6:.1f} | {dunit / units * 1e6:.1f} | **{harness * 1e6:.1f}** |")
    return rows


def efficiency_rows(label: str, m: dict) -> list[str]:
    rows = []
    for key, row in m.items():
        best = min(("candidate-parallel", "hybrid", "sample-parallel"), key=lambda s: row[s])
        for strategy in ("candidate-parallel", "hybrid", "sample-parallel"):
            wall = row[strategy]
            mark = "**" if strategy == best else ""
            rows.append(f"| {label} | {row['unit_cpu_s'] * 1e6:.0f} µs | {row['units']} | {strategy} | "
                        f"{mark}{wall:.3f}{mark} | {row['pool_map_s']:.3f} | {wall / row['pool_map_s']:.3f} | "
                        f"{row['ideal_s'] / wall:.2f} |")
    return rows


def print_efficiency_medians(results: dict[str, list[dict]]) -> None:
    """Per tree and size, the best strategy of each round against the bare executor of the
    same round, and the medians over the rounds (one ~1–4 s run moves a few percent here)."""
    print("\n| tree | units | best strategy / map before them, each round | median | best / mean of the maps "
          "before and after, each round | median | efficiency, each round | median | map's efficiency, each round "
          "| median |\n|---|---|---|---|---|---|---|---|---|---|")
    for label, ms in results.items():
        for key in ms[0]:
            rows = [m[key] for m in ms]
            best = [min(r[s] for s in ("candidate-parallel", "hybrid", "sample-parallel")) for r in rows]
            maps = [(r["pool_map_s"] + r.get("pool_map_after_s", r["pool_map_s"])) / 2 for r in rows]
            ratio = [b / r["pool_map_s"] for b, r in zip(best, rows)]
            bracketed = [b / m for b, m in zip(best, maps)]
            eff = [r["ideal_s"] / b for b, r in zip(best, rows)]
            bare = [r["ideal_s"] / m for m, r in zip(maps, rows)]
            unit = statistics.median(r["unit_cpu_s"] for r in rows)
            each = lambda xs, f=".3f": " / ".join(f"{x:{f}}" for x in xs)  # noqa: E731
            print(f"| {label} | {rows[0]['units']} × {unit * 1e6:.0f} µs | {each(ratio)} | "
                  f"{statistics.median(ratio):.3f} | {each(bracketed)} | **{statistics.median(bracketed):.3f}** | "
                  f"{each(eff, '.2f')} | **{statistics.median(eff):.2f}** | {each(bare, '.2f')} | "
                  f"{statistics.median(bare):.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["overhead", "efficiency", "efficiency-steady", "demo", "demo-bare",
                                         "thirdparty", "arcdsl", "hangs", "store", "timeline", "joins", "unit-gaps",
                                         "demo-limit", "wake-ups", "unit-classes", "main-units", "parent-batches",
                                         "_measure"])
    parser.add_argument("inner", nargs="?", help=argparse.SUPPRESS)
    parser.add_argument("--against", type=Path, help="another checkout to measure in the same run (A/B interleaved)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="keep each measurement's run store under KEEP/<tree>-<round>")
    args = parser.parse_args()
    if args.what == "_measure":
        if os.environ.get("PERFKIT_BENCH_STORE"):
            print(json.dumps(MEASURES[args.inner](Path(os.environ["PERFKIT_BENCH_STORE"]))))
            return
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(MEASURES[args.inner](Path(tmp))))
        return
    if args.what == "timeline":
        print_timeline(Path(args.inner))
        return
    if args.what == "unit-gaps":
        unit_gaps(args.rounds)
        return
    if args.what == "demo-limit":
        demo_limit(args.rounds)
        return
    if args.what == "wake-ups":
        print("| between messages | messages | parent CPU per message |\n|---|---|---|")
        for _ in range(args.rounds):
            wake_ups()
        return
    if args.what == "joins":
        with tempfile.TemporaryDirectory() as tmp:
            joins(Path(tmp), args.rounds)
        return
    if args.what == "parent-batches":
        print("| workload | round | batches | units per batch | parent CPU s | read and unpickle µs per batch | "
              "make (rows_batch) µs | encode µs | status counts µs | the three per unit µs | share of parent CPU |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(args.rounds):
                parent_batches(Path(tmp), r + 1)
        return
    if args.what in ("hangs", "store"):
        with tempfile.TemporaryDirectory() as tmp:
            (hangs if args.what == "hangs" else store_formats)(Path(tmp))
        return
    trees = [("before", args.against.resolve())] if args.against else []
    trees.append(("after" if args.against else "this", HERE))
    results: dict[str, list[dict]] = {label: [] for label, _ in trees}
    for r in range(args.rounds):
        for label, tree in (trees if r % 2 == 0 else trees[::-1]):
            keep = args.keep / f"{label}-{r + 1}" if args.keep else None
            results[label].append(measure(args.what, tree, keep, r))
    if args.what == "overhead":
        print("| tree | empty units | backend | wall s, 4 000 units | wall s, 44 000 units | Δwall per unit µs | "
              "unit wall per unit µs | harness per unit µs |")
        print("|---|---|---|---|---|---|---|---|")
        for label, ms in results.items():
            for m in ms:
                print("\n".join(overhead_rows(label, m)))
        if args.rounds > 1:  # one short run can be hit by a hiccup: the median of the rounds
            print("\n| tree | empty units | backend | harness per unit µs, each round | median |\n|---|---|---|---|---|")
            for label, ms in results.items():
                rounds = [[float(row.split("**")[1]) for row in overhead_rows(label, m)] for m in ms]
                names = [(w, f"{b} ×{n}") for w, _s, _o in EMPTY_WORKLOADS for b, _st, n in OVERHEAD_CONFIGS]
                for i, (workload, backend) in enumerate(names):
                    each = [r[i] for r in rounds]
                    print(f"| {label} | {workload} | {backend} | {' / '.join(f'{x:.1f}' for x in each)} | "
                          f"**{statistics.median(each):.1f}** |")
    elif args.what == "arcdsl":
        print_arcdsl(results)
    elif args.what == "thirdparty":
        print("| tree | workload | units (unit CPU) | best strategy | wall s | ProcessPoolExecutor.map s | wall / map |")
        print("|---|---|---|---|---|---|---|")
        for label, ms in results.items():
            for m in ms:
                for workload, row in m.items():
                    best = min(("candidate-parallel", "hybrid", "sample-parallel"), key=lambda s: row[s])
                    print(f"| {label} | {workload} | {row['units']} ({row['unit_cpu_min_s'] * 1e3:.2f}–"
                          f"{row['unit_cpu_max_s'] * 1e3:.0f} ms, Σ {row['work_s']:.1f} s) | {best} | "
                          f"{row[best]:.3f} | {row['pool_map_s']:.3f} | **{row[best] / row['pool_map_s']:.3f}** |")
    elif args.what == "demo-bare":
        print_demo_bare(results)
    elif args.what == "unit-classes":
        print_unit_classes(results)
    elif args.what == "main-units":
        print_main_units(results)
    elif args.what.startswith("efficiency"):
        print("| tree | unit CPU | units | strategy | wall s | ProcessPoolExecutor.map s | wall / map | efficiency |")
        print("|---|---|---|---|---|---|---|---|")
        for label, ms in results.items():
            for m in ms:
                print("\n".join(efficiency_rows(label, m)))
        if args.rounds > 1:
            print_efficiency_medians(results)
    else:
        print("| tree | round | `perfkit compare experiments/default.toml` s | exit | candidate-parallel row |")
        print("|---|---|---|---|---|")
        for label, ms in results.items():
            for i, m in enumerate(ms):
                print(f"| {label} | {i + 1} | {m['command_s']:.1f} | {m['exit']} | {m['candidate_parallel_row']} |")
        for label, ms in results.items():
            print(f"\n{label}: median {statistics.median(m['command_s'] for m in ms):.1f} s; findings of the last:")
            for f in ms[-1]["findings"]:
                print(f"    {f[:200]}")


def store_formats(store: Path, rounds: int = 200) -> None:
    """CPU per outcome of appending a 1024-outcome batch to the run store: one JSON line of
    columns (perfkit's units.jsonl), an Arrow IPC stream record batch, a JSON line per outcome
    (units.jsonl before batches). Each on the same batch of a real run, flushed to the OS."""
    import orjson
    import pyarrow as pa

    from perfkit.model import Outcome, OutcomeBatch

    run = perfkit_run(store, make_tasks(1, 3), "sequential", "inline", 1, {"candidates": 400, "cpu_ms": 0.0})
    objects = [Outcome(*[None if isinstance(v, float) and v != v else v for v in row])
               for row in run.units.head(1024).itertuples(index=False)]
    batch = OutcomeBatch.from_outcomes(objects, range(len(objects)))

    def timed(write) -> float:
        t0 = time.process_time()
        for _ in range(rounds):
            write()
        return (time.process_time() - t0) / rounds / len(objects) * 1e6

    with open(store / "columns.jsonl", "wb") as fh:
        def columns_line():
            batch._encoded = None  # encode afresh each time, as a worker does
            fh.write(b'{"columns":' + batch.encode() + b"}\n")
            fh.flush()
        jsonl = timed(columns_line)
    with open(store / "units.arrows", "wb") as fh:
        schema = pa.RecordBatch.from_pydict({k: v for k, v in batch.columns.items()}).schema
        writer = pa.ipc.new_stream(fh, schema)

        def arrow_batch():
            writer.write_batch(pa.RecordBatch.from_pydict({k: v for k, v in batch.columns.items()}, schema=schema))
            fh.flush()
        arrow = timed(arrow_batch)
    with open(store / "rows.jsonl", "wb") as fh:
        def row_lines():
            fh.write(b"\n".join(orjson.dumps(o.__dict__) for o in objects) + b"\n")
            fh.flush()
        rows = timed(row_lines)
    print("| append format | CPU µs per outcome |\n|---|---|")
    print(f"| one JSON line of columns per batch (units.jsonl now) | {jsonl:.2f} |")
    print(f"| Arrow IPC stream, one record batch per batch | {arrow:.2f} |")
    print(f"| one JSON line per outcome (units.jsonl before) | {rows:.2f} |")


def wake_ups(messages: int = 300, every_s: float = 0.02, size: int = 1400) -> None:
    """What one wake-up costs a process that sleeps on a socket (the runner's parent): a child
    sends ``messages`` of ``size`` bytes every ``every_s`` seconds, spinning or sleeping between
    them; the parent waits in epoll and reads each. Prints the parent's CPU per message."""
    import selectors
    import socket
    for spinning in (False, True):
        parent_end, child_end = socket.socketpair()
        pid = os.fork()
        if pid == 0:
            parent_end.close()
            for _ in range(messages):
                until = time.monotonic() + every_s
                while spinning and time.monotonic() < until:
                    pass
                time.sleep(max(0.0, until - time.monotonic()))
                child_end.send(b"x" * size)
            os._exit(0)
        child_end.close()
        selector = selectors.EpollSelector()
        selector.register(parent_end, selectors.EVENT_READ)
        cpu0, got = time.process_time(), 0
        while got < messages * size:
            for _key, _mask in selector.select(1.0):
                got += len(parent_end.recv(1 << 18))
        cpu = time.process_time() - cpu0
        os.waitpid(pid, 0)
        print(f"| {'spinning' if spinning else 'sleeping'} sender | {messages} | "
              f"{cpu / messages * 1e6:.0f} µs |")


def parent_batches(store: Path, round_: int) -> None:
    """The process backend's parent makes every batch from a worker's rows (perfkit/backends/unit.py
    ``rows_batch``), then encodes it for the store and counts its statuses: each timed on the
    parent's thread CPU clock inside real runs, where the parent's caches are as cold as the runs
    leave them. Two runs on 2 workers: ``efficiency-steady``'s ~0.47 ms units (sample-parallel,
    batches every FLUSH_INTERVAL_S) and empty units (no-op, batches of up to FLUSH_UNITS)."""
    from perfkit.backends import process
    from perfkit.model import OutcomeBatch

    spent = {"read": 0.0, "make": 0.0, "encode": 0.0, "counts": 0.0}
    batches = [0, 0]  # batches made, their rows

    def timed(name, fn, count=False):
        def wrapper(*args, **kwargs):
            t0 = time.thread_time()
            out = fn(*args, **kwargs)
            spent[name] += time.thread_time() - t0
            if count:
                batches[0] += 1
                batches[1] += len(out[0])
            return out
        return wrapper

    originals = (process.read_messages, process.rows_batch, OutcomeBatch.encode, OutcomeBatch.status_counts)
    process.read_messages = timed("read", originals[0])
    process.rows_batch = timed("make", originals[1], count=True)
    OutcomeBatch.encode = timed("encode", originals[2])
    OutcomeBatch.status_counts = timed("counts", originals[3])
    cpu_ms, n_candidates, n_samples = EFFICIENCY_STEADY_SIZES[0]
    workloads = [("~0.47 ms units", "synthetic", "sample-parallel", {"candidates": n_candidates, "cpu_ms": cpu_ms},
                  n_samples),
                 ("empty units (no-op)", "backends:NoopSolver", "candidate-parallel", {"candidates": 500}, 88)]
    try:
        for label, solver, strategy, options, samples in workloads:
            for key in spent:
                spent[key] = 0.0
            batches[:] = [0, 0]
            run = perfkit_run(store, make_tasks(1, samples), strategy, "process", 2, options, solver=solver)
            n, rows = batches
            parent = float(run.summary.cpu_parent_s)
            three = spent["make"] + spent["encode"] + spent["counts"]
            print(f"| {label} | {round_} | {n} | {rows / n:.0f} | {parent:.3f} | "
                  + " | ".join(f"{spent[k] / n * 1e6:.1f}" for k in spent)
                  + f" | {three / rows * 1e6:.3f} | {(three + spent['read']) / parent:.1%} |")
    finally:
        process.read_messages, process.rows_batch, OutcomeBatch.encode, OutcomeBatch.status_counts = originals


def hangs(store: Path, n: int = 50, timeout_s: float = 0.2) -> None:
    """``n`` units that sleep for an hour (blocked in C) and ``n`` that spin in Python: how long
    after the deadline is each stopped, and what does it cost the run."""
    workers = usable_cores()
    print("| backend | hang | hangs | timeout s | stop after deadline p50 ms | p99 ms | max ms | run wall s |")
    print("|---|---|---|---|---|---|---|---|")
    for backend in ["process", "inline"]:
        for kind in ["hang_c", "hang_py"]:
            tasks = make_tasks(1, n)
            options = {"candidates": 2, "cpu_ms": 0.1, "faults": f"{kind}:c001"}
            w = workers if backend == "process" else 1
            strategy = "candidate-parallel" if backend == "process" else "sequential"
            run = perfkit_run(store, tasks, strategy, backend, w, options, chunk=2, timeout=timeout_s)
            hung = run.units[run.units.candidate == "c001"]
            late = ((hung.ended - hung.started) - timeout_s) * 1000
            q = np.percentile(late, [50, 99])
            print(f"| {backend} | {kind} | {len(hung)} | {timeout_s} | {q[0]:.1f} | {q[1]:.1f} | {late.max():.1f} | "
                  f"{run.summary.wall_s:.2f} |")


if __name__ == "__main__":
    main()
