"""Backends: where work items run. The registry of backend names; the contract every backend
meets is perfkit/backends/base.py."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from perfkit.backends.budget import Budget, StartTable
from perfkit.backends.base import KILL_GRACE_S, Assignment, Backend, SolverRef, WorkerFailure, WorkerUsage, build_solver
from perfkit.model import ConfigError

#: Backend name -> "module:class", imported only when the backend is used (Dask is heavy).
BACKENDS: dict[str, str] = {
    "inline": "perfkit.backends.inline:InlineBackend",
    "thread": "perfkit.backends.thread:ThreadBackend",
    "process": "perfkit.backends.process:ProcessBackend",
    "dask": "perfkit.backends.dask:DaskBackend",
}


def check_backend(name: str) -> str:
    """``name`` when it is a registered backend; a ConfigError listing the known ones otherwise."""
    if name not in BACKENDS:
        raise ConfigError("backend", name, f"unknown backend; known: {', '.join(BACKENDS)}")
    return name


def check_backend_options(name: str, options: dict[str, Any]) -> None:
    """Every option is one the backend takes, and the backend's own check passes (Dask: the
    scheduler answers); a ConfigError naming ``backend_options.KEY`` otherwise."""
    cls = _backend_class(name)
    known = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    for key in options:
        if key not in known:
            raise ConfigError(f"backend_options.{key}", options[key],
                              f"not an option of the {name} backend (it takes: {', '.join(known) or 'none'})")
    check = getattr(cls, "check_options", None)
    if check is not None:
        check(**options)


def _backend_class(name: str) -> Any:
    module, _, cls = BACKENDS[check_backend(name)].partition(":")
    return getattr(importlib.import_module(module), cls)


def get_backend(name: str, **options: Any) -> Backend:
    """A new backend instance by name, built with its keyword ``options``."""
    return _backend_class(name)(**options)


__all__ = ["BACKENDS", "KILL_GRACE_S", "Assignment", "Backend", "Budget", "SolverRef", "StartTable", "WorkerFailure",
           "WorkerUsage", "build_solver", "check_backend", "check_backend_options", "get_backend"]
