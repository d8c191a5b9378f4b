"""``perfkit predict``: from one stored run, the predicted wall of every strategy × backend ×
workers × chunk size × timeout on this machine or on one described by its cores and speed.

This module only gathers: the reference run (the store), this machine's backend costs
(:mod:`perfkit.orchestration.calibration`, measured once and stored), the sweep (pure,
:mod:`perfkit.analysis.prediction.predict`) and the report (:mod:`perfkit.reports.prediction`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from perfkit.analysis.prediction import Execution, Machine, workload_of
from perfkit.analysis.prediction.predict import Sweep, sweep
from perfkit.errors import PerfkitError
from perfkit.model import TimeoutPolicy
from perfkit.orchestration import calibration

DEFAULT_WORKERS = (1, 2, 4, 8, 16, 64)
DEFAULT_STRATEGIES = ("sequential", "sample-parallel", "candidate-parallel", "hybrid")
DEFAULT_BACKENDS = ("process", "thread")


@dataclass
class PredictResult:
    """The sweep and where its report was written."""

    sweep: Sweep
    report_dir: Path


class PredictionInputError(PerfkitError):
    """A bad prediction input; ``field`` names it (the CLI maps it to its option)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


def _check(strategies: Sequence[str], backends: Sequence[str], workers: Sequence[int], speed: float,
           cores: Optional[int], machines: int, timeouts: Sequence[float], chunk_sizes: Sequence[Optional[int]]) -> None:
    from perfkit import strategies as registry
    from perfkit.analysis.prediction.model import DEFAULT_COSTS

    for name in strategies:
        registry.get(name)
    for name in backends:
        if name not in DEFAULT_COSTS:
            raise PredictionInputError("backends", f"{name!r}: unknown backend; known: {', '.join(DEFAULT_COSTS)}")
    if not workers or min(workers) < 1:
        raise PredictionInputError("workers", f"{list(workers)}: every worker count must be at least 1")
    if not speed > 0:
        raise PredictionInputError("speed", f"{speed}: must be positive (1 = this machine)")
    if cores is not None and cores < 1:
        raise PredictionInputError("cores", f"{cores}: must be at least 1")
    if machines < 1 or (machines > 1 and set(backends) - {"dask"}):
        raise PredictionInputError("machines", f"{machines}: must be at least 1, and more than 1 only for dask")
    if any(not t > 0 for t in timeouts):
        raise PredictionInputError("timeouts", f"{list(timeouts)}: every timeout must be positive")
    if any(c is not None and c < 1 for c in chunk_sizes):
        raise PredictionInputError("chunk_sizes", f"{list(chunk_sizes)}: every chunk size must be at least 1")


def predict(run_dir: str | Path, *, strategies: Sequence[str] = DEFAULT_STRATEGIES,
            backends: Sequence[str] = DEFAULT_BACKENDS, workers: Sequence[int] = DEFAULT_WORKERS,
            chunk_sizes: Sequence[Optional[int]] = (None,), timeouts: Sequence[float] = (),
            sample_budget_s: Optional[float] = None, task_budget_s: Optional[float] = None,
            speed: float = 1.0, cores: Optional[int] = None, machines: int = 1,
            execution: Execution = Execution(), cooperative: Optional[bool] = None,
            calibration_dir: str | Path = calibration.DEFAULT_DIR, recalibrate: bool = False,
            measure: bool = True, out: str | Path | None = None) -> PredictResult:
    """Predict every configuration from the stored run ``run_dir`` and write the report.

    ``speed``: the target machine's single-core speed relative to this one; ``cores``: its
    usable cores (default: the reference run's); ``machines``: Dask only, workers spread over
    that many machines of ``cores`` each. ``timeouts``: the first is the sweep's per-unit
    timeout (default: the reference's); each one also gets a "what it would cut" section.
    The backends' costs are this machine's stored calibration, measured first when missing
    (``measure=False``: built-in defaults instead) or when ``recalibrate``.
    """
    from perfkit.reports import prediction as report
    from perfkit.store import load_run

    _check(strategies, backends, workers, speed, cores, machines, timeouts, chunk_sizes)
    run = load_run(run_dir)
    if not len(run.units):
        raise PredictionInputError("run_dir", f"{run_dir}: the run has no recorded unit to predict from")
    workload = workload_of(run)
    machine = Machine(cores or workload.reference_cores, speed, machines, parent_shares_cores=machines == 1)
    costs = calibration.costs_for(sorted({"inline", *backends}), Path(calibration_dir), recalibrate, measure)
    result = sweep(workload, costs, machine, strategies=strategies, backends=backends, workers=workers,
                   chunk_sizes=chunk_sizes, timeouts=timeouts,
                   budgets=TimeoutPolicy(1.0, sample_budget_s, task_budget_s), execution=execution,
                   cooperative=cooperative)
    folder = Path(out) if out is not None else Path("reports") / f"predict-{time.strftime('%Y%m%d-%H%M%S')}"
    report.write(result, folder, Path(run_dir).name)
    return PredictResult(result, folder)
