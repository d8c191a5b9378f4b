"""Tests of perfkit.tasks: built-in datasets, selections, synthetic tasks, ARC JSON files and
their validation, down to the ``perfkit tasks validate`` exit status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from perfkit.model import PerfkitError, Task
from perfkit.tasks import DEFAULT_TASK_IDS, load_tasks, validate_path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data" / "tasks"


def _grid(rows: int, cols: int, value: int = 1) -> list[list[int]]:
    return [[value] * cols for _ in range(rows)]


def _task(train: Any = None, test: Any = None, **extra: Any) -> dict[str, Any]:
    """A valid one-sample task, with fields replaced by the arguments."""
    data = {
        "train": [{"input": [[1, 2], [3, 4]], "output": [[2, 4], [1, 3]]}] if train is None else train,
        "test": [{"input": [[5, 6], [7, 8]]}] if test is None else test,
    }
    data.update(extra)
    return data


def _with_cell(value: Any) -> dict[str, Any]:
    return _task(train=[{"input": [[1, value], [3, 4]], "output": [[1]]}])


RAGGED = _task(train=[
    {"input": [[1, 2, 3, 4]], "output": [[1]]},
    {"input": [[0, 0, 0, 0], [1, 1, 1, 1], [2, 2, 2]], "output": [[1]]},
])

# name -> (files written to tmp_path: name -> JSON value | str | bytes, path to validate,
#          fragments the one-line message must contain: file, task id, field)
BAD_CASES: dict[str, tuple[dict[str, Any], str, list[str]]] = {
    "malformed-json": ({"bad.json": '{"train": [\n  {"input": [[1]],}\n'}, "bad.json",
                       ["bad.json", "malformed JSON", "line 2 column 19"]),
    "not-utf8": ({"bad.json": b'{"train": "\xff"}'}, "bad.json", ["bad.json", "UTF-8"]),
    "top-level-list": ({"bad.json": [1, 2]}, "bad.json", ["bad.json", "top level is a list"]),
    "missing-train": ({"bad.json": {"test": []}}, "bad.json", ["bad.json", "task 'bad'", "train is missing"]),
    "missing-test": ({"bad.json": {"train": _task()["train"]}}, "bad.json",
                     ["bad.json", "task 'bad'", "test is missing"]),
    "empty-train": ({"bad.json": _task(train=[])}, "bad.json", ["bad.json", "task 'bad'", "train is empty"]),
    "train-is-dict": ({"bad.json": _task(train={"input": [[1]]})}, "bad.json",
                      ["bad.json", "task 'bad'", "train is an object"]),
    "test-is-string": ({"bad.json": _task(test="none")}, "bad.json",
                       ["bad.json", "task 'bad'", "test is a string"]),
    "sample-is-list": ({"bad.json": _task(train=[[[1]], [[2]]])}, "bad.json",
                       ["bad.json", "task 'bad'", "train[0] is a list"]),
    "input-missing": ({"bad.json": _task(train=[{"output": [[1]]}])}, "bad.json",
                      ["bad.json", "task 'bad'", "train[0].input is missing"]),
    "train-output-missing": ({"bad.json": _task(train=[{"input": [[1]]}])}, "bad.json",
                             ["bad.json", "task 'bad'", "train[0].output is missing"]),
    "test-input-missing": ({"bad.json": _task(test=[{"output": [[1]]}])}, "bad.json",
                           ["bad.json", "task 'bad'", "test[0].input is missing"]),
    "grid-is-string": ({"bad.json": _task(train=[{"input": "[[1]]", "output": [[1]]}])}, "bad.json",
                       ["bad.json", "task 'bad'", "train[0].input is a string"]),
    "grid-empty": ({"bad.json": _task(train=[{"input": [], "output": [[1]]}])}, "bad.json",
                   ["bad.json", "task 'bad'", "train[0].input is empty"]),
    "row-empty": ({"bad.json": _task(train=[{"input": [[]], "output": [[1]]}])}, "bad.json",
                  ["bad.json", "task 'bad'", "train[0].input row 0 is empty"]),
    "row-not-list": ({"bad.json": _task(train=[{"input": [[1, 2], 3], "output": [[1]]}])}, "bad.json",
                     ["bad.json", "task 'bad'", "train[0].input row 1 is an integer"]),
    "ragged-rows": ({"bad.json": RAGGED}, "bad.json",
                    ["bad.json", "task 'bad'",
                     "train[1].input row 2 has 3 cells, row 0 has 4 (ragged rows)"]),
    "too-many-rows": ({"bad.json": _task(train=[{"input": _grid(31, 2), "output": [[1]]}])}, "bad.json",
                      ["bad.json", "task 'bad'", "train[0].input has 31 rows"]),
    "too-many-cols": ({"bad.json": _task(train=[{"input": [[1]], "output": _grid(2, 31)}])}, "bad.json",
                      ["bad.json", "task 'bad'", "train[0].output row 0 has 31 cells"]),
    "cell-bool": ({"bad.json": _with_cell(True)}, "bad.json", ["bad.json", "task 'bad'", "train[0].input[0][1] is true"]),
    "cell-float": ({"bad.json": _with_cell(1.0)}, "bad.json", ["bad.json", "task 'bad'", "train[0].input[0][1] is 1.0"]),
    "cell-fraction": ({"bad.json": _with_cell(1.5)}, "bad.json", ["bad.json", "task 'bad'", "train[0].input[0][1] is 1.5"]),
    "cell-string": ({"bad.json": _with_cell("3")}, "bad.json", ["bad.json", "task 'bad'", 'train[0].input[0][1] is "3"']),
    "cell-ten": ({"bad.json": _with_cell(10)}, "bad.json", ["bad.json", "task 'bad'", "train[0].input[0][1] is 10"]),
    "cell-negative": ({"bad.json": _with_cell(-1)}, "bad.json", ["bad.json", "task 'bad'", "train[0].input[0][1] is -1"]),
    "cell-null": ({"bad.json": _with_cell(None)}, "bad.json", ["bad.json", "task 'bad'", "train[0].input[0][1] is null"]),
    "cell-nan": ({"bad.json": '{"train": [{"input": [[NaN]], "output": [[1]]}], "test": []}'}, "bad.json",
                 ["bad.json", "task 'bad'", "train[0].input[0][0] is NaN"]),
    "test-output-bad": ({"bad.json": _task(test=[{"input": [[1]], "output": [[1, 12]]}])}, "bad.json",
                        ["bad.json", "task 'bad'", "test[0].output[0][1] is 12"]),
    "challenge-not-object": ({"x_challenges.json": {"0000aaaa": _task(), "0000bbbb": [1]}},
                             "x_challenges.json", ["x_challenges.json", "task '0000bbbb' is a list"]),
    "challenge-ragged": ({"x_challenges.json": {"0000aaaa": _task(), "0000cccc": RAGGED}},
                         "x_challenges.json",
                         ["x_challenges.json", "task '0000cccc'", "train[1].input row 2 has 3 cells"]),
    "solutions-count": ({"x_challenges.json": {"0000aaaa": _task()}, "x_solutions.json": {"0000aaaa": []}},
                        "x_challenges.json", ["x_solutions.json", "task '0000aaaa'", "solutions has 0 grids"]),
    "solutions-bad-grid": ({"x_challenges.json": {"0000aaaa": _task()},
                            "x_solutions.json": {"0000aaaa": [[[1, True]]]}},
                           "x_challenges.json", ["x_solutions.json", "task '0000aaaa'", "test[0].output[0][1] is true"]),
    "solutions-malformed": ({"x_challenges.json": {"0000aaaa": _task()}, "x_solutions.json": "{"},
                            "x_challenges.json", ["x_solutions.json", "malformed JSON", "line 1 column 2"]),
    "folder-duplicate-id": ({"dir/a_challenges.json": {"b": _task()}, "dir/b.json": _task()}, "dir",
                            ["b.json", "task 'b'", "duplicate task id", "a_challenges.json"]),
    "folder-empty": ({"dir/notes.txt": "hello"}, "dir", ["dir", "no *.json"]),
    "missing-path": ({}, "nope.json", ["nope.json", "no such file"]),
}


def _write_case(root: Path, files: dict[str, Any]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, str):
            path.write_text(content)
        else:
            path.write_text(json.dumps(content))


def _case_path(root: Path, name: str) -> Path:
    files, target, _ = BAD_CASES[name]
    case_root = root / name
    case_root.mkdir(parents=True, exist_ok=True)
    _write_case(case_root, files)
    return case_root / target


def _grids_equal(a: Task, b: Task) -> bool:
    if a.id != b.id or len(a.samples) != len(b.samples):
        return False
    for x, y in zip(a.samples, b.samples):
        if (x.split, x.index) != (y.split, y.index) or not np.array_equal(x.input, y.input):
            return False
        if (x.output is None) != (y.output is None):
            return False
        if x.output is not None and not np.array_equal(x.output, y.output):
            return False
    return True


# --------------------------------------------------------------------------- datasets

@pytest.mark.parametrize("name, count", [("arc1-training", 400), ("arc1-evaluation", 400),
                                         ("arc2-training", 1000), ("arc2-evaluation", 120)])
@pytest.mark.slow
def test_dataset_sizes(name: str, count: int) -> None:
    tasks = load_tasks(name)
    assert len(tasks) == count
    assert len({t.id for t in tasks}) == count
    assert [t.id for t in tasks] == sorted(t.id for t in tasks)
    first = tasks[0]
    assert first.source == name and first.demo and first.test
    assert first.demo[0].input.dtype == np.uint8 and first.demo[0].input.ndim == 2
    assert first.test[0].output is not None


def test_count_selection_is_first_n_by_id_and_stable() -> None:
    ten = load_tasks("arc1-training:10")
    ids = [t.id for t in ten]
    assert len(ids) == 10
    assert ids == sorted(t.id for t in load_tasks("arc1-training"))[:10]
    assert ids == [t.id for t in load_tasks("arc1-training:10")]


def test_id_selection_keeps_the_given_order() -> None:
    all_ids = [t.id for t in load_tasks("arc1-evaluation")]
    wanted = [all_ids[7], all_ids[2]]
    assert [t.id for t in load_tasks(f"arc1-evaluation:{wanted[0]},{wanted[1]}")] == wanted


def test_eight_character_all_digit_value_is_an_id() -> None:
    digit_ids = [t.id for t in load_tasks("arc1-evaluation") if t.id.isdigit()]
    assert digit_ids, "ARC-AGI-1 evaluation has all-digit ids such as 00576224"
    assert [t.id for t in load_tasks(f"arc1-evaluation:{digit_ids[0]}")] == [digit_ids[0]]


def test_default_set_loads_every_id() -> None:
    tasks = load_tasks("default")
    assert [t.id for t in tasks] == list(DEFAULT_TASK_IDS)
    assert 6 <= len(tasks) <= 10
    assert [t.id for t in load_tasks("default:2")] == list(DEFAULT_TASK_IDS[:2])


def test_loads_do_not_share_arrays() -> None:
    # A solver that writes into its input must not corrupt the next load of the same task.
    a = load_tasks("default:1")[0]
    a.demo[0].input[0, 0] = (int(a.demo[0].input[0, 0]) + 1) % 10
    b = load_tasks("default:1")[0]
    assert not np.array_equal(a.demo[0].input, b.demo[0].input)


@pytest.mark.parametrize("spec, fragments", [
    ("arc3-training", ["unknown task spec", "arc1-training", "arc2-evaluation"]),
    ("arc3-training:5", ["unknown dataset 'arc3-training'", "arc1-training", "arc2-evaluation"]),
    ("arc1-evaluation:zzzzzzzz", ["unknown task id 'zzzzzzzz'", "arc1-evaluation"]),
    ("arc1-training:007bbfb7,nope", ["unknown task id 'nope'", "arc1-training"]),
    ("arc1-training:0", ["count must be at least 1"]),
    ("arc1-training:401", ["401", "only 400"]),
    ("arc1-training:", ["empty selection"]),
    ("arc1-training:007bbfb7,007bbfb7", ["listed twice"]),
    ("default:zzzzzzzz", ["unknown task id 'zzzzzzzz'", "default"]),
    ("synthetic:", ["synthetic:N"]),
    ("synthetic:3y2", ["synthetic:N"]),
    ("synthetic:0", ["N must be"]),
    ("synthetic:2x0", ["D (demo samples)"]),
    ("", ["empty task spec"]),
    ("no/such/dir/task.json", ["no/such/dir/task.json", "no such file"]),
])
def test_bad_specs(spec: str, fragments: list[str]) -> None:
    with pytest.raises(PerfkitError) as info:
        load_tasks(spec)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


# --------------------------------------------------------------------------- synthetic

def test_synthetic_counts_and_defaults() -> None:
    tasks = load_tasks("synthetic:3")
    assert [t.id for t in tasks] == ["syn-000", "syn-001", "syn-002"]
    assert all(len(t.demo) == 5 and len(t.test) == 1 for t in tasks)
    custom = load_tasks("synthetic:2x4+3")
    assert len(custom) == 2 and all(len(t.demo) == 4 and len(t.test) == 3 for t in custom)
    assert all(len(t.demo) == 2 and len(t.test) == 1 for t in load_tasks("synthetic:1x2"))
    assert all(len(t.test) == 0 for t in load_tasks("synthetic:1x2+0"))


def test_synthetic_is_deterministic_and_rot90() -> None:
    a, b = load_tasks("synthetic:4x3+2"), load_tasks("synthetic:4x3+2")
    assert all(_grids_equal(x, y) for x, y in zip(a, b))
    assert not _grids_equal(a[0], a[1])
    for task in a:
        for s in task.samples:
            assert s.task_id == task.id
            assert 3 <= s.input.shape[0] <= 8 and s.input.shape[0] == s.input.shape[1]
            assert s.input.dtype == np.uint8 and s.output.dtype == np.uint8
            assert np.array_equal(s.output, np.rot90(s.input))
    # Task i does not depend on how many tasks were asked for.
    assert _grids_equal(load_tasks("synthetic:1x3+2")[0], a[0])


def test_synthetic_is_the_same_in_another_process() -> None:
    code = ("from perfkit.tasks import load_tasks; t = load_tasks('synthetic:2x2+1')[1]; "
            "print(t.demo[1].input.tolist())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=ROOT, env=_env(), timeout=60).stdout.strip()
    assert out == str(load_tasks("synthetic:2x2+1")[1].demo[1].input.tolist())


# --------------------------------------------------------------------------- files

def test_single_task_file() -> None:
    path = DATA / "single.json"
    [task] = load_tasks(str(path))
    assert task.id == "single" and task.source == str(path)
    assert [s.key for s in task.samples] == ["demo[0]", "demo[1]", "test[0]"]
    assert task.demo[1].input.shape == (1, 3) and task.demo[1].output.shape == (3, 1)
    assert task.demo[0].input.dtype == np.uint8
    assert np.array_equal(task.test[0].output, [[8, 0], [7, 9]])
    assert [t.id for t in validate_path(path)] == ["single"]


def test_folder_sorted_by_file_name_json_only() -> None:
    tasks = load_tasks(str(DATA / "folder"))
    assert [t.id for t in tasks] == ["a_copy", "b_flip"]
    assert tasks[1].test[0].output is None
    assert tasks[0].source.endswith("a_copy.json")


def test_challenges_file_with_solutions_beside_it() -> None:
    tasks = load_tasks(str(DATA / "kaggle" / "demo_challenges.json"))
    assert [t.id for t in tasks] == ["0000aaaa", "0000bbbb"]
    assert [s.output.tolist() for s in tasks[0].test] == [[[4, 3]], [[6, 5]]]
    assert tasks[1].test[0].output.tolist() == [[2]]
    assert tasks[1].demo[0].output.tolist() == [[1]]


def test_challenges_file_without_solutions() -> None:
    tasks = validate_path(DATA / "kaggle_nosolutions" / "demo_challenges.json")
    assert [t.id for t in tasks] == ["0000aaaa", "0000bbbb"]
    assert all(s.output is None for t in tasks for s in t.test)
    assert all(s.output is not None for t in tasks for s in t.demo)


def test_folder_holding_a_challenges_pair_reads_solutions_once() -> None:
    tasks = load_tasks(str(DATA / "kaggle"))
    assert [t.id for t in tasks] == ["0000aaaa", "0000bbbb"]
    assert tasks[0].test[1].output.tolist() == [[6, 5]]


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_input_raises_one_line_perfkit_error(case: str, tmp_path: Path) -> None:
    path = _case_path(tmp_path, case)
    try:
        validate_path(path)
    except PerfkitError as exc:
        message = str(exc)
    except Exception as exc:  # noqa: BLE001 - any other type is the bug under test
        pytest.fail(f"{case}: raised {type(exc).__name__}: {exc}")
    else:
        pytest.fail(f"{case}: no error")
    assert "\n" not in message
    for fragment in BAD_CASES[case][2]:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    # load_tasks takes the same path through the same checks.
    with pytest.raises(PerfkitError):
        load_tasks(str(path))


# --------------------------------------------------------------------------- CLI

def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["COLUMNS"] = "80"  # a narrow terminal must not wrap the one-line message
    return env


def _validate_cli(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "perfkit", "tasks", "validate", str(path)],
                          capture_output=True, text=True, cwd=ROOT, env=_env(), timeout=120)


#: Bad cases also run through a real ``python -m perfkit`` process. Each start costs about a
#: second of imports, so the subprocess level takes one case per layer of checks; every case
#: goes through the same ``main`` in-process below.
CLI_SUBPROCESS_CASES = ("malformed-json", "ragged-rows", "cell-bool", "challenge-not-object",
                        "missing-path")


# the tests that use it run on one xdist worker (xdist_group): the subprocesses start once
@pytest.fixture(scope="module")
def cli_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, subprocess.CompletedProcess[str]]:
    """``perfkit tasks validate`` in a subprocess for each CLI case, run concurrently."""
    root = tmp_path_factory.mktemp("cli")
    paths = {case: _case_path(root, case) for case in CLI_SUBPROCESS_CASES}
    paths["<good>"] = DATA / "single.json"
    with ThreadPoolExecutor(max_workers=len(paths)) as pool:
        futures = {case: pool.submit(_validate_cli, path) for case, path in paths.items()}
        return {case: future.result() for case, future in futures.items()}


@pytest.mark.slow  # every case also runs in-process through main, in the quick subset
@pytest.mark.parametrize("case", CLI_SUBPROCESS_CASES)
@pytest.mark.xdist_group("tasks-cli")
def test_cli_validate_bad_input_exits_2_with_one_line(case: str, cli_results) -> None:
    result = cli_results[case]
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.returncode == 2, output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    fragments = BAD_CASES[case][2]
    for fragment in (fragments[0], fragments[-1]):  # the file and the field
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"


@pytest.mark.slow
@pytest.mark.xdist_group("tasks-cli")
def test_cli_validate_good_file_exits_0(cli_results) -> None:
    result = cli_results["<good>"]
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok: 1 task from" in result.stdout  # not "1 tasks"
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_cli_main_bad_input_exits_2_with_one_line(case: str, tmp_path: Path, capsys) -> None:
    from perfkit.cli.app import main

    path = _case_path(tmp_path, case)
    with pytest.raises(SystemExit) as info:  # any other exception fails the test as a traceback would
        main(["tasks", "validate", str(path)])
    assert info.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    for fragment in BAD_CASES[case][2]:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"


def test_validate_names_every_bad_file_of_a_folder_one_line_each(tmp_path: Path, capsys) -> None:
    """It stopped at the first bad file: a folder of several needed one run per fix."""
    from perfkit.cli.app import main
    from perfkit.tasks import InvalidTaskFiles

    _write_case(tmp_path, {"dir/a_good.json": _task(), "dir/b_ragged.json": RAGGED, "dir/c_broken.json": "{",
                           "dir/d_good.json": _task(), "dir/e_cell.json": _with_cell(True)})
    with pytest.raises(InvalidTaskFiles) as bad:
        validate_path(tmp_path / "dir")
    assert [p.split(":")[0] for p in bad.value.problems] == [str(tmp_path / "dir" / n) for n in
                                                             ("b_ragged.json", "c_broken.json", "e_cell.json")]
    with pytest.raises(SystemExit) as info:
        main(["tasks", "validate", str(tmp_path / "dir")])
    assert info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [f"perfkit: error: {p}" for p in bad.value.problems]
    assert "row 2 has 3 cells" in lines[0] and "malformed JSON" in lines[1] and "is true" in lines[2]
