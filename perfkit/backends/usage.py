"""What a worker process used, read from the operating system: CPU and peak resident memory.

A backend that kills a worker at a unit's deadline still owes that unit the CPU it consumed:
the worker notes its process CPU when each unit starts (:func:`process_cpu_s`, one ``times()``
call), and the parent reads the process's CPU just before the kill (:func:`cpu_s_of`); the
difference is the unit's CPU. Without it a killed unit has no CPU and a slow candidate at full
speed reads as contention (docs/design.md, "CPU ratio").

Peak memory: the worker resets its peak resident set before each work item
(:func:`reset_peak_rss`) and reads it when the item ends (:func:`peak_rss_bytes`), so each item
has its own peak and the worker's peak is the largest of them. Linux only (``/proc``); elsewhere
every figure is None, never a guess.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

import psutil


def process_cpu_s() -> float:
    """CPU (user + system, seconds) this process used so far."""
    t = os.times()
    return t.user + t.system


def cpu_s_of(pid: int) -> Optional[float]:
    """CPU (user + system, seconds) of a live process, None when it is gone."""
    try:
        t = psutil.Process(pid).cpu_times()
    except (psutil.Error, OSError):
        return None
    return t.user + t.system


def peak_rss_bytes(pid: Optional[int] = None) -> Optional[int]:
    """Peak resident memory (bytes) of process ``pid`` (this one by default) since it started or
    since its last :func:`reset_peak_rss`; None when the OS does not say."""
    # psutil reports the current RSS, not the peak (VmHWM): /proc is read directly
    try:
        with open(f"/proc/{pid or 'self'}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def reset_peak_rss() -> None:
    """Start a new peak: the peak resident memory becomes the current one (Linux ≥ 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


@dataclass(frozen=True)
class KilledWorker:
    """What a worker had used when it was killed: its CPU (seconds) and peak memory (bytes)."""

    cpu_s: Optional[float]
    peak_rss_bytes: Optional[int]

    @classmethod
    def read(cls, pid: int) -> "KilledWorker":
        """Read both from the OS; call it just before the kill."""
        return cls(cpu_s_of(pid), peak_rss_bytes(pid))

    def unit_cpu_s(self, cpu_at_start_s: float) -> Optional[float]:
        """The CPU (seconds) of the unit in flight, which started when the process had used
        ``cpu_at_start_s``; None when either reading is missing."""
        if self.cpu_s is None:
            return None
        return max(0.0, self.cpu_s - cpu_at_start_s)
