"""perfkit's public verbs: one function per command-line verb, each usable from a notebook.

The command line (perfkit/cli/) parses flags and calls these; they call the layers below
(runner, store, analysis, orchestration) and the renderers (reports). Every error is a
:class:`perfkit.model.PerfkitError`; a :class:`perfkit.model.ConfigError` names the field.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from perfkit.analysis.comparison import Comparison, analyse
from perfkit.analysis.gate import DEFAULT_THRESHOLD, METRICS, GateResult
from perfkit.analysis.gate import gate as judge
from perfkit.analysis.phases import Phase, phase_table
from perfkit.analysis.runset import LeftOut, MixedRuns, describe_left_out, mixed_workloads, split_finished
from perfkit.model import ConfigError, RunConfig, Task
from perfkit.orchestration.compare import Progress, profile_configs, run_experiment
from perfkit.orchestration.experiment import Experiment, load_experiment, with_overrides
from perfkit.orchestration.gate import DEFAULT_REPEATS, measure
from perfkit.orchestration.profiling import ProfileResult
from perfkit.orchestration.profiling import profile as _profile
from perfkit.reports import phases as phase_report
from perfkit.reports import write_report
from perfkit.runner import resume, run
from perfkit.store import DEFAULT_STORE, Run, find_runs, load_run
from perfkit.store.baseline import BASELINE_DIR, load_side, write_baseline

#: Where report folders go unless told otherwise.
DEFAULT_REPORTS = Path("reports")


@dataclass
class CompareResult:
    """What compare and report produce: the analysis, the report folder and the runs."""

    comparison: Comparison
    report_dir: Path
    runs: list[Run]
    #: Runs given but not complete (interrupted, failed, running): named, left out of the figures.
    left_out: list[LeftOut] = field(default_factory=list)

    @property
    def differences(self) -> bool:
        """True when any run's answers differ from the sequential reference."""
        return self.comparison.differences


@dataclass
class PhasesResult:
    """The phase table and the folder its report was written to."""

    phases: list[Phase]
    report_dir: Path

    @property
    def ok(self) -> bool:
        """True when no phase is flagged (answers kept, not slower than the phase before)."""
        return all(p.ok for p in self.phases)


def _stamped(kind: str) -> Path:
    return DEFAULT_REPORTS / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}"


def compare(experiment: str | Path | Experiment | None = None, *, solver: Optional[str] = None,
            tasks: Optional[str] = None, strategies: Optional[Sequence[str]] = None,
            backends: Optional[Sequence[str]] = None, workers: Any = None, repeats: Optional[int] = None,
            warmup: Optional[int] = None, timeout: Optional[float] = None, chunk_size: Optional[int] = None,
            solver_options: Optional[dict[str, Any]] = None, name: Optional[str] = None,
            out: str | Path | None = None, store: str | Path = DEFAULT_STORE,
            progress: Optional[Progress] = None, task_list: Optional[list[Task]] = None,
            profile: bool = False) -> CompareResult:
    """Run an experiment (strategies × backends × workers × repeats, interleaved) and write its
    report folder (report.md, report.html, charts).

    ``experiment``: a TOML path (experiments/*.toml) or an :class:`Experiment` (None: the
    defaults); keyword arguments override its fields (``warmup``: repeats run first and left
    out of the comparison). ``task_list``: hand-made tasks used
    instead of loading ``tasks``. ``profile``: also profile one run of every configuration
    and link the profiles from the report. ``result.differences`` is True when any answer
    differs from sequential.
    """
    exp = experiment if isinstance(experiment, Experiment) else (
        load_experiment(experiment) if experiment is not None else Experiment())
    exp = with_overrides(exp, solver=solver, tasks=tasks, strategies=strategies, backends=backends,
                         workers=workers, repeats=repeats, warmup=warmup, timeout=timeout, chunk_size=chunk_size,
                         solver_options=solver_options or None, name=name)
    runs = run_experiment(exp, Path(store), progress, task_list)
    folder = Path(out) if out is not None else _stamped("compare")
    links = profile_configs(runs, folder, task_list) if profile else None
    return _report(runs, folder, exp.name, links)


