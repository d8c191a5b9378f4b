"""Where runs live: the store folder, one folder per run, and the names of its files.

```
<store>/<run-id>/meta.json       config + environment + state (running, complete, interrupted, failed)
<store>/<run-id>/units.jsonl     one outcome per line, appended as outcomes arrive (crash-safe)
<store>/<run-id>/units.parquet   the tidy table, written when the run ends
<store>/<run-id>/summary.json    run-level measurements
<store>/<run-id>/battery/        a battery solver's own scores, one file per worker (written by
                                 the solver itself: perfkit/solvers/batt.py owns its format)
```
"""

from __future__ import annotations

import secrets
import time

from perfkit.model.config import DEFAULT_STORE

META = "meta.json"
UNITS_JSONL = "units.jsonl"
UNITS_PARQUET = "units.parquet"
SUMMARY = "summary.json"


def new_run_id(label: str | None, strategy: str, backend: str, workers: int, repeat: int) -> str:
    """A sortable, readable, unique run folder name."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = "-".join(p for p in [label, strategy, backend, f"w{workers}", f"r{repeat}"] if p)
    return f"{stamp}-{name}-{secrets.token_hex(2)}"

__all__ = ["DEFAULT_STORE", "META", "SUMMARY", "UNITS_JSONL", "UNITS_PARQUET", "new_run_id"]
