"""The process backend: a pool of worker processes that perfkit can stop one by one.

Why not ``concurrent.futures.ProcessPoolExecutor``: it cannot stop one running call — a hung
unit either blocks the pool or, once its worker is killed, breaks the whole pool and loses
every unit in flight. Here each worker owns a pipe and a small shared-memory slot where it
writes which job and unit it is running and when the unit started (three stores per unit, no
message). The parent waits on all pipes and process sentinels at once (a selector) with a
timeout set by the nearest unit deadline, so it learns of results, of dead workers and of
overruns without polling:

- an overrun (deadline + grace passed) → SIGKILL that worker, the unit is a ``timeout``, the
  rest of its jobs go back to the runner (``Requeued``), a replacement worker is forked;
- a worker that dies by itself → its unit in flight is ``crashed``, the rest requeued;
- outcomes that ran but had not been sent when a worker died run again as attempt + 1.

Batches, not messages per unit: a worker records its outcomes into a columnar batch
(perfkit/backends/unit.py) and sends it every FLUSH_INTERVAL_S, every FLUSH_UNITS outcomes and
at the end of every job; each batch says how many units of each job it completes, so the parent
knows exactly what a lost worker had sent. The end-of-job batch is also the flow control: a
worker holds JOBS_PER_WORKER jobs (one running, one waiting in its pipe), and each finished job
frees a place the parent fills at once, so a worker never idles on dispatch and the parent
never floods it.

No deadlock on full pipes (a large task or job one way, a large batch the other): the parent
never blocks on a write. Its messages go to a per-worker outbox written with non-blocking
sends when the pipe has room, while it keeps reading; a worker only ever blocks on its own
write, which the parent always drains.

Workers fork from a forkserver with perfkit and the solver's module preloaded, so that a
replacement costs milliseconds, and no worker inherits the parent's threads. The pool can
outlive a run (``reusable``): ``perfkit compare`` keeps one warm pool for the configurations
that use it (perfkit/orchestration/compare.py), and each run gets a freshly built solver in
every worker.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing as mp
import os
import pickle
import select
import selectors
import signal
import socket
import struct
import sys
import threading
import time
import types
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, Iterator, Optional

import psutil

from perfkit.backends import base
from perfkit.backends.base import (
    KILL_GRACE_S, MAX_ATTEMPTS, WAKE_S, Assignment, Event, Generation, Job, Requeued, SolverRef, WorkerFailure,
    WorkerUsage, build_solver)
from perfkit.backends.heap import freeze_heap, thaw_heap
from perfkit.backends.start_method import adopt_start_method, users_start_method
from perfkit.backends.unit import PROCESS_CPU, BatchRecorder, Watch, generate, rows_batch, run_job
from perfkit.backends.usage import KilledWorker, peak_rss_bytes, process_cpu_s, reset_peak_rss
from perfkit.model import Outcome, OutcomeBatch, Task

#: Jobs queued per worker: one running, one waiting in its pipe, so it never idles on dispatch.
JOBS_PER_WORKER = 2
#: While every worker holds a job waiting in its pipe, the parent leaves their messages unread
#: for up to this share of the shortest waiting job's expected run time (at most WAKE_S and the
#: next deadline): none of them can run dry meanwhile. Each wake-up costs the parent ~0.1 ms of
#: CPU on this 2-core VM (docs/benchmarks.md, "Session 15: the parent's wake-ups"), taken from a
#: worker, and a wake per batch (two workers, one batch each per FLUSH_INTERVAL_S) made that
#: ~1 % of the machine. Messages wait in the socket, so a killed worker loses no more than before.
HOLD_SHARE = 0.25
#: Socket buffer a worker writes into (bytes): room for the batches of a hold without blocking.
SEND_BUFFER_BYTES = 1 << 20
#: A worker must say it is ready within this many seconds (import of the solver included).
START_TIMEOUT_S = 60.0
#: Tasks a worker keeps; the parent mirrors the list and sends a task again only when evicted.
TASKS_KEPT = 8

_IDLE = 0.0
#: Whether this process has started its forkserver: the first start pays for it (a "cold"
#: start, recorded in resources() so that predictions of a run know which it was).
_forkserver_started = False
_HEADER = struct.Struct("!i")  # multiprocessing.Connection's frame: 4-byte big-endian length
_LONG_HEADER = struct.Struct("!Q")  # ... or -1 and this, for a message of 2 GiB or more
#: Most bytes the parent reads from a worker's pipe in one call (its read buffer's size).
_READ_BYTES = 1 << 18


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this worker when its parent (the forkserver) exits, so that no
    worker outlives a perfkit that was itself killed."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


@contextlib.contextmanager
def main_not_reimported() -> Iterator[None]:
    """Hide the parent's ``__main__`` while starting processes (workers, or the fresh process of
    perfkit/orchestration/reference.py).

    multiprocessing re-imports the main script in every spawned or forkserver child (for
    ``perfkit`` that is the CLI with typer and rich, for a test run all of pytest): ~0.3 s of
    CPU per worker that measures perfkit, not the solver. Workers import the solver by
    reference, so they never need the main module.
    """
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


def _start_forkserver() -> None:
    """Start multiprocessing's forkserver, unless it runs, with Ctrl-C ignored (an ignored signal
    stays ignored across exec). A terminal's Ctrl-C reaches every process of the group, and the
    forkserver ignores it only once it has imported the preloaded modules: pressed earlier, it
    killed the forkserver with a KeyboardInterrupt traceback on the user's terminal. Only the
    fork and exec are covered: perfkit's own handler is back before the server's imports."""
    from multiprocessing import forkserver

    if threading.current_thread() is not threading.main_thread():  # signal.signal: main thread only
        forkserver.ensure_running()
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        forkserver.ensure_running()
    finally:
        signal.signal(signal.SIGINT, previous)


def _kill_group(pid: int) -> None:
    """SIGKILL a worker's process group: the worker and every process its units started. The
    kernel never gives a live group's id to a new process, so this cannot hit a stranger."""
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGKILL)


