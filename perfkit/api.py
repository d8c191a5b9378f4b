"""perfkit's public verbs: one function per command-line verb, each usable from a notebook.

The command line (perfkit/cli/) parses flags and calls these; they call the layers below
(runner, store, analysis, orchestration) and the renderers (reports). Every error is a
:class:`perfkit.model.PerfkitError`; a :class:`perfkit.model.ConfigError` names the field.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from perfkit.analysis.comparison import Comparison, analyse, reference_of
from perfkit.analysis.findings import Finding
from perfkit.analysis.gate import (
    DEFAULT_INSTRUCTION_THRESHOLD,
    DEFAULT_THRESHOLD,
    DEFAULT_PAIRED_METRICS,
    PAIRED_METRICS,
    TIMING_METRICS,
    GateResult,
    check_metrics,
)
from perfkit.analysis.gate import gate as judge
from perfkit.analysis.history import History
from perfkit.analysis.history import history as history_of
from perfkit.analysis.phases import Phase, phase_table
from perfkit.analysis.prediction import DEFAULT_COSTS, Execution, Machine, workload_of
from perfkit.analysis.prediction.model import DAEMONIC_BACKENDS
from perfkit.analysis.prediction.model import RUNNER
from perfkit.analysis.prediction.predict import Sweep, model_check, sweep
from perfkit.analysis.runset import LeftOut, MixedRuns, mixed_workloads, split_finished
from perfkit.analysis.text import count
from perfkit.backends import stray_threads
from perfkit.model import ConfigError, PerfkitError, RunConfig, Task, TimeoutPolicy, sample_level_run
from perfkit.orchestration.calibration import DEFAULT_DIR as CALIBRATION_DIR
from perfkit.orchestration.calibration import costs_for
from perfkit.orchestration.compare import Progress, profile_configs, run_experiment
from perfkit.orchestration.experiment import Experiment, check_strategies, load_experiment, with_overrides
from perfkit.orchestration.forked import Forked
from perfkit.orchestration import daemon_probe
from perfkit.orchestration import gate as gauge
from perfkit.orchestration.gate import DEFAULT_REPEATS, MAX_PAIRS, check_pairs, check_repeats, measure
from perfkit.orchestration.profiling import ProfileResult
from perfkit.orchestration.profiling import profile as _profile
from perfkit.reports import phases as phase_report
from perfkit.reports import write_report
from perfkit.runner import resume, run
from perfkit.store import DEFAULT_STORE, Run, find_runs, load_run
from perfkit.store.folder import output_folder
from perfkit.store.baseline import (
    BASELINE_DIR,
    IncompatibleBuild,
    Side,
    check_comparable,
    load_side,
    resolve_baseline,
    write_baseline,
)
from perfkit.store.history import HistoryRecord, append_history, benchmark_name, build_digest, now, read_history
from perfkit.strategies import sample_level_names

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
    #: Written by a separate process, away from threads earlier thread runs could not stop.
    written_apart: bool = False

    @property
    def differences(self) -> bool:
        """True when any run's answers differ from the sequential reference."""
        return self.comparison.differences


