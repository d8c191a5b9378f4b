"""Outcomes in batches, column by column: how outcomes travel from a worker to the store.

A worker records each unit it runs into a :class:`OutcomeBatch` (one array per field of
:class:`perfkit.model.Outcome`, not an object per unit) and sends one message per batch; the
runner de-duplicates, counts and stores whole batches (docs/design.md, "Data flow"). The
per-unit :class:`Outcome` stays the vocabulary for the rare outcomes a backend makes itself (a
killed or leaked unit) and for readers that want objects.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from itertools import chain, compress
from typing import Any, Iterable, Sequence

import numpy as np

from perfkit.model.outcome import UNIT_COLUMNS, Outcome

#: Columns held as float64 arrays (NaN where an outcome has None).
FLOAT_COLUMNS: tuple[str, ...] = ("queued", "started", "ended", "wall_s", "cpu_s", "leaked_s")


@dataclass
class OutcomeBatch:
    """Outcomes of consecutive units as columns of equal length.

    ``columns`` maps every name of :data:`perfkit.model.UNIT_COLUMNS` to a list (strings,
    ints, booleans, None) or, for :data:`FLOAT_COLUMNS`, a float64 numpy array. ``uids`` is
    the run's integer identity of each row's unit (``WorkItem.uids``): the runner
    de-duplicates and counts with it, never with the key tuples.
    """

    columns: dict[str, Any]
    uids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.uids)

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
        return dict(Counter(self.columns["status"]))

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
