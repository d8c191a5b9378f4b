"""A fresh cgroup around a command: the operating system's own figure for the CPU of a whole
process tree, exited and orphaned processes included.

perfkit measures itself from its process tree (perfkit/runner/process_tree.py); this is the
independent referee those figures are checked against (tests/test_command_usage.py) and the
measure of perfkit's own cost in docs/benchmarks.md (benchmarks/command_cost.py). A cgroup
counts every process that ever ran in it, whoever reaped it, to the nanosecond (v1 cpuacct) or
microsecond (v2 ``cpu.stat``).

The group is made below this process's own group (limits of the enclosing group still apply)
in the unified (v2) hierarchy when it is mounted and writable, else in a v1 ``cpuacct``
hierarchy. Making one needs root or a delegated subtree: :class:`CgroupUnavailable` says why not.
"""

from __future__ import annotations

import os
import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from perfkit.runner.cpu_quota import MOUNTS, own_groups


class CgroupUnavailable(Exception):
    """No cgroup can be made here; the message says why."""


@dataclass(frozen=True)
class Cgroup:
    """One fresh cgroup: ``wrap`` a command to run it inside, read ``cpu_s``, then ``remove``."""

    path: Path
    version: int

    @classmethod
    def create(cls, name: Optional[str] = None) -> "Cgroup":
        """A new empty cgroup named ``name`` (default ``perfkit-<pid>-<ns>``) below this
        process's own; raises CgroupUnavailable with the reason when none can be made."""
        name = name or f"perfkit-{os.getpid()}-{time.monotonic_ns()}"
        reasons = []
        for version, parent in _candidate_parents():
            path = parent / name
            try:
                path.mkdir()
            except OSError as exc:
                reasons.append(f"v{version} {parent}: {exc.strerror or exc}")
                continue
            group = cls(path, version)
            if group._cpu_file().exists():
                return group
            group.remove()
            reasons.append(f"v{version} {parent}: no {group._cpu_file().name}")
        if not reasons:
            raise CgroupUnavailable(f"no cgroup v2 or v1 cpuacct hierarchy in {MOUNTS}")
        raise CgroupUnavailable("cannot make a cgroup: " + "; ".join(reasons))

    def _cpu_file(self) -> Path:
        return self.path / ("cpu.stat" if self.version == 2 else "cpuacct.usage")

    def cpu_s(self) -> float:
        """CPU seconds (user + system) used by every process that ran in the group."""
        text = self._cpu_file().read_text()
        if self.version == 2:
            fields = dict(line.split() for line in text.splitlines() if line.strip())
            return int(fields["usage_usec"]) / 1e6
        return int(text.strip()) / 1e9

    def wrap(self, argv: list[str]) -> list[str]:
        """``argv`` run inside the group: a shell joins it (writing 0 to cgroup.procs moves the
        writer), then execs the command, which keeps the shell's pid and start time."""
        procs = shlex.quote(str(self.path / "cgroup.procs"))
        return ["/bin/sh", "-c", f'echo 0 > {procs} && exec "$@"', "sh", *argv]

    def pids(self) -> list[int]:
        """Processes still in the group."""
        return [int(p) for p in (self.path / "cgroup.procs").read_text().split()]

    def remove(self) -> None:
        """Delete the group (it must be empty: every process in it has exited)."""
        try:
            self.path.rmdir()
        except FileNotFoundError:
            pass


def _candidate_parents() -> list[tuple[int, Path]]:
    """(version, folder) where a child group of this process's own group may be made: the
    unified hierarchy first, then v1 cpuacct."""
    return [(version, group) for version, _, group in own_groups("cpuacct")]
