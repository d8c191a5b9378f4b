"""Cutting a command into spans: each mark reads the process tree
(perfkit/runner/process_tree.py) and closes the span since the previous mark, so the spans add
up to the command's totals by construction (docs/design.md, "The whole command")."""

from __future__ import annotations

from typing import Callable, Iterable

from perfkit.model.command import Span
from perfkit.runner.process_tree import TreeReading, process_start_s, read_tree

Reader = Callable[[Iterable[int]], TreeReading]


class Meter:
    """The spans of one command from its origin; ``mark(name)`` ends the span ``name`` now."""

    def __init__(self, origin: str, first: TreeReading, reader: Reader = read_tree):
        self.origin = origin
        self.first = first
        self.last = first
        self.spans: list[Span] = []
        self._read = reader

    @classmethod
    def since_process_start(cls, reader: Reader = read_tree) -> "Meter":
        """From the start of this process (its CPU from zero): the meter of ``perfkit run``."""
        return cls("process", TreeReading(process_start_s(), 0.0, 0.0), reader)

    @classmethod
    def since_now(cls, reader: Reader = read_tree) -> "Meter":
        """From now: the meter of a run started by a call (notebook, ``perfkit compare``)."""
        return cls("call", reader(()), reader)

    def mark(self, name: str, pids: Iterable[int] = ()) -> Span:
        """End the span ``name`` now; ``pids``: processes of the run outside this process's tree
        that are still to be read (perfkit/runner/process_tree.py ``read_tree``)."""
        now = self._read(tuple(pids))
        span = Span(name, now.at_s - self.last.at_s, now.cpu_s - self.last.cpu_s)
        self.spans.append(span)
        self.last = now
        return span

    @property
    def wall_s(self) -> float:
        """Seconds from the origin to the last mark (the sum of the spans' wall)."""
        return self.last.at_s - self.first.at_s

    @property
    def cpu_s(self) -> float:
        """CPU seconds of the tree from the origin to the last mark (the sum of the spans' CPU)."""
        return self.last.cpu_s - self.first.cpu_s