#: How long :func:`_freeze` waits for a SIGSTOP to take effect (seconds): a stop is delivered
#: when the worker next enters the kernel or is interrupted, microseconds on an idle core.
FREEZE_WAIT_S = 0.5


def _freeze(pid: Optional[int]) -> bool:
    """SIGSTOP the worker ``pid`` and wait until the kernel shows it stopped; False when it
    is gone, a zombie or did not stop in time. The signal is asynchronous: until the state
    reads stopped, the worker may still write its slot."""
    if pid is None:
        return False
    try:
        os.kill(pid, signal.SIGSTOP)
        proc = psutil.Process(pid)
        deadline = time.monotonic() + FREEZE_WAIT_S
        while time.monotonic() < deadline:
            state = proc.status()
            if state == psutil.STATUS_STOPPED:
                return True
            if state in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD):
                return False
            time.sleep(0.0002)
    except (OSError, psutil.Error):
        return False
    return False


class _SlotWatch(Watch):
    """The worker's side of its shared-memory slot: [job dispatch number, unit position,
    unit start (monotonic seconds, 0 between units), its process's CPU clock at the start
    (seconds: what a unit killed with its worker consumed, perfkit/backends/usage.py)],
    written by the unit loop itself (``Watch.slot``). The start is written last, so a reader
    that sees the same non-zero start before and after reading the rest has a consistent
    record."""

    def __init__(self, view: memoryview):
        self.slot = view

    def job(self, dispatch: int) -> None:
        v = self.slot
        v[2] = _IDLE
        v[1] = -1.0
        v[0] = float(dispatch)


def read_messages(sock: socket.socket, inbox: bytearray, scratch: bytearray) -> tuple[list[Any], bool]:
    """The whole messages a worker's pipe holds now, read without blocking, and whether the
    pipe is closed (the worker died); a message's first bytes wait in ``inbox`` for the rest.
    ``scratch`` is the caller's reusable read buffer (its contents are not kept).

    Hand-written framing instead of ``Connection.poll``/``recv``: those cost a selector built
    per poll and two reads per message, ~0.1 ms of the parent's CPU per batch, and on 2 cores
    the parent's CPU is taken from a worker (docs/benchmarks.md §9, "Where candidate-parallel's
    time goes"). The bytes go into ``scratch`` and are unpickled from there: no buffer is
    allocated per read (``recv`` of a large size maps fresh pages every call). The frames are
    multiprocessing.Connection's (a 4-byte big-endian length, or -1 and an 8-byte one), as
    :class:`_Post` and ``Connection.send`` write them."""
    eof, messages = False, []
    with memoryview(scratch) as view:
        while True:
            try:
                n = sock.recv_into(view, len(view), socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                n = 0
            if not n:
                eof = True
                break
            if inbox:  # a message's first bytes were waiting: join them, then read from there
                inbox += view[:n]
                with memoryview(inbox) as held:
                    used = _frames(held, messages)
                del inbox[:used]
            else:
                used = _frames(view[:n], messages)
                inbox += view[used:n]
            if n < len(view):
                break
    return messages, eof


def _frames(buf: memoryview, messages: list[Any]) -> int:
    """Unpickle the whole frames at the start of ``buf`` into ``messages``; the bytes used."""
    at, end = 0, len(buf)
    while end - at >= 4:
        size, head = _HEADER.unpack_from(buf, at)[0], 4
        if size == -1:
            if end - at < 12:
                break
            size, head = _LONG_HEADER.unpack_from(buf, at + 4)[0], 12
        if end - at < head + size:
            break
        messages.append(pickle.loads(buf[at + head:at + head + size]))
        at += head + size
    return at


class _Post:
    """The worker's sending end: one message, one write (``sendmsg`` of the frame's header and
    the pickle together). ``Connection.send`` writes a message over 16 KiB as two: the parent
    then wakes on the header alone and again for the rest, ~0.1 ms of its CPU each time, taken
    from a worker on 2 cores (docs/benchmarks.md §9). Same frame as ``Connection.send``."""

    def __init__(self, conn: Connection):
        self.sock = socket.socket(fileno=os.dup(conn.fileno()))
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)

    def __call__(self, msg: tuple) -> None:
        payload = pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)
        header = _HEADER.pack(len(payload)) if len(payload) < 2**31 - 1 else \
            _HEADER.pack(-1) + _LONG_HEADER.pack(len(payload))
        sent = self.sock.sendmsg([header, payload])
        if sent < len(header) + len(payload):  # a signal cut the write short: finish it
            self.sock.sendall((header + payload)[sent:])


