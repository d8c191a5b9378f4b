"""Backends: where work items run. The registry of backend names; the contract every backend
meets is perfkit/backends/base.py."""

from __future__ import annotations

import importlib
import inspect
import json
import sys
from typing import Any

from perfkit.backends.base import (
    KILL_GRACE_S, Assignment, Backend, Event, Generated, Generation, Job, Requeued, SolverRef,
    WorkerFailure, WorkerUsage, build_solver)
from perfkit.backends.budget import Budget, StartTable
from perfkit.model import ConfigError

#: Backend name -> "module:class", imported only when the backend is used (Dask is heavy).
BACKENDS: dict[str, str] = {
    "inline": "perfkit.backends.inline:InlineBackend",
    "thread": "perfkit.backends.thread:ThreadBackend",
    "process": "perfkit.backends.process:ProcessBackend",
    "dask": "perfkit.backends.dask:DaskBackend",
}


def stray_threads() -> tuple[int, float]:
    """Threads that earlier thread-backend runs of this process abandoned (units they could not
    stop): how many still run, and their CPU seconds so far (perfkit/backends/thread.py
    ``stray_threads``); ``(0, 0.0)`` when no thread run happened in this process."""
    module = sys.modules.get("perfkit.backends.thread")
    return module.stray_threads() if module is not None else (0, 0.0)


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


class WarmBackends:
    """Backends kept up across the runs of an experiment (``perfkit compare``): a reusable
    backend — the process pool — is created once per (backend, options) and lent to every run
    that uses it; each run asks it for its number of workers (the first ones of the pool) and
    gets a fresh solver in each. Others are created per run as usual. Close it (or use it as a
    context manager) to stop the workers."""

    def __init__(self) -> None:
        self._backends: dict[tuple[str, str], Backend] = {}

    def backend(self, name: str, options: dict[str, Any]) -> Backend:
        """The warm backend ``name`` with ``options``, created on first use."""
        key = (check_backend(name), json.dumps(options, sort_keys=True, default=repr))
        backend = self._backends.get(key)
        if backend is None:
            backend = get_backend(name, **options)
            if not getattr(backend, "reusable", False):
                return backend  # the run closes it
            self._backends[key] = backend
        return backend

    def close(self) -> None:
        """Stop every warm backend's workers."""
        backends, self._backends = list(self._backends.values()), {}
        for backend in backends:
            backend.close()

    def __enter__(self) -> "WarmBackends":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


__all__ = ["BACKENDS", "KILL_GRACE_S", "Assignment", "Backend", "Budget", "Event", "Generated", "Generation", "Job",
           "Requeued", "SolverRef", "StartTable", "WarmBackends", "WorkerFailure", "WorkerUsage", "build_solver",
           "check_backend", "check_backend_options", "get_backend"]
