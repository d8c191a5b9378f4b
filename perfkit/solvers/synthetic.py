"""A fine-grained solver whose cost profile is set by parameters.

``SyntheticSolver`` reproduces the pathologies of parallel candidate evaluation on demand:
GIL-holding CPU work, GIL-free blocking and numpy work, heavy-tailed unit costs, a uniform
slowdown (to inject a regression), and faults placed on chosen units (exceptions, hangs in
Python and in C, process exits and kills, memory spikes). Everything it returns, and every
amount of work it does, is a function of its options and of (seed, task id, split, index,
candidate) only; timing never changes an output or an iteration count — except under the
three *quirks* ``nondet``, ``flip`` and ``stale``, which exist to show what perfkit makes of a
solver for which that does not hold.

Cost of one unit
----------------
``multiplier = tail_draw × (1 + slowdown) × Π slow-fault factors``; the unit then runs, in
this order, ``round(cpu_ms × multiplier × cpu_iters_per_ms)`` iterations of a pure-Python
integer loop (holds the GIL), ``round(numpy_ms × multiplier × NUMPY_PASSES_PER_MS)`` passes
of numpy ufuncs over 2 MB arrays (releases the GIL), and ``time.sleep(sleep_ms × multiplier)``
(releases the GIL). With ``releases_per_ms`` > 0 the integer loop is cut into pieces and
``round(cpu_ms × multiplier × releases_per_ms)`` short numpy calls (one ``sqrt`` over
``RELEASE_ELEMENTS`` float64, a few µs) go between them: each releases the GIL and takes it
back, as the seed's numpy and GPU calls inside a candidate did — alone on its thread that costs
nothing, but among other runnable threads every release is a hand-over (docs/benchmarks.md,
section 7, "Threads on the ARC solver"). Default 0: the loop holds the GIL throughout. With
``cooperative=True`` each phase stops at the deadline (the CPU loop checks every ~100 µs of
work) and raises ``perfkit.model.DeadlineExceeded``.

``cpu_iters_per_ms`` defaults to ``CPU_ITERS_PER_MS`` (7000: 1 ms ≈ 1 ms of CPU on the
reference 2-core box, Python 3.11); it is a fixed constant rather than a measurement so that
iteration counts are reproducible; :func:`calibrate` measures the value for another machine.

Fault grammar (option ``faults``)
---------------------------------
``faults`` is a ``;``-separated list of entries (blanks ignored)::

    entry := kind ["=" value] ":" candidate ["@" place]
    place := [task_id "/"] split ["[" index "]"]

``candidate`` is a candidate id such as ``c003`` or ``*`` (every candidate); without ``@``
the fault hits every sample; ``@demo`` hits every demo sample, ``@demo[1]`` only demo[1] and
``@t1/test[0]`` only test[0] of task ``t1``. Kinds:

==========  =======================================================================
``raise``    raise :class:`InjectedError` (an ``Exception``) after the unit's cost
``hang_py``  after the cost, loop forever in pure Python, holding the GIL, ignoring the deadline
``hang_c``   after the cost, ``time.sleep(3600)`` (blocked in C, ignores the deadline)
``slow=F``   multiply the unit's cost by F (default 10); honours ``cooperative``
``exit=N``   after the cost, ``os._exit(N)`` (default 70): kills the process running it
``kill``     after the cost, ``SIGKILL`` the process running it (exit status -9)
``alloc=M``  allocate and touch M MB (default 100) at the start; held until the unit ends
``nondet``   quirk: the output is a grid of random cells, new on every call (unseeded
             randomness): a nondeterministic candidate
``flip``     quirk: first sleep 60 % or 150 % of the time left to the deadline, chosen at
             random on every call: a unit at its limit that flips between ok and timeout
``stale``    quirk: return the grid computed for the first sample this process evaluated the
             candidate on (a cache keyed by candidate, not by sample): the same answers in
             the same order every time, different ones when a strategy changes the order
``raise_base``  raise :class:`InjectedBaseException` (a ``BaseException``, not an ``Exception``)
``sys_exit=N``  ``sys.exit(N)`` (default 0): a ``SystemExit`` raised in the unit
``interrupt``   raise ``KeyboardInterrupt`` from the solver itself (no signal involved)
``bad_message`` raise an exception whose ``__str__`` itself raises
``bad_output``  return an object whose conversion to an array raises
``grandchild``  start a child process that sleeps an hour (holding the worker's stdout and
                stderr; ``perfkit-synthetic-grandchild`` in its command line), then hang in C
==========  =======================================================================

Example: ``"raise:c003@demo[1]; hang_py:c005; hang_c:c007@test[0]; exit:c009@demo[2];
alloc=200:c004; slow=20:c001@demo[4]"``. A malformed entry raises ``ValueError`` naming it.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np

from perfkit.model import ConfigError, DeadlineExceeded, Sample, Task

#: Iterations of the integer loop per millisecond of CPU (measured on the reference box).
CPU_ITERS_PER_MS = 7000
#: Passes (sqrt + multiply over ``NUMPY_ELEMENTS`` float64) per millisecond.
NUMPY_PASSES_PER_MS = 2.0
#: Elements of each numpy work array (2**18 float64 = 2 MB).
NUMPY_ELEMENTS = 1 << 18
#: Elements (float64) of the array each GIL-releasing call of ``releases_per_ms`` takes the square
#: root of: 32 KB, far above the size from which numpy releases the GIL in a ufunc's loop.
RELEASE_ELEMENTS = 1024
#: Largest tail multiplier, so one unlucky draw cannot take hours.
MAX_TAIL_MULTIPLIER = 1000.0

_KINDS = {"raise": None, "hang_py": None, "hang_c": None, "slow": 10.0, "exit": 70, "kill": None, "alloc": 100.0,
          "nondet": None, "flip": None, "stale": None,
          "raise_base": None, "sys_exit": 0, "interrupt": None, "bad_message": None, "bad_output": None,
          "grandchild": None}
_TERMINAL = ("raise", "hang_py", "hang_c", "exit", "kill", "raise_base", "sys_exit", "interrupt", "bad_message",
             "grandchild")
_QUIRKS = ("nondet", "flip", "stale")
#: The two sleeps of a ``flip`` unit, as shares of the time left to its deadline.
FLIP_SHARES = (0.6, 1.5)
#: Unseeded on purpose: the quirks model a solver whose answers or times are not reproducible.
_UNSEEDED = random.SystemRandom()
#: In the command line of a ``grandchild`` fault's process, so that a test can find survivors.
GRANDCHILD_MARK = "perfkit-synthetic-grandchild"
_ENTRY = re.compile(
    r"^(?P<kind>[a-z_]+)(?:=(?P<value>[^:]*))?:(?P<cand>\*|c\d+)"
    r"(?:@(?:(?P<task>[^/@\[\]]+)/)?(?P<split>demo|test)(?:\[(?P<index>\d+)\])?)?$"
)


class OptionError(ConfigError, ValueError):
    """An option the solver cannot use: a ConfigError naming ``solver_options.NAME`` (one line
    on the command line) that is also a ValueError, for Python callers."""


def _option(name: str, value: Any, convert: Any) -> Any:
    try:
        return convert(value)
    except (TypeError, ValueError, OverflowError):
        raise OptionError(f"solver_options.{name}", value,
                          f"expected {_KIND.get(convert, 'a valid value')}, got {type(value).__name__}") from None


class InjectedError(Exception):
    """The exception raised by a ``raise`` fault."""


class InjectedBaseException(BaseException):
    """The exception raised by a ``raise_base`` fault: not an ``Exception``."""


class UnprintableError(Exception):
    """The exception raised by a ``bad_message`` fault: its message cannot be shown."""

    def __str__(self) -> str:
        raise RuntimeError("this exception's __str__ fails on purpose")


class Unconvertible:
    """What a ``bad_output`` fault returns: converting it to an array raises."""

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("this output's __array__ fails on purpose")


@dataclass(frozen=True)
class Fault:
    """One parsed fault entry; ``None`` fields match anything."""

    kind: str
    value: Optional[float]
    candidate: Optional[str]
    task_id: Optional[str]
    split: Optional[str]
    index: Optional[int]
    text: str

    def hits(self, task_id: str, split: str, index: int, candidate: str) -> bool:
        return (
            (self.candidate is None or self.candidate == candidate)
            and (self.task_id is None or self.task_id == task_id)
            and (self.split is None or self.split == split)
            and (self.index is None or self.index == index)
        )


@dataclass(frozen=True)
class UnitPlan:
    """The deterministic work of one unit: iteration counts, milliseconds and faults."""

    multiplier: float
    cpu_iters: int
    numpy_passes: int
    sleep_ms: float
    alloc_mb: float
    terminal: tuple[Fault, ...] = field(default_factory=tuple)
    #: The quirk kinds that hit the unit (``nondet``, ``flip``, ``stale``).
    quirks: tuple[str, ...] = ()
    #: GIL-releasing numpy calls spread through the integer loop (``releases_per_ms``).
    releases: int = 0


def parse_faults(text: str) -> tuple[Fault, ...]:
    """Parse the fault grammar of the module docstring; ``ValueError`` names a bad entry."""
    faults = []
    for raw in (text or "").split(";"):
        entry = "".join(raw.split())
        if not entry:
            continue
        m = _ENTRY.match(entry)
        if not m or m["kind"] not in _KINDS:
            raise ValueError(f"bad fault {entry!r}: expected kind[=value]:cNNN[@[task/]split[index]] "
                             f"with kind in {', '.join(_KINDS)}")
        kind, value = m["kind"], _KINDS[m["kind"]]
        if m["value"] is not None:
            if value is None:
                raise ValueError(f"bad fault {entry!r}: {kind} takes no '=value'")
            try:
                value = float(m["value"])
            except ValueError:
                raise ValueError(f"bad fault {entry!r}: value {m['value']!r} is not a number") from None
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"bad fault {entry!r}: value must be a finite number >= 0")
        faults.append(Fault(kind, value, None if m["cand"] == "*" else m["cand"], m["task"], m["split"],
                            None if m["index"] is None else int(m["index"]), entry))
    return tuple(faults)


def calibrate(ms: float = 50.0) -> int:
    """Measure this machine's integer-loop iterations per millisecond of thread CPU time."""
    n = 100_000
    while True:
        t0 = time.thread_time()
        _spin(n, 1)
        spent_ms = (time.thread_time() - t0) * 1000.0
        if spent_ms >= ms:
            return max(1, round(n / spent_ms))
        n *= 2