def worker_main(conn: Connection, slot: Any, start_method: Optional[str] = None) -> None:
    """The loop of one worker process: build a solver per run, then run jobs as they come; a
    solver's own processes start by ``start_method``, the user's process's (start_method.py)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _die_with_parent()
    adopt_start_method(start_method)
    # a unit may start processes of its own, as in a ProcessPoolExecutor's worker (not daemonic):
    # multiprocessing refuses a daemonic process children, and python-constraint2's
    # ParallelSolver(process_mode=True) raised in every unit here and nowhere else
    # (docs/benchmarks.md "Session 17: a unit's own processes in a process worker"). The parent
    # still takes this worker for daemonic (terminated, not joined, at its exit); the process
    # group below takes those children down with it
    mp.current_process().daemon = False
    with contextlib.suppress(OSError):
        # a process group of its own: whatever its units start (a solver's subprocess) is
        # killed with it (_kill_group), and cannot keep perfkit's output pipe open
        os.setpgid(0, 0)
    try:
        _serve(conn, slot)
    except ConnectionError:  # the parent closed the pipe (Ctrl-C while the pool started): no one to tell
        return


def _serve(conn: Connection, slot: Any) -> None:
    """Receive orders and send what they produce until ``stop`` or the pipe's end."""
    pid = os.getpid()
    name = f"pid-{pid}"
    view = memoryview(slot).cast("B").cast("d")
    watch = _SlotWatch(view)
    rec = BatchRecorder(name)
    solver: Any = None
    tasks: dict[str, Task] = {}
    post = _Post(conn)
    post(("up", pid))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        kind = msg[0]
        if kind == "item":
            dispatch, a = msg[1], msg[2]
            reset_peak_rss()  # each work item has its own peak (perfkit/backends/usage.py)
            began = time.monotonic()
            # one unit at a time in this process: its CPU is the process's, every thread and child
            for _ in run_job(solver, tasks[a.item.task_id], dispatch, a, rec, watch, PROCESS_CPU):
                post(("rows", rec.rows(), (), None))
            post(("rows", rec.rows() if len(rec) else None, (dispatch,), peak_rss_bytes(),
                  (time.monotonic() - began) / max(1, len(a.item.units))))
        elif kind == "task":
            tasks[msg[1].id] = msg[1]
            for evicted in msg[2]:
                tasks.pop(evicted, None)
        elif kind == "generate":
            dispatch, job = msg[1], msg[2]
            watch.job(dispatch)
            post(("generated", dispatch, generate(solver, tasks[job.task_id], job, name, PROCESS_CPU)))
        elif kind == "open":
            rec.flush_interval_s, rec.flush_units = msg[2]
            thaw_heap()
            try:
                solver = build_solver(msg[1])
            except BaseException as exc:  # report, do not die silently: the parent makes it one line
                post(("fatal", f"cannot build solver {msg[1].spec!r} in a worker: {type(exc).__name__}: {exc}"))
                return
            tasks.clear()
            freeze_heap()
            post(("ready", pid, process_cpu_s(children=True)))
        elif kind == "usage":
            post(("usage", process_cpu_s(children=True), peak_rss_bytes()))
        elif kind == "stop":
            return


