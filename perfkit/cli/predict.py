"""``perfkit predict``: a thin wrapper over :func:`perfkit.api.predict`."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Optional

import typer

from perfkit.cli.command import app, console
from perfkit.cli.options import Quiet, split_list
from perfkit.cli.output import print_notes, print_paths, set_quiet, solver_output_on_stderr
from perfkit.model import ConfigError


def _numbers(value: Optional[str], kind: type, field: str) -> Optional[list[Any]]:
    """``1,2,auto`` → numbers (``auto`` → None: the automatic chunk size)."""
    items = split_list(value)
    if items is None:
        return None
    try:
        return [None if v == "auto" and field == "chunk_sizes" else kind(v) for v in items]
    except ValueError:
        raise ConfigError(field, value, f"expected comma-separated {kind.__name__}s") from None


@app.command("predict")
def predict_cmd(
    run_dir: Path = typer.Argument(..., metavar="RUN_DIR", help="a stored run (ideally sequential) to predict from"),
    strategies: Optional[str] = typer.Option(None, metavar="NAME,...",
                                             help="comma-separated strategies (default: the four built-ins)"),
    backends: Optional[str] = typer.Option(None, metavar="NAME,...",
                                           help="comma-separated backends (default: process,thread)"),
    workers: Optional[str] = typer.Option(None, metavar="N,...",
                                          help="comma-separated workers per machine (default 1,2,4,8,16,64)"),
    chunk_size: Optional[str] = typer.Option(None, "--chunk-size", metavar="N,...",
                                             help='comma-separated chunk sizes, or "auto"'),
    timeout: Optional[str] = typer.Option(None, metavar="SECONDS,...",
                                          help="comma-separated per-unit timeouts, seconds; the first is the "
                                          "sweep's (default: the run's), each says what it would cut"),
    sample_budget: Optional[float] = typer.Option(None, metavar="SECONDS", help="seconds per sample, then skip"),
    task_budget: Optional[float] = typer.Option(None, metavar="SECONDS", help="seconds per task, then skip"),
    speed: float = typer.Option(1.0, metavar="FACTOR",
                                help="the target machine's single-core speed relative to this one"),
    cores: Optional[int] = typer.Option(None, metavar="N",
                                        help="the target machine's usable cores (default: the run's)"),
    machines: int = typer.Option(1, metavar="N", help="dask: machines, each with --cores cores and --workers workers"),
    cooperative: Optional[bool] = typer.Option(None, "--cooperative/--not-cooperative",
                                               help="the solver stops itself at its deadline (default: as the run showed)"),
    generation: Optional[str] = typer.Option(None, metavar="MODE",
                                             help="candidate generation: serial (in the parent, the workers "
                                             "wait), overlapped (in the parent, beside the units) or workers "
                                             "(a job on the workers); default: how perfkit runs today"),
    task_barrier: Optional[bool] = typer.Option(None, "--task-barrier/--no-task-barrier",
                                                help="a barrier between tasks (default: how perfkit runs today)"),
    startup: Optional[str] = typer.Option(None, metavar="MODE",
                                          help="worker start-up inside each run's wall (run) or outside it "
                                          "(compare); default: how perfkit runs today"),
    join_taper: Optional[bool] = typer.Option(None, "--join-taper/--no-join-taper",
                                              help="with generation on the workers: a stage's tapered pieces "
                                              "handed out joined while later work waits (default: how perfkit "
                                              "runs today)"),
    recalibrate: bool = typer.Option(False, "--recalibrate", help="measure this machine's backend costs (and the "
                                     "GIL probe) again"),
    gil_probe: bool = typer.Option(True, "--gil-probe/--no-gil-probe",
                                   help="threads: measure (once per machine and solver, then reuse) what the "
                                   "solver's units cost on several threads — the GIL's hand-overs"),
    max_leaked: Optional[int] = typer.Option(None, "--max-leaked", metavar="N",
                                             help="threads: abandoned units still running a run tolerates, the "
                                             "thread backend's max_leaked option (default: 4 per worker)"),
    calibration_dir: Path = typer.Option(Path("reports/calibration"), metavar="DIR",
                                         help="where calibrations are stored"),
    out_dir: Optional[Path] = typer.Option(None, "--out", metavar="DIR",
                                           help="report folder (default reports/predict-<time>)"),
    quiet: Quiet = False,
) -> None:
    """Predict the wall of every strategy × backend × workers × chunk × timeout from one run."""
    set_quiet(quiet)
    # imported here, not at the top: they pull in scipy and matplotlib, which other verbs do not need
    from perfkit.analysis.prediction.model import RUNNER
    from perfkit.analysis.prediction.predict import busy_reference, doubtful, loses_answers, verdict
    from perfkit.analysis.text import count
    from perfkit.api import PREDICT_BACKENDS, PREDICT_STRATEGIES, PREDICT_WORKERS, predict
    from perfkit.reports import report_files
    from perfkit.reports.prediction import knee_where

    try:
        given = {"generation": generation, "task_barrier": task_barrier, "startup": startup, "join_taper": join_taper}
        execution = replace(RUNNER, **{k: v for k, v in given.items() if v is not None})
    except ValueError as exc:
        raise ConfigError("execution", reason=str(exc)) from None
    per_machine = _numbers(workers, int, "workers") or list(PREDICT_WORKERS)
    with solver_output_on_stderr():  # its probes run the solver (the daemon probe's process shares stdout)
        result = predict(run_dir, strategies=split_list(strategies) or PREDICT_STRATEGIES,
                         backends=split_list(backends) or PREDICT_BACKENDS, workers=[w * machines for w in per_machine],
                         chunk_sizes=_numbers(chunk_size, int, "chunk_sizes") or [None],
                         timeouts=_numbers(timeout, float, "timeouts") or [], sample_budget_s=sample_budget,
                         task_budget_s=task_budget, speed=speed, cores=cores, machines=machines, execution=execution,
                         cooperative=cooperative, calibration_dir=calibration_dir, recalibrate=recalibrate,
                         gil_probe=gil_probe, max_leaked=max_leaked, out=out_dir)
    print_notes(result.notes)
    s = result.sweep
    seq = s.predictions[0]
    console.print(f"sequential/inline×1 predicted {seq.wall_s:.3f} s (the run measured {s.workload.reference_wall_s:.3f} s)",
                  highlight=False)
    if result.gil_probe:
        console.print(f"- {result.gil_probe}", highlight=False, markup=False, soft_wrap=True)
    busy = busy_reference(s.workload)
    if busy:
        console.print(f"- warning: {busy}", style="yellow", highlight=False, markup=False, soft_wrap=True)
    for p in s.predictions[1:]:
        # more workers for no gain (within the model's error), or answers lost or at risk
        if p.config.workers > 1 and (doubtful(p) or p.at_risk):
            speed = "its work unfinished" if p.result.stopped_s is not None else f"{p.speedup:.2f}×"
            console.print(f"- {p.name}: {verdict(p)}, {p.wall_s:.3f} s ({speed})"
                          f"{', answers lost' if loses_answers(p) else ''} — {p.why}", highlight=False, markup=False,
                          soft_wrap=True)
    for w, p in sorted(s.best.items()):
        if p is not None:
            console.print(f"{count(w, 'worker'):>12}: best {p.name} {p.wall_s:.3f} s ({p.speedup:.2f}×)", highlight=False,
                          markup=False)
    for k in s.knees:
        console.print(f"{k.curve}: {knee_where(k)} — {k.why}", highlight=False, markup=False, soft_wrap=True)
    print_paths(report_files(result.report_dir))
