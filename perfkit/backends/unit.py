"""What a worker does: evaluate units, timed, classified, recorded into a batch, never lost.

This module runs inside every worker (inline, thread, process, Dask). It times each unit on
``time.monotonic()`` (one clock for every process of a machine) and a CPU clock its backend
chooses (:data:`THREAD_CPU` or :data:`PROCESS_CPU`, below), and turns whatever the solver did into exactly one
status: an exception before the deadline (any BaseException but the user's Ctrl-C or SIGTERM:
a solver's SystemExit or KeyboardInterrupt too) is an ``error`` with its type, an exception or
a result after the deadline is a ``timeout``, a budget already spent is ``skipped``.

It is the per-unit hot path of every backend, so it is written for it (docs/benchmarks.md,
"Harness cost per unit"): a unit appends a handful of values to the columns of a
:class:`BatchRecorder` (no object per unit), hashes its output with
:func:`perfkit.model.output_hash`, and tells its backend's :class:`Watch` when it starts and
ends (a store into shared memory, an attribute, a dict entry) — no message, no lock, no timer
syscall per unit.

Clocks: the CPU window is read inside the wall window (``started ≤ cpu0 ≤ cpu1 ≤ ended``), so a
unit that computes on one thread never has more CPU than wall (one that computes on several
may); both clocks have 1 ns resolution on Linux and a CPU clock is read exactly (the kernel
adds the current slice), so a unit shorter
than a microsecond still gets a positive wall and CPU of a few hundred nanoseconds (the cost of
one clock read), never zero or negative (tests/test_execution.py).

Which CPU is a unit's: a solver may compute outside the thread that calls it — numpy's
OpenBLAS splits a large product or solve over threads of its own, a solver's thread pool runs
C code that releases the GIL, ``subprocess.run`` starts a program. Where a process runs one
unit at a time (a process worker, the inline backend: :data:`PROCESS_CPU`) the unit's CPU is
the process's CPU clock (every thread but perfkit's own: a live progress display's refresh,
perfkit/backends/own_threads.py) plus the CPU of the child processes it reaped; where
threads share a process (the thread backend: :data:`THREAD_CPU`) only the calling thread's
CPU can be told apart, and the report says what that misses (docs/design.md, "Figures";
docs/benchmarks.md, "Session 11"). Children are read after a unit of at least
:data:`CHILD_MIN_WALL_S` only: a shorter one cannot have started and reaped a program, and
the read (a ``getrusage`` call) stays off the hot path of short units.
"""

from __future__ import annotations

import time
from array import array
from dataclasses import replace
from itertools import chain
from typing import Any, Callable, Iterable, Iterator, Optional

import numpy as np

from perfkit.backends import base
from perfkit.backends.base import Assignment, Generation, Generated
from perfkit.backends.usage import children_cpu_s
from perfkit.model import (
    UNIT_COLUMNS,
    WHOLE_SAMPLE,
    Outcome,
    OutcomeBatch,
    Task,
    SignalInterrupt,
    as_grid,
    candidate_id_problem,
    grid_hash,
    output_hash,
)

#: Longest error message kept per unit (a solver may raise with a huge repr).
MAX_MESSAGE_CHARS = 500

_NAN = float("nan")

#: The CPU a unit is charged with: the calling thread's only (threads sharing a process) ...
THREAD_CPU = "thread"
#: ... or its whole process's (every thread) and the child processes it reaped (one unit at a time).
PROCESS_CPU = "process"
#: Readings of the process's CPU clock and its other threads' that are one instant: those threads
#: ran at most this long (CPU seconds) across them; a clock read takes ~0.5 µs (docs/benchmarks.md,
#: "Session 12").
SAME_INSTANT_S = 2e-5
#: How often such a reading is taken again before the last one is kept.
READ_TRIES = 3
#: A unit shorter than this (wall seconds) has reaped no child process of its own: starting and
#: waiting for the smallest program (``subprocess.run(["true"])``) takes 0.6 ms here. Children
#: reaped in shorter units are charged to the next unit that reads them.
CHILD_MIN_WALL_S = 2e-4


