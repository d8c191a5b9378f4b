"""The CPU quota of this process's cgroups: how many cores' worth of time it may use.

A container or CI runner given ``--cpus=1`` on a 2-core host still sees both cores in its
affinity mask (``os.sched_getaffinity``), but the kernel's CFS bandwidth control lets its
processes together run only one core's worth of each period. A run planned for two cores there
is throttled, and an ideal bound of two cores calls a perfect run 50 % efficient. The quota is
``cpu.max`` (``QUOTA PERIOD`` or ``max PERIOD``) in the unified (v2) hierarchy and
``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (-1: none) in a v1 ``cpu`` hierarchy, on this
process's own group and on every group above it up to the mount: the smallest one applies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

#: Where cgroup file systems are listed.
MOUNTS = Path("/proc/self/mounts")
#: This process's group in each hierarchy.
OWN_GROUPS = Path("/proc/self/cgroup")


def own_groups(v1_controller: str) -> list[tuple[int, Path, Path]]:
    """(version, mount point, this process's group folder) in the unified (v2) hierarchy, then in
    the v1 hierarchy carrying ``v1_controller`` (``cpu``, ``cpuacct``); empty where neither is
    mounted or /proc cannot be read."""
    try:
        mounts = MOUNTS.read_text().splitlines()
        own = OWN_GROUPS.read_text().splitlines()
    except OSError:
        return []
    groups = {}  # hierarchy ("" for v2, else its controllers) -> this process's path in it
    for line in own:
        _, controllers, path = line.split(":", 2)
        groups[controllers] = path
    found = []
    for line in mounts:
        _, mount_point, fstype, options = line.split()[:4]
        if fstype == "cgroup2" and "" in groups:
            found.append((2, Path(mount_point), Path(mount_point) / groups[""].lstrip("/")))
        elif fstype == "cgroup" and v1_controller in options.split(","):
            own_path = next((p for c, p in groups.items() if v1_controller in c.split(",")), "/")
            found.append((1, Path(mount_point), Path(mount_point) / own_path.lstrip("/")))
    return sorted(found, key=lambda g: -g[0])


def _quota_of(version: int, group: Path) -> Optional[float]:
    """Cores' worth of time ``group`` itself allows (None: no limit, or none readable)."""
    try:
        if version == 2:
            quota, period = (group / "cpu.max").read_text().split()[:2]
            return None if quota == "max" else int(quota) / int(period)
        quota_us = int((group / "cpu.cfs_quota_us").read_text())
        return None if quota_us < 0 else quota_us / int((group / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None


def quota_cores() -> Optional[float]:
    """The smallest CPU quota over this process's groups and their ancestors, in cores (1.5:
    one and a half cores' worth of every period); None when no group limits it."""
    quotas = []
    for version, mount_point, group in own_groups("cpu"):
        folder = group
        while True:
            quota = _quota_of(version, folder)
            if quota is not None:
                quotas.append(quota)
            if folder == mount_point or mount_point not in folder.parents:
                break
            folder = folder.parent
    return min(quotas, default=None)
