"""perfkit: profiling and benchmarking for candidate-search solvers.

The Python API; each command-line verb is a thin wrapper over one of these::

    import perfkit
    run = perfkit.run(perfkit.RunConfig(solver="arc", tasks="arc1-training:10"))
    run.units                      # a pandas DataFrame, one row per unit
    result = perfkit.compare("experiments/default.toml")
    verdict = perfkit.gate(["ci-arc"])

Names are imported lazily, so that a worker process importing perfkit's worker side does not
pay for pandas or matplotlib; the imports under TYPE_CHECKING show them to IDEs and type
checkers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_API = {
    "run": "perfkit.api",
    "resume": "perfkit.api",
    "compare": "perfkit.api",
    "report": "perfkit.api",
    "gate": "perfkit.api",
    "history": "perfkit.api",
    "count_instructions": "perfkit.api",
    "save_baseline": "perfkit.api",
    "phases": "perfkit.api",
    "profile": "perfkit.api",
    "predict": "perfkit.api",
    "validate_tasks": "perfkit.api",
    "load_tasks": "perfkit.api",
    "load_run": "perfkit.api",
    "CompareResult": "perfkit.api",
    "PhasesResult": "perfkit.api",
    "PredictResult": "perfkit.api",
    "Run": "perfkit.store",
    "RunSummary": "perfkit.store",
    "Experiment": "perfkit.orchestration.experiment",
    "GateResult": "perfkit.analysis.gate",
    "ProfileResult": "perfkit.orchestration.profiling",
    "RunConfig": "perfkit.model",
    "TimeoutPolicy": "perfkit.model",
    "Task": "perfkit.model",
    "Sample": "perfkit.model",
    "Outcome": "perfkit.model",
    "DeadlineExceeded": "perfkit.model",
    "PerfkitError": "perfkit.model",
    "ConfigError": "perfkit.model",
    "load_solver": "perfkit.solvers",
}

__all__ = sorted(_API)

if TYPE_CHECKING:  # pragma: no cover - what the lazy names are, for IDEs and type checkers
    from perfkit.analysis.gate import GateResult
    from perfkit.api import (
        CompareResult,
        PhasesResult,
        PredictResult,
        compare,
        count_instructions,
        gate,
        history,
        load_run,
        load_tasks,
        phases,
        predict,
        profile,
        report,
        resume,
        run,
        save_baseline,
        validate_tasks,
    )
    from perfkit.model import (
        ConfigError,
        DeadlineExceeded,
        Outcome,
        PerfkitError,
        RunConfig,
        Sample,
        Task,
        TimeoutPolicy,
    )
    from perfkit.orchestration.experiment import Experiment
    from perfkit.orchestration.profiling import ProfileResult
    from perfkit.solvers import load_solver
    from perfkit.store import Run, RunSummary


def __getattr__(name: str) -> Any:
    if name == "__version__":  # written once, in pyproject.toml
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("perfkit")
        except PackageNotFoundError:  # pragma: no cover - a source tree that is not installed
            return "0+unknown"
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'perfkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
