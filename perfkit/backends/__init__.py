"""Backends: where work items run. The registry of backend names; the contract every backend
meets is perfkit/backends/base.py."""

from __future__ import annotations

import importlib
from typing import Any

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


def get_backend(name: str, **options: Any) -> Backend:
    """A new backend instance by name, built with its keyword ``options``."""
    module, _, cls = BACKENDS[check_backend(name)].partition(":")
    return getattr(importlib.import_module(module), cls)(**options)


__all__ = ["BACKENDS", "KILL_GRACE_S", "Assignment", "Backend", "SolverRef", "WorkerFailure", "WorkerUsage",
           "build_solver", "check_backend", "get_backend"]