@dataclass
class _Worker:
    process: Any
    conn: Connection
    sock: socket.socket
    slot: Any
    view: memoryview
    pid: int = 0
    up: bool = False
    ready: bool = False
    #: jobs sent and not finished, by dispatch number, oldest (running) first
    jobs: dict[int, Job] = field(default_factory=dict)
    #: dispatch -> units of the job whose outcomes arrived (always a prefix of the item)
    received: dict[int, int] = field(default_factory=dict)
    tasks: deque = field(default_factory=deque)  # task ids the worker keeps, oldest first
    outbox: bytearray = field(default_factory=bytearray)
    #: whether the selector watches the pipe for room to write (the outbox was not empty)
    writing: bool = False
    #: bytes read from the pipe that do not yet make a whole message
    inbox: bytearray = field(default_factory=bytearray)
    cpu0: float = 0.0
    #: A replacement forked during a run: all its CPU is that run's (its start-up included);
    #: cleared once it is ready, so that a warm pool's next run counts from its own start.
    replacement: bool = False
    reply: Optional[float] = None
    #: Its peak resident memory this run (bytes): the largest of its items' and its own at the end.
    peak: int = 0
    #: When it was asked to build the solver (time.monotonic()): it must be ready within the
    #: backend's start_timeout_s.
    opened: float = 0.0
    #: Wall seconds per unit of the last item it finished (0: none yet), for HOLD_SHARE.
    unit_s: float = 0.0
    #: True from the moment the parent reads its pipe until it has handled every message read
    #: (:meth:`ProcessBackend._drain`): still True, a Ctrl-C landed in between, and messages it
    #: sent are gone from the pipe unhandled. The parent no longer knows which of its jobs ended,
    #: nor where its next message starts; ``finish_run`` stops it.
    reading: bool = False

    @property
    def name(self) -> str:
        return f"pid-{self.pid or self.process.pid}"


