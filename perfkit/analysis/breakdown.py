"""Where a command's time went: its wall and CPU cut into items that add up to the totals
(docs/design.md, "The whole command"). Pure: recorded figures in, bars out.

Three bars, each a quantity and the items it is made of:

- **wall**: the command's spans (perfkit/model/command.py), grouped in its phases — start-up,
  worker start, run window, teardown, exit;
- **CPU** of the whole process tree: the same spans, the run window cut into the units' own
  CPU, the solver's candidate generation, the solver's own threads and programs (on the thread
  backend, whose units are charged their calling threads' CPU only: the CPU of the process's
  other threads — numpy's OpenBLAS pool, a thread pool of the solver's — and of the programs
  its units ran, each measured: perfkit/backends/thread.py; elsewhere a unit's CPU has them),
  perfkit's harness in the workers (the workers' CPU outside units and generation: receiving
  items, timing, sending outcomes) and perfkit in the parent (dispatch, per-unit bookkeeping,
  the store; the forkserver's forks) — the last item is what remains of the window's CPU, so
  the items add up to it;
- **run window capacity**: ``slots × window wall``, the core-seconds the run could have used,
  cut into units, generation, the solver's own threads and programs, harness, parent, *other
  work*, *units off the CPU* and *idle*.
  What the run's CPU leaves of the capacity is first other processes' CPU on the run's slots
  (what they used beyond the cores the run had no slot on), then the units' own time off the
  CPU (Σ unit wall − unit CPU: a unit running but waiting for the GIL, a core, or I/O), then
  idle (workers waiting for work, stages draining). Without the first two, the main job beside
  1.3 cores of other work read "idle 36 %" while no core was; four threads taking turns at the
  GIL read as half the capacity "idle", as if work had been missing. When the run used more
  than its slots (one worker beside a busy parent on two cores) the bar is the CPU used and
  those three are 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import numpy as np

from perfkit.analysis.metrics.records import ran
from perfkit.analysis.metrics.slots import slots_of
from perfkit.analysis.metrics.unit_cpu import THREAD_CPU, unit_cpu_of
from perfkit.model.command import RUN_WINDOW, Span
from perfkit.store import Run

UNITS, GENERATION, SOLVER_OWN, HARNESS, PARENT, OTHERS, OFF_CPU, IDLE = (
    "units", "generation", "solver's own threads and programs", "harness in workers", "perfkit in the parent",
    "other work", "units off the CPU", "idle")


@dataclass(frozen=True)
class Item:
    """One part of a bar (seconds); ``within`` names the span it is a part of, if any."""

    name: str
    seconds: float
    within: str = ""

    @property
    def label(self) -> str:
        """``run window: units``, or the bare name."""
        return f"{self.within}: {self.name}" if self.within else self.name


@dataclass(frozen=True)
class Bar:
    """A quantity (seconds) and the items it is made of; they add up to ``total_s``."""

    title: str
    total_s: float
    items: tuple[Item, ...]

    def share(self, item: Item) -> float:
        """The item's fraction of the bar (0..1)."""
        return item.seconds / self.total_s if self.total_s > 0 else 0.0


@dataclass(frozen=True)
class Breakdown:
    """The three bars of one run (see the module docstring), and each phase's (wall, CPU)
    seconds."""

    origin: str
    wall: Bar
    cpu: Bar
    window: Optional[Bar]
    phases: dict[str, tuple[float, float]]


def window_parts(window_cpu_s: float, unit_cpu_s: float, generate_cpu_s: float,
                 workers_cpu_s: float, solver_own_cpu_s: float = 0.0) -> tuple[Item, ...]:
    """The run window's CPU cut into units, generation, the solver's own threads and programs
    (named only when it has seconds: the bars of runs whose units' CPU counts every thread stay
    as they were), harness in workers and perfkit in the parent (the remainder), all seconds;
    they add up to ``window_cpu_s``.

    ``workers_cpu_s``: the CPU the workers (threads or processes) used during the window,
    units and generation included; ``solver_own_cpu_s``: the CPU the solver used outside the
    units' own figures (its threads and programs on the thread backend), at most what the
    window's CPU leaves of it.
    """
    harness = max(0.0, workers_cpu_s - unit_cpu_s - generate_cpu_s)
    solver = min(max(0.0, solver_own_cpu_s), max(0.0, window_cpu_s - unit_cpu_s - generate_cpu_s - harness))
    parent = window_cpu_s - unit_cpu_s - generate_cpu_s - solver - harness
    own = (Item(SOLVER_OWN, solver, RUN_WINDOW),) if solver > 0 else ()
    return (Item(UNITS, unit_cpu_s, RUN_WINDOW), Item(GENERATION, generate_cpu_s, RUN_WINDOW), *own,
            Item(HARNESS, harness, RUN_WINDOW), Item(PARENT, parent, RUN_WINDOW))


def capacity_bar(window_wall_s: float, slots: int, parts: Sequence[Item], units_off_cpu_s: float = 0.0,
                 others_on_slots_s: float = 0.0) -> Bar:
    """``slots × window wall`` cut into ``parts`` (the window's CPU), other work on the run's
    slots (``others_on_slots_s``), the units' time off the CPU (``units_off_cpu_s``), each at
    most what the items before it leave, and idle (the rest)."""
    capacity = max(1, slots) * window_wall_s
    used = sum(p.seconds for p in parts)
    unused = max(0.0, capacity - used)
    others = min(unused, max(0.0, others_on_slots_s))
    off_cpu = min(unused - others, max(0.0, units_off_cpu_s))
    items = tuple(Item(p.name, p.seconds) for p in parts) + (
        Item(OTHERS, others), Item(OFF_CPU, off_cpu), Item(IDLE, unused - others - off_cpu))
    return Bar(f"run window: {max(1, slots)} slot(s) × {window_wall_s:.3f} s", used + unused, items)