def report(run_dirs: Sequence[str | Path], out: str | Path | None = None, name: Optional[str] = None,
           allow_mixed: bool = False) -> CompareResult:
    """Render the comparison report of stored runs into ``out`` without running anything.

    Runs of different solvers (or solver options) or task sets raise :class:`MixedRuns` unless
    ``allow_mixed``; runs that did not complete are left out of every figure and named in the
    report (``result.left_out``); when none completed, a ConfigError on ``run_dirs``.
    """
    if not run_dirs:
        raise ConfigError("run_dirs", reason="give at least one run folder")
    runs = [load_run(p) for p in run_dirs]
    why = mixed_workloads(runs)
    if why and not allow_mixed:
        raise MixedRuns(why)
    if name is None:
        labels = {r.config.label for r in runs} - {None}
        name = labels.pop() if len(labels) == 1 else "comparison"
    return _report(runs, Path(out) if out is not None else _stamped("compare"), name, None)


def _report(runs: list[Run], folder: Path, name: str, profiles: Optional[list[tuple[str, str, str]]]) -> CompareResult:
    finished, left_out = split_finished(runs)
    if not finished:
        raise ConfigError("run_dirs", [str(r.path) for r in runs], describe_left_out(left_out))
    comparison = analyse(finished)
    return CompareResult(comparison, write_report(comparison, folder, name, profiles, left_out), finished, left_out)


def gate(baseline: Sequence[str | Path], current: Sequence[str | Path] = (), *,
         threshold: float = DEFAULT_THRESHOLD, metrics: Sequence[str] = METRICS, normalise: str = "auto",
         repeats: Optional[int] = None, store: str | Path = DEFAULT_STORE) -> GateResult:
    """Check the current code against a baseline: answers first, then each metric.

    ``baseline``: run folders, a baseline file, or a baseline NAME (reports/baselines/NAME.json).
    ``current``: run folders; empty means measure the current code now with the baseline's
    configuration (``repeats`` times, default the baseline's repeats and at least 5) into
    ``store``. ``metrics`` empty checks the answers only.
    """
    base = load_side(list(baseline), "baseline")
    if current:
        cur = load_side(list(current), "current")
    else:
        cur = measure(base.run_config(), repeats or max(len(base.repeats), DEFAULT_REPEATS), Path(store))
    return judge(base, cur, threshold, list(metrics), normalise)


def save_baseline(name: str, runs: Sequence[str | Path] = (), *, config: Optional[RunConfig] = None,
                  repeats: int = DEFAULT_REPEATS, store: str | Path = DEFAULT_STORE,
                  directory: str | Path | None = None) -> Path:
    """Write ``directory/NAME.json`` (default reports/baselines/) from stored repeats of one
    experiment (``runs``), or from ``repeats`` fresh runs of ``config``. Returns the file."""
    if runs:
        side = load_side(list(runs), "runs")
    elif config is not None:
        side = measure(config, repeats, Path(store), label=f"baseline-{name}")
    else:
        raise ConfigError("runs", reason="give run folders or a configuration to measure")
    return write_baseline(name, side, Path(directory) if directory is not None else BASELINE_DIR)


def phases(specs: Sequence[str], *, threshold: float = DEFAULT_THRESHOLD, store: str | Path = DEFAULT_STORE,
           out: str | Path | None = None) -> PhasesResult:
    """A phase report: each phase (a run folder, or the complete runs of a label, in order; the
    first is the baseline) with its wall, CPU, candidates and answers against the baseline."""
    loaded = []
    for spec in specs:
        runs = find_runs(spec, Path(store))
        loaded.append((runs[0].config.label or runs[0].path.name, runs))
    rows = phase_table(loaded, threshold)
    folder = phase_report.write(rows, Path(out) if out is not None else _stamped("phases"))
    return PhasesResult(rows, folder)


def profile(config: RunConfig, profiler: str = "pyinstrument", out: str | Path | None = None,
            **options: Any) -> ProfileResult:
    """Run ``config`` under ``profiler`` (pyinstrument or py-spy) and write the profile; see
    :func:`perfkit.orchestration.profiling.profile` for the options."""
    return _profile(config, profiler, out, **options)


def validate_tasks(path: str | Path) -> list[Task]:
    """Check ARC JSON (a task file, a folder, a challenges file) without running anything."""
    from perfkit.tasks import validate_path

    return validate_path(path)


def load_tasks(spec: str) -> list[Task]:
    """The tasks a spec selects (a dataset[:N|:ID,ID], ``default``, ``synthetic:NxD+T`` or a path)."""
    from perfkit.tasks import load_tasks as load

    return load(spec)


__all__ = ["CompareResult", "PhasesResult", "compare", "gate", "load_run", "load_tasks", "phases", "profile",
           "report", "resume", "run", "save_baseline", "validate_tasks"]
