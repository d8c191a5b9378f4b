"""Where runs live: the store folder, one folder per run, and the names of its files.

```
<store>/<run-id>/meta.json       config + environment + state (running, complete, interrupted, failed)
<store>/<run-id>/units.jsonl     one outcome per line, appended as outcomes arrive (crash-safe)
<store>/<run-id>/units.parquet   the tidy table, written when the run ends
<store>/<run-id>/summary.json    run-level measurements
<store>/<run-id>/solver-table/   a solver's own per-sample records (a battery's scores), one file
                                 per worker, written by the solver (perfkit/solvers/table.py)
<store>/<run-id>/writer.lock     locked by the perfkit writing the run (perfkit/store/lock.py)
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
#: Held (flock) by the one perfkit writing the folder; see perfkit/store/lock.py.
LOCK = "writer.lock"
#: Room kept on the disk while a run is written, freed to write its end on a full disk.
RESERVE = "reserve"


def new_run_id(label: str | None, strategy: str, backend: str, workers: int, repeat: int) -> str:
    """A sortable, readable, unique run folder name."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = "-".join(p for p in [label, strategy, backend, f"w{workers}", f"r{repeat}"] if p)
    return f"{stamp}-{name}-{secrets.token_hex(2)}"

__all__ = ["DEFAULT_STORE", "LOCK", "META", "RESERVE", "SUMMARY", "UNITS_JSONL", "UNITS_PARQUET", "new_run_id"]