class ProcessBackend:
    """Worker processes with hard per-unit timeouts; see the module docstring."""

    name = "process"
    hard_timeouts = True
    reusable = True

    def __init__(self, kill_grace_s: float = KILL_GRACE_S, start_method: str = "forkserver",
                 flush_interval_s: Optional[float] = None, flush_units: Optional[int] = None,
                 start_timeout_s: float = START_TIMEOUT_S):
        self.kill_grace_s = kill_grace_s
        #: Longest a worker may take to be ready (forked and its solver built), at the start of
        #: a run and for a replacement during it (seconds).
        self.start_timeout_s = float(start_timeout_s)
        #: How often a worker sends its outcomes (seconds, units; and at every job end); the
        #: defaults read when the backend is made (a counted run changes them first).
        self.flush = (float(base.FLUSH_INTERVAL_S if flush_interval_s is None else flush_interval_s),
                      int(base.FLUSH_UNITS if flush_units is None else flush_units))
        self.ctx = mp.get_context(start_method)
        self.pool: list[_Worker] = []
        self.workers: list[_Worker] = []  # the current run's: the first ``workers`` of the pool
        self.usage: list[WorkerUsage] = []
        #: One record per work item of the run that ran to its end: task_id, chunk, worker,
        #: peak_rss_bytes (the worker's peak resident memory while running it), and for an item
        #: joined from several planned items their ``chunks``; and one per item whose worker was
        #: lost in it, with the peak read just before the kill and the unit it was ``running``.
        self.items: list[dict[str, Any]] = []
        self.spawned = 0
        self.cold_start = False
        self.spawned_this_run = 0
        self.runs = 0
        self._dispatched = 0
        self._ref: Optional[SolverRef] = None
        self._selector = selectors.DefaultSelector()
        self._scratch = bytearray(_READ_BYTES)  # the parent's read buffer, for every worker's pipe
        self._preloaded = False

    # -- life cycle -------------------------------------------------------------------------

    def start(self, solver: SolverRef, workers: int) -> None:
        """Make ``workers`` processes ready: fork the missing ones (the first run of a pool,
        or after a worker was lost between runs), then build a fresh solver in each."""
        global _forkserver_started
        self._ref = solver
        self.runs += 1
        self.usage = []
        self.items = []
        self.spawned_this_run = 0
        forkserver = self.ctx.get_start_method() == "forkserver"
        # a warm pool's later runs start no process: only a run that forks pays for the server
        self.cold_start = (not forkserver or not _forkserver_started) and (
            self.runs == 1 or any(not w.process.is_alive() for w in self.pool))
        _forkserver_started = _forkserver_started or forkserver
        if not self._preloaded and self.ctx.get_start_method() == "forkserver":
            from perfkit.solvers import resolve_spec
            module = resolve_spec(solver.spec).partition(":")[0]
            self.ctx.set_forkserver_preload(["perfkit.backends.process", module, *solver.plugins])
            self._preloaded = True
        if forkserver:
            _start_forkserver()
        for w in [w for w in self.pool if not w.process.is_alive()]:
            self._drop(w)
        while len(self.pool) < workers:
            self.pool.append(self._spawn())
        self.workers = self.pool[:workers]
        self._await(self.workers, "up")
        for w in self.workers:
            w.ready = False
            w.reply = None
            w.tasks.clear()  # a worker forgets its tasks when it builds a new solver
            self._open(w)
        self._await(self.workers, "ready")

    def _open(self, w: _Worker) -> None:
        """Ask ``w`` to build the run's solver (it says ``ready`` when done)."""
        w.opened = time.monotonic()
        w.peak = 0
        w.unit_s = 0.0  # a new run's units keep a pace of their own
        self._send(w, ("open", self._ref, self.flush))

    def _await(self, workers: list[_Worker], what: str) -> None:
        """Wait until every worker is ``up`` (forked) or ``ready`` (solver built)."""
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            pending = [w for w in workers if not getattr(w, what)]
            if not pending:
                return
            if time.monotonic() > deadline:
                raise WorkerFailure(f"{len(pending)} worker(s) did not start within {self.start_timeout_s:g} s")
            for w in pending:
                self._write(w)
                try:
                    if self._readable(w, 0.02):
                        if self._drain(w, []):
                            w.process.join(1.0)
                        continue
                except OSError:
                    w.process.join(1.0)
                if not w.process.is_alive():
                    raise WorkerFailure(f"a worker exited during start-up (exit code {w.process.exitcode})")

    def _spawn(self) -> _Worker:
        parent, child = self.ctx.Pipe(duplex=True)
        slot = self.ctx.RawArray("d", 4)
        process = self.ctx.Process(target=worker_main, args=(child, slot, users_start_method()), daemon=True,
                                   name="perfkit-worker")
        with main_not_reimported():
            process.start()
        child.close()
        self.spawned += 1
        self.spawned_this_run += 1
        sock = socket.socket(fileno=os.dup(parent.fileno()))
        w = _Worker(process, parent, sock, slot, memoryview(slot).cast("B").cast("d"))
        self._selector.register(parent.fileno(), selectors.EVENT_READ, (w, "conn"))
        self._selector.register(process.sentinel, selectors.EVENT_READ, (w, "sentinel"))
        return w

    def _drop(self, w: _Worker) -> None:
        """Forget a worker that is gone (its process already reaped), and what its units left
        running."""
        if w.process.pid is not None:
            _kill_group(w.process.pid)
        for fd in (w.conn.fileno(), w.process.sentinel):
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._selector.unregister(fd)
        with contextlib.suppress(OSError):
            w.conn.close()
        with contextlib.suppress(OSError):
            w.sock.close()
        if w in self.pool:
            self.pool.remove(w)
        if w in self.workers:
            self.workers.remove(w)

    def finish_run(self) -> list[WorkerUsage]:
        """The CPU each of the run's workers used during the run. A worker still busy (the run
        was interrupted or failed) is killed: its jobs will not be recorded. So is one whose
        messages were read and not all handled (``_Worker.reading``): a job whose end was among
        them would stay in ``jobs``, and a warm pool's next run would count it as running
        (one job less to the worker, and under budgets one worker less)."""
        for w in list(self.workers):
            if w.reading or (w.jobs and not self._sent_every_outcome(w)):
                self._kill(w, "its messages were read, not handled, when the run stopped" if w.reading
                           else "busy at the end of the run")
                self._drop(w)
                continue
            w.reply = None
            self._send(w, ("usage",))  # a replacement still starting answers once it is ready
        deadline = time.monotonic() + 5.0
        for w in list(self.workers):
            while w.reply is None and time.monotonic() < deadline:
                self._write(w)
                try:
                    if self._readable(w, 0.05) and self._drain(w, []):
                        break
                except (OSError, WorkerFailure):
                    break
            if w.reply is not None:
                self.usage.append(WorkerUsage(w.name, w.reply - w.cpu0, peak_rss_bytes=w.peak or None))
            else:
                self._kill(w, "did not report its CPU")
                self._drop(w)
        self.workers = []
        usage, self.usage = self.usage, []
        return usage

    @staticmethod
    def _sent_every_outcome(w: _Worker) -> bool:
        """Every unit of the worker's jobs has been received: it is not busy, only about to say
        its last job is done (a re-run sends each outcome as it ends, before that message), and
        it answers the usage request after it, in order."""
        return all(isinstance(job, Assignment) and w.received.get(d, 0) >= len(job.item.units)
                   for d, job in w.jobs.items())

    def close(self) -> list[WorkerUsage]:
        """Stop every worker of the pool (idle ones politely, busy ones by SIGKILL)."""
        usage = self.finish_run() if self.workers else []
        for w in list(self.pool):
            if w.jobs:
                self._kill(w, "busy at close")
            else:
                with contextlib.suppress(OSError):
                    self._send(w, ("stop",))
                    self._write(w)
                w.process.join(5.0)
                if w.process.is_alive():
                    self._kill(w, "did not stop")
            self._drop(w)
        self._selector.close()
        return usage + self.usage

    def resources(self) -> dict[str, Any]:
        return {"processes_created": self.spawned_this_run, "pool_processes": len(self.pool),
                "pool_runs": self.runs, "start_method": self.ctx.get_start_method(),
                "cold_start": self.cold_start, "threads": 0, "unit_cpu": PROCESS_CPU,
                "kill_grace_s": self.kill_grace_s, "jobs_per_worker": JOBS_PER_WORKER,
                "flush_interval_s": self.flush[0], "flush_units": self.flush[1]}

    def _kill(self, w: _Worker, reason: str) -> KilledWorker:
        """SIGKILL ``w`` and its process group; what it had used, read just before."""
        used = KilledWorker.read(w.process.pid) if w.process.is_alive() else KilledWorker(None, None)
        if w.process.pid is not None:
            _kill_group(w.process.pid)
        if w.process.is_alive():  # not a group leader yet (killed right after the fork)
            w.process.kill()
        w.process.join(5.0)
        peak = max(used.peak_rss_bytes or 0, w.peak) or None
        self.usage.append(WorkerUsage(w.name, max(0.0, (used.cpu_s or w.cpu0) - w.cpu0), killed=True, reason=reason,
                                      peak_rss_bytes=peak))
        return used

    # -- sending: never blocks ------------------------------------------------------------

    def _send(self, w: _Worker, msg: tuple) -> None:
        payload = pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)
        w.outbox += _HEADER.pack(len(payload))
        w.outbox += payload
        self._write(w)

    def _write(self, w: _Worker) -> None:
        """Write what the pipe takes now; ask the selector for the rest."""
        if w.outbox:
            try:
                n = w.sock.send(w.outbox, socket.MSG_DONTWAIT)
                del w.outbox[:n]
            except BlockingIOError:
                pass
            except OSError:  # the worker is gone: its sentinel tells
                w.outbox.clear()
        if bool(w.outbox) != w.writing:  # the selector watches for room only while bytes wait
            w.writing = bool(w.outbox)
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if w.writing else 0)
            with contextlib.suppress(KeyError, ValueError):
                self._selector.modify(w.conn.fileno(), events, (w, "conn"))

    # -- jobs -------------------------------------------------------------------------------

    def capacity(self) -> int:
        return sum(JOBS_PER_WORKER - len(w.jobs) for w in self.workers if w.ready and len(w.jobs) < JOBS_PER_WORKER)

    def pending(self) -> int:
        return sum(len(w.jobs) for w in self.workers)

    def submit(self, task: Task, job: Job) -> None:
        """Send ``job`` to the ready worker with the fewest jobs (the task first, when the
        worker does not keep it)."""
        ready = [w for w in self.workers if w.ready]
        if not ready:
            raise WorkerFailure("no worker is ready")
        w = min(ready, key=lambda x: len(x.jobs))
        if task.id not in w.tasks:
            evicted = []
            w.tasks.append(task.id)
            while len(w.tasks) > TASKS_KEPT:
                evicted.append(w.tasks.popleft())
            self._send(w, ("task", task, evicted))
        self._dispatched += 1
        d = self._dispatched
        w.jobs[d] = job
        if isinstance(job, Generation):
            self._send(w, ("generate", d, job))
        else:
            w.received[d] = 0
            self._send(w, ("item", d, job))

    def collect(self, wait_s: float) -> list[Event]:
        """Everything the workers sent, lost workers accounted for, overruns stopped."""
        events: list[Event] = []
        hold = self._hold_s()
        if hold > 0:
            time.sleep(hold)
        for key, mask in self._selector.select(max(0.0, min(wait_s, self._next_wake()))):
            w, what = key.data
            if w not in self.pool:
                continue
            if mask & selectors.EVENT_WRITE:
                self._write(w)
            if what == "sentinel" or mask & selectors.EVENT_READ:
                eof = self._drain(w, events)
                if what == "sentinel" or (eof and not w.process.is_alive()):
                    if w in self.workers and not w.ready:  # it died building the solver: so would the next
                        raise WorkerFailure(f"a replacement worker could not start: {self._death(w)} while "
                                            "building the solver")
                    self._lost(w, "crashed", self._death(w), events)
        self._enforce_deadlines(events)
        self._check_starting()
        return events

    def _check_starting(self) -> None:
        """A replacement not ready within start_timeout_s stops the run (it would wait forever)."""
        now = time.monotonic()
        late = [w for w in self.workers if not w.ready and now - w.opened > self.start_timeout_s]
        if late:
            raise WorkerFailure(f"{len(late)} worker(s) did not start within {self.start_timeout_s:g} s "
                                "(a replacement that never became ready)")

    @staticmethod
    def _readable(w: _Worker, wait_s: float) -> bool:
        """Whether the worker's pipe has bytes (or its end) within ``wait_s`` seconds. poll, not
        select: select fails for a file descriptor of 1024 or more (a solver that opens files)."""
        poller = select.poll()
        poller.register(w.sock, select.POLLIN)
        return bool(poller.poll(wait_s * 1000))

    def _drain(self, w: _Worker, events: list[Event]) -> bool:
        """Every complete message the worker sent; True when its pipe is closed (it died).
        ``w.reading`` brackets the read and the handling: whatever bytecode an interrupt lands
        on in between, the flag is left set (see ``_Worker.reading``)."""
        w.reading = True
        messages, eof = read_messages(w.sock, w.inbox, self._scratch)
        for msg in messages:
            self._handle(w, msg, events)
        w.reading = False
        return eof

    def _item_record(self, w: _Worker, job: Assignment, peak: Optional[int], **more: Any) -> None:
        """Record a work item's peak memory (bytes), one record per item handed out: the peak
        is the whole job's, so a joined item lists its planned items (its units record those)
        rather than giving each the peak of units it never ran; a requeued rest of a joined item
        keeps the joined item's ``chunk``, which need not be one of its own."""
        joined = job.item.planned_chunks()
        record = {"task_id": job.item.task_id, "chunk": joined[0], "worker": w.name, "peak_rss_bytes": peak, **more}
        self.items.append({**record, "chunks": list(joined)} if len(joined) > 1 else record)

    def _handle(self, w: _Worker, msg: tuple, events: list[Event]) -> None:
        kind = msg[0]
        if kind == "rows":
            _, rows, done, peak = msg[:4]
            if done:  # the seconds per unit of the item it just finished
                w.unit_s = msg[4]
            batch, progress = rows_batch(rows, w.jobs.__getitem__) if rows is not None else (None, [])
            for d, units in progress:
                if d in w.received:
                    w.received[d] = units
            for d in done:
                job = w.jobs.pop(d, None)
                w.received.pop(d, None)
                if isinstance(job, Assignment):
                    w.peak = max(w.peak, peak or 0)
                    self._item_record(w, job, peak)
            if batch is not None:
                events.append(batch)
        elif kind == "generated":
            w.jobs.pop(msg[1], None)
            events.append(msg[2])
        elif kind == "up":
            w.up, w.pid = True, msg[1]
        elif kind == "ready":
            w.ready, w.cpu0 = True, 0.0 if w.replacement else msg[2]
            # its start-up belonged to the run it was forked in; a warm pool's next run counts
            # its CPU from its own start (it counted the whole life again: 6.7 s in a 1.4 s run)
            w.replacement = False
        elif kind == "usage":
            w.reply = msg[1]
            w.peak = max(w.peak, msg[2] or 0)
        elif kind == "fatal":
            raise WorkerFailure(msg[1])

    def _slot(self, w: _Worker) -> tuple[int, int, float, float]:
        """(dispatch, position, started, process CPU clock at the start) of the worker's unit in
        flight, read consistently (started 0: between units, position = the last unit that
        started)."""
        v = w.view
        for _ in range(100):
            started = v[2]
            dispatch, pos, cpu0 = int(v[0]), int(v[1]), v[3]
            if v[2] == started:
                return dispatch, pos, started, cpu0
        return int(v[0]), int(v[1]), v[2], v[3]

    def _hold_s(self) -> float:
        """How long the parent may leave the workers' messages unread (seconds, see HOLD_SHARE):
        0 unless every worker holds a work item waiting behind its current job and has finished
        one already (its pace is known)."""
        hold = WAKE_S
        for w in self.workers:
            if not w.ready or len(w.jobs) < JOBS_PER_WORKER or not w.unit_s:
                return 0.0
            waiting = list(w.jobs.values())[-1]
            if not isinstance(waiting, Assignment):  # a generation job's length is unknown
                return 0.0
            hold = min(hold, HOLD_SHARE * w.unit_s * len(waiting.item.units))
        return min(hold, self._next_wake()) if self.workers else 0.0

    def _next_wake(self) -> float:
        """Seconds until the nearest unit deadline + grace, at most WAKE_S: a worker does not
        tell the parent when it starts a unit (that would cost a message per unit), so a unit
        started after this wait began is noticed within WAKE_S."""
        now, wake = time.monotonic(), WAKE_S
        for w in self.workers:
            started = w.view[2]
            if w.jobs and started != _IDLE:
                job = w.jobs.get(int(w.view[0]))
                if isinstance(job, Assignment):
                    wake = min(wake, started + job.timeout_s + self.kill_grace_s - now)
        return max(0.0, wake)

    def _enforce_deadlines(self, events: list[Event]) -> None:
        now = time.monotonic()
        for w in list(self.workers):
            if not w.jobs:
                continue
            dispatch, pos, started, _cpu0 = self._slot(w)
            job = w.jobs.get(dispatch)
            if started == _IDLE or not isinstance(job, Assignment):
                continue
            if now > started + job.timeout_s + self.kill_grace_s and self._stopped_in(w, started):
                self._lost(w, "timeout", f"killed {now - started - job.timeout_s:.3f} s after its deadline", events)

    def _stopped_in(self, w: _Worker, started: float) -> bool:
        """Stop the worker (SIGSTOP) and tell whether it is still in the unit that started at
        ``started``. The slot was read while the worker ran: the overdue unit may have ended
        since and the next one begun, which a kill would record as a timeout of a few
        microseconds. Frozen, the slot cannot change between this check and the kill; a worker
        that moved on is let go on (SIGCONT), and its late unit arrives as a late timeout."""
        if not _freeze(w.process.pid):
            return True  # it is dying or dead: its sentinel is about to say so; kill it anyway
        if self._slot(w)[2] == started:
            return True
        with contextlib.suppress(OSError):
            os.kill(w.process.pid, signal.SIGCONT)
        return False

    @staticmethod
    def _exhausted(requeue: list[Job], reason: str, lost: list[Outcome], uids: list[int]) -> list[Job]:
        """The jobs to queue again, less the re-runs past MAX_ATTEMPTS: their units are
        recorded ``crashed`` (into ``lost``/``uids``) with the attempts they had."""
        kept: list[Job] = []
        for job in requeue:
            if not isinstance(job, Assignment) or job.attempt <= MAX_ATTEMPTS:
                kept.append(job)
                continue
            item = job.item
            for pos, (split, index, candidate) in enumerate(item.units):
                lost.append(Outcome(item.task_id, split, index, candidate, "crashed", error_type="WorkerDied",
                                    error_message=f"its worker died after it in {MAX_ATTEMPTS} attempts, before its "
                                                  f"outcome was sent; last: {reason}",
                                    queued=job.queued, chunk=item.chunk_of(pos), attempt=job.attempt - 1,
                                    stage=item.stage))
                uids.append(item.uids[pos] if item.uids else -1)
        return kept

    def _death(self, w: _Worker) -> str:
        w.process.join(1.0)
        code = w.process.exitcode
        if code is not None and code < 0:
            return f"worker {w.name} died of signal {signal.Signals(-code).name}"
        return f"worker {w.name} exited with status {code}"

    def _lost(self, w: _Worker, status: str, reason: str, events: list[Event]) -> None:
        """A worker is gone (killed for an overrun, or died): record its unit in flight as
        ``status``, hand the rest of its jobs back (Requeued) and replace it."""
        dispatch, pos, started, cpu0 = self._slot(w)
        used = self._kill(w, reason)
        self._drain(w, events)  # batches it sent before dying count: fewer units run again
        requeue: list[Job] = []
        lost: list[Outcome] = []
        uids: list[int] = []
        for d, job in w.jobs.items():
            if isinstance(job, Generation):
                requeue.append(Generation(job.task_id, job.attempt + 1) if d == dispatch else job)
                continue
            units = job.item.units
            accounted = units[:w.received.get(d, 0)]
            if d < dispatch:  # finished before the job in flight; its last outcomes died
                requeue += job.after_loss(ran=len(units), accounted=accounted)
            elif d > dispatch:  # never started
                requeue += job.after_loss(ran=0, accounted=accounted)
            elif started != _IDLE and 0 <= pos < len(units):
                split, index, candidate = units[pos]
                now = time.monotonic()
                lost.append(Outcome(job.item.task_id, split, index, candidate, status,
                                    error_type="WorkerKilled" if status == "timeout" else "WorkerDied",
                                    error_message=reason, queued=job.queued, started=started, ended=now,
                                    wall_s=now - started, cpu_s=used.unit_cpu_s(cpu0), worker=w.name,
                                    chunk=job.item.chunk_of(pos), attempt=job.attempt, stage=job.item.stage))
                uids.append(job.item.uids[pos] if job.item.uids else -1)
                requeue += job.after_loss(ran=pos, in_flight=pos, accounted=accounted)
                # the worker resets its peak at each item's start: read before the kill, it is
                # this item's, often the very unit that ran too long (docs/design.md, "Figures")
                if used.peak_rss_bytes:
                    self._item_record(w, job, used.peak_rss_bytes, running=[split, index, candidate])
            else:  # between two units of the job: the one at ``pos`` had ended
                requeue += job.after_loss(ran=pos + 1, accounted=accounted)
        w.jobs.clear()
        requeue = self._exhausted(requeue, reason, lost, uids)
        if lost:
            events.append(OutcomeBatch.from_outcomes(lost, uids))
        if requeue:
            events.append(Requeued(requeue))
        at = self.pool.index(w)
        slot = self.workers.index(w) if w in self.workers else None
        self._drop(w)
        replacement = self._spawn()  # forked from the warm forkserver: milliseconds
        replacement.replacement = True
        self.pool.insert(at, replacement)
        if slot is not None:  # it builds the solver while the others work; ready when it says so
            self.workers.insert(slot, replacement)
            self._open(replacement)