def others_on_slots_s(others_cpu_s: Optional[float], window_wall_s: float, slots: int, cores: int) -> float:
    """Other processes' CPU during the window (seconds) that the run's slots lost: what they used
    beyond the ``cores - slots`` cores the run had no slot on (0 when not measured)."""
    if others_cpu_s is None or np.isnan(others_cpu_s):
        return 0.0
    return max(0.0, others_cpu_s - max(0, cores - slots) * window_wall_s)


def breakdown(spans: Sequence[Span], origin: str, slots: int, unit_cpu_s: float, generate_cpu_s: float,
              workers_cpu_s: float, units_off_cpu_s: float = 0.0, others_cpu_s: Optional[float] = None,
              cores: Optional[int] = None, solver_own_cpu_s: float = 0.0) -> Breakdown:
    """The bars of a run from its command spans and its run window's figures (seconds;
    ``units_off_cpu_s``: Σ unit wall − unit CPU over the units whose CPU was measured;
    ``others_cpu_s``: other processes' CPU during the window, on a machine of ``cores`` usable
    cores, the slots' own count when not given; ``solver_own_cpu_s`` as for
    :func:`window_parts`)."""
    wall = Bar("wall", sum(s.wall_s for s in spans), tuple(Item(s.name, s.wall_s, _within(s)) for s in spans))
    cpu_items: list[Item] = []
    window = None
    phases: dict[str, tuple[float, float]] = {}
    for s in spans:
        wall_s, cpu_s = phases.get(s.phase, (0.0, 0.0))
        phases[s.phase] = (wall_s + s.wall_s, cpu_s + s.cpu_s)
        if s.name != RUN_WINDOW:
            cpu_items.append(Item(s.name, s.cpu_s, _within(s)))
            continue
        parts = window_parts(s.cpu_s, unit_cpu_s, generate_cpu_s, workers_cpu_s, solver_own_cpu_s)
        cpu_items += parts
        others = others_on_slots_s(others_cpu_s, s.wall_s, slots, slots if cores is None else cores)
        window = capacity_bar(s.wall_s, slots, parts, units_off_cpu_s, others)
    cpu = Bar("CPU", sum(s.cpu_s for s in spans), tuple(cpu_items))
    return Breakdown(origin, wall, cpu, window, phases)


def _within(span: Span) -> str:
    """The phase a span is an item of, "" when the span is a phase of its own."""
    return "" if span.phase == span.name else span.phase


def run_breakdown(run: Run) -> Optional[Breakdown]:
    """The bars of a stored run; None when it has no whole-command figures (recorded before
    perfkit measured them)."""
    s = run.summary
    if not s.spans:
        return None
    workers_cpu, solver_own = _workers_and_solver_own_cpu_s(run)
    r = ran(run.units)
    timed = r[r["cpu_s"].notna()]
    off_cpu = float((timed["wall_s"] - timed["cpu_s"]).clip(lower=0.0).sum())
    return breakdown(s.spans, s.command_origin, slots_of(run.config, run.cores),
                     float(r["cpu_s"].fillna(0.0).sum()), float(s.generate_cpu_s or 0.0), workers_cpu, off_cpu,
                     s.others_cpu_s, run.cores, solver_own)


def _workers_and_solver_own_cpu_s(run: Run) -> tuple[float, float]:
    """The CPU of a run's workers (units and generation included) and the solver's own threads
    and programs that its units' CPU does not count, seconds. A run whose units are charged
    their calling threads' CPU (the thread backend) and that measured its threads
    (perfkit/backends/thread.py: ``worker_threads_cpu_s``, ``solver_threads_cpu_s``) has its
    workers' CPU in the worker threads, and the programs its units ran (its workers' usage:
    reaped child processes) are the solver's too. Otherwise the workers are the run's
    ``cpu_workers_s`` and the units' CPU leaves nothing of the solver's out."""
    s = run.summary
    workers = 0.0 if s.cpu_workers_s is None or np.isnan(s.cpu_workers_s) else float(s.cpu_workers_s)
    resources = s.resources or {}
    threads, solver = resources.get("worker_threads_cpu_s"), resources.get("solver_threads_cpu_s")
    if unit_cpu_of(run) != THREAD_CPU or threads is None or solver is None:
        return workers, 0.0
    return float(threads), float(solver) + workers


def group_breakdowns(groups: Mapping[str, Sequence[Run]]) -> dict[str, Breakdown]:
    """Per group (name → its repeats), the breakdown of its median run by whole-command wall:
    one real run, whose items add up (medians of items would not). Groups without
    whole-command figures are left out."""
    out = {}
    for name, runs in groups.items():
        measured = sorted((r for r in runs if r.summary.spans), key=lambda r: r.summary.command_wall_s)
        if measured:
            b = run_breakdown(measured[(len(measured) - 1) // 2])
            if b is not None:
                out[name] = b
    return out
