"""This process as one perfkit command: the meter from its start, and its exit.

The console entry begins the command (perfkit/cli/app.py); a run that is the whole command
(``perfkit run``) takes its spans from this meter instead of from its call, and leaves a
callback that adds the exit span to its summary. :func:`finish` ends the command:

1. the interpreter's exit handlers run now (logging, multiprocessing's finalisers, Dask);
2. multiprocessing's forkserver and resource tracker are stopped and reaped, any descendant
   still alive (a solver's leftover subprocess) is killed, orphans handed to this process (a
   child subreaper) are reaped: every descendant is now in ``RUSAGE_CHILDREN``;
3. the last reading closes the ``exit`` span, the runs record it;
4. the process leaves with ``os._exit``, skipping the interpreter's module teardown. That
   teardown frees every object one by one — about 0.13 s of CPU once pandas, pyarrow, matplotlib
   and the CLI are loaded (docs/benchmarks.md) — and would otherwise be spent after the last
   reading: the figures could not include it, and nobody needs it done.

When a non-daemon thread is still running, the command exits the ordinary way instead (that
thread may be writing something): the exit span is then missing, and the run says so.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from perfkit.model.command import EXIT, Span
from perfkit.runner.meter import Meter
from perfkit.runner.process_tree import become_subreaper, reap_orphans, stop_helpers, stop_leftovers

ExitHook = Callable[[Span, Meter], None]


@dataclass
class Command:
    """The process's command: its meter (from the process start) and what to do at its exit."""

    meter: Meter
    subreaper: bool
    exit_hooks: list[ExitHook] = field(default_factory=list)

    def on_exit(self, hook: ExitHook) -> None:
        """Call ``hook(exit_span, meter)`` once the exit span is measured."""
        self.exit_hooks.append(hook)


_command: Optional[Command] = None


def begin() -> Command:
    """Make this process one perfkit command (the console entry only: it changes who reaps
    orphans and how the process exits)."""
    global _command
    if _command is None:
        _command = Command(Meter.since_process_start(), become_subreaper())
    return _command


def current() -> Optional[Command]:
    """The command this process is, or None (a notebook, a test, a library caller)."""
    return _command


def exit_status(code: Any) -> int:
    """The process exit status ``sys.exit(code)`` would give (None → 0, a message → 1)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def finish(code: Any) -> None:
    """End the command with ``sys.exit(code)``'s status (see the module docstring). Returns,
    for an ordinary exit, when this process is not a command or a non-daemon thread still runs."""
    command = _command
    if command is None or any(t.is_alive() and not t.daemon for t in threading.enumerate()
                              if t is not threading.main_thread()):
        return
    status = exit_status(code)
    _flush()
    atexit._run_exitfuncs()  # what the interpreter would run first at exit
    stop_helpers()
    stop_leftovers()
    reap_orphans()
    span = command.meter.mark(EXIT)
    for hook in command.exit_hooks:
        try:
            hook(span, command.meter)
        except Exception as exc:  # the exit status is the command's, whatever a hook does
            print(f"perfkit: could not record the exit span: {type(exc).__name__}: {exc}", file=sys.stderr)
    _flush()
    os._exit(status)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