@dataclass
class PhasesResult:
    """The phase table and the folder its report was written to."""

    phases: list[Phase]
    report_dir: Path
    #: What reading the phases' runs skipped or worked around (a torn record), one sentence each.
    notes: list[str] = field(default_factory=list)

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
            profile: bool = False, plugins: Optional[Sequence[str]] = None) -> CompareResult:
    """Run an experiment (strategies × backends × workers × repeats, interleaved) and write its
    report folder (report.md, report.html, report.json, charts).

    ``experiment``: a TOML path (experiments/*.toml) or an :class:`Experiment` (None: the
    defaults); keyword arguments override its fields (``warmup``: repeats run first and left
    out of the comparison; ``plugins``: modules imported first, in every worker too, such as one
    registering a strategy). ``task_list``: hand-made tasks used
    instead of loading ``tasks``. ``profile``: also profile one run of every configuration
    and link the profiles from the report. ``result.differences`` is True when any answer
    differs from sequential.
    """
    exp = experiment if isinstance(experiment, Experiment) else (
        load_experiment(experiment) if experiment is not None else Experiment())
    exp = with_overrides(exp, solver=solver, tasks=tasks, strategies=strategies, backends=backends,
                         workers=workers, repeats=repeats, warmup=warmup, timeout=timeout, chunk_size=chunk_size,
                         solver_options=solver_options or None, name=name, plugins=plugins or None)
    # absolute, taken before any solver runs: a solver's chdir cannot move the report
    folder = (Path(out) if out is not None else _stamped("compare")).absolute()
    if out is not None:  # the caller's folder is made first: one that cannot be (a file's name) fails before the runs
        output_folder(folder)
    try:
        ran = run_experiment(exp, Path(store).absolute(), progress, task_list)
    except ConfigError as exc:
        from_file = isinstance(experiment, (str, Path)) and not (solver or solver_options)
        if not from_file or not (exc.field == "solver" or exc.field.startswith("solver_options.")):
            raise
        # the file named the solver and its options: the line names the file, as for its other fields
        options = f" (with its solver_options {', '.join(exp.solver_options)})" \
            if exp.solver_options and exc.field == "solver" else ""
        shown = f" {exc.value!r}{options}:" if exc.has_value else ""
        raise PerfkitError(f"{experiment}: field {exc.field!r}:{shown} {exc.reason}") from None
    links = profile_configs(ran.runs, folder, task_list) if profile else None
    return _report(ran.runs, folder, exp.name, links, ran.not_run)


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


def _report(runs: list[Run], folder: Path, name: str, profiles: Optional[list[tuple[str, str, str]]],
            not_run: Sequence[LeftOut] = ()) -> CompareResult:
    if stray_threads()[0]:
        # threads the thread backend could not stop (units that ignore their deadline) hold this
        # process's GIL: analysing and drawing beside them crawls (sympy's report beside six of
        # them took over 10 minutes, docs/benchmarks.md "Session 9: sympy"); a spawned child has
        # none of them. The runs are read again from their folders there.
        apart = Forked(_report_of_folders, [r.path for r in runs], folder, name, profiles, list(not_run),
                       spawn_beside_threads=True)
        written_apart = apart.forked
        return replace(apart.result(), written_apart=written_apart)
    return _report_here(runs, folder, name, profiles, not_run)


def _report_of_folders(paths: list[Path], folder: Path, name: str, profiles: Optional[list[tuple[str, str, str]]],
                       not_run: list[LeftOut]) -> CompareResult:
    """:func:`_report` of the runs stored in ``paths`` (in a child process: see :func:`_report`)."""
    return _report_here([load_run(p) for p in paths], folder, name, profiles, not_run)


def _report_here(runs: list[Run], folder: Path, name: str, profiles: Optional[list[tuple[str, str, str]]],
                 not_run: Sequence[LeftOut] = ()) -> CompareResult:
    finished, left_out = split_finished(runs)
    left_out += not_run
    if not finished:
        # what reading the runs skipped is why a complete run can have no unit (its one record
        # torn): said here, as the report would have said it as a warning
        raise ConfigError("run_dirs", reason="no complete run with a recorded unit to compare: "
                          + "; ".join(x.sentence for x in left_out)
                          + "".join(f"\n{note}" for run in runs for note in run.notes))
    # the daemon probe starts a daemonic process, which the forked child (daemonic itself) cannot:
    # where it may run, the workload is built here first, else in the child (building it here
    # takes this process half a second for 34,000 units)
    here = _compared_workload(finished) if _daemonic(finished) else None
    model = Forked(_model, finished, here)  # on the other core while this one analyses (perfkit/orchestration/forked.py)
    comparison = analyse(finished)
    if comparison.reference is not None:
        comparison.model, comparison.model_calibrated, note = model.result()
        if note:
            comparison.findings.append(Finding("model-daemon-probe", "warning", "", f"Predicted column: {note}."))
    return CompareResult(comparison, write_report(comparison, folder, name, profiles, left_out), finished, left_out)


