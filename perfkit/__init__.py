"""perfkit: profiling and benchmarking for candidate-search solvers.

The Python API (each CLI verb is a thin wrapper over one of these)::

    import perfkit
    path = perfkit.run(perfkit.RunConfig(solver="arc", tasks="arc1-training:10"))
    run = perfkit.load_run(path)          # run.units is a pandas DataFrame

Names are imported lazily so that a worker process importing ``perfkit.backends.unit`` does
not pay for pandas or matplotlib.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_API = {
    "run": "perfkit.runner",
    "resume": "perfkit.runner",
    "load_run": "perfkit.store",
    "Run": "perfkit.store",
    "RunConfig": "perfkit.model",
    "TimeoutPolicy": "perfkit.model",
    "Task": "perfkit.model",
    "Sample": "perfkit.model",
    "Outcome": "perfkit.model",
    "DeadlineExceeded": "perfkit.model",
    "PerfkitError": "perfkit.errors",
    "load_tasks": "perfkit.tasks",
    "load_solver": "perfkit.solvers",
    "profile": "perfkit.profiling",
    "ProfileResult": "perfkit.profiling",
}

__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'perfkit' has no attribute {name!r}")
