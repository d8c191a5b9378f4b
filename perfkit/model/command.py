"""The whole command as plain data: consecutive spans of wall and CPU that add up to it
(docs/design.md, "The whole command").

A ``perfkit run`` command goes through five phases: start-up (interpreter and imports, loading
the tasks, building the solver, the run folder and the calibration workload) → worker start →
the run window (first dispatch to last outcome, what strategies are compared on) → teardown
(stopping the workers, writing the store) → exit (the command's output, stopping
multiprocessing's helpers, leaving). It is measured in the spans named in the parentheses, each
with the wall it took and the CPU the whole process tree used meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# the phases of a command
START_UP, WORKER_START, RUN_WINDOW, TEARDOWN, EXIT = "start-up", "worker start", "run window", "teardown", "exit"
PHASES = (START_UP, WORKER_START, RUN_WINDOW, TEARDOWN, EXIT)
# the spans a command is measured in; a phase of one span has its name
IMPORTS, TASKS, SOLVER, RUN_FOLDER = "interpreter and imports", "loading tasks", "building the solver", \
    "run folder and calibration"
STOPPING, STORE = "stopping the workers", "writing the store"
#: Every span in the order it happens, with its phase. "interpreter and imports" only when the
#: figures start at the process start.
PHASE_OF = {IMPORTS: START_UP, TASKS: START_UP, SOLVER: START_UP, RUN_FOLDER: START_UP,
            WORKER_START: WORKER_START, RUN_WINDOW: RUN_WINDOW, STOPPING: TEARDOWN, STORE: TEARDOWN, EXIT: EXIT}
SPANS = tuple(PHASE_OF)
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

    @property
    def phase(self) -> str:
        """The phase the span belongs to (its own name for a span unknown to this version)."""
        return PHASE_OF.get(self.name, self.name)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "Span":
        """From its summary.json dict."""
        return cls(str(record["name"]), float(record["wall_s"]), float(record["cpu_s"]))