def _model(runs: list[Run], built: Optional[tuple[Any, str]] = None) -> tuple[Any, bool, str]:
    """Beside each configuration, its wall predicted from the sequential reference alone
    (perfkit predict's model and workload, :func:`_reference_workload`, with this machine's
    stored calibration or the built-in costs: no cost measured here), so that the model's
    error is in every comparison report. ``built``: :func:`_compared_workload`, when already
    built. Returns the table, whether every backend's costs were calibrated here, and the
    daemon probe's warning or "" ((None, False, "") without a reference)."""
    built = built or _compared_workload(runs)
    if built is None:
        return None, False, ""
    workload, note = built
    runs = [r for r in runs if len(r.units)]  # as the comparison's runs
    costs = costs_for(sorted({"inline"} | {r.config.backend for r in runs}), measure=False)
    return model_check(runs, workload, costs), all(c.calibrated for c in costs.values()), note


def _daemonic(runs: list[Run]) -> bool:
    """Whether the daemon probe may run for this comparison: a run on a backend with daemonic
    workers is compared, and some unit of the reference spent more CPU than wall."""
    reference = reference_of(runs)
    return (reference is not None and any(r.config.backend in DAEMONIC_BACKENDS for r in runs)
            and daemon_probe.may_run(reference))


def _compared_workload(runs: list[Run]) -> Optional[tuple[Any, str]]:
    """(The workload of the comparison's sequential reference for the backends compared, as
    ``perfkit predict`` takes it — the stored GIL probe, nothing measured; the daemon probe run
    when a unit computed on several cores and a daemonic backend is compared —, the daemon
    probe's warning or ""), or None without a reference."""
    reference = reference_of(runs)
    if reference is None:
        return None
    backends = sorted({r.config.backend for r in runs if len(r.units)})
    # a report of stored runs may be written without the solver on the import path: the
    # predicted column then says what it assumed rather than stopping the report
    workload, _, note = _reference_workload(reference, backends, measure=False, daemon=True, solver_required=False)
    return workload, note


