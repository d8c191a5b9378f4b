"""The multiprocessing start method a solver sees in a process perfkit started for it.

multiprocessing makes a child's default start method the one that started it
(``BaseProcess._bootstrap``): in a forkserver-started worker a solver's own
``ProcessPoolExecutor()`` gets forkserver children, which are the worker's forkserver's children,
not the worker's — their CPU is never reaped into the unit's (perfkit/backends/unit.py
``PROCESS_CPU``), and the solver runs differently than in the user's process, where the
platform's default (fork on Linux before Python 3.14) or the user's own choice holds.
python-constraint2's ``ParallelSolver(process_mode=True)`` units read 0.02–0.18× their sequential
CPU on process workers for this reason (docs/benchmarks.md "Session 17: a unit's own processes
in a process worker").
"""

from __future__ import annotations

import multiprocessing as mp
from typing import Optional


def users_start_method() -> Optional[str]:
    """The default start method of this (the user's) process: what it was set to, or None for
    the platform's default."""
    return mp.get_start_method(allow_none=True)


def adopt_start_method(method: Optional[str]) -> None:
    """Make ``method`` (from :func:`users_start_method` in the user's process) this process's
    default again, in a process perfkit started to run a solver's units."""
    mp.set_start_method(method, force=True)
