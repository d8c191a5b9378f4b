"""Which stored runs belong in one comparison: the same solver (with the same options) on the
same task set, and finished. Pure: runs in, a verdict out; perfkit/api.py acts on it.

A report that mixes task sets compares nothing ("35 106 unit differences" that are only other
tasks), and a run that did not finish has no figure to compare: such runs are named, never
silently dropped nor silently mixed in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional, Sequence

from perfkit.model import ConfigError
from perfkit.solvers import defining_options
from perfkit.store import Run

#: The state of a run that ran to its end (meta.json).
COMPLETE = "complete"
#: The state of a :class:`LeftOut` configuration that an experiment did not run.
NOT_RUN = "not run"


class MixedRuns(ConfigError):
    """Runs of different workloads given to one comparison. ``override`` names the argument
    that renders them together anyway (the command line tells it by its flag)."""

    override = "allow_mixed"

    def __init__(self, reason: str):
        super().__init__("run_dirs", reason=reason)

    def __str__(self) -> str:
        return f"{super().__str__()} ({self.override}=True renders them together)"


@dataclass(frozen=True)
class LeftOut:
    """A run left out of a comparison's figures, and why: its ``state`` (meta.json; anything
    but complete, or complete with no unit), the ``units`` it recorded and the ``error`` it
    stopped on, if any (report.json's ``left_out``, docs/report-json.md). A configuration an
    experiment did not run (perfkit/orchestration/compare.py) is one too: ``run_id`` names its
    group and repeat, ``state`` is :data:`NOT_RUN` and ``error`` says why."""

    run_id: str
    state: str
    units: int
    error: Optional[str] = None

    @property
    def sentence(self) -> str:
        """``run-id (interrupted, 120 units recorded)``; ``group repeat 1 (not run: why)``."""
        if self.state == NOT_RUN:
            return f"{self.run_id} ({NOT_RUN}: {self.error})"
        why = f"{self.state}, {self.units} units recorded"
        return f"{self.run_id} ({why}{': ' + self.error if self.error else ''})"


def workload(run: Run) -> tuple[str, str, str]:
    """What a run measured: (solver, the options that define it as JSON, its task set). Two runs
    compare only when these agree; the options leave out the reference run's folder that
    ``perfkit compare`` hands some solvers (perfkit.solvers.defining_options), so that one
    comparison's own runs report together; the task set is the ids the run loaded, else its
    task spec."""
    c = run.config
    tasks = run.meta.get("task_ids")
    task_set = ",".join(tasks) if tasks else str(c.tasks)
    return c.solver, _options(run), task_set


def _options(run: Run) -> str:
    return json.dumps(defining_options(run.config.solver, run.config.solver_options), sort_keys=True, default=str)


def _describe(run: Run) -> str:
    c = run.config
    n = len(run.meta.get("task_ids") or [])
    options = _options(run)
    options = f" {options}" if options != "{}" else ""
    return f"solver {c.solver}{options} on tasks {c.tasks}" + (f" ({n} tasks)" if n else "")


def mixed_workloads(runs: Sequence[Run]) -> Optional[str]:
    """None when every run measured the same workload, else one line naming two that differ."""
    first = runs[0]
    for run in runs[1:]:
        if workload(run) != workload(first):
            what = "solvers" if workload(run)[:2] != workload(first)[:2] else "task sets"
            return (f"runs of different {what}: {first.run_id} ran {_describe(first)}, "
                    f"{run.run_id} ran {_describe(run)}")
    return None


def split_finished(runs: Sequence[Run]) -> tuple[list[Run], list[LeftOut]]:
    """The complete runs with at least one unit, and the others with their state."""
    keep, left = [], []
    for run in runs:
        if run.state == COMPLETE and len(run.units):
            keep.append(run)
        else:
            left.append(LeftOut(run.run_id, run.state, int(len(run.units)), run.summary.error))
    return keep, left


def describe_left_out(left: Sequence[LeftOut]) -> str:
    """One sentence naming every run left out."""
    return "Not complete, left out of every figure: " + "; ".join(x.sentence for x in left) + "."


def read_notes(runs: Sequence[Run]) -> list[str]:
    """What reading (or resuming) the runs skipped or worked around (``Run.notes``: a torn
    record of units.jsonl, an unreadable units.parquet), each once: the units behind every
    figure are the ones left."""
    return list(dict.fromkeys(note for run in runs for note in run.notes))


__all__ = ["COMPLETE", "LeftOut", "MixedRuns", "describe_left_out", "mixed_workloads", "read_notes", "split_finished",
           "workload"]