def gate(baseline: Sequence[str | Path] = (), current: Sequence[str | Path] = (), *, base: Optional[str] = None,
         config: Optional[RunConfig] = None, threshold: float = DEFAULT_THRESHOLD,
         instruction_threshold: float = DEFAULT_INSTRUCTION_THRESHOLD, metrics: Optional[Sequence[str]] = None,
         normalise: str = "auto", repeats: Optional[int] = None, pairs: Optional[int] = None,
         rebuild_incompatible: bool = False, store: str | Path = DEFAULT_STORE, seed: Optional[int] = None) -> GateResult:
    """Check the current code against a baseline: answers first, then each metric.

    ``baseline``: run folders, a baseline file, or a baseline NAME (reports/baselines/NAME.json).
    ``current``: run folders; empty means measure the current code now with the baseline's
    configuration (or ``config``) into ``store``. ``base``: a git ref instead of a baseline —
    its revision is measured here, in a temporary worktree, against the current code: instruction
    counts side by side and timing in randomised interleaved pairs (at most ``pairs``, default
    ``MAX_PAIRS``; ``pairs`` without ``base`` is refused: nothing else measures pairs).

    ``metrics``: ``instructions``, ``cpu``, ``wall``, and against ``base`` also ``unqueued`` (the
    wall less the time the run waited for a core); None means instructions when the baseline has
    them (else cpu and wall), and instructions, unqueued and cpu against ``base``; empty checks
    the answers only.
    Instruction counts of different builds are refused (IncompatibleBuild, exit status 2) when
    asked for explicitly, unless ``rebuild_incompatible`` (implied when ``metrics`` is None):
    then the revision that last committed the baseline file is measured here as the base: its
    count from a counted run, its wall and CPU from timed runs alternated with the current code's
    (``orchestration.gate.timed_repeats``); timing is not judged when it cannot be timed.
    Every figure measured is appended to the store's history.
    """
    store = Path(store)
    if pairs is not None and base is None:
        raise ConfigError("pairs", pairs, "interleaved pairs are measured only against a base revision (a git ref), "
                          "and none is given")
    if base is not None:
        return _gate_against_revision(base, baseline, config, threshold, instruction_threshold, metrics, pairs, store,
                                      seed)
    if repeats is not None:  # before a counted run: a rebuilt base's timing failure would swallow it
        check_repeats(repeats)
    base_side = load_side(list(baseline), "baseline")
    rebuild_incompatible = rebuild_incompatible or metrics is None
    chosen = list(metrics) if metrics is not None else (["instructions"] if base_side.build else list(TIMING_METRICS))
    check_metrics(chosen, threshold, instruction_threshold, paired=False)
    if current:
        cur = load_side(list(current), "current")
        if "instructions" in chosen:
            check_comparable(base_side, cur)
        return judge(base_side, cur, threshold, chosen, normalise, instruction_threshold=instruction_threshold)
    run_config = config or base_side.run_config()
    timing = [m for m in chosen if m in TIMING_METRICS]
    n_timed = repeats or max(len(base_side.repeats), DEFAULT_REPEATS)
    if "instructions" not in chosen:
        cur = measure(run_config, n_timed, store)
        _record_history(store, "gate", [cur], chosen)
        return judge(base_side, cur, threshold, chosen, normalise)
    head = gauge.count_instructions(run_config, store, [gauge.head_target()])[0]
    notes: list[str] = []
    timed: Optional[Side] = None
    try:
        check_comparable(base_side, head)
    except IncompatibleBuild as exc:
        if not rebuild_incompatible:
            raise
        sha = gauge.last_commit_of(resolve_baseline(str(baseline[0])), gauge.repository())
        with gauge.base_revision(sha, shared=True) as (target, how):
            measured = gauge.count_instructions(run_config, store, [target])[0]
            if timing:  # the rebuilt base is timed as the current code is, alternated with it
                try:
                    timed_base, timed = gauge.timed_repeats(run_config, [target, gauge.head_target()], n_timed,
                                                            store, seed)
                    measured = gauge.beside_count(measured, timed_base)
                    how += (f", timed by {count(n_timed, 'timed run')} (fresh processes, outside valgrind) "
                            "alternated with the current code's")
                except gauge.TimedRunFailed as err:
                    if err.target != target.name:
                        raise  # the current code's own run failed: not a base revision to leave untimed
                    notes.append(f"timing not judged: the base revision could not be timed ({err}); its "
                                 "counted run ran under valgrind, too slow to stand for its timing")
                    chosen, timing = [m for m in chosen if m not in TIMING_METRICS], []
        notes.append(f"{exc} — so {how}; answers are still checked against the baseline file")
        measured.answers, measured.repeat_answers = base_side.answers, base_side.repeat_answers
        base_side = measured
    if timing:
        timed = measure(run_config, n_timed, store) if timed is None else timed
        head = gauge.beside_count(head, timed)
        notes.append(f"The current code's answers are judged in every run of it: the counted run (repeat 1) and "
                     f"{count(len(timed.repeats), 'timed repeat')}.")
    _record_history(store, "gate", [head], chosen)
    return judge(base_side, head, threshold, chosen, normalise, instruction_threshold=instruction_threshold,
                 notes=notes)


def _gate_against_revision(ref: str, baseline: Sequence[str | Path], config: Optional[RunConfig], threshold: float,
                           instruction_threshold: float, metrics: Optional[Sequence[str]], pairs: Optional[int],
                           store: Path, seed: Optional[int]) -> GateResult:
    """``gate(base=REF)``: the revision and the current code measured here, side by side."""
    pairs = MAX_PAIRS if pairs is None else pairs
    check_pairs(pairs)
    if config is None:
        if not baseline:
            raise ConfigError("base", ref, "give the benchmark to run: a baseline, or a run configuration")
        config = load_side(list(baseline), "baseline").run_config()
    chosen = list(metrics) if metrics is not None else ["instructions", *DEFAULT_PAIRED_METRICS]
    check_metrics(chosen, threshold, instruction_threshold)
    timing = [m for m in chosen if m in PAIRED_METRICS]
    head_target = gauge.head_target()
    with gauge.base_revision(ref) as (base_target, how):
        if "instructions" in chosen:
            base_side, head_side = gauge.count_instructions(config, store, [base_target, head_target])
        else:
            base_side, head_side = (gauge.measure_side(config, store, t) for t in (base_target, head_target))
        paired = gauge.measure_pairs(config, base_target, head_target, store, timing, threshold, pairs,
                                     seed) if timing else None
    if paired is not None:
        _add_timing(base_side, paired.base)
        _add_timing(head_side, paired.head)
    # a side's repeats hold wall and CPU, not the unqueued wall: that stays in the gate's report
    _record_history(store, "gate", [base_side, head_side], [m for m in chosen if m != "unqueued"])
    return judge(base_side, head_side, threshold, chosen, instruction_threshold=instruction_threshold,
                 pairs=paired, notes=[how])


