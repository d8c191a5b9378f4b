"""The process backend: a pool of worker processes that perfkit can stop one by one.

Why not ``concurrent.futures.ProcessPoolExecutor``: it cannot stop one running call — a hung
unit either blocks the pool or, once its worker is killed, breaks the whole pool and loses
every unit in flight. Here each worker owns a pipe and a small shared-memory slot where it
writes which unit it is running and when it started. The parent waits on all pipes and process
sentinels at once (``multiprocessing.connection.wait``) with a timeout set by the nearest unit
deadline, so it learns of results, of dead workers and of overruns without polling:

- an overrun (deadline + grace passed) → SIGKILL that worker, the unit is a ``timeout``, the
  rest of its items go back to the queue, a replacement worker is forked;
- a worker that dies by itself → its unit in flight is ``crashed``, the rest re-queued;
- outcomes finished but not yet sent when a worker died are re-run as attempt + 1.

Workers fork from a forkserver with perfkit and the solver's module preloaded, so that a
replacement costs milliseconds, and no worker inherits the parent's threads.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing as mp
import os
import signal
import sys
import time
import types
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any, Iterator, Optional

from perfkit.backends.base import KILL_GRACE_S, Assignment, SolverRef, WorkerFailure, WorkerUsage, build_solver
from perfkit.backends.unit import iter_item
from perfkit.backends.usage import KilledWorker, peak_rss_bytes, process_cpu_s, reset_peak_rss
from perfkit.model import Outcome, Task

#: Longest a worker holds finished outcomes before sending them (batching cuts per-unit cost).
FLUSH_INTERVAL_S = 0.01
#: Longest the parent waits without looking at the workers' slots (seconds): bounds how late
#: an overrun is noticed (p99 stop latency ≈ grace + this). A wake-up costs ~20 µs of parent CPU.
WAKE_S = 0.03
#: Items queued per worker: one running, one waiting in its pipe, so it never idles on dispatch.
ITEMS_PER_WORKER = 2
#: A worker must say it is ready within this many seconds (import of the solver included).
START_TIMEOUT_S = 60.0

_IDLE = 0.0
#: Whether this process has started its forkserver: the first start pays for it (a "cold"
#: start, recorded in resources() so that predictions of a run know which it was).
_forkserver_started = False


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


def worker_main(conn: Connection, slot: Any, ref: SolverRef) -> None:
    """The loop of one worker process: build the solver, then run items as they come."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _die_with_parent()
    try:
        solver = build_solver(ref)
    except BaseException as exc:  # report, do not die silently: the parent turns it into one line
        conn.send(("fatal", f"cannot build solver {ref.spec!r} in a worker: {type(exc).__name__}: {exc}"))
        return
    name = f"pid-{os.getpid()}"
    conn.send(("ready", os.getpid()))
    tasks: dict[str, Task] = {}

    def on_start(pos: int, started: float) -> None:
        slot[1] = pos
        slot[2] = started
        slot[3] = process_cpu_s()  # the CPU a killed unit consumed (perfkit/backends/usage.py)

    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg[0] == "task":
            tasks = {msg[1].id: msg[1]}
        elif msg[0] == "item":
            a: Assignment = msg[1]
            slot[0] = a.item.chunk
            reset_peak_rss()
            buffer: list[tuple] = []
            last = time.monotonic()
            for unit, outcomes in iter_item(solver, tasks[a.item.task_id], a, name, on_start):
                slot[2] = _IDLE
                buffer.append((unit, outcomes))
                now = time.monotonic()
                if now - last >= FLUSH_INTERVAL_S:
                    conn.send(("outcomes", buffer))
                    buffer, last = [], now
            conn.send(("item_done", a.item.chunk, buffer, peak_rss_bytes()))
        elif msg[0] == "stop":
            ru = os.times()
            conn.send(("usage", ru.user + ru.system, peak_rss_bytes()))
            return


@dataclass
class _Worker:
    process: Any
    conn: Connection
    slot: Any
    ready: bool = False
    pid: int = 0
    task_id: Optional[str] = None
    items: deque = field(default_factory=deque)  # assignments sent, oldest (running) first
    received: dict = field(default_factory=dict)  # chunk -> set of unit refs accounted for
    peak: int = 0  # largest peak resident memory of its items (bytes)

    @property
    def name(self) -> str:
        return f"pid-{self.pid or self.process.pid}"


