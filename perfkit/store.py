"""The run store: one folder per run.

```
<store>/<run-id>/meta.json       config + environment + state (running, complete, interrupted)
<store>/<run-id>/units.jsonl     one outcome per line, appended and flushed as outcomes arrive
<store>/<run-id>/units.parquet   the tidy table, written when the run ends
<store>/<run-id>/summary.json    run-level measurements
```
units.jsonl is the source of truth while a run is going: a crash or Ctrl-C keeps every line
already written, and ``--resume`` reads it back to run only the missing units.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import orjson
import pandas as pd

from perfkit.errors import PerfkitError
from perfkit.model import Outcome

UNIT_COLUMNS = list(Outcome.__dataclass_fields__)
KEY_COLUMNS = ["task_id", "split", "index", "candidate"]


def new_run_id(label: str | None, strategy: str, backend: str, workers: int, repeat: int) -> str:
    """A sortable, readable, unique run folder name."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = "-".join(p for p in [label, strategy, backend, f"w{workers}", f"r{repeat}"] if p)
    return f"{stamp}-{name}-{secrets.token_hex(2)}"


#: Outcomes are written to units.jsonl at least this often (seconds). Writing each outcome
#: on its own costs the parent ~20 µs per unit, as much as a short unit itself; a crash loses
#: at most this window, and ``--resume`` re-runs it.
FLUSH_INTERVAL_S = 0.05


class RunWriter:
    """Writes one run folder; outcomes reach the OS within FLUSH_INTERVAL_S of arriving."""

    def __init__(self, path: Path, meta: dict[str, Any], resume: bool = False):
        self.path = Path(path)
        self.meta = meta
        self._pending: list[str] = []
        self._last_flush = time.monotonic()
        if not resume:
            self.path.mkdir(parents=True, exist_ok=False)
        self._write_json("meta.json", meta)
        self._jsonl = open(self.path / "units.jsonl", "ab")

    @classmethod
    def create(cls, store_dir: Path, run_id: str, meta: dict[str, Any]) -> "RunWriter":
        """Create ``store_dir/run_id`` and write meta.json with state ``running``."""
        meta = {**meta, "run_id": run_id, "state": "running"}
        return cls(Path(store_dir) / run_id, meta)

    @classmethod
    def reopen(cls, path: Path) -> "RunWriter":
        """Reopen an interrupted run to append its missing outcomes."""
        meta = read_json(Path(path) / "meta.json")
        meta["state"] = "running"
        meta.setdefault("resumed", 0)
        meta["resumed"] += 1
        return cls(Path(path), meta, resume=True)

    def append(self, outcomes: Iterable[Outcome]) -> None:
        """Queue outcomes for units.jsonl; written when FLUSH_INTERVAL_S has passed."""
        # orjson: ~1 µs an outcome where the standard library takes ~10 µs, which at tens of
        # thousands of short units is a visible share of the parent's CPU
        self._pending.extend(orjson.dumps(o.__dict__, default=_json_default) for o in outcomes)
        if time.monotonic() - self._last_flush >= FLUSH_INTERVAL_S:
            self.flush()

    def flush(self) -> None:
        """Write every queued outcome to units.jsonl and hand it to the OS."""
        if self._pending:
            self._jsonl.write(b"\n".join(self._pending) + b"\n")
            self._jsonl.flush()
            self._pending = []
        self._last_flush = time.monotonic()

    def amend(self, key: tuple, **fields: Any) -> None:
        """Record later facts about an already written outcome (e.g. how long a leaked thread ran)."""
        record = {"amend": list(key), **fields}
        self.flush()
        self._jsonl.write(orjson.dumps(record, default=_json_default) + b"\n")
        self._jsonl.flush()

    def finish(self, summary: dict[str, Any], state: str = "complete") -> None:
        """Write units.parquet and summary.json and mark the run ``state``."""
        self.flush()
        self._jsonl.close()
        units = read_units_jsonl(self.path / "units.jsonl")
        units.to_parquet(self.path / "units.parquet", index=False)
        summary = {**summary, "units": int(len(units)),
                   "status_counts": {k: int(v) for k, v in units["status"].value_counts().items()}}
        self._write_json("summary.json", summary)
        self.meta["state"] = state
        self._write_json("meta.json", self.meta)

    def _write_json(self, name: str, data: dict[str, Any]) -> None:
        tmp = self.path / (name + ".tmp")
        tmp.write_text(json.dumps(data, indent=2, default=_json_default), encoding="utf-8")
        os.replace(tmp, self.path / name)  # atomic: a reader never sees half a file


def _json_default(value: Any) -> Any:
    """numpy scalars and paths as JSON values."""
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


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
    df = pd.DataFrame.from_records(records, columns=UNIT_COLUMNS)
    for rec in amends:
        key = tuple(rec.pop("amend"))
        mask = (df[KEY_COLUMNS] == pd.Series(key, index=KEY_COLUMNS)).all(axis=1)
        for col, value in rec.items():
            df.loc[mask, col] = value
    return _typed(df)


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    floats = ["queued", "started", "ended", "wall_s", "cpu_s", "leaked_s"]
    for col in floats:
        df[col] = pd.to_numeric(df[col], errors="coerce").astype("float64")
    df["index"] = df["index"].astype("int64")
    df["chunk"] = df["chunk"].astype("int64")
    df["attempt"] = df["attempt"].astype("int64")
    df["leaked"] = df["leaked"].fillna(False).astype(bool)
    df["match"] = df["match"].astype("object")
    return df


@dataclass
class Run:
    """A stored run: its folder, meta (config + environment), summary and units table."""

    path: Path
    meta: dict[str, Any]
    summary: dict[str, Any]
    units: pd.DataFrame = field(repr=False)

    @property
    def config(self) -> dict[str, Any]:
        return self.meta.get("config", {})

    @property
    def label(self) -> str:
        return self.config.get("label") or self.meta.get("run_id", self.path.name)


def load_run(path: str | os.PathLike) -> Run:
    """Load a run folder: units as a pandas DataFrame (one row per unit) with meta and summary.

    An interrupted run without units.parquet is read from units.jsonl.
    """
    path = Path(path)
    if not path.is_dir():
        raise PerfkitError(f"{path}: not a run folder")
    meta = read_json(path / "meta.json")
    summary_path = path / "summary.json"
    summary = read_json(summary_path) if summary_path.exists() else {}
    parquet = path / "units.parquet"
    units = _typed(pd.read_parquet(parquet)) if parquet.exists() else read_units_jsonl(path / "units.jsonl")
    return Run(path=path, meta=meta, summary=summary, units=units)


def recorded_keys(path: Path) -> set[tuple]:
    """Keys of the units already recorded in a run folder (for ``--resume``)."""
    df = read_units_jsonl(Path(path) / "units.jsonl")
    return set(map(tuple, df[KEY_COLUMNS].itertuples(index=False, name=None)))
