"""Writing one run folder (perfkit/store/layout.py): meta.json first, outcomes appended to
units.jsonl as they arrive, units.parquet and summary.json when the run ends."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Iterable

import orjson

from perfkit.model import Outcome
from perfkit.store.layout import META, SUMMARY, UNITS_JSONL, UNITS_PARQUET
from perfkit.store.reader import read_json, read_units_jsonl
from perfkit.store.run import RunSummary

#: Outcomes are written to units.jsonl at least this often (seconds). Writing each outcome
#: on its own costs the parent ~20 µs per unit, as much as a short unit itself; a crash loses
#: at most this window, and a resume re-runs it.
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
        self._write_json(META, meta)
        self._jsonl = open(self.path / UNITS_JSONL, "ab")

    @classmethod
    def create(cls, store_dir: Path, run_id: str, meta: dict[str, Any]) -> "RunWriter":
        """Create ``store_dir/run_id`` and write meta.json with state ``running``."""
        meta = {**meta, "run_id": run_id, "state": "running"}
        return cls(Path(store_dir) / run_id, meta)

    @classmethod
    def reopen(cls, path: Path) -> "RunWriter":
        """Reopen an interrupted run to append its missing outcomes."""
        meta = read_json(Path(path) / META)
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

    def finish(self, summary: RunSummary) -> None:
        """Write units.parquet and summary.json (its unit counts taken from the units written)
        and mark the run with the summary's state."""
        self.flush()
        self._jsonl.close()
        units = read_units_jsonl(self.path / UNITS_JSONL)
        units.to_parquet(self.path / UNITS_PARQUET, index=False)
        record = {**summary.to_record(), "units": int(len(units)),
                  "status_counts": {k: int(v) for k, v in units["status"].value_counts().items()}}
        self._write_json(SUMMARY, record)
        self.meta["state"] = summary.state
        self._write_json(META, self.meta)

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
