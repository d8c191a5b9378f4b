"""perfkit's own threads in a process that runs units, and their CPU clocks.

The inline backend charges a unit with its whole process's CPU (perfkit/backends/unit.py
``PROCESS_CPU``), so that a unit's BLAS threads and the programs it runs count. Threads perfkit
itself runs beside the units in that process — a live progress display's refresh (10 Hz), the
profiler's sampler — are not the units':
they are started inside :func:`started_as_own`, and a backend reads their CPU clocks
(:func:`own_thread_clocks`) to take their CPU out of its units'. Threads a solver starts are
never listed here: a unit's own threads stay the unit's.

A thread's CPU clock is named by its kernel thread id (Linux's clockid of a thread's CPU clock),
not through ``pthread_getcpuclockid``: a Python thread is detached, its pthread handle dangles once
it ends, and reading through it then crashed the process (perfkit/backends/thread.py
``_thread_cpu_s``); the kernel answers an ended thread's clock with EINVAL instead.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Iterator, Optional

#: Threads perfkit started (ended ones are dropped when the next are added).
_OWN: list[threading.Thread] = []


@contextlib.contextmanager
def started_as_own() -> Iterator[None]:
    """The threads started inside this block are perfkit's own, not any unit's."""
    before = set(threading.enumerate())
    try:
        yield
    finally:
        _OWN[:] = [t for t in _OWN if t.is_alive()]
        _OWN.extend(t for t in threading.enumerate() if t not in before)


def thread_clock_id(native_id: int) -> int:
    """The CPU clock of this process's thread ``native_id`` (kernel thread id), for
    ``time.clock_gettime``: Linux's CPUCLOCK_SCHED of a thread, as glibc builds it."""
    return ((~native_id) << 3) | 6


def thread_cpu_s(clock_id: int) -> Optional[float]:
    """CPU seconds of the thread whose clock is ``clock_id`` (to the nanosecond), None once it has
    ended or where thread clocks cannot be read."""
    try:
        return time.clock_gettime(clock_id)
    except (OSError, OverflowError, AttributeError):
        return None


def own_thread_clocks() -> tuple[int, ...]:
    """The CPU clocks of perfkit's own threads alive now, the calling thread's left out."""
    me = threading.get_native_id()
    clocks = []
    for t in _OWN:
        if t.is_alive() and t.native_id is not None and t.native_id != me:
            clock = thread_clock_id(t.native_id)
            if thread_cpu_s(clock) is not None:
                clocks.append(clock)
    return tuple(clocks)
