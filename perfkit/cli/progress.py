"""Progress on the terminal: a units bar per run (``perfkit run``, each run of ``perfkit
compare``) and a runs bar over an experiment. Hidden when stderr is not a terminal, unless
PERFKIT_PROGRESS=1; ``--no-progress`` and ``--quiet`` hide it too.

The bar's total is known or estimated from the start (perfkit/cli/estimate.py: samples × the
mean candidates per task until every task's candidates are known, shown with ``~``), the
task count is always shown, and so is an ETA; when the run ends the last frame is set from
the run's summary, so it never disagrees with the table printed under it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from perfkit.backends.own_threads import started_as_own
from perfkit.cli.command import console
from perfkit.cli.estimate import RunEstimate, format_eta
from perfkit.model import STATUSES, Outcome, RunConfig, Task


class _Display(Progress):
    """rich's display, its refresh thread perfkit's own (perfkit/backends/own_threads.py): it
    redraws 10 times a second in the process that runs inline units, and its CPU is not theirs."""

    def start(self) -> None:
        with started_as_own():
            super().start()


def progress_display(enabled: bool = True, get_time: Optional[Callable[[], float]] = None) -> Progress:
    """The rich display every verb's bars live in (``enabled`` False: ``--no-progress``)."""
    return _Display(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[units]}"),
                    TextColumn("{task.fields[bad]}"), TimeElapsedColumn(), TextColumn("{task.fields[eta]}"),
                    console=console, get_time=get_time,
                    disable=not enabled or (not console.is_terminal and os.environ.get("PERFKIT_PROGRESS") != "1"))


class UnitsBar:
    """A runner Observer: the units bar of one run, with its task count, ETA and a live count
    of bad outcomes. Takes outcomes one by one (``outcome``) or in batches (``batch``)."""

    #: Redraw at most this often (seconds): an update per unit would cost more than a short unit.
    REFRESH_S = 0.1

    def __init__(self, progress: Progress, description: str = "units",
                 clock: Callable[[], float] = time.monotonic):
        self.progress = progress
        self.clock = clock
        self.bar = progress.add_task(description, total=None, units="", bad="", eta="")
        self.indent = description[: len(description) - len(description.lstrip())]
        self.estimate = RunEstimate([], clock)
        self.index: dict[str, int] = {}
        self.counts: dict[str, int] = {}
        self.pending = (0, 0)  # (index, candidates) of the task that started last
        self.current = ""
        self.last = -1e9

    def tasks_planned(self, tasks: Sequence[Task]) -> None:
        """The run's tasks, before the first one starts: the total is estimated from here on."""
        self.estimate = RunEstimate([len(t.samples) for t in tasks], self.clock)
        self.index = {t.id: i for i, t in enumerate(tasks)}
        self._draw(force=True)

    def task_started(self, task: Task, n_candidates: int) -> None:
        """A task's candidates are known; its units arrive with ``add_units``."""
        self.current = f"{task.id}" + (f" ({n_candidates} candidates)" if n_candidates else "")
        self.pending = (self.index.get(task.id, len(self.index)), n_candidates)

    def add_units(self, n: int) -> None:
        """``n`` more units are planned (for the task that started last)."""
        index, candidates = self.pending
        known = self.estimate.started.get(index, 0)
        if index not in self.estimate.started:
            self.estimate.task_started(index, candidates, n)
        else:
            self.estimate.started[index] = known + n
        self._draw(force=True)  # once per task or stage: the total is worth showing at once

    def outcome(self, outcome: Outcome) -> None:
        """One outcome was recorded."""
        self._count({outcome.status: 1}, 1)

    def batch(self, batch: Any) -> None:
        """A batch of outcomes was recorded (``len(batch)``, ``batch.status_counts()``)."""
        self._count(batch.status_counts(), len(batch))

    def _count(self, statuses: dict[str, int], n: int) -> None:
        for status, k in statuses.items():
            self.counts[status] = self.counts.get(status, 0) + k
        self.estimate.outcomes(n)
        self._draw()

    def finished(self, summary: Any) -> None:
        """The last frame, from the run's summary: the same units and statuses as its table."""
        self.estimate.finished(int(summary.units))
        self.counts = {k: int(v) for k, v in summary.status_counts.items()}
        self.current = "done"
        self._draw(force=True, eta="")

    def _draw(self, force: bool = False, eta: Optional[str] = None) -> None:
        now = self.clock()
        if not force and now - self.last < self.REFRESH_S:
            return
        self.last = now
        est = self.estimate
        total = est.total
        units = f"{est.done}/{'' if est.exact else '~'}{total} units"
        tasks = f"task {min(est.tasks_done + 1, est.tasks)}/{est.tasks}" if est.tasks else "tasks"
        if self.current == "done":
            tasks = f"{est.tasks} tasks" if est.tasks else "done"
        bad = " ".join(f"{s}={self.counts[s]}" for s in STATUSES if s != "ok" and self.counts.get(s))
        self.progress.update(self.bar, description=f"{self.indent}{tasks} {self.current}".rstrip(),
                             completed=est.done, total=max(total, est.done) or None, units=units, bad=bad,
                             eta=format_eta(est.eta_s()) if eta is None else eta)


class RunsBar:
    """An experiment's progress (perfkit/orchestration/compare.py ``Progress``): one bar over
    the runs, with its ETA from the runs done so far, and, per run, its units bar."""

    def __init__(self, progress: Progress, clock: Callable[[], float] = time.monotonic):
        self.progress = progress
        self.clock = clock
        self.runs = progress.add_task("runs", total=None, units="", bad="", eta="")
        self.t0: Optional[float] = None
        self.units: Optional[UnitsBar] = None

    def run_started(self, index: int, total: int, config: RunConfig) -> Any:
        """A new units bar for run ``index``."""
        if self.t0 is None:
            self.t0 = self.clock()
        self.progress.update(self.runs, total=total, completed=index, units=f"{index}/{total} runs",
                             description=f"run {index + 1}/{total}: {config.strategy}/{config.backend}×"
                                         f"{config.workers} r{config.repeat}")
        for task in list(self.progress.tasks)[1:]:
            self.progress.remove_task(task.id)
        self.units = UnitsBar(self.progress, "  ", self.clock)
        return self.units

    def run_finished(self, index: int, total: int, path: Path) -> None:
        """Advance the runs bar; the run's units bar ends on its summary."""
        from perfkit.store import RunSummary, read_json

        if self.units is not None:
            self.units.finished(RunSummary.from_record(read_json(Path(path) / "summary.json")))
        done = index + 1
        elapsed = self.clock() - (self.t0 if self.t0 is not None else self.clock())
        eta = format_eta(elapsed / done * (total - done)) if done < total else ""
        self.progress.update(self.runs, completed=done, units=f"{done}/{total} runs", eta=eta)

    def runs_done(self) -> None:
        """Stop the display's refresh thread, the bars left as they ended (orchestration's
        ``Progress.runs_done`` says why)."""
        # rich only tells its refresh thread to stop; the thread ends when it next wakes, so it
        # is joined here (rich keeps it in a private attribute: absent, nothing to wait for)
        thread = getattr(self.progress.live, "_refresh_thread", None)
        self.progress.stop()
        if thread is not None:
            thread.join(timeout=1.0)
