"""Progress on the terminal: a units bar per run (``perfkit run``, each run of ``perfkit
compare``) and a runs bar over an experiment. Hidden when stderr is not a terminal, unless
PERFKIT_PROGRESS=1."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from perfkit.cli.command import console
from perfkit.model import Outcome, RunConfig, Task


def progress_display(enabled: bool = True) -> Progress:
    """The rich display every verb's bars live in (``enabled`` False: ``--no-progress``)."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[bad]}"), TimeElapsedColumn(), console=console,
                    disable=not enabled or (not console.is_terminal and os.environ.get("PERFKIT_PROGRESS") != "1"))


class UnitsBar:
    """A runner Observer: the units bar of one run, with a live count of bad outcomes."""

    #: Redraw at most this often (seconds): an update per unit would cost more than a short unit.
    REFRESH_S = 0.1

    def __init__(self, progress: Progress, description: str = "units"):
        self.progress = progress
        self.bar = progress.add_task(description, total=0, bad="")
        self.counts: dict[str, int] = {}
        self.unshown = 0
        self.last = 0.0
        self.indent = description[: len(description) - len(description.lstrip())]

    def add_units(self, n: int) -> None:
        """``n`` more units are planned."""
        task = next(t for t in self.progress.tasks if t.id == self.bar)
        self.progress.update(self.bar, total=(task.total or 0) + n)

    def task_started(self, task: Task, n_candidates: int) -> None:
        """Show the task being run."""
        label = f"{task.id}" + (f" ({n_candidates} candidates)" if n_candidates else "")
        self.progress.update(self.bar, description=self.indent + label)

    def outcome(self, outcome: Outcome) -> None:
        """Count an outcome; redraw at most every REFRESH_S."""
        self.counts[outcome.status] = self.counts.get(outcome.status, 0) + 1
        self.unshown += 1
        now = time.monotonic()
        if now - self.last >= self.REFRESH_S:
            bad = " ".join(f"{s}={n}" for s, n in self.counts.items() if s != "ok")
            self.progress.update(self.bar, advance=self.unshown, bad=bad)
            self.unshown, self.last = 0, now


class RunsBar:
    """An experiment's progress (perfkit/orchestration/compare.py ``Progress``): one bar over
    the runs and, per run, its units bar."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self.runs = progress.add_task("runs", total=0, bad="")

    def run_started(self, index: int, total: int, config: RunConfig) -> Any:
        """A new units bar for run ``index``."""
        self.progress.update(self.runs, total=total,
                             description=f"run {index + 1}/{total}: {config.strategy}/{config.backend}×"
                                         f"{config.workers} r{config.repeat}")
        for task in list(self.progress.tasks)[1:]:
            self.progress.remove_task(task.id)
        return UnitsBar(self.progress, "  units")

    def run_finished(self, index: int, total: int, path: Path) -> None:
        """Advance the runs bar."""
        self.progress.update(self.runs, advance=1)
