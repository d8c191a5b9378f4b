"""What a run is: solver × tasks × strategy × backend × workers × timeout policy × repeat.

``RunConfig.validate()`` is the one check of a configuration's values; it runs once per run,
before anything is written, and raises :class:`ConfigError` naming the field.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Optional, Sequence

from perfkit.model.errors import ConfigError

#: The run store every verb uses unless told otherwise (relative to the working directory).
DEFAULT_STORE = Path("reports/runs")
#: The reference configuration every comparison runs and every prediction starts from:
#: (strategy, backend, workers).
REFERENCE = ("sequential", "inline", 1)


@dataclass(frozen=True)
class TimeoutPolicy:
    """Per-unit running-time limit and optional budgets, all in seconds."""

    unit_timeout_s: float = 1.0
    sample_budget_s: Optional[float] = None
    task_budget_s: Optional[float] = None

    def validate(self) -> None:
        """Finite positive seconds everywhere (a budget may be None)."""
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None and f.name != "unit_timeout_s":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value <= 0:
                raise ConfigError(f"timeout.{f.name}", value, "expected a finite positive number of seconds")


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

    def validate(self) -> "RunConfig":
        """Check every value that needs no registry; returns self. Strategy, backend and solver
        names are checked by their registries when the run starts."""
        for name in ("solver", "tasks", "strategy", "backend"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(name, value, "expected a non-empty string")
        _positive_int("workers", self.workers)
        if self.chunk_size is not None:
            _positive_int("chunk_size", self.chunk_size)
        if isinstance(self.repeat, bool) or not isinstance(self.repeat, int) or self.repeat < 0:
            raise ConfigError("repeat", self.repeat, "expected an integer ≥ 0")
        if not isinstance(self.timeout, TimeoutPolicy):
            raise ConfigError("timeout", self.timeout, "expected a TimeoutPolicy")
        self.timeout.validate()
        if self.label is not None and not (isinstance(self.label, str) and is_path_segment(self.label)):
            raise ConfigError("label", self.label, "expected a plain name (no '/', not '.' or '..', no leading '.')")
        for name in ("solver_options", "backend_options"):
            value = getattr(self, name)
            if not isinstance(value, dict) or not all(isinstance(k, str) and k for k in value):
                raise ConfigError(name, value, "expected a mapping of option names to values")
        if not isinstance(self.plugins, tuple) or not all(isinstance(p, str) and p.strip() for p in self.plugins):
            raise ConfigError("plugins", self.plugins, "expected module names")
        return self

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready dict (meta.json ``config``)."""
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "RunConfig":
        """Rebuild a config from meta.json (for resume, the gate and the store's typed Run). A
        key that is no field (a typo: ``workerz``, ``timeout.unit_timeout``) is a ConfigError
        naming it, never dropped: the run would read as measured with the default."""
        data = dict(record)
        check_keys(data, [f.name for f in fields(cls)])
        timeout = data.get("timeout", {})
        if isinstance(timeout, dict):
            check_keys(timeout, [f.name for f in fields(TimeoutPolicy)], "timeout.")
        data["timeout"] = TimeoutPolicy(**timeout)
        data["plugins"] = tuple(data.get("plugins", ()))
        return cls(**data)

    @property
    def group(self) -> tuple[str, str, int]:
        """The repeat group of the run: (strategy, backend, workers)."""
        return (self.strategy, self.backend, self.workers)


def check_keys(record: dict[str, Any], known: Sequence[str], prefix: str = "") -> None:
    """Raise ConfigError naming the first key of ``record`` that is not in ``known`` (its
    field is ``prefix`` + the key), with the known key it is closest to."""
    for key in record:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            raise ConfigError(f"{prefix}{key}", reason="unknown key " + (
                f"(did you mean {close[0]!r}?)" if close else f"(known: {', '.join(known)})"))


def _positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(name, value, "expected an integer ≥ 1")


def is_path_segment(name: str) -> bool:
    """True for a name usable as one folder or file name (labels, baseline names)."""
    return bool(name) and "/" not in name and "\\" not in name and not name.startswith(".") and "\0" not in name
