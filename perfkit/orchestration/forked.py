"""A pure computation in a forked child while this process does other work: the report's pieces
(the model beside each configuration, half of the charts) on the machine's other core.

Why fork and not a pool: a spawned or forkserver child would import pandas, scipy and
matplotlib again (~1 s on the 2-core box, as long as the work itself) and would need the runs
pickled to it; a forked child has both already, copy-on-write. Only its result travels back.

Fork is safe only while no other thread runs (a lock another thread holds stays locked forever
in the child), so with other threads alive (a notebook's kernel, a Dask client), on a single
usable core, or where there is no fork, the work runs in this process when its result is asked
for: the same result, later. A child that fails or dies is not trusted either: the work runs
again here, so an error is raised with its own type and traceback, as without a child.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import threading
from typing import Any, Callable


def _can_fork() -> bool:
    """Fork only where it is safe and pays: a POSIX fork, one thread, two usable cores or more."""
    if "fork" not in mp.get_all_start_methods() or threading.active_count() > 1:
        return False
    return len(os.sched_getaffinity(0)) > 1 if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1) > 1


def _child(conn: Any, fn: Callable[..., Any], args: tuple) -> None:
    # Ctrl-C is the parent's: it stops asking, and a daemonic child ends with it
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        conn.send((True, fn(*args)))  # pickled whole before the first byte is written
    except BaseException:  # the work, or its value's pickling: the parent runs it again, whole
        with contextlib.suppress(BaseException):
            conn.send((False, None))
    finally:
        conn.close()


class Forked:
    """``fn(*args)`` started now in a forked child when that is safe (module docstring);
    :meth:`result` returns its value. ``fn`` must be pure: what it changes in the child's
    memory is lost, only its return value (picklable) comes back."""

    def __init__(self, fn: Callable[..., Any], *args: Any):
        self._fn, self._args = fn, args
        self._process: Any = None
        self._conn: Any = None
        if _can_fork():
            ctx = mp.get_context("fork")
            self._conn, child_end = ctx.Pipe(duplex=False)
            # daemonic: a child left behind (Ctrl-C before result()) ends with this process
            self._process = ctx.Process(target=_child, args=(child_end, fn, args), name="perfkit-forked", daemon=True)
            self._process.start()
            child_end.close()

    @property
    def forked(self) -> bool:
        """Whether the work runs in a child (else it runs in :meth:`result`)."""
        return self._process is not None

    def result(self) -> Any:
        """The work's value: the child's, else computed here (not forked, or the child failed)."""
        if self._process is not None:
            process, self._process = self._process, None
            try:
                ok, value = self._conn.recv()
            except (EOFError, OSError):  # the child died without a word
                ok, value = False, None
            finally:
                self._conn.close()
                process.join()
            if ok:
                return value
        return self._fn(*self._args)


__all__ = ["Forked"]
