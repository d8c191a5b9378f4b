"""The exclusive lock of a run folder being written (docs/design.md, "The run store").

One writer at a time: ``perfkit run`` holds the lock from the moment it creates the folder
until the run ends, and a resume takes it before reading what was recorded, so a second
writer, or a resume of a run that is still going, is refused instead of duplicating units.
The lock is ``flock`` on a file in the folder: the kernel drops it when its holder dies, even
by SIGKILL, so a run left ``running`` by a killed perfkit can always be resumed.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from perfkit.model import RunLocked, StoreError
from perfkit.store.layout import LOCK


class RunLock:
    """A held lock on one run folder; :meth:`release` (or the holder's death) frees it."""

    def __init__(self, folder: Path, fd: int):
        self.folder = folder
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, folder: Path) -> "RunLock":
        """Lock ``folder`` (a run folder that exists) or raise RunLocked naming the holder."""
        path = Path(folder) / LOCK
        try:
            # not inherited by the children a solver may start (os.open is close-on-exec)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(folder, f"cannot open its lock file: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise RunLocked(folder, f"the run is being written by another perfkit (pid {holder}); "
                                    "wait for it to end or stop it, then resume") from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError:  # a full disk: the pid is only for the message, the lock holds without it
            pass
        return cls(Path(folder), fd)

    @property
    def held(self) -> bool:
        """True until released."""
        return self._fd is not None

    def release(self) -> None:
        """Free the lock (idempotent)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
