"""Sample and task budgets: one rule, the same under every strategy and backend
(docs/design.md, "Timeouts and budgets").

The rule: a sample's budget runs from the first start of any unit of that sample, on whichever
worker, and a task's budget from the first start of any unit of the task; once a budget is
spent, the units not yet started are ``skipped``. How a strategy cuts the work into items, and
which worker runs which item, changes nothing.

Every worker must therefore learn when a sample started elsewhere. The run's
:class:`StartTable` is one double per task and per sample (the first start, monotonic seconds;
0 while nothing started), in a small file in shared memory (``/dev/shm``) that every worker on
this machine maps: reading it costs a few hundred nanoseconds per unit, and a worker process
attaches once. ``time.monotonic()`` is one clock for every process of a machine, so a start
written by one worker is a deadline for all. Two workers starting the first units of one sample
at the same instant may each keep their own start (the later write wins): the deadlines then
differ by that instant, never by more. Dask workers on another machine cannot map the file:
there each worker process keeps its own table (a budget per sample and per process), said in
:attr:`StartTable.shared`.
"""

from __future__ import annotations

import mmap
import os
import secrets
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

_SLOT = struct.Struct("<d")
#: Tables this process attached to, by path (a worker maps each run's table once).
_ATTACHED: dict[str, "StartTable"] = {}


def _folder() -> Path:
    """Shared memory when the machine has it (no disk I/O), else the temporary folder."""
    shm = Path("/dev/shm")
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())


class StartTable:
    """First starts (monotonic seconds) of the tasks and samples of one run, shared by every
    worker on this machine; pickles as its path, so a worker in another process attaches."""

    def __init__(self, path: str, slots: int, mem: Any, owner: bool = False, shared: bool = True):
        self.path, self.slots, self._mem, self._owner = path, slots, mem, owner
        #: True when every worker of this machine sees the same starts (False: a table of this
        #: process only, on a machine that cannot map the run's file).
        self.shared = shared

    @classmethod
    def create(cls, slots: int) -> "StartTable":
        """A new table of ``slots`` zeros (the parent, when a run starts)."""
        size = max(1, slots) * _SLOT.size
        path = _folder() / f"perfkit-starts-{os.getpid()}-{secrets.token_hex(4)}"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.ftruncate(fd, size)
            mem = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        table = cls(str(path), slots, mem, owner=True)
        _ATTACHED[str(path)] = table
        return table

    @classmethod
    def attach(cls, path: str, slots: int) -> "StartTable":
        """The table at ``path`` (a worker); a table of its own when the file is not on this
        machine (a remote Dask worker)."""
        table = _ATTACHED.get(path)
        if table is None:
            size = max(1, slots) * _SLOT.size
            try:
                fd = os.open(path, os.O_RDWR)
                try:
                    table = cls(path, slots, mmap.mmap(fd, size))
                finally:
                    os.close(fd)
            except (OSError, ValueError):
                table = cls(path, slots, bytearray(size), shared=False)
            _ATTACHED[path] = table
        return table

    def first_start(self, slot: int, now: float) -> float:
        """The first start recorded in ``slot``, recording ``now`` when there is none yet."""
        offset = slot * _SLOT.size
        (start,) = _SLOT.unpack_from(self._mem, offset)
        if start == 0.0:
            _SLOT.pack_into(self._mem, offset, now)
            (start,) = _SLOT.unpack_from(self._mem, offset)  # another worker may have written too
        return start

    def close(self) -> None:
        """Remove the table's file (the parent, when the run ends); workers that mapped it keep
        their mapping until they exit."""
        if self._owner:
            _ATTACHED.pop(self.path, None)
            try:
                os.unlink(self.path)
            except OSError:
                pass

    def __reduce__(self) -> tuple:
        return (StartTable.attach, (self.path, self.slots))


@dataclass(frozen=True)
class Budget:
    """The budgets of one task's units: where its starts are kept and how long each lasts
    (seconds). Every work item of the task carries the same one."""

    table: StartTable
    task_slot: int
    #: (split, index) -> slot of each sample of the task.
    sample_slots: dict[tuple[str, int], int] = field(default_factory=dict)
    task_budget_s: Optional[float] = None
    sample_budget_s: Optional[float] = None

    def spent(self, split: str, index: int, now: float) -> Optional[str]:
        """Why the unit of sample ``split[index]`` that would start at ``now`` must be skipped,
        or None when it may start (its start then counts as the first of its sample and task
        when none was recorded)."""
        if self.task_budget_s is not None and now >= self.table.first_start(self.task_slot, now) + self.task_budget_s:
            return "task budget spent"
        if self.sample_budget_s is not None:
            slot = self.sample_slots[(split, index)]
            if now >= self.table.first_start(slot, now) + self.sample_budget_s:
                return "sample budget spent"
        return None
