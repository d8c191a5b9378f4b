"""A solver's own table: what a solver records per sample beside its outputs.

Outcomes say what every candidate returned and how long it took; some solvers know more — a
battery returns its own scores ``(t_n, solver_id, name, value)`` and metadata per output. A
solver that has such facts writes one record per sample into the run folder through
:class:`SampleTable`; the store reads them back (:func:`read_table`) and turns the ``scores`` of
every record into ``Run.scores`` (columns :data:`SCORE_COLUMNS`), whatever the solver. The
format lives here, beside the solver contract, so that a solver writes it without importing the
store and the store reads it without knowing any solver by name.

One JSON-lines file per worker thread (``<run>/solver-table/<pid>-<thread>.jsonl``): workers
never share a file, and a killed worker keeps every line it flushed. A line torn by a kill is
skipped; when a sample ran twice (a re-queued item), its last record wins.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import orjson

#: The folder of a run that holds solver tables.
TABLE_DIR = "solver-table"
#: The columns of ``Run.scores``: the sample, then one score tuple ``(t_n, solver_id, name, value)``.
SCORE_COLUMNS = ("task_id", "split", "index", "t_n", "solver_id", "name", "value")


class SampleTable:
    """Writes a solver's per-sample records into a run folder, one file per worker thread."""

    def __init__(self, run_folder: Optional[Path], default: Callable[[Any], Any]):
        """``run_folder`` None: nothing is written (a solver used outside a run). ``default``
        turns values JSON cannot hold (e.g. the solver's own types) into ones it can."""
        self.run_folder = run_folder
        self.default = default
        self._local = threading.local()

    def record(self, key: tuple[str, str, int], **fields: Any) -> None:
        """One line for the sample ``key`` (task id, split, index); ``scores`` (rows of
        ``t_n, solver_id, name, value``) is the field the store reads as ``Run.scores``."""
        if self.run_folder is None:
            return
        fh = getattr(self._local, "file", None)
        if fh is None:
            folder = self.run_folder / TABLE_DIR
            folder.mkdir(parents=True, exist_ok=True)
            fh = self._local.file = open(folder / f"{os.getpid()}-{threading.get_ident()}.jsonl", "ab")
        record = {"task_id": key[0], "split": key[1], "index": key[2], **fields}
        fh.write(orjson.dumps(record, default=self.default, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n")
        fh.flush()  # a killed worker keeps every line it wrote


def read_table(run_folder: str | os.PathLike) -> list[dict[str, Any]]:
    """The solver-table records of a run folder, one per sample (the last, when a sample ran
    twice), in (task, split, index) order; [] when the run has none."""
    records: dict[tuple, dict[str, Any]] = {}
    for path in sorted((Path(run_folder) / TABLE_DIR).glob("*.jsonl")):
        with open(path, "rb") as fh:
            for line in fh:
                try:
                    rec = orjson.loads(line)
                except orjson.JSONDecodeError:  # torn by a kill mid-line
                    continue
                records[(rec["task_id"], rec["split"], rec["index"])] = rec
    return [records[k] for k in sorted(records)]


def score_rows(records: Iterable[dict[str, Any]]) -> list[tuple]:
    """One row per score tuple of every record, in :data:`SCORE_COLUMNS` order (a short tuple
    is padded with None)."""
    return [(r["task_id"], r["split"], r["index"], *(list(s) + [None] * 4)[:4])
            for r in records for s in r.get("scores") or ()]