def cpu_clock_of(kind: str, beside: tuple[int, ...] = ()) -> Callable[[], float]:
    """The CPU clock (seconds) of :data:`THREAD_CPU` or :data:`PROCESS_CPU` units; for the
    latter, less the CPU of the threads whose CPU clocks are ``beside`` (perfkit's own threads:
    perfkit/backends/own_threads.py)."""
    if kind != PROCESS_CPU:
        return time.thread_time
    if not beside:
        return time.process_time
    return _process_cpu_less(beside)


def _process_cpu_less(clocks: tuple[int, ...]) -> Callable[[], float]:
    """The process's CPU clock less the CPU clocks ``clocks`` of some of its threads (seconds).

    The process and the threads cannot be read at one instant: their clocks are read before and
    after the process's, and the process's is taken less their mean. A thread that ran on another
    core while this one was descheduled between the reads (a loaded machine) would make the
    process's reading look that much older (a unit read 0 CPU for 1 ms of its own); such a
    reading, the threads' CPU across it beyond :data:`SAME_INSTANT_S`, is taken again, up to
    :data:`READ_TRIES` times. Never decreasing, so a unit never gets negative CPU. A thread
    that ends keeps its last reading: its CPU after that (at most one unit's worth) is charged
    to the unit in flight."""
    process_time, read = time.process_time, time.clock_gettime
    readings = [read(c) for c in clocks]
    each = list(enumerate(clocks))

    def threads_s() -> float:
        for i, c in each:
            try:
                readings[i] = read(c)
            except OSError:  # the thread has ended
                pass
        return sum(readings)

    last = [process_time() - threads_s()]

    def clock() -> float:
        for _ in range(READ_TRIES):
            before = threads_s()
            cpu = process_time()
            after = threads_s()
            if after - before <= SAME_INSTANT_S:
                break
        cpu -= (before + after) / 2
        if cpu < last[0]:
            return last[0]
        last[0] = cpu
        return cpu

    return clock


class HardTimeout(BaseException):
    """Raised into a unit by a backend that can interrupt it (SIGALRM inline). A BaseException
    so that a solver's ``except Exception`` cannot swallow it."""


class Watch:
    """How a backend follows the unit in flight, to stop it or account for it when its worker
    is lost. The unit loop calls ``begin`` right before a unit and ``end`` right after it;
    ``end`` returns False when the backend has given the unit up meanwhile (thread backend:
    the unit was recorded as a leaked timeout and this worker must stop). This base class
    watches nothing.

    A watch that only needs to *see* the unit in flight sets ``slot`` instead: a mutable
    sequence ``[job dispatch number, unit position, unit start, unit CPU clock at the start]``
    (start 0 between units; monotonic and unit CPU clock seconds) that the unit loop writes
    itself — stores, no call (the process backend's shared memory, the inline backend's
    alarm). The start is written last.
    """

    slot: Optional[Any] = None

    def job(self, dispatch: int) -> None:
        """A new job (``dispatch`` is its backend-wide number) is about to start."""

    def begin(self, pos: int, started: float, cpu0: float) -> None:
        """Unit ``pos`` of the current job starts at ``started`` (monotonic seconds), its
        CPU clock (the thread's or the process's, as the job runs) reading ``cpu0`` (seconds)."""
        if self.slot is not None:
            self.slot[1] = pos
            self.slot[3] = cpu0
            self.slot[2] = started

    def end(self) -> bool:
        """The unit in flight ended; False when it was given up meanwhile."""
        if self.slot is not None:
            self.slot[2] = 0.0
        return True


NO_WATCH = Watch()


