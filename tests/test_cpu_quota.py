"""A cgroup CPU quota cuts the cores perfkit plans for: a container given one CPU on a 2-core host."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from perfkit.runner import cpu_quota, environment


def hierarchy(tmp_path: Path, monkeypatch, mounts: str, own: str) -> Path:
    """A cgroup tree under ``tmp_path``: ``mounts`` and ``own`` are /proc/self/mounts and
    /proc/self/cgroup, with ROOT standing for ``tmp_path``."""
    (tmp_path / "mounts").write_text(mounts.replace("ROOT", str(tmp_path)))
    (tmp_path / "cgroup").write_text(own)
    monkeypatch.setattr(cpu_quota, "MOUNTS", tmp_path / "mounts")
    monkeypatch.setattr(cpu_quota, "OWN_GROUPS", tmp_path / "cgroup")
    return tmp_path


def write(folder: Path, **files: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name.replace("_", ".", 1)).write_text(text + "\n")


def cores(monkeypatch, affinity: int) -> int:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(affinity)))
    return environment.usable_cores()


def test_a_v2_quota_on_a_parent_group_holds_for_the_child(tmp_path, monkeypatch):
    root = hierarchy(tmp_path, monkeypatch, "cgroup2 ROOT/unified cgroup2 rw 0 0\n", "0::/ci/job\n")
    write(root / "unified", cpu_max="max 100000")
    write(root / "unified" / "ci", cpu_max="100000 100000")  # one core's worth, as docker --cpus=1
    write(root / "unified" / "ci" / "job", cpu_max="max 100000")
    assert cpu_quota.quota_cores() == 1.0
    assert cores(monkeypatch, 2) == 1


def test_a_v1_quota_is_rounded_up_and_never_raises_the_affinity(tmp_path, monkeypatch):
    root = hierarchy(tmp_path, monkeypatch, "cgroup ROOT/cpu,cpuacct cgroup rw,cpu,cpuacct 0 0\n",
                     "4:cpu,cpuacct:/job\n0::/\n")
    write(root / "cpu,cpuacct", cpu_cfs_quota_us="-1", cpu_cfs_period_us="100000")
    write(root / "cpu,cpuacct" / "job", cpu_cfs_quota_us="150000", cpu_cfs_period_us="100000")
    assert cpu_quota.quota_cores() == 1.5
    assert cores(monkeypatch, 4) == 2  # up: a bound on 1 core would call 1.5 cores' work 150 %
    assert cores(monkeypatch, 1) == 1
    write(root / "cpu,cpuacct" / "job", cpu_cfs_quota_us="20000")
    assert cores(monkeypatch, 2) == 1  # a fifth of a core is still one worker


def test_no_quota_leaves_the_affinity_mask(tmp_path, monkeypatch):
    root = hierarchy(tmp_path, monkeypatch, "cgroup2 ROOT cgroup2 rw 0 0\n", "0::/\n")
    write(root, cpu_max="max 100000")
    assert cpu_quota.quota_cores() is None and cores(monkeypatch, 2) == 2
    hierarchy(tmp_path, monkeypatch, "", "")  # no cgroup file system at all
    assert cpu_quota.quota_cores() is None and cores(monkeypatch, 3) == 3


@pytest.mark.slow
def test_a_process_in_a_real_quota_group_plans_for_one_core(tmp_path):
    """A real group (root, or a delegated subtree) with one core's quota: a child started in it
    records one usable core and the quota in its environment."""
    groups = [(version, group) for version, _, group in cpu_quota.own_groups("cpu")]
    made = None
    for version, parent in groups:
        folder = parent / f"perfkit-quota-{os.getpid()}"
        try:
            folder.mkdir()
        except OSError:
            continue
        limit = {2: ("cpu.max", "100000 100000"), 1: ("cpu.cfs_quota_us", "100000")}[version]
        try:
            (folder / limit[0]).write_text(limit[1])
        except OSError:
            folder.rmdir()
            continue
        made = folder
        break
    if made is None:
        pytest.skip(f"cannot make a cgroup with a CPU quota here (needs root or a delegated cpu controller): "
                    f"tried {[str(g) for _, g in groups] or 'no cgroup hierarchy'}")
    try:
        code = "from perfkit.runner import environment as e; env = e.capture(); " \
               "print(env['usable_cores'], env['cpu_quota_cores'])"
        shell = f'echo 0 > "{made}/cgroup.procs" && exec "$@"'
        out = subprocess.run(["/bin/sh", "-c", shell, "sh", sys.executable, "-c", code],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == ["1", "1.0"]
    finally:
        made.rmdir()
