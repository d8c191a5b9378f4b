"""How busy the machine was while a run ran: the CPU every process used during the run window
(system-wide counters, /proc/stat through psutil), the part of it this run did not use, and
the load average. A run measured next to other work is slower and times out more for
reasons that are not the solver's; the report says so (perfkit/analysis/findings/machine.py)."""

from __future__ import annotations

import os
from typing import Optional

import psutil


def busy_cpu_s() -> Optional[float]:
    """CPU seconds every process of the machine has used since boot (all cores: user, nice,
    system, interrupts, steal; idle and I/O wait excluded), or None where it is not known."""
    try:
        t = psutil.cpu_times()
    except (OSError, AttributeError, NotImplementedError):
        return None
    return float(sum(getattr(t, name, 0.0) for name in ("user", "nice", "system", "irq", "softirq", "steal")))


def load_figures(busy_at_start: Optional[float], busy_at_end: Optional[float],
                 run_cpu_s: float) -> dict[str, Optional[float]]:
    """The RunSummary fields of the machine's load (seconds): ``machine_cpu_s`` used by every
    process between two :func:`busy_cpu_s` values, ``others_cpu_s`` the part not counted in
    this run's own CPU ``run_cpu_s`` (parent and workers), and ``load_avg_1m`` now."""
    known = busy_at_start is not None and busy_at_end is not None
    machine = max(0.0, busy_at_end - busy_at_start) if known else None
    others = None if machine is None else max(0.0, machine - run_cpu_s)
    try:
        load: Optional[float] = os.getloadavg()[0]
    except OSError:
        load = None
    return {"machine_cpu_s": machine, "others_cpu_s": others, "load_avg_1m": load}
