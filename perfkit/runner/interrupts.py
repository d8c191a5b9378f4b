"""Ctrl-C and SIGTERM during a run: the first one stops the run, none can tear its record.

The first SIGINT or SIGTERM raises :class:`perfkit.model.SignalInterrupt` (a KeyboardInterrupt)
where the run is. During the shutdown that follows (workers stopped, outcomes flushed,
meta.json and summary.json written) further signals are counted, never raised: a second Ctrl-C
while perfkit writes the end of the run would otherwise leave the folder ``running`` with no
summary. A solver that swallows the first one (a bare ``except:``) does not keep the run
going: the runner calls :meth:`Interrupts.check` after every outcome, and a third signal
before the shutdown began raises again (a solver that swallowed the first and then hangs).
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any, Optional

from perfkit.model import SignalInterrupt

SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: Signals counted, after the first, before one is raised again outside the shutdown.
REPEATS_BEFORE_RAISING_AGAIN = 2


class Interrupts:
    """A context manager installing perfkit's handlers for SIGINT and SIGTERM (main thread
    only; elsewhere it does nothing, and Python's defaults stay)."""

    def __init__(self) -> None:
        #: True once a signal arrived: the run must stop.
        self.requested = False
        #: Signals received after the first (during shutdown, or while a solver swallowed it).
        self.ignored = 0
        self._shutdown = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> "Interrupts":
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous = {}

    def _handle(self, signum: int, frame: Optional[FrameType]) -> None:
        if self.requested:
            self.ignored += 1
            if self._shutdown or self.ignored < REPEATS_BEFORE_RAISING_AGAIN:
                return
        self.requested = True
        raise SignalInterrupt(signal.Signals(signum).name)

    def hold(self) -> None:
        """The run's shutdown has begun: from now on every signal is counted, none raised."""
        self._shutdown = True

    def check(self) -> None:
        """Raise SignalInterrupt again when a signal arrived but its exception was swallowed
        before it reached the runner (called between outcomes, outside any solver code)."""
        if self.requested and not self._shutdown:
            raise SignalInterrupt("interrupted")
