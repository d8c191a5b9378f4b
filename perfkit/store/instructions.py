"""Instruction counts of a run, stored beside it as ``<run-id>/instructions.json``.

A run measured under valgrind (perfkit/orchestration/instructions.py) has the number of
instructions its process executed in the runner's loop over its tasks — from taking the first
task to finding no next one — split into parts at each task's boundaries, and the *build*:
everything the count depends on besides perfkit's own code (perfkit/store/baseline.py compares
builds). Only that loop is instrumented; a count taken where callgrind's client requests
cannot be made instruments the whole process, and also has start-up, set-up and teardown.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

from perfkit.model import PerfkitError

INSTRUCTIONS = "instructions.json"


@dataclass
class InstructionCount:
    """Instructions (a count, not seconds) of the solver's work in one run, and of its parts.

    ``instructions`` is the sum of ``tasks``: per task, from the runner taking it to taking
    the next — its candidates' generation and every unit, perfkit's accounting included.
    ``setup`` (run folder, environment, calibration) and ``teardown`` (calibration, summary,
    parquet table) are the rest of the run window; ``startup`` the interpreter, imports and
    task loading before it. Those three are reported, never gated, and None when not counted:
    since session 15 only the task loop is instrumented (docs/benchmarks.md, "Session 15").
    """

    instructions: int
    tasks: dict[str, int] = field(default_factory=dict)
    setup: Optional[int] = None
    teardown: Optional[int] = None
    startup: Optional[int] = None
    build: dict[str, Any] = field(default_factory=dict)
    tool: str = ""
    timeout_scale: float = 1.0

    @classmethod
    def from_record(cls, record: dict[str, Any], source: Path | str = INSTRUCTIONS) -> "InstructionCount":
        """From instructions.json; a malformed record is one clear line naming the file."""
        try:
            return cls(**record)
        except TypeError as exc:
            raise PerfkitError(f"{source}: not an instruction count record: {exc}") from None


def write_instructions(run_dir: Path, count: InstructionCount) -> Path:
    """Write ``run_dir/instructions.json``."""
    path = Path(run_dir) / INSTRUCTIONS
    path.write_text(json.dumps(asdict(count), indent=1) + "\n", encoding="utf-8")
    return path


def read_instructions(run_dir: Path) -> Optional[InstructionCount]:
    """The run's instruction count, or None when it was not measured under valgrind."""
    path = Path(run_dir) / INSTRUCTIONS
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise PerfkitError(f"{path}: malformed JSON at line {exc.lineno} column {exc.colno}") from None
    return InstructionCount.from_record(record, path)
