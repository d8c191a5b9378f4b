"""The vocabulary of DESIGN.md as plain data: tasks, samples, units and outcomes.

Everything here is a frozen dataclass or a constant; nothing runs work. Every other layer
imports from this module and never the other way round.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, asdict
from typing import Any, Literal, Optional

import numpy as np

Split = Literal["demo", "test"]

#: The outcome statuses of DESIGN.md, in the order reports list them.
STATUSES: tuple[str, ...] = ("ok", "error", "timeout", "crashed", "skipped")

#: A sample-level unit (opaque solvers) carries this in place of a candidate id.
WHOLE_SAMPLE = "*"


@dataclass(frozen=True)
class Sample:
    """One (task_id, split, index) with its grids; ``output`` is None when unknown."""

    task_id: str
    split: Split
    index: int
    input: np.ndarray
    output: Optional[np.ndarray] = None

    @property
    def key(self) -> str:
        """Readable label such as ``demo[4]``."""
        return f"{self.split}[{self.index}]"


@dataclass(frozen=True)
class Task:
    """An ARC-format task: demo (``train``) and test samples."""

    id: str
    demo: tuple[Sample, ...]
    test: tuple[Sample, ...]
    source: str = ""

    @property
    def samples(self) -> tuple[Sample, ...]:
        """Demo samples first, then test samples: the order every strategy walks."""
        return self.demo + self.test

    def sample(self, split: str, index: int) -> Sample:
        """The sample ``split[index]``."""
        return (self.demo if split == "demo" else self.test)[index]


@dataclass(frozen=True)
class UnitKey:
    """Identity of one unit: one candidate on one sample (``candidate == WHOLE_SAMPLE`` for
    the sample-level unit of an opaque solver)."""

    task_id: str
    split: Split
    index: int
    candidate: str

    def as_tuple(self) -> tuple[str, str, int, str]:
        return (self.task_id, self.split, self.index, self.candidate)


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
    chunk: int = 0
    attempt: int = 1
    #: Seconds the work kept running after its deadline when nothing could stop it (threads).
    leaked_s: Optional[float] = None
    #: True when the unit's work was not stopped at its deadline (thread backend).
    leaked: bool = False

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready dict (one line of units.jsonl)."""
        return dict(self.__dict__)  # every field is a scalar; asdict() deep-copies at 10× the cost

    @property
    def key(self) -> tuple[str, str, int, str]:
        return (self.task_id, self.split, self.index, self.candidate)

    def __reduce__(self) -> tuple:
        # positional state pickles at half the cost of the default __dict__ state, and every
        # outcome of a process or Dask worker crosses a pipe
        return (Outcome, tuple(self.__dict__.values()))


@dataclass(frozen=True)
class TimeoutPolicy:
    """Per-unit running-time limit and optional budgets, all in seconds."""

    unit_timeout_s: float = 1.0
    sample_budget_s: Optional[float] = None
    task_budget_s: Optional[float] = None


@dataclass(frozen=True)
class RunConfig:
    """What a run is: solver × tasks × strategy × backend × workers × timeouts × repeat."""

    solver: str
    tasks: str
    strategy: str = "sequential"
    backend: str = "inline"
    workers: int = 1
    chunk_size: Optional[int] = None
    timeout: TimeoutPolicy = field(default_factory=TimeoutPolicy)
    label: Optional[str] = None
    repeat: int = 0
    solver_options: dict[str, Any] = field(default_factory=dict)
    #: Modules imported before the run and in every worker (user strategies, solver registries).
    plugins: tuple[str, ...] = ()
    #: Backend keyword options, e.g. ``{"scheduler": "tcp://host:8786"}`` for dask.
    backend_options: dict[str, Any] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "RunConfig":
        """Rebuild a config from meta.json (for ``--resume`` and the gate)."""
        data = dict(record)
        data["timeout"] = TimeoutPolicy(**data.get("timeout", {}))
        data["plugins"] = tuple(data.get("plugins", ()))
        return cls(**data)


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


class DeadlineExceeded(TimeoutError):
    """Raised by a solver that checked its deadline and stopped itself (cooperative timeout)."""