class BatchRecorder:
    """The outcomes a worker ran since it last sent, column by column.

    Per unit it appends the few values only the unit knows (position, status, times, hash,
    match); what a whole job shares (task, chunk, attempt, stage, queue time, worker) and the
    unit keys are filled in per job segment by :meth:`take`, in C-speed list operations.
    """

    def __init__(self, worker: str, flush_interval_s: Optional[float] = None, flush_units: Optional[int] = None):
        self.worker = worker
        # the limits are read when the recorder is made, not when this module was imported: a
        # counted run sets base.FLUSH_INTERVAL_S to infinity first (perfkit/orchestration/measured_run.py)
        self.flush_interval_s = base.FLUSH_INTERVAL_S if flush_interval_s is None else flush_interval_s
        self.flush_units = base.FLUSH_UNITS if flush_units is None else flush_units
        self.since = time.monotonic()
        self._reset()

    def _reset(self) -> None:
        self.pos: list[int] = []
        self.status: list[str] = []
        self.output_hash: list[Optional[str]] = []
        self.match: list[Optional[bool]] = []
        self.started: list[float] = []
        self.ended: list[float] = []
        self.cpu: list[float] = []
        #: row -> (error_type, error_message); most rows have none
        self.errors: dict[int, tuple[Optional[str], str]] = {}
        #: row -> candidate id, for the rows of an opaque solver's sample-level unit
        self.candidates: dict[int, str] = {}
        #: row -> wall seconds when not ``ended - started`` (a sample-level unit's share)
        self.walls: dict[int, float] = {}
        #: [dispatch, assignment, first row, units of the job done at the end of the segment]
        self.segments: list[list[Any]] = []

    def __len__(self) -> int:
        return len(self.pos)

    def open(self, dispatch: int, a: Assignment, done: int = 0) -> None:
        """Following rows belong to job ``dispatch`` (assignment ``a``), ``done`` of its units
        already sent."""
        self.segments.append([dispatch, a, len(self.pos), done])

    def columns(self) -> tuple:
        """What the unit loop appends to, as locals: (segment, the appends of pos, started,
        ended, cpu, output_hash, match, status, the errors dict, the next row, the flush time).
        Taken again after every flush, since :meth:`take` starts new lists."""
        return (self.segments[-1], self.pos.append, self.started.append, self.ended.append,
                self.cpu.append, self.output_hash.append, self.match.append, self.status.append,
                self.errors, len(self.pos), self.since + self.flush_interval_s)

    def add(self, pos: int, status: str, started: float, ended: float, cpu: float,
            hash_: Optional[str] = None, match: Optional[bool] = None,
            error: Optional[tuple[Optional[str], str]] = None, candidate: Optional[str] = None) -> None:
        """One row (the general path; the unit loop appends to the columns directly)."""
        row = len(self.pos)
        self.pos.append(pos)
        self.status.append(status)
        self.output_hash.append(hash_)
        self.match.append(match)
        self.started.append(started)
        self.ended.append(ended)
        self.cpu.append(cpu)
        if error is not None:
            self.errors[row] = error
        if candidate is not None:
            self.candidates[row] = candidate

    def add_outcome(self, pos: int, o: Outcome) -> None:
        """One row from an :class:`Outcome` (the sample-level path of opaque solvers)."""
        error = (o.error_type, o.error_message) if (o.error_type or o.error_message) else None
        if o.wall_s is not None:
            self.walls[len(self.pos)] = o.wall_s
        self.add(pos, o.status, _nan(o.started), _nan(o.ended), _nan(o.cpu_s), o.output_hash, o.match, error,
                 o.candidate)

    def take(self) -> tuple[OutcomeBatch, list[tuple[int, int]]]:
        """The rows recorded so far as a batch, with ``(dispatch, units of the job done)`` for
        every job they belong to (the parent's account of what a lost worker had sent); the
        recorder starts empty again, its current job continuing in a new segment."""
        segments = self.segments
        batch = _assembled(self.worker, segments, self.pos, self.status, self.output_hash, self.match,
                           self.started, self.ended, self.cpu, self.errors, self.candidates, self.walls)
        self._restart()
        return batch, [(s[0], s[3]) for s in segments]

    def rows(self) -> tuple:
        """The rows recorded so far as they were appended (lists, dicts and the numbers as
        ``array`` buffers; no batch made), for a worker in another process to send; the parent makes the batch with :func:`rows_batch`,
        since it holds every job's assignment by dispatch number. Then the recorder starts
        empty, as after :meth:`take`.

        Why the worker does not make the batch itself: after ~20 ms of a solver's units,
        perfkit's code is out of the worker's caches, and taking, encoding and pickling a batch
        there cost ~0.27 ms per batch against ~0.03 ms measured alone — on units of ~0.5 ms, a
        few percent of the worker's time; pickling these lists is all C (docs/benchmarks.md,
        "Session 16: a batch's cost in a worker whose caches the solver owns")."""
        # numbers as machine arrays: one C copy here, one buffer in the pickle, no float object
        # per value for the parent to make when it reads them (a 1024-row batch: 0.16 ms → 0.02)
        rows = (self.worker, [(s[0], s[2], s[3]) for s in self.segments], array("q", self.pos), self.status,
                self.output_hash, self.match, array("d", self.started), array("d", self.ended),
                array("d", self.cpu), self.errors, self.candidates, self.walls)
        self._restart()
        return rows

    def _restart(self) -> None:
        last = self.segments[-1] if self.segments else None
        self._reset()
        self.since = time.monotonic()
        if last is not None:  # the job in progress goes on in a new segment
            self.segments.append([last[0], last[1], 0, last[3]])

    def due(self, now: float) -> bool:
        """True when the rows should be sent now (``flush_units`` held, or ``flush_interval_s``
        passed since the last send)."""
        return len(self.pos) >= self.flush_units or now - self.since >= self.flush_interval_s


