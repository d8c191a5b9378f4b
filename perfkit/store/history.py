"""The history of measurements: one JSON line per measured figure, appended to
``<store>/history.jsonl`` by every gate and baseline measurement, read by ``perfkit history``.

A record: ``time`` (ISO 8601), ``commit`` (the code measured; ``-dirty`` when uncommitted
changes were measured), ``benchmark`` (what ran: solver, tasks, strategy, backend, workers),
``metric`` (``instructions``, ``cpu``, ``wall``), ``value`` (instructions, or seconds),
``source`` (``gate``, ``baseline``) and ``build`` (a short digest of what instruction counts
depend on: counts of different builds are different series).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Optional

from perfkit.model import PerfkitError

HISTORY = "history.jsonl"


@dataclass(frozen=True)
class HistoryRecord:
    """One measured figure of one commit."""

    time: str
    commit: str
    benchmark: str
    metric: str
    value: float
    source: str
    build: str = ""


def benchmark_name(config: dict[str, Any]) -> str:
    """What ran, as a short readable key: ``arc arc1-training:3 sequential/inline×1``."""
    return (f"{config.get('solver')} {config.get('tasks')} {config.get('strategy')}/{config.get('backend')}"
            f"×{config.get('workers')}")


def build_digest(build: dict[str, Any]) -> str:
    """Eight hex digits naming a build (empty for no build)."""
    if not build:
        return ""
    return hashlib.sha256(json.dumps(build, sort_keys=True).encode()).hexdigest()[:8]


def now() -> str:
    """The current time as recorded in the history."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def append_history(store: Path, records: Iterable[HistoryRecord]) -> Path:
    """Append ``records`` to ``store/history.jsonl`` (one line each, flushed together)."""
    path = Path(store) / HISTORY
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps(asdict(r)) + "\n" for r in records)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(lines)
    return path


def read_history(store: Path, metric: Optional[str] = None, benchmark: Optional[str] = None) -> list[HistoryRecord]:
    """The history's records, oldest first, optionally of one metric and one benchmark. A
    malformed line is one clear line naming the file and the line."""
    path = Path(store) / HISTORY
    if not path.exists():
        return []
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = HistoryRecord(**json.loads(line))
        except (json.JSONDecodeError, TypeError) as exc:
            raise PerfkitError(f"{path}: line {number}: not a history record: {exc}") from None
        if (metric is None or record.metric == metric) and (benchmark is None or record.benchmark == benchmark):
            records.append(record)
    return records
