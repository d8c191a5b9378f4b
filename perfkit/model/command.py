"""The whole command as plain data: consecutive spans of wall and CPU that add up to it
(docs/design.md, "The whole command").

A ``perfkit run`` command goes: start-up (interpreter, imports, loading the tasks, building the
solver, opening the run folder) → worker start → the run window (first dispatch to last
outcome, what strategies are compared on) → teardown (stopping the workers, writing the store)
→ exit (the command's output, stopping multiprocessing's helpers, leaving). Each span has the
wall it took and the CPU the whole process tree used meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

START_UP, WORKER_START, RUN_WINDOW, TEARDOWN, EXIT = "start-up", "worker start", "run window", "teardown", "exit"
#: The spans of a command, in the order they happen.
SPANS = (START_UP, WORKER_START, RUN_WINDOW, TEARDOWN, EXIT)
#: Where a run's whole-command figures start: at the start of its process (``perfkit run``)
#: or at the call of ``perfkit.run`` (a notebook, the runs of ``perfkit compare``).
ORIGINS = ("process", "call")


@dataclass(frozen=True)
class Span:
    """One stretch of a command: its wall and the CPU of the whole process tree meanwhile
    (seconds)."""

    name: str
    wall_s: float
    cpu_s: float

    def to_record(self) -> dict[str, Any]:
        """The JSON-ready dict stored in summary.json."""
        return {"name": self.name, "wall_s": self.wall_s, "cpu_s": self.cpu_s}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "Span":
        """From its summary.json dict."""
        return cls(str(record["name"]), float(record["wall_s"]), float(record["cpu_s"]))