def _add_timing(side: Side, samples: dict[str, list[float]]) -> None:
    # the paired samples' medians stand for the side's timing in its history record
    for repeat in side.repeats:
        repeat.cpu_s = float(np.median(samples["cpu"])) if samples.get("cpu") else repeat.cpu_s
        repeat.wall_s = float(np.median(samples["wall"])) if samples.get("wall") else repeat.wall_s


def _record_history(store: Path, source: str, sides: Sequence[Side], metrics: Sequence[str]) -> None:
    """Append each measured side's figures to the store's history (median over its repeats)."""
    records = []
    for side in sides:
        commit = str(side.environment.get("git_commit") or "unknown")
        bench = benchmark_name(side.config)
        for metric in metrics:
            values = side.instruction_counts if metric == "instructions" else \
                [r.value(metric, False) for r in side.repeats]
            if values:
                records.append(HistoryRecord(now(), commit, bench, metric, float(np.median(values)), source,
                                             build_digest(side.build) if metric == "instructions" else ""))
    append_history(store, records)


def count_instructions(config: RunConfig, store: str | Path = DEFAULT_STORE) -> Run:
    """Run ``config`` once under valgrind in a fresh process (inline backend) and store it with
    its instruction count, per task (``<run>/instructions.json``). Returns the stored run."""
    gauge.check_instruction_config(config)
    (path, _), = gauge.measure_instructions(config, Path(store), [gauge.head_target()])
    return load_run(path)


def history(metric: str = "instructions", benchmark: Optional[str] = None,
            store: str | Path = DEFAULT_STORE) -> History:
    """A metric's history over commits (``store/history.jsonl``) with its change points.
    ``benchmark``: which one (default: the one measured most recently)."""
    known = ("instructions", *TIMING_METRICS)  # what a gate or a baseline appends to the history
    if metric not in known:
        raise ConfigError("metric", metric, f"expected one of {', '.join(known)}")
    records = read_history(Path(store), metric)
    if not records:
        raise ConfigError("store", str(store), f"no {metric} measurements in its history yet")
    measured = list(dict.fromkeys(r.benchmark for r in records))
    if benchmark is not None and benchmark not in measured:
        raise ConfigError("benchmark", benchmark, f"no {metric} measurements of it in {store} (measured: "
                          + "; ".join(measured) + ")")
    return history_of(records, metric, benchmark or records[-1].benchmark)


def save_baseline(name: str, runs: Sequence[str | Path] = (), *, config: Optional[RunConfig] = None,
                  repeats: int = DEFAULT_REPEATS, store: str | Path = DEFAULT_STORE,
                  directory: str | Path | None = None, instructions: bool = False) -> Path:
    """Write ``directory/NAME.json`` (default reports/baselines/) from stored repeats of one
    experiment (``runs``), or from ``repeats`` fresh runs of ``config``; with ``instructions``
    each fresh repeat is also counted under valgrind (one count per repeat). Returns the file."""
    if runs:
        side = load_side(list(runs), "runs")
    elif config is not None:
        side = measure(config, repeats, Path(store), label=f"baseline-{name}")
        if instructions:
            counted = gauge.count_instructions(config, Path(store), [gauge.head_target()] * repeats)
            side.build = counted[0].build
            side.repeats = [replace(r, instructions=c.repeats[0].instructions,
                                    task_instructions=c.repeats[0].task_instructions)
                            for r, c in zip(side.repeats, counted)]
    else:
        raise ConfigError("runs", reason="give run folders or a configuration to measure")
    _record_history(Path(store), "baseline", [side], ["instructions", *TIMING_METRICS])
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
    return PhasesResult(rows, folder, [note for _, runs in loaded for r in runs for note in r.notes])


