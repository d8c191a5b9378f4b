"""Rules about what else ran on the machine: other processes' work, threads left running.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from perfkit.analysis.findings.finding import EVIDENCE_ROWS, Finding
from perfkit.analysis.metrics.machine import BUSY_OTHER_CORES
from perfkit.analysis.metrics.run import RunFigures
from perfkit.analysis.text import duration, is_missing

if TYPE_CHECKING:  # pragma: no cover
    from perfkit.analysis.comparison import Comparison


def busy_runs(c: "Comparison", figures) -> list:
    return [f for f in figures if not is_missing(f.others_cores) and f.others_cores >= BUSY_OTHER_CORES]


def other_work(figures) -> str:
    """Who the other work was: other processes, and the threads earlier runs left running."""
    return ("other processes and threads left running by earlier runs" if any(f.stray_threads for f in figures)
            else "other processes")


def busy_during(busy: list[RunFigures], runs: str) -> str:
    """"other processes used up to 1.32 cores during 8 of <runs>": who, how much, how often."""
    return f"{other_work(busy)} used up to {max(f.others_cores for f in busy):.2f} cores during {len(busy)} of {runs}"


def quiet_again(busy: list[RunFigures], what: str) -> str:
    """"compare again on a quiet one": and, when part of the other work was threads the thread
    runs left running, without those runs, which leave them on any machine (networkx: a quiet
    machine would have run the same stray Floyd–Warshall threads through every later run)."""
    if not any(f.stray_threads for f in busy):
        return f"{what} on a quiet one"
    return (f"{what} on a quiet one without the thread backend: its runs left the threads running, and would "
            f"on any machine")


def busy_machine(c: "Comparison") -> list[Finding]:
    """Runs during which other work used at least :data:`BUSY_OTHER_CORES` cores: their walls,
    speedups and timeouts include waiting for it. Other work is other processes, and threads that
    earlier runs of this process could not stop (:func:`stray_threads`)."""
    busy = busy_runs(c, c.figures)
    if not busy:
        return []
    most = max(busy, key=lambda f: f.others_cores)
    loads = [f.load_avg_1m for f in busy if not is_missing(f.load_avg_1m)]
    load = f"; 1-minute load average up to {max(loads):.1f}" if loads else ""
    return [Finding(
        "busy-machine", "warning", "",
        f"The machine was not quiet: {other_work(busy)} used up to {most.others_cores:.2f} cores on average during "
        f"{len(busy)} of {len(c.figures)} runs (of {most.cores} usable cores{load}). Walls, speedups and timeouts "
        f"measured then include waiting for other work: compare again on a quiet machine"
        + (", with no threads left running (stray-threads finding)," if any(f.stray_threads for f in busy) else "")
        + " before trusting them.",
        tuple(f"{f.run_id} ({f.name}): other work {f.others_cores:.2f} cores"
              + (f", of which {f.stray_threads} stray threads {f.stray_cores:.2f}" if f.stray_threads else "")
              + ("" if is_missing(f.load_avg_1m) else f", load {f.load_avg_1m:.1f}")
              for f in busy[:EVIDENCE_ROWS]))]


def stray_threads(c: "Comparison") -> list[Finding]:
    """Runs that ran beside threads abandoned by earlier thread-backend runs of the same process
    (units the thread backend could not stop, still running): every later run of the comparison
    shares the cores and the GIL with them, so its wall and timeouts depend on its place in the
    order (perfkit/backends/thread.py)."""
    hit = [f for f in c.figures if f.stray_threads]
    if not hit:
        return []
    most, n = max(hit, key=lambda f: f.stray_cores), max(f.stray_threads for f in hit)
    return [Finding(
        "stray-threads", "problem", "",
        f"{len(hit)} of {len(c.figures)} runs ran beside up to {n} thread{'s' if n != 1 else ''} that "
        f"earlier thread-backend runs could not stop (timed-out units still running), which took up to "
        f"{most.stray_cores:.2f} cores: those runs' walls, timeouts and speedups include that work, and later runs "
        f"suffer more.{_stopped_late(c, hit)} Compare the thread backend on its own, or make the solver stop at its "
        f"deadline.",
        tuple(f"{f.run_id} ({f.name}): {f.stray_threads} stray threads, {f.stray_cores:.2f} cores"
              for f in sorted(hit, key=lambda f: -f.stray_cores)[:EVIDENCE_ROWS]))]


def _past_deadline_s(c: "Comparison", figs: list[RunFigures]) -> pd.Series:
    """How long past its deadline each unit stopped with its process worker ran (wall − timeout)."""
    late = [(u["wall_s"] - f.timeout_s)[u["error_type"].eq("WorkerKilled")]
            for f in figs if f.backend == "process" for u in (c.run_of(f).units,)]
    return pd.concat(late).clip(lower=0.0) if late else pd.Series(dtype=float)


def _stopped_late(c: "Comparison", hit: list[RunFigures]) -> str:
    """The stray threads share the comparison's process with the parent that stops the process
    backend's workers at their timeouts: networkx's units were stopped 0.14 s past their deadline
    beside them (median, up to 0.68 s), 0.06 s without. Said when the median at least doubles."""
    beside = _past_deadline_s(c, hit)
    alone = _past_deadline_s(c, [f for f in c.figures if not f.stray_threads])
    if beside.empty or alone.empty or not beside.median() >= 2 * alone.median() > 0:
        return ""
    return (f" They share the comparison's process with what stops the process workers at a unit's timeout: "
            f"beside them units were stopped {duration(beside.median())} past their deadline (median of "
            f"{len(beside)}, up to {duration(beside.max())}), against {duration(alone.median())} in the process runs "
            f"without them.")
