"""Outcomes in batches, column by column: how outcomes travel from a worker to the store.

A worker records each unit it runs into a :class:`OutcomeBatch` (one array per field of
:class:`perfkit.model.Outcome`, not an object per unit) and sends one message per batch; the
runner de-duplicates, counts and stores whole batches (docs/design.md, "Layers": data flows one way). The
per-unit :class:`Outcome` stays the vocabulary for the rare outcomes a backend makes itself (a
killed or leaked unit) and for readers that want objects.

A Dask worker sends its batch *sealed*: the columns already encoded as one JSON object (what
the store appends), with the uids and the status counts the runner needs beside it; the
scheduler holds it as bytes. A process worker sends its rows as recorded instead and the
parent makes the batch (perfkit/backends/unit.py, ``BatchRecorder.rows``): made in the worker,
between units of a solver that owns its caches, a batch cost several times what it costs the
parent (docs/benchmarks.md, "Session 16: a batch's cost in a worker whose caches the solver
owns").
"""

from __future__ import annotations

import math
from itertools import chain, compress
from typing import Any, Iterable, Optional, Sequence

import numpy as np
import orjson

from perfkit.model.outcome import UNIT_COLUMNS, Outcome

#: Columns held as float64 arrays (NaN where an outcome has None).
FLOAT_COLUMNS: tuple[str, ...] = ("queued", "started", "ended", "wall_s", "cpu_s", "leaked_s")


class OutcomeBatch:
    """Outcomes of consecutive units as columns of equal length.

    ``columns`` maps every name of :data:`perfkit.model.UNIT_COLUMNS` to a sequence (strings,
    ints, booleans, None) or, for :data:`FLOAT_COLUMNS`, a float64 numpy array. ``uids`` is
    the run's integer identity of each row's unit (``WorkItem.uids``): the runner
    de-duplicates and counts with it, never with the key tuples. A sealed batch holds its
    columns encoded (:meth:`encode`) and decodes them only when someone reads ``columns``.
    """

    __slots__ = ("_columns", "uids", "_encoded", "_counts")

    def __init__(self, columns: Optional[dict[str, Any]] = None, uids: Optional[np.ndarray] = None,
                 encoded: Optional[bytes] = None, counts: Optional[dict[str, int]] = None):
        self._columns = columns
        self.uids = np.zeros(0, dtype=np.int64) if uids is None else uids
        self._encoded = encoded
        self._counts = counts

    def __reduce__(self) -> tuple:
        return (OutcomeBatch, (self._columns, self.uids, self._encoded, self._counts))

    def __len__(self) -> int:
        return len(self.uids)

    @property
    def columns(self) -> dict[str, Any]:
        """The columns (decoded from the encoding of a sealed batch on first use)."""
        if self._columns is None:
            raw = orjson.loads(self._encoded) if self._encoded else {name: [] for name in UNIT_COLUMNS}
            for name in FLOAT_COLUMNS:
                raw[name] = np.array([math.nan if v is None else v for v in raw[name]], dtype=np.float64)
            self._columns = raw
        return self._columns

    def encode(self) -> bytes:
        """The columns as one JSON object (floats exact, NaN as null), made once."""
        if self._encoded is None:
            self._encoded = orjson.dumps(self._columns, default=_json_default, option=orjson.OPT_SERIALIZE_NUMPY)
        return self._encoded

    def sealed(self) -> "OutcomeBatch":
        """What a worker sends: the encoding, the uids and the status counts, no columns."""
        return OutcomeBatch(None, self.uids, self.encode(), self.status_counts())

    @classmethod
    def from_outcomes(cls, outcomes: Sequence[Outcome], uids: Iterable[int]) -> "OutcomeBatch":
        """A batch of outcome objects (a backend's own outcomes: killed, crashed, leaked units)."""
        columns: dict[str, Any] = {name: [getattr(o, name) for o in outcomes] for name in UNIT_COLUMNS}
        for name in FLOAT_COLUMNS:
            columns[name] = np.array([math.nan if v is None else v for v in columns[name]], dtype=np.float64)
        return cls(columns, np.fromiter(uids, dtype=np.int64, count=len(outcomes)))

    @classmethod
    def empty(cls) -> "OutcomeBatch":
        """A batch with no rows."""
        return cls.from_outcomes([], [])

    def outcomes(self) -> list[Outcome]:
        """The rows as :class:`Outcome` objects (a convenience for tests and notebooks; the hot
        path never builds them)."""
        cols = [self.columns[name] for name in UNIT_COLUMNS]
        out = []
        for row in zip(*cols):
            values = [None if isinstance(v, float) and math.isnan(v) else v for v in row]
            out.append(Outcome(*values))
        return out

    def take(self, mask: np.ndarray) -> "OutcomeBatch":
        """The rows where ``mask`` (a boolean array) is True."""
        columns = {}
        for name, col in self.columns.items():
            columns[name] = col[mask] if isinstance(col, np.ndarray) else list(compress(col, mask))
        return OutcomeBatch(columns, self.uids[mask])

    def status_counts(self) -> dict[str, int]:
        """Rows per status."""
        if self._counts is None:
            status = self.columns["status"]
            self._counts = {s: status.count(s) for s in dict.fromkeys(status)}  # all C, few statuses
        return self._counts

    @staticmethod
    def concat(batches: Sequence["OutcomeBatch"]) -> "OutcomeBatch":
        """One batch with the rows of ``batches`` in order."""
        if len(batches) == 1:
            return batches[0]
        columns: dict[str, Any] = {}
        for name in UNIT_COLUMNS:
            parts = [b.columns[name] for b in batches]
            if name in FLOAT_COLUMNS:
                columns[name] = np.concatenate(parts) if parts else np.zeros(0)
            else:
                columns[name] = list(chain.from_iterable(parts))
        uids = np.concatenate([b.uids for b in batches]) if batches else np.zeros(0, dtype=np.int64)
        return OutcomeBatch(columns, uids)


def _json_default(value: Any) -> Any:
    """numpy scalars as JSON values."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