def profile(config: RunConfig, profiler: str = "pyinstrument", out: str | Path | None = None,
            **options: Any) -> ProfileResult:
    """Run ``config`` under ``profiler`` (pyinstrument or py-spy) and write the profile; see
    :func:`perfkit.orchestration.profiling.profile` for the options."""
    return _profile(config, profiler, out, **options)


@dataclass
class PredictResult:
    """The predictions of ``perfkit predict`` and the folder their report was written to."""

    sweep: Sweep
    report_dir: Path
    #: Where the threads' GIL hand-over cost came from ("" when no thread backend was predicted).
    gil_probe: str = ""
    #: What reading the run skipped or worked around (a torn record: fewer units to predict from),
    #: and a daemon probe that failed (what the process predictions then take as measured).
    notes: list[str] = field(default_factory=list)


#: What ``predict`` sweeps unless told otherwise.
PREDICT_STRATEGIES = ("sequential", "sample-parallel", "candidate-parallel", "hybrid")
PREDICT_BACKENDS = ("process", "thread")
PREDICT_WORKERS = (1, 2, 4, 8, 16, 64)


def predict(run_dir: str | Path, *, strategies: Sequence[str] = PREDICT_STRATEGIES,
            backends: Sequence[str] = PREDICT_BACKENDS, workers: Sequence[int] = PREDICT_WORKERS,
            chunk_sizes: Sequence[Optional[int]] = (None,), timeouts: Sequence[float] = (),
            sample_budget_s: Optional[float] = None, task_budget_s: Optional[float] = None,
            speed: float = 1.0, cores: Optional[int] = None, machines: int = 1,
            execution: Optional[Execution] = None, cooperative: Optional[bool] = None,
            calibration_dir: str | Path = CALIBRATION_DIR, recalibrate: bool = False, measure: bool = True,
            gil_probe: bool = True, max_leaked: Optional[int] = None, out: str | Path | None = None) -> PredictResult:
    """Predict, from the stored run ``run_dir`` alone (ideally sequential), every strategy ×
    backend × workers × chunk size, and write the report (report.md, report.html,
    report.json, the speedup chart).

    ``workers``: total worker counts (with ``machines`` > 1, Dask workers spread evenly over
    that many machines of ``cores`` each). ``speed``: the target machine's single-core speed
    relative to this one; ``cores``: its usable cores (default: the run's). ``timeouts``: the
    first is the sweep's per-unit timeout (default: the run's); each gets a "what it would
    cut" section. ``execution``: how perfkit runs (today's runner by default). The backends'
    costs are this machine's stored calibration, measured first when missing (a few seconds;
    ``measure=False``: built-in costs instead) or when ``recalibrate``. With a thread backend
    and ``gil_probe``, the solver's GIL hand-over cost on this machine (perfkit/orchestration/
    gil_probe.py): stored, or measured first (a few seconds) when missing or ``recalibrate``.
    ``max_leaked``: the thread backend's option of that name (abandoned units still running a
    run tolerates in all; None: its default, 4 per worker).
    """
    from perfkit.reports import prediction as prediction_report

    _check_prediction(strategies, backends, workers, speed, cores, machines, timeouts, chunk_sizes)
    if max_leaked is not None and max_leaked < 0:
        raise ConfigError("max_leaked", max_leaked, "must be at least 0 (abandoned units a thread run tolerates)")
    run = load_run(run_dir)
    if not len(run.units):
        raise ConfigError("run_dir", str(run_dir), "the run has no recorded unit to predict from")
    applicable = _applicable(strategies, sample_level_run(run.units))
    costs = costs_for(sorted({"inline", *backends}), Path(calibration_dir), recalibrate, measure)
    workload, gil_note, daemon_note = _reference_workload(run, backends, gil_probe=gil_probe, measure=measure,
                                                         daemon=measure, calibration_dir=Path(calibration_dir),
                                                         recalibrate=recalibrate)
    machine = Machine(cores or workload.reference_cores, speed, machines, parent_shares_cores=machines == 1)
    result = sweep(workload, costs, machine, strategies=applicable, backends=backends, workers=workers,
                   chunk_sizes=chunk_sizes, timeouts=timeouts, budgets=TimeoutPolicy(1.0, sample_budget_s, task_budget_s),
                   execution=execution or RUNNER, cooperative=cooperative, max_leaked=max_leaked)
    if gil_note:
        result.assumptions.append(gil_note)
    if daemon_note:
        result.assumptions.append(daemon_note)
    if len(applicable) < len(strategies):
        result.assumptions.append(f"strategies: the run's solver evaluates whole samples only, so only "
                                  f"{', '.join(applicable)} apply; {', '.join(s for s in strategies if s not in applicable)} "
                                  "left out")
    folder = Path(out) if out is not None else _stamped("predict")
    return PredictResult(result, prediction_report.write(result, folder, run.run_id), gil_note,
                         list(run.notes) + ([daemon_note] if daemon_note else []))


