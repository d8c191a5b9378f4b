"""What a worker process used, read from the operating system: CPU and peak resident memory.

A backend that kills a worker at a unit's deadline still owes that unit the CPU it consumed:
the worker notes the CPU clock of the thread that runs its units when each unit starts (the
``time.thread_time()`` the unit loop reads anyway, stored in its slot: no extra call per unit),
and the parent reads that thread's CPU just before the kill (:meth:`KilledWorker.read`, from
``/proc``: the thread's run time in nanoseconds, read while the worker is stopped); the
difference is the unit's CPU. Without it a killed unit has no CPU and a slow candidate at full
speed reads as contention (docs/design.md, "Figures"). The thread's run time is exact to the
nanosecond, not to psutil's clock tick (10 ms), at which units killed at a 6 ms limit read 0.0.

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


def thread_cpu_s_of(pid: int, tid: int) -> Optional[float]:
    """CPU (user + system, seconds) of thread ``tid`` of the live process ``pid``, None when
    either is gone. Exact for a thread that is not running (a stopped worker): the kernel's
    run time of the thread in nanoseconds, the clock ``time.thread_time`` reads, so that a unit
    killed at a 6 ms limit gets its CPU, not ±10 ms."""
    try:
        # hand-written: psutil reads the thread's CPU in clock ticks (10 ms), coarser than the
        # units it is for; schedstat's first field is the thread's run time in ns
        with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
            ran_ns = int(f.read().split()[0])
        if ran_ns > 0:
            return ran_ns / 1e9
    except (OSError, ValueError, IndexError):
        pass
    try:
        threads = psutil.Process(pid).threads()
    except (psutil.Error, OSError):
        return None
    return next((t.user_time + t.system_time for t in threads if t.id == tid), None)


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
    """What a worker had used when it was killed: its CPU (seconds), peak memory (bytes) and
    the CPU of the thread that ran its units (seconds)."""

    cpu_s: Optional[float]
    peak_rss_bytes: Optional[int]
    unit_thread_cpu_s: Optional[float] = None

    @classmethod
    def read(cls, pid: int) -> "KilledWorker":
        """Read them from the OS; call it just before the kill. The worker's units run on its
        main thread, whose id is the process id."""
        return cls(cpu_s_of(pid), peak_rss_bytes(pid), thread_cpu_s_of(pid, pid))

    def unit_cpu_s(self, cpu_at_start_s: float) -> Optional[float]:
        """The CPU (seconds) of the unit in flight, which started when its thread's CPU clock
        read ``cpu_at_start_s``; None when either reading is missing."""
        if self.unit_thread_cpu_s is None or cpu_at_start_s <= 0.0:
            return None
        return max(0.0, self.unit_thread_cpu_s - cpu_at_start_s)
