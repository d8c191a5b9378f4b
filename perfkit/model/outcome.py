"""Outcomes: the one recorded result of every unit, and the grid rules that decide ``ok``.

A *unit* is one candidate evaluated on one sample; its identity is :data:`UNIT_KEY`.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

#: The outcome statuses, in the order reports list them (docs/design.md, "Vocabulary").
STATUSES: tuple[str, ...] = ("ok", "error", "timeout", "crashed", "skipped")
#: Statuses whose unit actually ran, so that its wall and CPU mean something.
RAN_STATUSES: tuple[str, ...] = ("ok", "error", "timeout")
#: The columns that identify a unit in every table of the store.
UNIT_KEY: tuple[str, ...] = ("task_id", "split", "index", "candidate")
#: The columns that identify a sample.
SAMPLE_KEY: tuple[str, ...] = ("task_id", "split", "index")

#: A sample-level unit (opaque solvers) carries this in place of a candidate id; no solver's
#: candidate may be called so (:func:`candidate_id_problem`).
WHOLE_SAMPLE = "*"


def finished_late(units: Any) -> Any:
    """Which rows of a units table (``status``, ``error_type`` columns) are timeouts whose unit
    returned by itself after its deadline — a result after the deadline is a ``timeout``
    (perfkit/backends/unit.py records it with no error type) — rather than stopped there: what
    stops a unit (DeadlineExceeded, the alarm's HardTimeout, a killed worker, a leaked thread)
    carries its type. A late finisher did its whole work: its CPU is its cost, not a lower bound."""
    return (units["status"] == "timeout") & units["error_type"].isna()


def sample_level_run(units: Any) -> bool:
    """Whether a units table (``task_id``, ``split``, ``index``, ``candidate``, ``started``) is an
    opaque solver's run: every sample's outcomes come from one evaluation of the whole sample
    (one start), the only unit of work such a solver offers (only sample-level strategies apply)."""
    if (units["candidate"] == WHOLE_SAMPLE).any():
        return True
    key = list(SAMPLE_KEY)
    started = units.dropna(subset=["started"]).groupby(key)["started"].nunique()
    sizes = units.groupby(key).size()
    return bool(len(started)) and bool((started == 1).all()) and bool((sizes > 1).all())


def candidate_id_problem(candidate: Any) -> Optional[str]:
    """What is wrong with a candidate id a solver gave (from ``candidates()`` or as a key of
    ``solve_sample``'s mapping), or None when it is usable: a non-empty string other than the
    whole-sample marker :data:`WHOLE_SAMPLE`."""
    if not isinstance(candidate, str):
        return f"candidate ids must be strings, got {type(candidate).__name__} {candidate!r:.80}"
    if not candidate:
        return "candidate ids must not be empty"
    if candidate == WHOLE_SAMPLE:
        return f"{WHOLE_SAMPLE!r} is reserved for a whole sample; use another candidate id"
    return None


@dataclass
class Outcome:
    """The one recorded result of a unit. Times are seconds on the run's monotonic clock."""

    task_id: str
    split: str
    index: int
    candidate: str
    status: str
    output_hash: Optional[str] = None
    match: Optional[bool] = None
    error_type: Optional[str] = None
    error_message: Optional[str] = None
    queued: Optional[float] = None
    started: Optional[float] = None
    ended: Optional[float] = None
    wall_s: Optional[float] = None
    cpu_s: Optional[float] = None
    worker: str = "main"
    #: The planned work item of the unit (unique within a run; a re-queued piece keeps it, and
    #: so does a unit of an item the runner joined from several: docs/design.md, "Strategies").
    chunk: int = 0
    attempt: int = 1
    #: Seconds the work kept running after its deadline when nothing could stop it (threads).
    leaked_s: Optional[float] = None
    #: True when the unit's work was not stopped at its deadline (thread backend).
    leaked: bool = False
    #: The strategy stage of its task the unit belonged to (stages run one after another).
    stage: int = 0

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready dict (one line of units.jsonl)."""
        return dict(self.__dict__)  # every field is a scalar; asdict() deep-copies at 10× the cost

    @property
    def key(self) -> tuple[str, str, int, str]:
        """The unit's identity (see :data:`UNIT_KEY`)."""
        return (self.task_id, self.split, self.index, self.candidate)

    def __reduce__(self) -> tuple:
        # positional state pickles at half the cost of the default __dict__ state, and every
        # outcome of a process or Dask worker crosses a pipe
        return (Outcome, tuple(self.__dict__.values()))


#: The columns of a unit table, in record order.
UNIT_COLUMNS: tuple[str, ...] = tuple(Outcome.__dataclass_fields__)


def as_grid(value: Any) -> np.ndarray:
    """A solver's output as a 2-D uint8 array; raises ValueError when it is not a grid."""
    arr = np.asarray(value)
    if arr.ndim != 2 or arr.size == 0:
        raise ValueError(f"output is not a non-empty 2-D grid (shape {arr.shape})")
    if arr.dtype == np.uint8:  # the common case: one reduction instead of two
        if arr.max() > 9:
            raise ValueError("output cells must be integers 0..9")
        return arr
    if arr.dtype.kind not in "iu" or arr.min() < 0 or arr.max() > 9:
        raise ValueError("output cells must be integers 0..9")
    return arr.astype(np.uint8)


def grid_hash(grid: np.ndarray) -> str:
    """A stable 16-hex-digit hash of a grid's shape and cells (same in every process)."""
    g = np.ascontiguousarray(grid, dtype=np.uint8)
    h = hashlib.blake2b(digest_size=8)
    h.update(np.asarray(g.shape, dtype=np.int64).tobytes())
    h.update(g.tobytes())
    return h.hexdigest()


_SHAPE = struct.Struct("=qq")  # the two int64 of a grid's shape, as grid_hash hashes them
_CELLS = bytes(range(10))
_U8 = np.dtype(np.uint8)
#: A hasher that has read each grid shape seen (shape -> blake2b): copying it is cheaper than
#: hashing the shape again. ARC grids have at most 30 × 30 shapes; a stranger solver's are capped.
_HASH_OF_SHAPE: dict[tuple[int, ...], Any] = {}


def output_hash(value: Any) -> str:
    """``grid_hash(as_grid(value))`` — the same hash, the same ValueError/TypeError for a value
    that is not a grid — in ~0.5 µs for the common case (a 2-D uint8 array), where the two
    numpy reductions of as_grid alone cost ~3 µs: this runs once per unit in every worker."""
    if type(value) is np.ndarray and (value.dtype is _U8 or value.dtype == _U8):
        shape = value.shape
        if len(shape) == 2 and shape[0] and shape[1]:
            cells = value.tobytes()  # C order whatever the array's layout, as grid_hash reads it
            if cells.translate(None, _CELLS):  # any byte left is a cell outside 0..9
                raise ValueError("output cells must be integers 0..9")
            base = _HASH_OF_SHAPE.get(shape)
            if base is None:
                if len(_HASH_OF_SHAPE) > 4096:
                    _HASH_OF_SHAPE.clear()
                base = _HASH_OF_SHAPE[shape] = hashlib.blake2b(_SHAPE.pack(*shape), digest_size=8)
            h = base.copy()
            h.update(cells)
            return h.hexdigest()
    return grid_hash(as_grid(value))
