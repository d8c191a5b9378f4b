"""An all-threads sampler that produces a real pyinstrument ``Session``.

Why not ``pyinstrument.Profiler`` directly: pyinstrument installs its sampler with
``setstatprofile``, i.e. ``PyEval_SetProfile``, which is per thread — a Profiler sees only the
thread that started it. ``async_mode`` does not help: it is about asyncio contexts *within* that
same thread. Starting one Profiler per worker thread (``threading.setprofile`` hook or a patched
``Thread.run``) covers threads started after the profiler, but a Profiler must be stopped from its
own thread, so the threads that the thread backend abandons after a timeout (still running when
the run ends — exactly the ones worth seeing) would lose their samples, and threads started
before the profiler would be missed.

So this module samples every thread from one daemon thread with ``sys._current_frames()``,
encodes each stack with pyinstrument's own frame-info function (``get_frame_info``: same
identifiers, class names and line numbers as pyinstrument's sampler) and a root frame per thread
(the identifier pyinstrument itself uses for threads), and builds a ``pyinstrument.session.Session``
— so every pyinstrument renderer (HTML, console, speedscope) works unchanged.

Each sample's wall time is split with the thread's own CPU clock (``pthread_getcpuclockid``):
the part the thread spent on CPU is attributed to its stack; the rest to the same stack plus a
leaf ``[off-CPU]`` (blocked on a lock or queue, sleeping, in I/O, or waiting for the GIL). So a
frame's self time is its CPU time, and the idle main thread of a thread-backend run does not
crowd the worker frames out of the top list.

Limits: the sampler needs the GIL to look at the stacks, so under pure-Python CPU load it samples
at most once per ``sys.getswitchinterval()``; a C call that holds the GIL is seen when it
returns, and its time goes to the Python frame that called it. With the default 5 ms switch
interval the sampler would mostly get the GIL when a thread gives it up on its own — in I/O —
and charge the CPU of the last milliseconds to that I/O frame (a store ``flush`` ranked above
the solver). So while it samples, the switch interval is the sampling interval, and it is
restored afterwards; the cost of the extra switching is part of the measured overhead. And on a
busy machine the sampler thread itself waits for a core, and gets one mostly when another
thread blocks; so a sample stands for at most ``SAMPLE_CAP`` sampling intervals, never for all
the CPU a thread used since the last sample (frame self times are then samples × their weight,
the thread's whole CPU is still in its lane).
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, Optional

from pyinstrument.low_level.stat_profile import get_frame_info
from pyinstrument.session import Session

from perfkit.backends.own_threads import started_as_own

#: Leaf frame for the part of a sample the thread was not running on a CPU.
OFF_CPU = "[off-CPU]\x00<off-cpu>\x000"
OFF_CPU_FUNCTION = "[off-CPU]"
THREAD_FILE = "<thread>"
SAMPLER_THREAD_NAME = "perfkit-profiler-sampler"
#: A sample's weight is at most this many sampling intervals (the thread's whole CPU still
#: counts in its lane): see the module docstring, "Limits".
SAMPLE_CAP = 2.0


def _thread_cpu_s(ident: int) -> Optional[float]:
    try:
        return time.clock_gettime(time.pthread_getcpuclockid(ident))
    except (OSError, AttributeError, OverflowError):
        return None


class AllThreadsSampler:
    """Samples every Python thread of this process every ``interval`` seconds."""

    def __init__(self, interval: float = 0.001, target_description: str = "perfkit run"):
        if interval <= 0:
            raise ValueError(f"interval must be positive, not {interval}")
        self.interval = interval
        self.target_description = target_description
        self.records: list[tuple[Any, float]] = []
        self.sample_count = 0
        self.thread_wall: dict[str, float] = {}
        self.thread_cpu: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._start_time = 0.0
        self._t0 = 0.0
        self._duration = 0.0
        self._cpu0 = 0.0
        self._cpu = 0.0
        self._min_interval = float("inf")
        self._max_interval = 0.0
        self._start_call_stack: list[str] = ["perfkit\x00<profiler>\x000"]
        self._switch = sys.getswitchinterval()

    def start(self) -> None:
        self._switch = sys.getswitchinterval()
        sys.setswitchinterval(min(self._switch, self.interval))
        self._start_time = time.time()
        self._t0 = time.perf_counter()
        self._cpu0 = time.process_time()
        # pyinstrument trims the tree's stem down to where the profiler started: the caller's stack
        me = threading.current_thread()
        stack, f = [], sys._getframe(1)
        while f is not None:
            stack.append(get_frame_info(f))
            f = f.f_back
        stack.append(f"{me.name}\x00{THREAD_FILE}\x00{me.ident}")
        self._start_call_stack = stack[::-1]
        self._thread = threading.Thread(target=self._loop, name=SAMPLER_THREAD_NAME, daemon=True)
        with started_as_own():  # an inline run beside it does not charge its units with its samples
            self._thread.start()

    def stop(self) -> Session:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        sys.setswitchinterval(self._switch)
        self._duration = time.perf_counter() - self._t0
        self._cpu = time.process_time() - self._cpu0
        return self.session()

    def __enter__(self) -> "AllThreadsSampler":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if not self._stop.is_set():
            self.stop()

    def session(self) -> Session:
        records = [(list(stack), t) for stack, t in self.records]
        return Session(
            frame_records=records, start_time=self._start_time, duration=self._duration,
            min_interval=self._min_interval if self.sample_count else self.interval,
            max_interval=self._max_interval if self.sample_count else self.interval,
            sample_count=self.sample_count, start_call_stack=self._start_call_stack, target_description=self.target_description,
            cpu_time=self._cpu, sys_path=list(sys.path), sys_prefixes=Session.current_sys_prefixes())

    def _loop(self) -> None:
        me = threading.get_ident()
        names: dict[int, str] = {}
        roots: dict[int, str] = {}
        last_cpu: dict[int, float] = {}
        infos: dict[str, str] = {}  # interning: one string object per distinct frame info
        stacks: dict[tuple, tuple] = {}  # interning: one tuple per distinct stack
        records = self.records
        cap = SAMPLE_CAP * self.interval
        last = time.perf_counter()
        while not self._stop.wait(self.interval):
            now = time.perf_counter()
            dt, last = now - last, now
            self._min_interval = min(self._min_interval, dt)
            self._max_interval = max(self._max_interval, dt)
            self.sample_count += 1
            frames = sys._current_frames()
            for ident, frame in frames.items():
                if ident == me:
                    continue
                if ident not in names:
                    for t in threading.enumerate():
                        if t.ident is not None and t.ident not in names:
                            names[t.ident] = t.name
                            roots[t.ident] = f"{t.name}\x00{THREAD_FILE}\x00{t.ident}"
                    names.setdefault(ident, f"thread-{ident}")
                    roots.setdefault(ident, f"{names[ident]}\x00{THREAD_FILE}\x00{ident}")
                name = names[ident]
                stack = []
                f = frame
                while f is not None:
                    info = get_frame_info(f)
                    stack.append(infos.setdefault(info, info))
                    f = f.f_back
                stack.append(roots[ident])
                stack.reverse()
                key = tuple(stack)
                key = stacks.setdefault(key, key)
                cpu = _thread_cpu_s(ident)
                prev = last_cpu.get(ident)
                if cpu is not None:
                    last_cpu[ident] = cpu
                on = dt if cpu is None or prev is None else min(dt, max(0.0, cpu - prev))
                self.thread_wall[name] = self.thread_wall.get(name, 0.0) + dt
                self.thread_cpu[name] = self.thread_cpu.get(name, 0.0) + on
                # a sample stands for at most `cap` seconds: a sampler starved by a busy machine
                # wakes when a thread blocks (in I/O) and would charge it everything since
                weight = min(dt, cap)
                on_w = min(on, weight)
                if on_w > 0:
                    records.append((key, on_w))
                if weight - on_w > 0:
                    off = key + (OFF_CPU,)
                    records.append((stacks.setdefault(off, off), weight - on_w))
            frames = frame = f = None  # drop references to other threads' frames
