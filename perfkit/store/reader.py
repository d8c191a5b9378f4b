"""Reading the store: run folders into typed :class:`Run` objects, and runs found by label.

units.jsonl is the source of truth while a run is going: a crash or Ctrl-C keeps every line
already written, and a resume reads it back to run only the missing units. A line is a batch of
outcomes as columns (perfkit/store/writer.py), one outcome (runs written before batches), or an
amendment of an outcome already written.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import orjson
import pandas as pd
import pyarrow as pa

from perfkit.model import STATUSES, UNIT_COLUMNS, UNIT_KEY, PerfkitError, StoreError
from perfkit.solvers.table import SCORE_COLUMNS, read_table, score_rows
from perfkit.store.layout import META, SUMMARY, UNITS_JSONL, UNITS_PARQUET
from perfkit.store.run import Run

_FLOAT_COLUMNS = ("queued", "started", "ended", "wall_s", "cpu_s", "leaked_s")
_INT_COLUMNS = ("index", "chunk", "attempt", "stage")


def read_json(path: Path) -> dict[str, Any]:
    """Read a JSON file of the store, as a PerfkitError naming the file when it is unreadable."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PerfkitError(f"{path}: not found (is this a run folder?)") from None
    except json.JSONDecodeError as exc:
        raise PerfkitError(f"{path}: malformed JSON at line {exc.lineno} column {exc.colno}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PerfkitError(f"{path}: unreadable: {getattr(exc, 'strerror', None) or exc}") from None
    if not isinstance(data, dict):
        raise PerfkitError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


@dataclass
class UnitRecords:
    """What units.jsonl holds: unit records, amendments, and what was skipped.

    ``whole_bytes`` is the length of the file up to the end of its last whole record: a resume
    truncates the file there before appending, so that a torn tail never glues itself to the
    first new record (docs/design.md, "The run store").
    """

    #: Unit records as columns (UNIT_COLUMNS -> one value per unit), batches and single records alike.
    columns: dict[str, list[Any]] = field(default_factory=lambda: {name: [] for name in UNIT_COLUMNS})
    amends: list[dict[str, Any]] = field(default_factory=list)
    #: One sentence per torn or foreign record skipped (file, line, why).
    notes: list[str] = field(default_factory=list)
    whole_bytes: int = 0
    #: True when the last whole record ends without its newline (a resume adds it).
    needs_newline: bool = False


def _is_unit_record(rec: Any) -> bool:
    return isinstance(rec, dict) and rec.get("status") in STATUSES and all(
        isinstance(rec.get(k), t) for k, t in zip(UNIT_KEY, (str, str, int, str)))


def _is_unit_batch(batch: dict[str, Any]) -> bool:
    """A batch line (perfkit/store/writer.py): equally long columns of unit records."""
    ids = batch.get("task_id")
    if not isinstance(ids, list) or not all(k in UNIT_COLUMNS for k in batch):
        return False
    return all(isinstance(v, list) and len(v) == len(ids) for v in batch.values()) \
        and set(batch.get("status") or ()) <= set(STATUSES)


def _is_amend_record(rec: Any) -> bool:
    return isinstance(rec, dict) and isinstance(rec.get("amend"), list) and len(rec["amend"]) == len(UNIT_KEY) \
        and all(k in UNIT_COLUMNS for k in rec if k != "amend")


def scan_units_jsonl(path: Path) -> UnitRecords:
    """Read units.jsonl record by record. A torn record (the writer died mid-line, or the disk
    filled) and a foreign one (valid JSON that is not a unit record) are skipped and noted."""
    out = UnitRecords()
    torn: list[int] = []
    foreign: list[int] = []
    offset = 0
    with open(path, "rb") as fh:
        for number, line in enumerate(fh, start=1):
            offset += len(line)
            if not line.strip():
                continue
            try:
                rec = orjson.loads(line)
            except orjson.JSONDecodeError:
                torn.append(number)
                continue
            batch = rec.get("columns") if isinstance(rec, dict) else None
            if isinstance(batch, dict) and _is_unit_batch(batch):
                n = len(batch["task_id"])
                for name, values in out.columns.items():
                    values.extend(batch.get(name) or [None] * n)
            elif _is_unit_record(rec):
                for name, values in out.columns.items():
                    values.append(rec.get(name))
            elif _is_amend_record(rec):
                out.amends.append(rec)
            else:
                foreign.append(number)
                continue
            out.whole_bytes, out.needs_newline = offset, not line.endswith(b"\n")
    name = Path(path).name
    if torn:
        out.notes.append(f"{path}: {_lines(torn)} of {name} torn (cut mid-record): skipped")
    if foreign:
        out.notes.append(f"{path}: {_lines(foreign)} of {name} not a unit record: skipped")
    return out


def _lines(numbers: list[int]) -> str:
    shown = ", ".join(map(str, numbers[:5])) + (f" and {len(numbers) - 5} more" if len(numbers) > 5 else "")
    return f"line{'s' if len(numbers) > 1 else ''} {shown}"


def read_units_jsonl(path: Path, notes: Optional[list[str]] = None) -> pd.DataFrame:
    """The units of a units.jsonl file as a DataFrame, amendments applied. Torn and foreign
    records are skipped (they were never acknowledged); ``notes`` receives one sentence per kind."""
    scan = scan_units_jsonl(path)
    if notes is not None:
        notes.extend(scan.notes)
    df = pd.DataFrame(scan.columns)
    key = list(UNIT_KEY)
    for rec in scan.amends:
        target = tuple(rec.pop("amend"))
        mask = (df[key] == pd.Series(target, index=key)).all(axis=1)
        for col, value in rec.items():
            df.loc[mask, col] = value
    return typed_units(df)


def read_units(path: str | os.PathLike, notes: Optional[list[str]] = None) -> pd.DataFrame:
    """The units of a run folder: units.parquet when the run ended, else units.jsonl (also when
    units.parquet is unreadable); ``notes`` receives what was skipped or worked around."""
    return _read_units(Path(path), [] if notes is None else notes)


def typed_units(df: pd.DataFrame) -> pd.DataFrame:
    """The unit table with its column types (floats, ints, bools) whatever file it came from;
    columns a older run lacks are added with their defaults."""
    for col in UNIT_COLUMNS:
        if col not in df:
            df[col] = 0 if col in _INT_COLUMNS else None
    for col in _FLOAT_COLUMNS:
        df[col] = pd.to_numeric(df[col], errors="coerce").astype("float64")
    for col in _INT_COLUMNS:
        df[col] = df[col].fillna(0).astype("int64")
    df["leaked"] = df["leaked"].fillna(False).astype(bool)
    df["match"] = df["match"].astype("object")
    return df


def load_run(path: str | os.PathLike) -> Run:
    """Load a run folder: units as a pandas DataFrame (one row per unit), config, summary.

    A run without units.parquet (interrupted, or still running), or whose units.parquet cannot
    be read (truncated), is read from units.jsonl; what was skipped is in ``Run.notes``.
    """
    path = Path(path)
    if not path.is_dir():
        raise PerfkitError(f"{path}: not a run folder")
    meta = read_json(path / META)
    summary_path = path / SUMMARY
    if not summary_path.exists() and meta.get("state") == "complete":
        # the writer marks meta.json first (perfkit/store/writer.py finish): a complete run
        # without its figures is a torn folder, not one whose wall and CPU are zero
        raise StoreError(summary_path, "missing, though meta.json says the run is complete "
                                       "(its end was not written: a full disk?)")
    summary = read_json(summary_path) if summary_path.exists() else {"state": meta.get("state", "running")}
    notes: list[str] = [str(n) for n in meta.get("notes", [])] if isinstance(meta, dict) else []
    units = _read_units(path, notes)
    run = Run.from_records(path, meta, summary, units, score_frame(path))
    run.notes = notes
    return run


def _read_units(path: Path, notes: list[str]) -> pd.DataFrame:
    parquet, jsonl = path / UNITS_PARQUET, path / UNITS_JSONL
    if parquet.exists():
        try:
            return typed_units(pd.read_parquet(parquet))
        except (OSError, ValueError, pa.ArrowException) as exc:  # truncated or foreign file
            if not jsonl.exists():
                raise PerfkitError(f"{parquet}: unreadable ({_first_line(exc)}) and no units.jsonl to fall back on") \
                    from None
            notes.append(f"{parquet}: unreadable ({_first_line(exc)}): read units.jsonl instead")
    if not jsonl.exists():
        if (path / META).exists():  # a run that stopped before its first outcome
            return typed_units(pd.DataFrame(columns=list(UNIT_COLUMNS)))
        raise PerfkitError(f"{jsonl}: not found (is this a run folder?)")
    return read_units_jsonl(jsonl, notes)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


def score_frame(run_folder: Path) -> pd.DataFrame:
    """The solver's own scores of a run (its solver table's ``scores``, perfkit/solvers/table.py)
    as a DataFrame with SCORE_COLUMNS; empty when the solver recorded none."""
    return pd.DataFrame.from_records(score_rows(read_table(run_folder)), columns=list(SCORE_COLUMNS))


def find_runs(spec: str, store: Path) -> list[Run]:
    """A run folder, or every complete run in ``store`` whose label is ``spec`` (oldest first)."""
    path = Path(spec)
    if (path / META).exists():
        return [load_run(path)]
    runs, unreadable = [], []
    if Path(store).is_dir():
        for meta in sorted(Path(store).glob(f"*/{META}")):
            try:
                record = read_json(meta)
            except PerfkitError:  # a foreign or broken folder cannot be the run asked for
                unreadable.append(meta.parent.name)
                continue
            config = record.get("config")
            if isinstance(config, dict) and config.get("label") == spec and record.get("state") == "complete":
                runs.append(load_run(meta.parent))
    if not runs:
        also = f" ({len(unreadable)} folder(s) with an unreadable meta.json skipped)" if unreadable else ""
        raise PerfkitError(f"{spec!r}: not a run folder, and no complete run in {store} has that label{also}")
    return runs
