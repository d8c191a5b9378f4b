"""A stored run as typed data: its configuration, its summary and its units table.

Every reader of the store (analysis, reports, the gate) gets these objects, never raw dicts:
the field names here are the only place the summary's keys are spelt.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Optional

import pandas as pd

from perfkit.model import ConfigError, PerfkitError, RunConfig
from perfkit.model.command import Span
from perfkit.model.config import check_keys
from perfkit.store.layout import META, SUMMARY

#: Every key perfkit writes, or ever wrote, at the top level of meta.json (perfkit/runner/run.py
#: ``_meta`` and ``_finish``, perfkit/store/writer.py): any other is a typo or another tool's,
#: refused by name rather than dropped.
META_KEYS = ("config", "environment", "task_ids", "created", "clock", "limits", "run_id", "state", "resumed",
             "previous_sessions", "resources", "notes")


@dataclass(frozen=True)
class RunSummary:
    """Run-level figures (summary.json). Seconds of wall on the run's clock, seconds of CPU as
    the OS reports them. A run still running or killed before its end has the defaults."""

    state: str = "running"
    wall_s: float = math.nan
    cpu_s: float = math.nan
    cpu_parent_s: float = math.nan
    cpu_workers_s: float = math.nan
    #: Seconds the solver's candidates() took, in all tasks (wall of each call, on the worker
    #: that made it; the calls overlap with evaluation and with each other).
    generate_s: float = 0.0
    #: time.monotonic() when the (last session's) run window opened and closed.
    started: Optional[float] = None
    ended: Optional[float] = None
    #: [task id, start, end] of each task's candidate generation (last session), time.monotonic()
    #: on the worker that generated them (one clock for every process of the machine).
    generation: list[list[Any]] = field(default_factory=list)
    #: How many sessions the run took (1, plus one per resume); wall, CPU and generate_s cover all.
    sessions: int = 1
    #: Seconds spent making the workers ready before the run's window opened (forking them,
    #: building the solver in each): not part of ``wall_s``. A run lent a warm pool pays only
    #: the solver build; the run that started the pool pays the forks (``resources``).
    startup_s: float = 0.0
    #: CPU seconds of the calibration workload (perfkit/runner/calibration.py), None when absent.
    calibration_cpu_s: Optional[float] = None
    units: int = 0
    status_counts: dict[str, int] = field(default_factory=dict)
    units_recorded_this_session: int = 0
    units_planned_this_session: int = 0
    #: Work items the runner handed to the backend this session: each joined item once
    #: (several planned items, ``chunk`` of each unit), each requeued rest again.
    items_handed_out_this_session: int = 0
    duplicates_dropped: int = 0
    #: One record per worker incarnation: worker (its slot), pid, cpu_s, killed, reason,
    #: peak_rss_bytes (its peak resident memory, when the backend measured it).
    workers: list[dict[str, Any]] = field(default_factory=list)
    #: One record per work item a worker ran: chunk, task_id, worker, peak_rss_bytes (the
    #: worker's peak resident memory while it ran the item), when the backend measured it; an
    #: item the runner joined lists the planned items (``chunk`` of its units) in ``chunks``.
    items: list[dict[str, Any]] = field(default_factory=list)
    #: What the backend created (processes, threads, restarts, Dask's task stream).
    resources: dict[str, Any] = field(default_factory=dict)
    #: CPU seconds every process of the machine used during the run, over every session of a
    #: resumed run as ``wall_s`` is (None when unknown for any session).
    machine_cpu_s: Optional[float] = None
    #: The part of ``machine_cpu_s`` not counted in this run's ``cpu_s``: other processes, and
    #: ``stray_cpu_s``.
    others_cpu_s: Optional[float] = None
    #: Threads that earlier thread-backend runs of this process could not stop, still running
    #: when this run's window opened, and the CPU seconds they used during the window: other
    #: work beside the run, not counted in ``cpu_s`` (perfkit/backends/thread.py).
    stray_threads: int = 0
    stray_cpu_s: float = 0.0
    #: The machine's 1-minute load average at the end of the run (this run's processes included).
    load_avg_1m: Optional[float] = None
    error: Optional[str] = None
    #: The whole command beside the run window (docs/design.md, "The whole command"): where its
    #: figures start ("process": ``perfkit run``; "call": a run started by ``perfkit.run``; ""
    #: for a run recorded before perfkit measured it), its wall, the CPU of its whole process
    #: tree, and its spans in order (name, wall_s, cpu_s), which add up to the two totals.
    command_origin: str = ""
    command_wall_s: float = math.nan
    command_cpu_s: float = math.nan
    command_spans: list[dict[str, Any]] = field(default_factory=list)
    #: How the command's CPU was read (perfkit/runner/process_tree.py ``SOURCE``).
    command_cpu_source: str = ""
    #: CPU seconds of the solver's candidates() calls (``generate_s`` is their wall).
    generate_cpu_s: float = 0.0
    #: Keys this version of perfkit does not know (written by a newer one): kept, not lost.
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "RunSummary":
        """From summary.json (unknown keys go to ``extra``)."""
        known = {f.name for f in fields(cls)} - {"extra"}
        return cls(**{k: v for k, v in record.items() if k in known},
                   extra={k: v for k, v in record.items() if k not in known})

    def to_record(self) -> dict[str, Any]:
        """The JSON-ready dict of summary.json."""
        record = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        return {**record, **self.extra}

    @property
    def spans(self) -> tuple[Span, ...]:
        """The whole command's spans (empty for a run recorded before perfkit measured it)."""
        return tuple(Span.from_record(s) for s in self.command_spans)