def rows_batch(rows: tuple, assignment_of: Callable[[int], Assignment]) -> tuple[OutcomeBatch, list[tuple[int, int]]]:
    """The batch and progress of :meth:`BatchRecorder.take`, made from what
    :meth:`BatchRecorder.rows` returned in a worker; ``assignment_of`` gives the assignment of
    a job by its dispatch number (the parent's record of the jobs it handed out)."""
    worker, segments, *columns = rows
    # a segment without rows (a finished job's, carried over by the last send) names a job
    # the parent may have closed: only a segment with rows needs its assignment
    ends = _segment_ends([lo for _d, lo, _done in segments], len(columns[0]))
    jobs = [[d, assignment_of(d) if hi > lo else None, lo, done] for (d, lo, done), hi in zip(segments, ends)]
    return _assembled(worker, jobs, *columns), [(d, done) for d, _lo, done in segments]


def _assembled(worker: str, segments: list, pos: list, status: list, output_hash: list, match: list,
               started: list, ended: list, cpu: list, errors: dict, candidates: dict, walls: dict) -> OutcomeBatch:
    """The batch of a recorder's rows: its per-unit columns, and per job segment ``[dispatch,
    assignment, first row, units done]`` what the job determines (keys, constants, uids)."""
    n = len(pos)
    ends = _segment_ends([s[2] for s in segments], n)
    parts = [_segment(a, pos, lo, hi) for (_d, a, lo, _done), hi in zip(segments, ends) if hi > lo]
    if len(parts) == 1:
        keys, consts, uids, _queued = parts[0]
    else:  # several jobs in one batch (short jobs): join their columns
        keys = tuple(list(chain.from_iterable(p[0][i] for p in parts)) for i in range(3))
        consts = tuple(list(chain.from_iterable(p[1][i] for p in parts)) for i in range(4))
        uids = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0, dtype=np.int64)
    split, index, candidate = keys
    task_id, chunk, attempt, stage = consts
    if candidates:
        candidate = list(candidate)
        for row, c in candidates.items():
            candidate[row] = c
    error_type: list = [None] * n
    error_message: list = [None] * n
    for row, (etype, msg) in errors.items():
        error_type[row], error_message[row] = etype, msg
    started_a = np.array(started, dtype=np.float64)
    ended_a = np.array(ended, dtype=np.float64)
    wall = ended_a - started_a
    for row, w in walls.items():
        wall[row] = w
    queued = np.concatenate([p[3] for p in parts]) if parts else np.zeros(0)
    columns = {"task_id": task_id, "split": split, "index": index, "candidate": candidate,
               "status": status, "output_hash": output_hash, "match": match,
               "error_type": error_type, "error_message": error_message, "queued": queued,
               "started": started_a, "ended": ended_a, "wall_s": wall,
               "cpu_s": np.array(cpu, dtype=np.float64), "worker": [worker] * n, "chunk": chunk,
               "attempt": attempt, "leaked_s": np.full(n, _NAN), "leaked": [False] * n, "stage": stage}
    return OutcomeBatch({name: columns[name] for name in UNIT_COLUMNS}, uids)


def _segment_ends(firsts: list[int], n: int) -> list[int]:
    """Where each job segment's rows end, given where each begins and the batch's ``n`` rows."""
    return firsts[1:] + [n]