def _applicable(strategies: Sequence[str], whole_samples: bool) -> list[str]:
    """The ``strategies`` a run's solver can run under: an opaque solver's (``whole_samples``)
    only sample-level ones (perfkit/runner/run.py refuses the others for it)."""
    if not whole_samples:
        return list(strategies)
    applicable = [name for name in strategies if name in sample_level_names()]
    if not applicable:
        raise ConfigError("strategies", ",".join(strategies), "the run's solver evaluates whole samples only: "
                          f"expected one of {', '.join(sample_level_names())}")
    return applicable


def _reference_workload(run: Run, backends: Sequence[str], *, measure: bool, daemon: bool, gil_probe: bool = True,
                        calibration_dir: Path = CALIBRATION_DIR, recalibrate: bool = False,
                        solver_required: bool = True) -> tuple[Any, str, str]:
    """The workload the model predicts ``backends`` from, the reference ``run``'s: written once for
    ``perfkit predict`` and compare's predicted column, so that one reference gets one answer.

    With a thread backend and ``gil_probe``, the solver's GIL hand-over cost (stored, or measured
    first when ``measure``: :func:`_gil_probe`); with a daemonic backend and ``daemon``, what its
    units on several cores do there (:func:`_daemon_probe`: ~1.5 s, only when some unit computed on
    more than one core). ``solver_required``: a solver the daemon probe cannot import stops here
    (a ConfigError), else it is a warning. Returns (the workload, the GIL probe's sentence or "",
    the daemon probe's warning or "")."""
    whole_samples = sample_level_run(run.units)
    workload = workload_of(run)
    probed = None
    if whole_samples and gil_probe and "thread" in backends:
        # the probe runs single units through evaluate(), which an opaque solver does not offer
        probed = None, "threads: no GIL probe: the solver evaluates whole samples only, no hand-over cost taken"
    elif gil_probe and "thread" in backends:
        probed = _gil_probe(run, calibration_dir, recalibrate, measure)
    if probed is not None and probed[0] is not None:
        workload = workload.with_gil(probed[0])
    workload, daemon_note = _daemon_probe(run, workload, backends, whole_samples, daemon, solver_required)
    return workload, probed[1] if probed is not None else "", daemon_note