def _spin(n: int, x: int) -> int:
    """``n`` iterations of integer arithmetic holding the GIL."""
    for _ in range(n):
        x = (x * 1103515245 + 12345) & 0xFFFFFFFF
    return x


def _digest(*parts: Any) -> bytes:
    return hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=16).digest()


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"cooperative={value!r}: expected true or false")
    return bool(value)


_KIND = {int: "an integer", float: "a number", _as_bool: "true or false"}


class SyntheticSolver:
    """Candidates ``c000``… with a parametrised cost; ``c000`` answers ``rot90(input)``.

    All durations are milliseconds; options may be given as strings (as the command line passes them).
    """

    def __init__(
        self,
        *,
        candidates: int = 32,
        cpu_ms: float = 1.0,
        sleep_ms: float = 0.0,
        numpy_ms: float = 0.0,
        tail: float = 0.0,
        seed: int = 0,
        cooperative: bool = True,
        slowdown: float = 0.0,
        faults: str = "",
        cpu_iters_per_ms: int = CPU_ITERS_PER_MS,
        releases_per_ms: float = 0.0,
    ) -> None:
        self.n_candidates = _option("candidates", candidates, int)
        self.cpu_ms = _option("cpu_ms", cpu_ms, float)
        self.sleep_ms = _option("sleep_ms", sleep_ms, float)
        self.numpy_ms = _option("numpy_ms", numpy_ms, float)
        self.tail = _option("tail", tail, float)
        self.seed = _option("seed", seed, int)
        self.cooperative = _option("cooperative", cooperative, _as_bool)
        self.slowdown = _option("slowdown", slowdown, float)
        self.cpu_iters_per_ms = _option("cpu_iters_per_ms", cpu_iters_per_ms, int)
        self.releases_per_ms = _option("releases_per_ms", releases_per_ms, float)
        self._release_buffers = threading.local()
        for name in ("cpu_ms", "sleep_ms", "numpy_ms", "tail", "releases_per_ms"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise OptionError(f"solver_options.{name}", value, "expected a finite number >= 0")
        for name in ("n_candidates", "cpu_iters_per_ms"):
            if getattr(self, name) < 1:
                option = "candidates" if name == "n_candidates" else name
                raise OptionError(f"solver_options.{option}", getattr(self, name), "expected an integer >= 1")
        if not (math.isfinite(self.slowdown) and self.slowdown > -1):
            raise OptionError("solver_options.slowdown", self.slowdown, "expected a finite number > -1")
        width = max(3, len(str(self.n_candidates - 1)))
        self._ids = tuple(f"c{i:0{width}d}" for i in range(self.n_candidates))
        self._numbers = {cid: i for i, cid in enumerate(self._ids)}
        try:
            self.faults = parse_faults(faults)
        except ValueError as exc:
            raise OptionError("solver_options.faults", faults, str(exc)) from None
        self._patterns: dict[tuple, np.ndarray] = {}
        self._rotations: dict[int, tuple] = {}
        self._stale: dict[str, np.ndarray] = {}  # the ``stale`` quirk's cache, keyed by candidate only
        for f in self.faults:
            if f.candidate is not None and f.candidate not in self._numbers:
                raise OptionError("solver_options.faults", faults, f"bad fault {f.text!r}: no candidate "
                                  f"{f.candidate} (ids are {self._ids[0]}..{self._ids[-1]})")

    def candidates(self, task: Task) -> Sequence[str]:
        """The candidate ids ``c000``… in a stable order (the same for every task)."""
        return self._ids

    def tail_multiplier(self, task_id: str, split: str, index: int, candidate: str) -> float:
        """The unit's heavy-tail draw: lognormal with sigma ``tail`` and mean 1 (1.0 if tail=0)."""
        if self.tail == 0:
            return 1.0
        u = (int.from_bytes(_digest("tail", self.seed, task_id, split, index, candidate)[:8], "big") + 0.5) / 2**64
        z = statistics.NormalDist().inv_cdf(u)
        return min(MAX_TAIL_MULTIPLIER, math.exp(self.tail * z - self.tail**2 / 2))

    def plan(self, task: Task, sample: Sample, candidate_id: str) -> UnitPlan:
        """The unit's deterministic work (iterations, passes, ms, MB, faults); no time involved."""
        self._number(candidate_id)
        key = (task.id, sample.split, sample.index, candidate_id)
        hit = [f for f in self.faults if f.hits(*key)]
        mult = self.tail_multiplier(*key) * (1.0 + self.slowdown)
        for f in hit:
            if f.kind == "slow":
                mult *= f.value
        return UnitPlan(
            multiplier=mult,
            cpu_iters=round(self.cpu_ms * mult * self.cpu_iters_per_ms),
            numpy_passes=round(self.numpy_ms * mult * NUMPY_PASSES_PER_MS),
            sleep_ms=self.sleep_ms * mult,
            alloc_mb=sum(f.value for f in hit if f.kind == "alloc"),
            terminal=tuple(f for f in hit if f.kind in _TERMINAL),
            quirks=tuple(f.kind for f in hit if f.kind in _QUIRKS),
            releases=round(self.cpu_ms * mult * self.releases_per_ms),
        )

    def evaluate(self, task: Task, sample: Sample, candidate_id: str, deadline: float) -> np.ndarray:
        """Pay the unit's cost (see :meth:`plan`), fire its faults, return its grid.

        ``deadline`` is a ``time.monotonic()`` value in seconds (``None`` = no deadline); with
        ``cooperative`` the work raises ``DeadlineExceeded`` once it is passed.
        """
        plan = self.plan(task, sample, candidate_id)
        deadline = math.inf if deadline is None else float(deadline)
        held = np.ones(int(plan.alloc_mb * 2**20), dtype=np.uint8) if plan.alloc_mb else None
        try:
            if "flip" in plan.quirks and math.isfinite(deadline):
                share = _UNSEEDED.choice(FLIP_SHARES)
                self._sleep(share * max(0.0, deadline - time.monotonic()) * 1000.0, deadline)
            self._cpu(plan.cpu_iters, deadline, plan.releases)
            self._numpy(plan.numpy_passes, deadline)
            self._sleep(plan.sleep_ms, deadline)
            for f in plan.terminal:
                self._fire(f, task, sample, candidate_id)
        finally:
            del held
        if any(f.kind == "bad_output" and f.hits(task.id, sample.split, sample.index, candidate_id)
               for f in self.faults):
            return Unconvertible()  # type: ignore[return-value]
        out = self.output(task, sample, candidate_id)
        if "stale" in plan.quirks:
            out = self._stale.setdefault(candidate_id, out)
        if "nondet" in plan.quirks:
            out = np.frombuffer(_UNSEEDED.randbytes(out.size), dtype=np.uint8).reshape(out.shape) % 10
        return out

    def output(self, task: Task, sample: Sample, candidate_id: str) -> np.ndarray:
        """The unit's grid without any cost: ``rot90(input)`` for c000, else a seeded recolouring
        of the input (never equal to ``rot90(input)``)."""
        number = self._number(candidate_id)
        grid, solved = self._solved(sample.input)
        if number == 0:
            return solved.copy()
        out = (grid + self._pattern(candidate_id, grid.shape)) % 10
        if out.shape == solved.shape and np.array_equal(out, solved):
            out[0, 0] = (out[0, 0] + 1) % 10
        return out

    def _solved(self, grid: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(input, rot90(input))``, cached per input array (the entry holds the array, so its
        id cannot be reused while cached)."""
        entry = self._rotations.get(id(grid))
        if entry is None or entry[0] is not grid:
            arr = np.asarray(grid, dtype=np.uint8)
            if len(self._rotations) > 4096:
                self._rotations.clear()
            entry = (grid, arr, np.rot90(arr))
            self._rotations[id(grid)] = entry
        return entry[1], entry[2]

    def _pattern(self, candidate_id: str, shape: tuple[int, ...]) -> np.ndarray:
        """A seeded per-candidate byte pattern (values 1..9) tiled to ``shape``, cached: with a
        fresh RNG per unit, the 'empty' unit cost ~100 µs, more than the units it should model."""
        key = (candidate_id, shape)
        pattern = self._patterns.get(key)
        if pattern is None:
            digest = _digest("grid", self.seed, candidate_id)
            pattern = np.resize(np.frombuffer(digest, dtype=np.uint8) % 9 + 1, shape).astype(np.uint8)
            if len(self._patterns) > 65536:
                self._patterns.clear()
            self._patterns[key] = pattern
        return pattern

    # -- the work ------------------------------------------------------------------------

    def _number(self, candidate_id: str) -> int:
        try:
            return self._numbers[candidate_id]
        except KeyError:
            raise KeyError(f"unknown candidate {candidate_id!r}") from None

    def _check(self, deadline: float) -> None:
        if self.cooperative and time.monotonic() >= deadline:
            raise DeadlineExceeded("synthetic unit stopped at its deadline")

    def _cpu(self, iters: int, deadline: float, releases: int = 0) -> None:
        """``iters`` loop iterations, checking the deadline every ~100 µs of work, with
        ``releases`` GIL-releasing calls spread evenly between the pieces."""
        chunk = max(1, self.cpu_iters_per_ms // 10)
        if releases:
            chunk = max(1, min(chunk, iters // (releases + 1)))
        x = 1
        while iters > 0:
            self._check(deadline)
            n = min(chunk, iters)
            x = _spin(n, x)
            iters -= n
            if releases and iters > 0:
                self._release_gil()
                releases -= 1
        for _ in range(releases):  # what the pieces left over (a loop shorter than its releases)
            self._release_gil()

    def _release_gil(self) -> None:
        """One short numpy call that releases the GIL and takes it back (a buffer per thread:
        threads writing one shared buffer would add cache traffic the seed's calls did not have)."""
        buffers = getattr(self._release_buffers, "pair", None)
        if buffers is None:
            buffers = self._release_buffers.pair = (np.arange(RELEASE_ELEMENTS, dtype=np.float64),
                                                    np.empty(RELEASE_ELEMENTS, dtype=np.float64))
        np.sqrt(buffers[0], out=buffers[1])

    def _numpy(self, passes: int, deadline: float) -> None:
        """``passes`` GIL-free sqrt+multiply passes over 2 MB float64 arrays."""
        if passes <= 0:
            return
        a = np.arange(NUMPY_ELEMENTS, dtype=np.float64)
        b = np.empty_like(a)
        for _ in range(passes):
            self._check(deadline)
            np.sqrt(a, out=b)
            np.multiply(b, b, out=a)

    def _sleep(self, ms: float, deadline: float) -> None:
        """Sleep ``ms`` milliseconds (GIL-free); cooperative sleep ends at the deadline."""
        if ms <= 0:
            return
        end = time.monotonic() + ms / 1000.0
        if self.cooperative and deadline < end:
            time.sleep(max(0.0, deadline - time.monotonic()))
            raise DeadlineExceeded("synthetic unit stopped at its deadline")
        time.sleep(ms / 1000.0)

    @staticmethod
    def _fire(fault: Fault, task: Task, sample: Sample, candidate_id: str) -> None:
        where = f"{task.id}/{sample.key} {candidate_id}"
        if fault.kind == "raise":
            raise InjectedError(f"injected fault {fault.text} on {where}")
        if fault.kind == "hang_py":
            x = 1
            while True:  # ignores the deadline and holds the GIL, on purpose
                x = (x * 1103515245 + 12345) & 0xFFFFFFFF
        if fault.kind == "hang_c":
            while True:
                time.sleep(3600)
        if fault.kind == "exit":
            os._exit(int(fault.value))
        if fault.kind == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if fault.kind == "raise_base":
            raise InjectedBaseException(f"injected fault {fault.text} on {where}")
        if fault.kind == "sys_exit":
            sys.exit(int(fault.value))
        if fault.kind == "interrupt":
            raise KeyboardInterrupt(f"injected fault {fault.text} on {where}")
        if fault.kind == "bad_message":
            raise UnprintableError()
        if fault.kind == "grandchild":
            subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)", GRANDCHILD_MARK])
            while True:
                time.sleep(3600)
