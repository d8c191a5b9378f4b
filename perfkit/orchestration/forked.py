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

``spawn_beside_threads``: where forking is unsafe because other threads run, a *spawned* child
(a fresh interpreter, none of this process's threads) does the work instead. It pays the
imports again, so it is for work that this process's threads would slow far more: threads the
thread backend could not stop hold this process's GIL (perfkit/api.py writes the report apart
from them). ``fn`` and its arguments must then be importable and picklable.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import pickle
import signal
import subprocess
import sys
import threading
from typing import Any, Callable, Optional


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

    def __init__(self, fn: Callable[..., Any], *args: Any, spawn_beside_threads: bool = False):
        self._fn, self._args = fn, args
        self._process: Any = None
        self._conn: Any = None
        self._spawned: Optional[subprocess.Popen] = None
        if _can_fork():
            ctx = mp.get_context("fork")
            self._conn, child_end = ctx.Pipe(duplex=False)
            # daemonic: a child left behind (Ctrl-C before result()) ends with this process
            self._process = ctx.Process(target=_child, args=(child_end, fn, args), name="perfkit-forked", daemon=True)
            self._process.start()
            child_end.close()
        elif spawn_beside_threads and threading.active_count() > 1:
            self._spawned = _spawn(fn, args)

    @property
    def forked(self) -> bool:
        """Whether the work runs in a child (else it runs in :meth:`result`)."""
        return self._process is not None or self._spawned is not None

    def result(self) -> Any:
        """The work's value: the child's, else computed here (not forked, or the child failed)."""
        ok, value = False, None
        if self._process is not None:
            process, self._process = self._process, None
            try:
                ok, value = self._conn.recv()
            except (EOFError, OSError):  # the child died without a word
                pass
            finally:
                self._conn.close()
                process.join()
        elif self._spawned is not None:
            ok, value = _answer(self._spawned)
            self._spawned = None
        return value if ok else self._fn(*self._args)


def _spawn(fn: Callable[..., Any], args: tuple) -> subprocess.Popen:
    """A fresh interpreter running ``fn(*args)`` (this module's :func:`_spawned_main`).

    Not multiprocessing's spawn: it imports the caller's ``__main__`` again in the child, which
    in a script without a ``__name__`` guard runs the script (a whole experiment) once more."""
    proc = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            env=import_path_env())
    try:
        assert proc.stdin is not None
        proc.stdin.write(pickle.dumps((fn, args), protocol=pickle.HIGHEST_PROTOCOL))
        proc.stdin.close()
    except Exception:  # the child died first (OSError), or the work cannot travel (any pickling error): here
        proc.kill()
    return proc


def import_path_env() -> dict[str, str]:
    """The environment of a fresh ``python -m`` child that imports what this process imports:
    this process's ``sys.path`` (a folder the user's script or shell put there, a solver's
    among them) and only it."""
    # ``-m`` would put the working directory first, so a script run beside another perfkit
    # checkout (or a module named like one perfkit imports) had the child import that one
    # (PYTHONSAFEPATH, Python ≥ 3.11); "" is the working directory
    path = os.pathsep.join(p or os.getcwd() for p in sys.path)
    return dict(os.environ, PYTHONPATH=path, PYTHONSAFEPATH="1")


def _answer(proc: subprocess.Popen) -> tuple[bool, Any]:
    """``(ok, value)`` from a spawned child; ``(False, None)`` when it failed or died."""
    try:
        assert proc.stdout is not None
        data = proc.stdout.read()
        proc.wait()
        return pickle.loads(data) if proc.returncode == 0 and data else (False, None)
    except (OSError, EOFError, pickle.UnpicklingError):
        return False, None
    except BaseException:  # Ctrl-C: the child is not left running on its own
        proc.kill()
        raise


def _spawned_main() -> None:
    """The spawned child: ``(fn, args)`` pickled on stdin, ``(ok, value)`` pickled on stdout;
    anything the work itself prints goes to stderr."""
    answer = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    try:
        fn, args = pickle.load(sys.stdin.buffer)
        out = pickle.dumps((True, fn(*args)), protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException:  # the work, or its value's pickling: the parent runs it again, whole
        out = pickle.dumps((False, None))
    answer.write(out)
    answer.close()


__all__ = ["Forked"]

if __name__ == "__main__":
    _spawned_main()