def _segment(a: Assignment, pos: list, lo: int, hi: int) -> tuple:
    """The columns of rows ``lo:hi`` (one job) that the job determines: keys, constants,
    uids and queue times, built with C-speed sequence operations."""
    k = hi - lo
    item = a.item
    pos = pos[lo:hi]
    first, last = pos[0], pos[-1]
    if last - first == k - 1:  # consecutive units, one row each (the common case)
        units = item.units[first:last + 1]
        uids = item.uids[first:last + 1]
        uids = np.arange(uids.start, uids.stop, dtype=np.int64) if isinstance(uids, range) \
            else np.asarray(uids, dtype=np.int64)
        chunks = list(item.chunks[first:last + 1]) if item.chunks else [item.chunk] * k
    else:
        units = [item.units[p] for p in pos]
        uids = np.asarray(item.uids, dtype=np.int64)[pos] if item.uids else None
        chunks = [item.chunk_of(p) for p in pos]
    if uids is None or not len(uids):
        uids = np.full(k, -1, dtype=np.int64)
    return (tuple(zip(*units)), ([item.task_id] * k, chunks, [a.attempt] * k, [item.stage] * k),
            uids, np.full(k, a.queued))


def _nan(value: Optional[float]) -> float:
    return _NAN if value is None else value


def _describe(exc: BaseException) -> tuple[str, str]:
    return type(exc).__name__, _text(exc)[:MAX_MESSAGE_CHARS]


def expected_hash(sample: Any) -> Optional[str]:
    """The hash of a sample's expected output (None when unknown)."""
    return None if sample.output is None else grid_hash(as_grid(sample.output))


def run_job(solver: Any, task: Task, dispatch: int, a: Assignment, rec: BatchRecorder,
            watch: Watch = NO_WATCH, cpu: str = THREAD_CPU, beside: tuple[int, ...] = ()) -> Iterator[None]:
    """Run the units of assignment ``a`` in order into ``rec``, yielding whenever ``rec`` is due
    (``rec.flush_interval_s`` / ``rec.flush_units``): the caller then takes the batch and sends it. Stops early
    when ``watch.end()`` says the unit was given up (the unit and the rest of the item are then
    accounted for by the backend). ``cpu``: which CPU is the unit's (:data:`THREAD_CPU`, or
    :data:`PROCESS_CPU` where the process runs one unit at a time; ``beside``: the CPU clocks of
    threads of that process whose CPU is not the units', :func:`cpu_clock_of`)."""
    rec.open(dispatch, a)
    watch.job(dispatch)
    if a.item.sample_level:
        yield from _run_sample_level(solver, task, a, rec, watch, cpu, beside)
        return
    evaluate = solver.evaluate
    sample_of = task.sample
    timeout = a.timeout_s
    budget = a.has_budget
    mono, cpu_clock = time.monotonic, cpu_clock_of(cpu, beside)
    # reaped children's CPU, read after units long enough to have had one (CHILD_MIN_WALL_S)
    children = children_cpu_s() if cpu == PROCESS_CPU else None
    begin, end, slot = watch.begin, watch.end, watch.slot
    expected_of: dict[tuple[str, int], Optional[str]] = {}
    last: tuple[Any, int] = (None, -1)
    sample: Any = None
    expected: Optional[str] = None
    # the columns of BatchRecorder as local appends: this loop is the per-unit cost of every
    # backend (docs/benchmarks.md), so nothing in it looks anything up twice
    (segment, add_pos, add_started, add_ended, add_cpu, add_hash, add_match, add_status, errors, row,
     flush_at) = rec.columns()
    flush_units = _flush_units(rec, a)
    for pos, (split, index, candidate) in enumerate(a.item.units):
        if index != last[1] or split != last[0]:
            last = (split, index)
            sample = sample_of(split, index)
            if last not in expected_of:
                expected_of[last] = expected_hash(sample)
            expected = expected_of[last]
        # a unit whose budget is spent (Assignment.budget_spent) is recorded as skipped, not run
        if budget and (reason := a.budget_spent(split, index, ended := mono())) is not None:
            rec.add(pos, "skipped", _NAN, _NAN, _NAN, error=(None, reason))
        else:
            failure: Optional[BaseException] = None
            out: Any = None
            started = mono()
            cpu0 = cpu_clock()
            try:
                try:
                    if slot is None:
                        begin(pos, started, cpu0)
                    else:
                        slot[1] = pos
                        slot[3] = cpu0
                        slot[2] = started
                    out = evaluate(task, sample, candidate, started + timeout)
                    cpu1 = cpu_clock()
                    ended = mono()
                except Exception as exc:  # the solver's own failure: recorded, never raised
                    cpu1 = cpu_clock()
                    ended = mono()
                    failure = exc
            except HardTimeout as exc:
                cpu1 = cpu_clock()
                ended = mono()
                failure = exc
            except SignalInterrupt:  # the user's Ctrl-C or SIGTERM: the run's to handle
                raise
            except BaseException as exc:  # SystemExit, its own KeyboardInterrupt...: still the unit's error
                cpu1 = cpu_clock()
                ended = mono()
                failure = exc
            if slot is not None:
                slot[2] = 0.0
            elif not end():
                return
            add_pos(pos)
            add_started(started)
            add_ended(ended)
            if children is not None and ended - started >= CHILD_MIN_WALL_S:
                cpu0 += children
                children = children_cpu_s()
                cpu1 += children
            add_cpu(cpu1 - cpu0)
            if failure is None:
                try:
                    h = output_hash(out)
                except Exception as exc:  # not a grid, or an object that fails to convert
                    add_hash(None)
                    add_match(None)
                    problem = f"InvalidOutput: {_text(exc)}"
                    if ended >= started + timeout:  # late is a timeout whatever it returned (_late)
                        add_status("timeout")
                        errors[row] = (None, f"finished {ended - started - timeout:.3f} s after its deadline "
                                             f"(returned: {problem})"[:MAX_MESSAGE_CHARS])
                    else:
                        add_status("error")
                        errors[row] = ("InvalidOutput", _text(exc)[:MAX_MESSAGE_CHARS])
                else:
                    add_hash(h)
                    add_match(None if expected is None else h == expected)
                    if ended >= started + timeout:
                        add_status("timeout")
                        errors[row] = (None, f"finished {ended - started - timeout:.3f} s after its deadline")
                    else:
                        add_status("ok")
            else:
                over = ended >= started + timeout
                add_status("timeout" if (over or isinstance(failure, HardTimeout)) else "error")
                add_hash(None)
                add_match(None)
                errors[row] = _describe(failure)
            # let go of the output (and the exception) now: what its finaliser does belongs to this
            # unit, before its outcome is sent, not to the next unit's run
            out = failure = None
        segment[3] = pos + 1
        row += 1
        if row >= flush_units or ended >= flush_at:
            yield
            (segment, add_pos, add_started, add_ended, add_cpu, add_hash, add_match, add_status, errors, row,
             flush_at) = rec.columns()