def _daemon_probe(run: Run, workload: Any, backends: Sequence[str], whole_samples: bool,
                  measure: bool, solver_required: bool = True) -> tuple[Any, str]:
    """(``workload`` with what its units on several cores do in a daemonic worker when a
    backend's workers are daemonic — perfkit/orchestration/daemon_probe.py —, "" or the
    warning saying why that was not measured and what the process predictions then assume)."""
    daemonic = [b for b in backends if b in DAEMONIC_BACKENDS]
    if not daemonic or not daemon_probe.units_to_run(workload):
        return workload, ""
    assumed = (f"units on more than one core taken to compute on {', '.join(daemonic)} workers as in the reference, "
               f"although child processes cannot start in a daemonic worker")
    if whole_samples:  # the probe runs single units through evaluate(), which an opaque solver does not offer
        return workload, f"the daemon probe not run (the solver evaluates whole samples only): {assumed}"
    if not measure:
        return workload, f"the daemon probe not run (built-in costs): {assumed}"
    try:
        return replace(workload, in_daemon=daemon_probe.measure(run, workload)), ""
    except PerfkitError as exc:
        if solver_required and isinstance(exc, ConfigError):  # the solver not importable: predict stops, as for the GIL probe
            raise
        return workload, f"the daemon probe failed ({exc}): {assumed}"


def _gil_probe(run: Run, directory: Path, again: bool, measure: bool) -> tuple[Any, str]:
    """(the solver's GIL inflation or None, the sentence saying where it came from)."""
    from perfkit.orchestration import gil_probe

    try:
        if not measure:
            inflation = gil_probe.load(run, directory)
            fresh = False
        else:
            inflation, fresh = gil_probe.inflation_for(run, directory, again)
    except ConfigError:
        # the thread predictions hinge on the probe (whether a call holds the GIL, what the
        # stopped units cost): none is better than half of a sweep said without it
        raise
    except PerfkitError as exc:
        return None, f"threads: the GIL probe failed, no hand-over cost taken ({exc})"
    if inflation is None:
        return None, "threads: the GIL probe not measured (built-in costs): no hand-over cost taken"
    factors = ", ".join(f"×{f:.2f} at {n} threads" for n, f in inflation.factors if n > 1)
    return inflation, (f"threads: this solver's units on several threads cost {factors} (held beyond "
                       f"{inflation.largest_threads}) — the GIL probe, {'measured now' if fresh else 'stored, reused'}: "
                       f"{inflation.source}")


def _check_prediction(strategies: Sequence[str], backends: Sequence[str], workers: Sequence[int], speed: float,
                      cores: Optional[int], machines: int, timeouts: Sequence[float],
                      chunk_sizes: Sequence[Optional[int]]) -> None:
    # each error names the one value to correct; machines first: the worker counts are per machine × machines
    check_strategies(strategies)
    for name in backends:
        if name not in DEFAULT_COSTS:
            raise ConfigError("backends", name, f"unknown backend; known: {', '.join(DEFAULT_COSTS)}")
    if machines < 1 or (machines > 1 and set(backends) - {"dask"}):
        raise ConfigError("machines", machines, "must be at least 1, and more than 1 only for the dask backend")
    if not workers:
        raise ConfigError("workers", reason="give at least one worker count")
    for w in workers:
        if w < 1:
            raise ConfigError("workers", w, "every worker count must be at least 1")
    if not speed > 0:
        raise ConfigError("speed", speed, "must be positive (1 = this machine)")
    if cores is not None and cores < 1:
        raise ConfigError("cores", cores, "must be at least 1")
    for t in timeouts:
        if not t > 0:
            raise ConfigError("timeouts", t, "every timeout must be positive")
    for c in chunk_sizes:
        if c is not None and c < 1:
            raise ConfigError("chunk_sizes", c, "every chunk size must be at least 1")


def validate_tasks(path: str | Path) -> list[Task]:
    """Check ARC JSON (a task file, a folder, a challenges file) without running anything."""
    from perfkit.tasks import validate_path

    return validate_path(path)


def load_tasks(spec: str) -> list[Task]:
    """The tasks a spec selects (a dataset[:N|:ID,ID], ``default``, ``synthetic:NxD+T`` or a path)."""
    from perfkit.tasks import load_tasks as load

    return load(spec)


__all__ = ["CompareResult", "PhasesResult", "PredictResult", "compare", "count_instructions", "gate", "history",
           "load_run", "load_tasks", "phases", "predict", "profile", "report", "resume", "run", "save_baseline",
           "validate_tasks"]