@dataclass
class Run:
    """A stored run: its folder, config, summary, units (one row per unit) and the rest of
    meta.json (environment, task ids, limits, state)."""

    path: Path
    config: RunConfig
    summary: RunSummary
    units: pd.DataFrame = field(repr=False)
    meta: dict[str, Any] = field(default_factory=dict, repr=False)
    #: The solver's own scores (perfkit.solvers.table.SCORE_COLUMNS); empty when it recorded none.
    scores: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    #: What reading the folder skipped or worked around (a torn record, an unreadable
    #: units.parquet), one sentence each; empty for a clean folder.
    notes: list[str] = field(default_factory=list, repr=False)

    @classmethod
    def from_records(cls, path: Path, meta: dict[str, Any], summary: dict[str, Any],
                     units: pd.DataFrame, scores: Optional[pd.DataFrame] = None) -> "Run":
        """A run from the records of its files (meta.json, summary.json, the units table, the
        battery's scores when it has them)."""
        config = run_config(path, meta)
        try:
            run_summary = RunSummary.from_record(summary)
        except (TypeError, ValueError, AttributeError) as exc:
            raise PerfkitError(f"{Path(path) / SUMMARY}: not a run summary: {exc}") from None
        return cls(Path(path), config, run_summary, units, meta, pd.DataFrame() if scores is None else scores)

    @property
    def run_id(self) -> str:
        """The run folder's name."""
        return str(self.meta.get("run_id", self.path.name))

    @property
    def label(self) -> str:
        """The run's label, or its id when it has none."""
        return self.config.label or self.run_id

    @property
    def state(self) -> str:
        """running, complete, interrupted or failed (meta.json)."""
        return str(self.meta.get("state", self.summary.state))

    @property
    def environment(self) -> dict[str, Any]:
        """Python, platform, CPU model and count, package versions, git commit, command line."""
        return self.meta.get("environment", {})

    @property
    def cores(self) -> int:
        """Usable cores recorded in the run's environment (1 when unknown)."""
        env = self.environment
        return int(env.get("usable_cores") or env.get("cpu_count") or 1)


def run_config(path: Path, meta: dict[str, Any]) -> RunConfig:
    """The configuration the meta.json record of the run folder ``path`` holds, checked: a key
    perfkit never wrote (at the top level, in ``config`` or in ``config.timeout``) or a value
    that cannot be is a PerfkitError naming the file and the field, never dropped nor a
    traceback deep in the analysis."""
    shown = Path(path) / META
    try:
        check_keys(meta, META_KEYS)
    except ConfigError as exc:
        raise PerfkitError(f"{shown}: field '{exc.field}': {exc.reason}") from None
    try:
        return RunConfig.from_record(meta.get("config", {})).validate()
    except ConfigError as exc:
        value = f" {exc.value!r}:" if exc.has_value else ""
        raise PerfkitError(f"{shown}: field 'config.{exc.field}':{value} {exc.reason}") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise PerfkitError(f"{shown}: field 'config' is not a run configuration: {exc}") from None