def _flush_units(rec: BatchRecorder, a: Assignment) -> int:
    """How many rows of assignment ``a`` the worker holds before it sends them: a re-run after
    a lost worker sends each outcome as it ends, so that the unit that kills its worker is then
    the only one to run again and the others are not charged its attempts."""
    return rec.flush_units if a.attempt == 1 else 1


def _run_sample_level(solver: Any, task: Task, a: Assignment, rec: BatchRecorder, watch: Watch,
                      cpu: str = THREAD_CPU, beside: tuple[int, ...] = ()) -> Iterator[None]:
    """The units of an opaque solver: each is a whole sample and yields one row per candidate
    (heavy units, so this path builds Outcome objects)."""
    segment = rec.segments[-1]
    flush_units = _flush_units(rec, a)
    cpu_clock = cpu_clock_of(cpu, beside)
    for pos, (split, index, _whole) in enumerate(a.item.units):
        sample = task.sample(split, index)
        now = time.monotonic()
        if a.has_budget:
            reason = a.budget_spent(split, index, now)
            if reason is not None:
                rec.add(pos, "skipped", _NAN, _NAN, _NAN, error=(None, reason))
                segment[3] = pos + 1
                if len(rec) >= flush_units or rec.due(now):
                    yield
                    segment = rec.segments[-1]
                continue
        failure: Optional[BaseException] = None
        result: Any = None
        started = time.monotonic()
        children = children_cpu_s() if cpu == PROCESS_CPU else 0.0
        cpu0 = cpu_clock()
        try:
            try:
                watch.begin(pos, started, cpu0)
                result = solver.solve_sample(task, sample, started + a.timeout_s)
                cpu1 = cpu_clock()
                ended = time.monotonic()
            except Exception as exc:
                cpu1, ended, failure = cpu_clock(), time.monotonic(), exc
        except HardTimeout as exc:
            cpu1, ended, failure = cpu_clock(), time.monotonic(), exc
        except SignalInterrupt:  # the user's Ctrl-C or SIGTERM: the run's to handle
            raise
        except BaseException as exc:  # SystemExit, its own KeyboardInterrupt...: still the unit's error
            cpu1, ended, failure = cpu_clock(), time.monotonic(), exc
        if not watch.end():
            return
        if cpu == PROCESS_CPU:
            cpu1 += children_cpu_s() - children
        over = ended >= started + a.timeout_s

        def outcome(c: str, status: str) -> Outcome:
            return Outcome(task.id, split, index, c, status, started=started, ended=ended,
                           wall_s=ended - started, cpu_s=cpu1 - cpu0)

        if failure is not None:
            status = "timeout" if (over or isinstance(failure, HardTimeout)) else "error"
            etype, msg = _describe(failure)
            names = _declared(solver, task)
            outs = [_share(outcome(c, status), len(names)) for c in names]
            for o in outs:
                o.error_type, o.error_message = etype, msg
        else:
            outs = _sample_outcomes(solver, task, expected_hash(sample), result, outcome, over)
            if over:
                outs = _late(outs, ended - started - a.timeout_s)
        for o in outs:
            rec.add_outcome(pos, o)
        segment[3] = pos + 1
        if len(rec) >= flush_units or rec.due(ended):
            yield
            segment = rec.segments[-1]


