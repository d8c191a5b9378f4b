"""Reading the store: run folders into typed :class:`Run` objects, and runs found by label.

units.jsonl is the source of truth while a run is going: a crash or Ctrl-C keeps every line
already written, and a resume reads it back to run only the missing units.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from perfkit.model import UNIT_COLUMNS, UNIT_KEY, PerfkitError
from perfkit.solvers.batt import score_frame
from perfkit.store.layout import META, SUMMARY, UNITS_JSONL, UNITS_PARQUET
from perfkit.store.run import Run

_FLOAT_COLUMNS = ("queued", "started", "ended", "wall_s", "cpu_s", "leaked_s")
_INT_COLUMNS = ("index", "chunk", "attempt", "stage")


def read_json(path: Path) -> dict[str, Any]:
    """Read a JSON file of the store, as a PerfkitError naming the file when it is unreadable."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PerfkitError(f"{path}: not found (is this a run folder?)") from None
    except json.JSONDecodeError as exc:
        raise PerfkitError(f"{path}: malformed JSON at line {exc.lineno} column {exc.colno}") from None


def read_units_jsonl(path: Path) -> pd.DataFrame:
    """The units of a units.jsonl file as a DataFrame, amendments applied.

    A torn last line (the process died mid-write) is ignored: it was never acknowledged.
    """
    records: list[dict[str, Any]] = []
    amends: list[dict[str, Any]] = []
    with open(path, "rb") as fh:
        for line in fh:
            try:
                rec = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            (amends if "amend" in rec else records).append(rec)
    df = pd.DataFrame.from_records(records, columns=list(UNIT_COLUMNS))
    key = list(UNIT_KEY)
    for rec in amends:
        target = tuple(rec.pop("amend"))
        mask = (df[key] == pd.Series(target, index=key)).all(axis=1)
        for col, value in rec.items():
            df.loc[mask, col] = value
    return typed_units(df)


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

    A run without units.parquet (interrupted, or still running) is read from units.jsonl.
    """
    path = Path(path)
    if not path.is_dir():
        raise PerfkitError(f"{path}: not a run folder")
    meta = read_json(path / META)
    summary_path = path / SUMMARY
    summary = read_json(summary_path) if summary_path.exists() else {"state": meta.get("state", "running")}
    parquet = path / UNITS_PARQUET
    units = typed_units(pd.read_parquet(parquet)) if parquet.exists() else read_units_jsonl(path / UNITS_JSONL)
    return Run.from_records(path, meta, summary, units, score_frame(path))


def find_runs(spec: str, store: Path) -> list[Run]:
    """A run folder, or every complete run in ``store`` whose label is ``spec`` (oldest first)."""
    path = Path(spec)
    if (path / META).exists():
        return [load_run(path)]
    runs = []
    if Path(store).is_dir():
        for meta in sorted(Path(store).glob(f"*/{META}")):
            record = read_json(meta)
            if record.get("config", {}).get("label") == spec and record.get("state") == "complete":
                runs.append(load_run(meta.parent))
    if not runs:
        raise PerfkitError(f"{spec!r}: not a run folder, and no complete run in {store} has that label")
    return runs
