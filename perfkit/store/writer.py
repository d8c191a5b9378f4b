"""Writing one run folder (perfkit/store/layout.py): meta.json first, outcomes appended to
units.jsonl a batch at a time as they arrive, units.parquet and summary.json when the run ends.

A batch is one line, its columns as JSON arrays (``{"columns": {"task_id": [...], ...}}``):
append-only and crash-safe like a line per outcome (a torn last line is skipped by the reader,
and a resume cuts it and re-runs its units), but written with one orjson call per batch — ~0.3 µs
per outcome, as cheap as an Arrow IPC stream measured on the same batches (docs/benchmarks.md) —
while keeping the file, its tools and every older run folder readable as before.

What a writer guarantees whatever happens around it (docs/design.md, "The run store"):

- one writer per folder: the folder is locked while it is written (perfkit/store/lock.py);
- the folder's path is absolute, taken once: a solver's ``os.chdir`` cannot move the store;
- units.jsonl only ever holds whole records followed by a newline, or a torn tail that readers
  skip: a resume truncates that tail before appending, and a write that fails (a full disk)
  keeps the whole records that fit and cuts the torn one;
- a full disk ends the run ``failed``: a small reserve file kept beside the run is freed so
  that meta.json and summary.json can still say so, and what was written stays readable and
  resumable.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import orjson

from perfkit.model import Outcome, OutcomeBatch, StoreError
from perfkit.store.layout import META, RESERVE, SUMMARY, UNITS_JSONL, UNITS_PARQUET
from perfkit.store.lock import RunLock
from perfkit.store.reader import read_json, read_units_jsonl, scan_units_jsonl
from perfkit.store.run import RunSummary

#: Outcomes given one by one (``append``) reach units.jsonl at least this often (seconds);
#: batches (``append_batch``) are written as they come.
FLUSH_INTERVAL_S = 0.05
#: Bytes kept on the disk while a run is written (at least; 4× meta.json when that is larger),
#: released on a full disk so that the run's end (meta.json, summary.json) can be written.
RESERVE_BYTES = 64 * 1024


class RunWriter:
    """Writes one run folder; every batch reaches the OS as it arrives."""

    def __init__(self, path: Path, meta: dict[str, Any], resume: bool = False, lock: Optional[RunLock] = None):
        self.path = Path(os.path.abspath(path))  # captured once: a solver's chdir cannot move it
        self.meta = meta
        #: What the writer had to work around (a torn tail cut at resume, a parquet not written).
        self.notes: list[str] = []
        self._pending: list[Outcome] = []
        self._last_flush = time.monotonic()
        self._fd: Optional[int] = None
        if not resume:
            try:
                self.path.mkdir(parents=True, exist_ok=False)
            except OSError as exc:
                raise StoreError(self.path.parent, f"cannot create the run folder: {_reason(exc)}") from None
        self._lock = lock if lock is not None else RunLock.acquire(self.path)
        try:
            whole = self._cut_torn_tail() if resume else 0
            self._reserve()
            self._write_json(META, meta)
            self._fd = os.open(self.path / UNITS_JSONL, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            self._whole = whole  # bytes of units.jsonl up to its last whole record
        except BaseException:
            self._lock.release()
            if not resume:  # nothing was recorded: leave no half-made folder behind
                shutil.rmtree(self.path, ignore_errors=True)
            raise

    @classmethod
    def create(cls, store_dir: Path, run_id: str, meta: dict[str, Any]) -> "RunWriter":
        """Create ``store_dir/run_id`` (locked) and write meta.json with state ``running``."""
        meta = {**meta, "run_id": run_id, "state": "running"}
        return cls(Path(store_dir) / run_id, meta)

    @classmethod
    def reopen(cls, path: Path, lock: Optional[RunLock] = None) -> "RunWriter":
        """Reopen an interrupted run to append its missing outcomes; ``lock``: the run's lock
        when the caller already holds it (taken before reading what was recorded)."""
        meta = read_json(Path(path) / META)
        meta["state"] = "running"
        meta.setdefault("resumed", 0)
        meta["resumed"] += 1
        return cls(Path(path), meta, resume=True, lock=lock)

    # -- appending ------------------------------------------------------------------------

    def append_batch(self, batch: OutcomeBatch) -> None:
        """Append a batch to units.jsonl as one line of columns and hand it to the OS; raises
        StoreError (the file cut back to its last whole record) when the disk refuses."""
        if len(batch):
            self.flush()
            self._write_records(b'{"columns":' + batch.encode() + b"}\n")

    def append(self, outcomes: Iterable[Outcome]) -> None:
        """Queue outcome objects (a backend's own, a test's); written as one batch when
        FLUSH_INTERVAL_S has passed."""
        self._pending.extend(outcomes)
        if time.monotonic() - self._last_flush >= FLUSH_INTERVAL_S:
            self.flush()

    def flush(self) -> None:
        """Write every queued outcome to units.jsonl and hand it to the OS; raises StoreError
        (the file cut back to its last whole record) when the disk refuses."""
        if self._pending:
            pending, self._pending = self._pending, []
            self.append_batch(OutcomeBatch.from_outcomes(pending, range(len(pending))))
        self._last_flush = time.monotonic()

    def amend(self, key: tuple, **fields: Any) -> None:
        """Record later facts about an already written outcome (e.g. how long a leaked thread ran)."""
        self.flush()
        self._write_records(orjson.dumps({"amend": list(key), **fields}, default=_json_default) + b"\n")

    def _write_records(self, data: bytes) -> None:
        if self._fd is None:
            raise StoreError(self.path / UNITS_JSONL, "the run folder is closed")
        written = 0
        try:
            while written < len(data):  # os.write may write less than asked (a disk filling up)
                written += os.write(self._fd, memoryview(data)[written:])
        except OSError as exc:
            # keep the whole records that fit, cut the torn one: the file ends with a whole record
            whole = data.rfind(b"\n", 0, written) + 1
            try:
                os.ftruncate(self._fd, self._whole + whole)
                self._whole += whole
            except OSError:
                pass  # readers and a resume skip a torn tail anyway
            raise StoreError(self.path / UNITS_JSONL, f"cannot append outcomes: {_reason(exc)}") from None
        self._whole += len(data)

    # -- the end --------------------------------------------------------------------------

    def finish(self, summary: RunSummary, last: Optional[Callable[[], dict[str, Any]]] = None) -> None:
        """Write units.parquet and summary.json (its unit counts taken from the units written),
        mark the run with the summary's state and release the folder. ``last()``, called once
        the table is written, gives the summary's last fields (the whole command's teardown
        ends there).

        Outcomes that cannot be written any more (a full disk) turn the state into ``failed``;
        a units.parquet that cannot be written is left out (readers use units.jsonl). Raises
        StoreError when meta.json or summary.json cannot be written either."""
        try:
            self._finish(summary, last)
        finally:
            self._release_reserve()
            self._lock.release()

    def _finish(self, summary: RunSummary, last: Optional[Callable[[], dict[str, Any]]]) -> None:
        try:
            self.flush()
        except StoreError as exc:
            summary = replace(summary, state="failed", error=summary.error or str(exc))
        self.close()
        units = read_units_jsonl(self.path / UNITS_JSONL)
        try:
            self._write_atomic(UNITS_PARQUET, lambda tmp: units.to_parquet(tmp, index=False))
        except StoreError as exc:
            self.notes.append(f"units.parquet not written ({exc.reason}); readers use units.jsonl")
        if last is not None:
            summary = replace(summary, **last())
        self._release_reserve()  # room for the two files that say how the run ended
        record = {**summary.to_record(), "units": int(len(units)),
                  "status_counts": {k: int(v) for k, v in units["status"].value_counts().items()}}
        self.meta["state"] = summary.state
        if self.notes:
            self.meta["notes"] = self.meta.get("notes", []) + self.notes
        # meta.json first: on a disk with room for one file only, the state is what matters
        self._write_json(META, self.meta)
        self._write_json(SUMMARY, record)

    def close(self) -> None:
        """Close units.jsonl (idempotent); the lock is kept until :meth:`finish`."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    # -- files ----------------------------------------------------------------------------

    def _cut_torn_tail(self) -> int:
        """Truncate units.jsonl after its last whole record (a resume appends there); returns
        its new length."""
        jsonl = self.path / UNITS_JSONL
        if not jsonl.exists():
            return 0
        scan = scan_units_jsonl(jsonl)
        size = jsonl.stat().st_size
        try:
            with open(jsonl, "r+b") as fh:
                if scan.whole_bytes < size:
                    fh.truncate(scan.whole_bytes)
                    self.notes.append(f"resume cut {size - scan.whole_bytes} bytes after the last whole record "
                                      "of units.jsonl")
                if scan.needs_newline:
                    fh.seek(0, os.SEEK_END)
                    fh.write(b"\n")
                    return scan.whole_bytes + 1
        except OSError as exc:
            raise StoreError(jsonl, f"cannot cut its torn tail: {_reason(exc)}") from None
        return scan.whole_bytes

    def _reserve(self) -> None:
        # hand-written ballast: no library keeps disk space for later; os.posix_fallocate
        # makes the blocks real (a sparse file would free nothing)
        size = max(RESERVE_BYTES, 4 * len(json.dumps(self.meta, default=_json_default)))
        try:
            fd = os.open(self.path / RESERVE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.posix_fallocate(fd, 0, size)
            finally:
                os.close(fd)
        except OSError as exc:
            raise StoreError(self.path, f"no room to write the run: {_reason(exc)}") from None

    def _release_reserve(self) -> None:
        try:
            os.unlink(self.path / RESERVE)
        except OSError:
            pass

    def _write_json(self, name: str, data: dict[str, Any]) -> None:
        text = json.dumps(data, indent=2, default=_json_default)
        self._write_atomic(name, lambda tmp: tmp.write_text(text, encoding="utf-8"))

    def _write_atomic(self, name: str, write: Any) -> None:
        _write_atomic(self.path / name, write)


def amend_summary(path: Path, **fields: Any) -> None:
    """Set ``fields`` in the summary.json of the finished run folder ``path`` (the exit span of
    the whole command is known only after the run was written). Raises StoreError, or
    RunLocked when a resume of the run has begun meanwhile (summary.json is then its own)."""
    lock = RunLock.acquire(Path(path))
    try:
        summary = read_json(Path(path) / SUMMARY)
        text = json.dumps({**summary, **fields}, indent=2, default=_json_default)
        _write_atomic(Path(path) / SUMMARY, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    finally:
        lock.release()


def _write_atomic(path: Path, write: Any) -> None:
    """Write ``path`` through a temporary file renamed over it: a reader never sees half a
    file, and a failed write leaves the previous version."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except (OSError, ValueError) as exc:  # pyarrow's errors derive from these two
        try:
            tmp.unlink()
        except OSError:
            pass
        raise StoreError(path, f"cannot write: {_reason(exc)}") from None


def _reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _json_default(value: Any) -> Any:
    """numpy scalars and paths as JSON values."""
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