class ProcessBackend:
    """Worker processes with hard per-unit timeouts; see the module docstring."""

    name = "process"
    hard_timeouts = True

    def __init__(self, kill_grace_s: float = KILL_GRACE_S, start_method: str = "forkserver"):
        self.kill_grace_s = kill_grace_s
        self.ctx = mp.get_context(start_method)
        self.workers: list[_Worker] = []
        self.usage: list[WorkerUsage] = []
        #: One record per work item run to its end: task_id, chunk, worker, peak_rss_bytes.
        self.items: list[dict[str, Any]] = []
        self.spawned = 0
        self.cold_start = False
        self.timeout_s = 1.0
        self._ref: Optional[SolverRef] = None

    # -- life cycle -------------------------------------------------------------------------

    def start(self, solver: SolverRef, workers: int) -> None:
        """Fork ``workers`` processes and wait until each has built the solver."""
        global _forkserver_started
        self._ref = solver
        self.cold_start = self.ctx.get_start_method() != "forkserver" or not _forkserver_started
        _forkserver_started = _forkserver_started or self.ctx.get_start_method() == "forkserver"
        if self.ctx.get_start_method() == "forkserver":
            from perfkit.solvers import resolve_spec
            module = resolve_spec(solver.spec).partition(":")[0]
            self.ctx.set_forkserver_preload(["perfkit.backends.process", module, *solver.plugins])
        self.workers = [self._spawn() for _ in range(workers)]
        deadline = time.monotonic() + START_TIMEOUT_S
        while not all(w.ready for w in self.workers):
            pending = [w for w in self.workers if not w.ready]
            if time.monotonic() > deadline:
                raise WorkerFailure(f"{len(pending)} worker(s) did not start within {START_TIMEOUT_S:.0f} s")
            for w in pending:
                try:
                    if w.conn.poll(0.05):
                        list(self._handle(w, w.conn.recv()))
                        continue
                except (EOFError, OSError):
                    w.process.join(1.0)
                if not w.process.is_alive():
                    raise WorkerFailure(f"a worker exited during start-up (exit code {w.process.exitcode})")

    def _spawn(self) -> _Worker:
        parent, child = self.ctx.Pipe(duplex=True)
        slot = self.ctx.RawArray("d", 4)
        process = self.ctx.Process(target=worker_main, args=(child, slot, self._ref), daemon=True,
                                   name="perfkit-worker")
        with main_not_reimported():
            process.start()
        child.close()
        self.spawned += 1
        return _Worker(process, parent, slot)

    def close(self) -> list[WorkerUsage]:
        """Stop every worker (idle ones politely, busy ones by SIGKILL) and report their CPU."""
        for w in self.workers:
            if w.items or not w.ready:
                self._kill(w, "busy at close")
                continue
            try:
                w.conn.send(("stop",))
                if w.conn.poll(5.0):
                    msg = w.conn.recv()
                    self.usage.append(WorkerUsage(w.name, msg[1], peak_rss_bytes=max(msg[2] or 0, w.peak) or None))
            except (EOFError, OSError, BrokenPipeError):
                pass
            w.process.join(5.0)
            if w.process.is_alive():
                self._kill(w, "did not stop")
        self.workers = []
        return self.usage

    def resources(self) -> dict[str, Any]:
        return {"processes_created": self.spawned, "start_method": self.ctx.get_start_method(),
                "cold_start": self.cold_start,
                "threads": 0, "kill_grace_s": self.kill_grace_s, "items_per_worker": ITEMS_PER_WORKER}

    def _kill(self, w: _Worker, reason: str) -> KilledWorker:
        used = KilledWorker.read(w.process.pid) if w.process.is_alive() else KilledWorker(None, None)
        if w.process.is_alive():
            w.process.kill()
        w.process.join(5.0)
        w.conn.close()
        peak = max(used.peak_rss_bytes or 0, w.peak) or None
        self.usage.append(WorkerUsage(w.name, used.cpu_s or 0.0, killed=True, reason=reason, peak_rss_bytes=peak))
        return used

    # -- one stage --------------------------------------------------------------------------

    def run_stage(self, task: Task, assignments: list[Assignment]) -> Iterator[Outcome]:
        """Run the stage's assignments over the pool; yields every unit's outcome exactly once."""
        self.timeout_s = assignments[0].timeout_s if assignments else 1.0
        queue = deque(assignments)
        self._task = task
        while queue or any(w.items for w in self.workers):
            self._dispatch(queue)
            ready = wait(self._waitables(), self._next_wake())
            for obj in ready:
                w = self._owner(obj)
                if w is None:
                    continue
                yield from self._drain(w, queue)
            yield from self._enforce_deadlines(queue)

    def _dispatch(self, queue: deque) -> None:
        for w in self.workers:
            while w.ready and queue and len(w.items) < ITEMS_PER_WORKER:
                a = queue.popleft()
                try:
                    if w.task_id != a.item.task_id:
                        w.conn.send(("task", self._task))
                        w.task_id = a.item.task_id
                    w.conn.send(("item", a))
                except (BrokenPipeError, ConnectionResetError, EOFError, OSError):
                    # the worker died since the last wake-up: its sentinel will be ready, and
                    # the item was never handed over, so it goes back to the front
                    queue.appendleft(a)
                    w.ready = False
                    break
                w.items.append(a)
                w.received[a.item.chunk] = set()

    def _waitables(self) -> list[Any]:
        return [w.conn for w in self.workers] + [w.process.sentinel for w in self.workers]

    def _owner(self, obj: Any) -> Optional[_Worker]:
        for w in self.workers:
            if obj is w.conn or obj == w.process.sentinel:
                return w
        return None

    def _next_wake(self) -> float:
        """Seconds until the nearest unit deadline + grace, at most WAKE_S: a worker does not
        tell the parent when it starts a unit (that would cost a message per unit), so a unit
        started after this wait began is noticed within WAKE_S."""
        now, wake = time.monotonic(), WAKE_S
        for w in self.workers:
            started = w.slot[2]
            if w.items and started != _IDLE:
                wake = min(wake, started + self.timeout_s + self.kill_grace_s - now)
        return max(0.0, wake)

    def _drain(self, w: _Worker, queue: deque) -> Iterator[Outcome]:
        """Everything the worker sent; then, if it died, account for what it held."""
        try:
            while w.conn.poll():
                msg = w.conn.recv()
                yield from self._handle(w, msg)
        except (EOFError, OSError):
            pass
        if not w.process.is_alive():
            yield from self._lost(w, queue, "crashed", self._death(w), int(w.slot[1]), w.slot[2])

    def _handle(self, w: _Worker, msg: tuple) -> Iterator[Outcome]:
        kind = msg[0]
        if kind == "ready":
            w.ready, w.pid = True, msg[1]
        elif kind == "fatal":
            raise WorkerFailure(msg[1])
        elif kind in ("outcomes", "item_done"):
            batch = msg[1] if kind == "outcomes" else msg[2]
            for unit, outcomes in batch:
                w.received.setdefault(outcomes[0].chunk, set()).add(unit)
                yield from outcomes
            if kind == "item_done":
                done = w.items.popleft()
                w.received.pop(done.item.chunk, None)
                w.peak = max(w.peak, msg[3] or 0)
                self.items.append({"task_id": done.item.task_id, "chunk": done.item.chunk, "worker": w.name,
                                   "peak_rss_bytes": msg[3]})

    def _death(self, w: _Worker) -> str:
        w.process.join(1.0)
        code = w.process.exitcode
        if code is not None and code < 0:
            return f"worker {w.name} died of signal {signal.Signals(-code).name}"
        return f"worker {w.name} exited with status {code}"

    def _enforce_deadlines(self, queue: deque) -> Iterator[Outcome]:
        now = time.monotonic()
        for w in list(self.workers):
            started = w.slot[2]
            if w.items and started != _IDLE and now > started + self.timeout_s + self.kill_grace_s:
                # re-read: the unit may have ended between the two reads
                if w.slot[2] != started:
                    continue
                pos = int(w.slot[1])
                yield from self._lost(w, queue, "timeout", f"killed {now - started - self.timeout_s:.3f} s "
                                      "after its deadline", pos, started)

    def _lost(self, w: _Worker, queue: deque, status: str, reason: str, pos: int,
              started: float) -> Iterator[Outcome]:
        """A worker is gone (killed for an overrun, or died): record its unit in flight (at
        ``pos`` of its first item, started at ``started``) as ``status``, send the rest of its
        items back to the queue, and replace it."""
        used = self._kill(w, reason)
        self.workers.remove(w)
        requeue: list[Assignment] = []
        for i, a in enumerate(w.items):
            accounted = w.received.get(a.item.chunk, set())
            units = a.item.units
            in_flight = pos if i == 0 and started != _IDLE and pos < len(units) else None
            if in_flight is not None:
                split, index, candidate = units[pos]
                now = time.monotonic()
                yield Outcome(a.item.task_id, split, index, candidate, status,
                              error_type="WorkerKilled" if status == "timeout" else "WorkerDied",
                              error_message=reason, queued=a.queued, started=started, ended=now,
                              wall_s=now - started, cpu_s=used.unit_cpu_s(w.slot[3]), worker=w.name,
                              chunk=a.item.chunk, attempt=a.attempt)
            requeue += a.after_loss(ran=pos if in_flight is not None else 0, in_flight=in_flight,
                                    accounted=accounted)
        queue.extendleft(reversed(requeue))  # they were first in line: keep them first
        replacement = self._spawn()
        self.workers.append(replacement)

