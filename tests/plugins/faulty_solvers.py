"""Solvers that misbehave on purpose, loaded by reference (``plugins.faulty_solvers:NAME``) by
the fault-injection suite (tests/faults/), in the parent and in workers."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np

#: In the command line of a grandchild process, so that a test can find survivors.
GRANDCHILD_MARK = "perfkit-test-grandchild"


class Misbehaving:
    """Candidates ``c0``..``c{n-1}``; candidate ``bad`` does ``fault`` on every sample:

    - ``exit=N``: ``sys.exit(N)``; ``chdir``: ``os.chdir`` to ``/`` and answers;
    - ``sleep=S``: sleeps S seconds (GIL-free) before answering;
    - ``print``: prints a line (``print``) and writes one to file descriptor 1, then answers.

    ``log``: a file that gets one line ``<monotonic start> <sample> <candidate>`` per unit started
    (appended with O_APPEND, so workers in any process can share it). ``wait_for``: every unit
    waits until that file exists (at most a minute), so a test decides when the run may end.
    """

    def __init__(self, n: int = 4, bad: str = "c1", fault: str = "", log: str = "", sleep_s: float = 0.0,
                 wait_for: str = ""):
        self.n, self.bad, self.fault, self.log, self.sleep_s = n, bad, fault, log, float(sleep_s)
        self.wait_for = wait_for

    def candidates(self, task):
        return [f"c{i}" for i in range(self.n)]

    def evaluate(self, task, sample, candidate_id, deadline):
        if self.log:
            self._log_start(task, sample, candidate_id)
        return self._answer(sample, candidate_id)

    def _log_start(self, task, sample, candidate_id):
        line = f"{time.monotonic():.6f} {task.id}/{sample.key} {candidate_id}\n".encode()
        fd = os.open(self.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def _answer(self, sample, candidate_id):
        if self.sleep_s:
            time.sleep(self.sleep_s)
        give_up = time.monotonic() + 60
        while self.wait_for and not os.path.exists(self.wait_for) and time.monotonic() < give_up:
            time.sleep(0.01)
        if candidate_id in self.bad.split(",") and self.fault:
            kind, _, value = self.fault.partition("=")
            if kind == "exit":
                sys.exit(int(value or 0))
            if kind == "chdir":
                os.chdir("/")
            if kind == "sleep":
                time.sleep(float(value))
            if kind == "print":
                print(f"printed by {candidate_id} on {sample.key}")
                os.write(1, f"written to fd 1 by {candidate_id} on {sample.key}\n".encode())
            if kind == "grandchild":  # a child holding our stdout, then a hang in C
                subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)", GRANDCHILD_MARK])
                time.sleep(3600)
        return np.rot90(sample.input)


class Raises:
    """Candidate ``c<i+1>`` does the i-th of :data:`BOUNDARY` (what can escape ``except
    Exception``); ``c0`` answers."""

    def candidates(self, task):
        return [f"c{i}" for i in range(len(BOUNDARY) + 1)]

    def evaluate(self, task, sample, candidate_id, deadline):
        i = int(candidate_id[1:])
        if i == 0:
            return np.rot90(sample.input)
        return BOUNDARY[i - 1][1]()


class CustomBaseException(BaseException):
    """Not an Exception."""


class Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("this exception's __str__ fails on purpose")


class Unconvertible:
    def __array__(self, *args, **kwargs):
        raise RuntimeError("this output's __array__ fails on purpose")


def _raise(exc):
    def fire():
        raise exc
    return fire


#: (error type expected in the outcome, what the candidate does)
BOUNDARY = [
    ("CustomBaseException", _raise(CustomBaseException("custom"))),
    ("SystemExit", _raise(SystemExit(0))),
    ("KeyboardInterrupt", _raise(KeyboardInterrupt("the solver's own"))),
    ("GeneratorExit", _raise(GeneratorExit())),
    ("Unprintable", _raise(Unprintable())),
    ("InvalidOutput", Unconvertible),
]


class StarCandidate:
    """A fine-grained solver one of whose candidate ids is the whole-sample marker ``*``."""

    def candidates(self, task):
        return ["a", "*", "b"]

    def evaluate(self, task, sample, candidate_id, deadline):
        return np.rot90(sample.input)


class OpaqueKeys:
    """An opaque solver whose mapping has keys that are not usable candidate ids (``kind``:
    ``int`` → an integer key, ``star`` → the whole-sample marker ``*``) next to a good one."""

    def __init__(self, kind: str = "int"):
        self.kind = kind

    def solve_sample(self, task, sample, deadline):
        bad = 1 if self.kind == "int" else "*"
        return {bad: sample.input, "good": np.rot90(sample.input)}


class Instant:
    """``n`` candidates that answer at once with one constant 1×1 grid: a unit costs only the
    harness, so an item of 100 000 units is quick to run and large to send."""

    def __init__(self, n: int = 100_000):
        self.n = int(n)
        self._grid = np.zeros((1, 1), dtype=np.uint8)

    def candidates(self, task):
        return [f"c{i}" for i in range(self.n)]

    def evaluate(self, task, sample, candidate_id, deadline):
        return self._grid


class KillsItsWorker(Misbehaving):
    """Candidate ``bad`` answers with an output whose finaliser ends the process: the worker
    dies after the unit returned, when perfkit lets go of the output (between units, its result
    maybe not yet sent), every time the unit runs anywhere."""

    def evaluate(self, task, sample, candidate_id, deadline):
        out = super().evaluate(task, sample, candidate_id, deadline)
        return _Deadly(out) if candidate_id == self.bad else out


class _Deadly(np.ndarray):
    def __new__(cls, grid):
        return np.asarray(grid).view(cls)

    def __del__(self):
        os._exit(71)


class CandidatesDieOnce(Misbehaving):
    """``candidates()`` of task ``task`` works ``die_after_s`` seconds, then ends its worker
    process (``os._exit``) the first time it runs anywhere (it leaves ``flag``); it answers after
    that."""

    def __init__(self, task: str = "", flag: str = "", die_after_s: float = 0.0, **options):
        super().__init__(**options)
        self.task, self.flag, self.die_after_s = task, flag, float(die_after_s)

    def candidates(self, task):
        if task.id == self.task and not os.path.exists(self.flag):
            open(self.flag, "w").close()
            time.sleep(self.die_after_s)
            os._exit(74)
        return super().candidates(task)


class BuildFails(Misbehaving):
    """Builds in the first workers; once candidate ``bad`` ran (it kills its worker and leaves
    ``flag``), every later build fails as ``how`` says: ``raise`` (an exception), ``exit`` (the
    process dies while building) or ``hang`` (it never becomes ready)."""

    def __init__(self, flag: str = "", how: str = "raise", **options):
        if flag and os.path.exists(flag):
            if how == "exit":
                os._exit(72)
            if how == "hang":
                time.sleep(3600)
            raise RuntimeError("cannot build after the first death")
        super().__init__(**options)
        self.flag = flag

    def evaluate(self, task, sample, candidate_id, deadline):
        if candidate_id == self.bad and self.flag:
            open(self.flag, "w").close()
            os._exit(73)
        return super().evaluate(task, sample, candidate_id, deadline)


class Choreographed(Misbehaving):
    """Candidates ``c0``..``c{n-1}`` that follow ``script``, so that a test builds a sequence of
    worker deaths from events (which unit has started where), not from timing.

    ``script``: rules ``CAND#K:ACTION[:ACTION]``, comma-separated, applied to the K-th start of
    candidate CAND (starts counted per sample in ``log``, which is required), in this order:

    - ``after=X#J``: first wait until candidate X has started J times (after ``wait_s`` seconds,
      the unit raises instead: the script did not run as written);
    - ``hold``: the worker keeps this outcome until its work item ends; every other outcome is
      sent as soon as its unit ends. Both work through the flush interval of a process worker
      that reads it from ``perfkit.backends.process.FLUSH_INTERVAL_S`` (perfkit before issue
      12's fixes), turning its 10 ms race (which outcomes had a dead worker sent?) into a rule;
      today's workers take their flush limits from the backend's options and ignore these;
    - ``die``: the worker process ends at once (``os._exit``), this unit in flight.
    """

    def __init__(self, script: str = "", wait_s: float = 20.0, **options):
        super().__init__(**options)
        self.wait_s = float(wait_s)
        self.rules: dict[tuple[str, int], list[str]] = {}
        for rule in filter(None, (r.strip() for r in script.split(","))):
            head, *actions = rule.split(":")
            cand, _, k = head.partition("#")
            self.rules[(cand, int(k))] = actions

    def evaluate(self, task, sample, candidate_id, deadline):
        self._log_start(task, sample, candidate_id)
        actions = self.rules.get((candidate_id, self._starts(task, sample, candidate_id)), [])
        for action in actions:
            if action.startswith("after="):
                other, _, times = action[len("after="):].partition("#")
                give_up = time.monotonic() + self.wait_s
                while self._starts(task, sample, other) < int(times):
                    if time.monotonic() > give_up:
                        raise RuntimeError(f"{candidate_id} gave up waiting for {other} to start {times}×")
                    time.sleep(0.005)
        _set_flush_interval(float("inf") if "hold" in actions else 0.0)
        if "die" in actions:
            os._exit(70)
        return self._answer(sample, candidate_id)

    def _starts(self, task, sample, candidate_id) -> int:
        """How often ``candidate_id`` has started on this sample, in any worker (from ``log``)."""
        where = f"{task.id}/{sample.key}"
        with open(self.log) as f:
            return sum(1 for line in f if line.split()[1:] == [where, candidate_id])


def _set_flush_interval(seconds: float) -> None:
    """Set the interval (seconds) after which this process worker sends the outcomes it holds,
    where the worker reads it from its module (see :class:`Choreographed`)."""
    module = sys.modules.get("perfkit.backends.process")
    if module is not None and hasattr(module, "FLUSH_INTERVAL_S"):
        module.FLUSH_INTERVAL_S = seconds


class TearsItsMessage(Misbehaving):
    """Candidate ``bad``, the first time it runs anywhere (``flag`` does not exist yet), leaves
    ``flag`` and makes its worker die while writing its next message to the parent: the frame's
    first half goes into the pipe, then the worker SIGKILLs itself — a torn message, by
    construction rather than by the luck of a kill landing during a write. ``flag`` then holds
    the torn frame's size in bytes."""

    def __init__(self, flag: str = "", **options):
        super().__init__(**options)
        self.flag = flag

    def evaluate(self, task, sample, candidate_id, deadline):
        if candidate_id == self.bad and self.flag and not os.path.exists(self.flag):
            open(self.flag, "w").close()
            _tear_next_message(self.flag)
        return super().evaluate(task, sample, candidate_id, deadline)


def _tear_next_message(flag: str) -> None:
    """Make this process worker's next message a torn one, its size written to ``flag`` (see
    :class:`TearsItsMessage`)."""
    import signal
    from perfkit.backends import process

    class HalfThenDie:
        def __init__(self, sock):
            self.sock = sock

        def sendmsg(self, buffers):
            frame = b"".join(bytes(b) for b in buffers)
            with open(flag, "w") as f:
                f.write(str(len(frame)))
            self.sock.sendall(frame[:len(frame) // 2])
            os.kill(os.getpid(), signal.SIGKILL)

    send = process._Post.__call__

    def torn(post, msg):
        post.sock = HalfThenDie(post.sock)
        send(post, msg)

    process._Post.__call__ = torn


class OpaqueDiesOnStart:
    """An opaque solver (``solve_sample``; candidates ``p0``..``p{n-1}`` declared) whose worker
    ends at once (``os._exit``) on the K-th start of a sample, for every ``SAMPLE#K`` of
    ``script`` (comma-separated, e.g. ``demo[2]#1,demo[1]#2``); starts are counted in ``log``,
    which every worker appends to, so a test sets deaths by event, not by timing."""

    def __init__(self, n: int = 3, script: str = "", log: str = ""):
        self.n, self.log = n, log
        self.deaths = {tuple(r.strip().split("#")) for r in script.split(",") if r.strip()}

    def candidates(self, task):
        return [f"p{i}" for i in range(self.n)]

    def solve_sample(self, task, sample, deadline):
        fd = os.open(self.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{task.id}/{sample.key}\n".encode())
        finally:
            os.close(fd)
        with open(self.log) as f:
            starts = sum(1 for line in f if line.strip() == f"{task.id}/{sample.key}")
        if (sample.key, str(starts)) in self.deaths:
            os._exit(75)
        return {c: np.rot90(sample.input, i) for i, c in enumerate(self.candidates(task))}
