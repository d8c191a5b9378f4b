"""Backends: where work items run (inline, thread, process, dask)."""

from perfkit.backends.base import BACKENDS, Backend, SolverRef, WorkerFailure, WorkerUsage, get_backend
from perfkit.backends.unit import Assignment

__all__ = ["BACKENDS", "Assignment", "Backend", "SolverRef", "WorkerFailure", "WorkerUsage", "get_backend"]