def _finish(outcome: Outcome, output: Any, expected_hash: Optional[str]) -> None:
    """Fill hash and match for a returned output; a value that is not a grid is an error.
    ``match`` compares 64-bit hashes of shape and cells, so equal hashes mean equal grids."""
    try:
        outcome.output_hash = output_hash(output)
    except Exception as exc:  # not a grid, or an object that fails to convert
        outcome.status, outcome.output_hash = "error", None
        outcome.error_type, outcome.error_message = "InvalidOutput", _text(exc)[:MAX_MESSAGE_CHARS]
        return
    if expected_hash is not None:
        outcome.match = outcome.output_hash == expected_hash


def _late(outcomes: list[Outcome], late_s: float) -> list[Outcome]:
    """A result that arrives after its deadline is a ``timeout``, whatever it contains (a
    valid grid, an invalid one, a bad mapping): what it returned is kept in the message."""
    for o in outcomes:
        was = f" (returned: {o.error_type}: {o.error_message})" if o.status == "error" else ""
        o.status, o.error_type = "timeout", None
        o.error_message = f"finished {late_s:.3f} s after its deadline{was}"[:MAX_MESSAGE_CHARS]
    return outcomes


def _declared(solver: Any, task: Task, sample: Any = None) -> list[str]:
    """Candidates an opaque solver declares up front (optional ``candidates(task)``), else the
    whole sample as one unit. Outside the worker that ran ``sample`` (a killed worker's sample,
    named by the parent), a solver's optional ``declared_candidates(task, sample)`` is asked
    first: its per-sample declaration may depend on the sample (the battery's does)."""
    if sample is not None and hasattr(solver, "declared_candidates"):
        declared = [c for c in solver.declared_candidates(task, sample) if candidate_id_problem(c) is None]
        return declared or [WHOLE_SAMPLE]
    if hasattr(solver, "candidates"):
        declared = [c for c in solver.candidates(task) if candidate_id_problem(c) is None]
        return declared or [WHOLE_SAMPLE]
    return [WHOLE_SAMPLE]


def per_declared_candidate(solver: Any, task: Task, outcomes: Iterable[Outcome]) -> Iterator[Outcome]:
    """The outcomes as a backend yields them, except that a whole-sample unit stopped from
    outside its worker (killed at its deadline, or lost with it: the worker could not name its
    candidates) becomes one outcome per candidate the solver declares, as :func:`run_job`
    records a sample that fails inside the worker. Every backend thus records the same units."""
    for o in outcomes:
        names = [WHOLE_SAMPLE]
        # a leaked thread's unit stays whole: the thread backend amends it later by its key
        if o.candidate == WHOLE_SAMPLE and o.status in ("timeout", "crashed") and not o.leaked:
            try:
                names = _declared(solver, task, task.sample(o.split, o.index))
            except Exception:  # the solver's own failure: the unit stays whole, nothing is lost
                names = [WHOLE_SAMPLE]
        if names == [WHOLE_SAMPLE]:
            yield o
            continue
        for c in names:
            yield _share(replace(o, candidate=c), len(names))


def _share(outcome: Outcome, n: int) -> Outcome:
    """Apportion a sample-level unit's wall and CPU evenly among its candidates so that sums
    over units stay true."""
    if n > 1:
        outcome.wall_s = outcome.wall_s / n if outcome.wall_s is not None else None
        outcome.cpu_s = outcome.cpu_s / n if outcome.cpu_s is not None else None
    return outcome


def _sample_outcomes(solver: Any, task: Task, expected: Optional[str], result: Any,
                     outcome: Callable[[str, str], Outcome], over: bool) -> list[Outcome]:
    try:
        outputs = dict(result)
    except (TypeError, ValueError):
        o = outcome(WHOLE_SAMPLE, "error")
        o.error_type, o.error_message = "InvalidOutput", "solve_sample must return a mapping of candidate id to grid"
        return [o]
    bad = [k for k in outputs if candidate_id_problem(k) is not None]
    if bad:  # the mapping as a whole is invalid: no key of it can name a unit
        names = _declared(solver, task)
        outs = [_share(outcome(c, "error"), len(names)) for c in names]
        for o in outs:
            o.error_type = "InvalidOutput"
            o.error_message = (f"solve_sample returned {len(bad)} invalid candidate id(s): "
                               f"{candidate_id_problem(bad[0])}")[:MAX_MESSAGE_CHARS]
        return outs
    names = list(outputs)
    declared = _declared(solver, task) if hasattr(solver, "candidates") else []
    names += [c for c in declared if c not in outputs and c != WHOLE_SAMPLE]
    out: list[Outcome] = []
    for c in names:
        o = _share(outcome(c, "timeout" if over else "ok"), len(names))
        if c not in outputs:
            o.status, o.error_type, o.error_message = "error", "MissingOutput", "declared but not returned"
        else:
            _finish(o, outputs[c], expected)
        out.append(o)
    if not out:
        o = outcome(WHOLE_SAMPLE, "error")
        o.error_type, o.error_message = "EmptyResult", "solve_sample returned no candidates"
        out.append(o)
    return out


def generate(solver: Any, task: Task, job: Generation, worker: str, cpu: str = THREAD_CPU,
             beside: tuple[int, ...] = ()) -> Generated:
    """Run the solver's ``candidates(task)`` (a Generation job), timed like a unit. A failure —
    anything it raises but the user's Ctrl-C, an unusable or duplicate id — is returned as the
    event's ``error`` (the runner stops the run with it once the tasks before this one are
    done), never raised. ``cpu`` and ``beside`` as for :func:`run_job`."""
    cpu_clock = cpu_clock_of(cpu, beside)
    children = children_cpu_s() if cpu == PROCESS_CPU else 0.0
    started, cpu0 = time.monotonic(), cpu_clock()
    candidates: Optional[list[str]] = None
    try:
        candidates = [str(c) for c in solver.candidates(task)]
        error = None
    except SignalInterrupt:
        raise
    except BaseException as exc:  # SystemExit too: the solver's failure, never perfkit's exit status
        error = f"the solver's candidates() raised {type(exc).__name__}: {_text(exc)}"
    if candidates is not None:
        problem = next((p for p in map(candidate_id_problem, candidates) if p is not None), None)
        if problem is not None:
            candidates, error = None, f"the solver's candidates() returned an unusable id: {problem}"
        elif len(set(candidates)) != len(candidates):
            candidates, error = None, "the solver's candidates() returned duplicate ids"
    ended = time.monotonic()
    cpu_s = cpu_clock() - cpu0 + (children_cpu_s() - children if cpu == PROCESS_CPU else 0.0)
    return Generated(job, candidates, ended - started, cpu_s, error, worker, started)


def _text(exc: BaseException) -> str:
    """An exception's message, even when its ``__str__`` raises (a solver's exception)."""
    try:
        return str(exc)
    except Exception:
        return f"<{type(exc).__name__} whose message cannot be shown>"
