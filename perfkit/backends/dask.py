"""The Dask distributed backend: work items as Dask tasks, with perfkit's accounting kept.

Each work item (an :class:`Assignment`) is one Dask task running :func:`run_item` on a worker:
it builds the solver by reference (once per run and worker process), runs the units with
:func:`perfkit.backends.unit.run_job` (timed in the worker, on the worker's monotonic clock)
and publishes their outcomes on the run's event topic as it goes: a batch whenever the
recorder is due (every ``PUBLISH_INTERVAL_S``; every unit in a re-run) and the rest at the end
with the item's facts. Each batch says which of the item's units it covers (``[first unit,
units done)``, in order from unit 0), so the parent knows per item how many units it has
recorded (``_Pending.received``). A Generation job is one Dask task running
:func:`run_generation` (the solver's ``candidates(task)``).

Dask cannot interrupt a running task, so hard timeouts and lost-worker accounting work like
this, without any polling by the parent:

- every worker process keeps a tiny *progress record* in a memory-mapped file on its own machine
  (``/dev/shm/perfkit-dask-<run>/<worker>-<pid>``), made by the run's first job there (a
  Generation job too): which item and unit it is running, since when, and the ids of the items
  it finished last. Writing it costs a few ``struct.pack_into`` per unit and the record survives
  the process. It is named and read by process, as Dask reports the dead worker (address and
  pid): a replacement listening on the dead worker's address (``dask worker --worker-port``)
  is another record. A worker process runs one of the run's jobs at a time, whatever its
  threads: the record follows one item;
- a *watchdog* thread in each worker sleeps until the in-flight unit's deadline + grace; if the
  unit is still running then, it takes the lock the unit needs to end (so the unit cannot
  finish in between and the item's recorder holds still), publishes every batch of the item
  again plus its rows not yet published through a request the scheduler answers (bounded by
  ``KILL_PUBLISH_WAIT_S``), writes ``killed for timeout`` and how many units that confirmed
  publish covers into the record, and SIGKILLs its own process. The nanny starts a replacement;
- the scheduler's ``allowed_failures`` is 0 for the run, so a task whose worker died surfaces as
  ``KilledWorker`` instead of being silently re-run by Dask (which would duplicate work, or
  hang again). The parent then reads the dead worker's record (directly when the worker ran on
  this machine, else through a live worker of the same host); when the record says a publish
  was confirmed for more units than have arrived, it waits for them (at most
  ``CONFIRMED_WAIT_S``: the scheduler queued them to the client before it could see the death,
  on the same ordered stream, so they are normally there already). It then accounts exactly like
  the process backend: the units received are recorded and never run again; the unit in flight
  is ``timeout`` (killed by the watchdog) or ``crashed`` (died by itself); units that finished
  but whose outcomes did not arrive re-run as attempt + 1; units never started re-run with the
  same attempt. Once an item is accounted for, whatever still arrives for it is dropped (those
  units run again): no unit is ever recorded twice.

A worker killed at a unit's deadline thus loses only that unit; one that dies by itself (or whose
loop cannot answer in time: a C call holding the GIL) loses at most the rows of its last
``PUBLISH_INTERVAL_S``. Why both: publishing during the item alone leaves a killed worker's last
window to run again (with 1 ms units, hundreds of units per kill), and a publish sent on the
worker's stream just before a SIGKILL may or may not arrive; the watchdog's publish alone does
nothing for a worker that dies by itself. The confirmed request makes the kill exact (it repeats
the earlier batches, since one of them may still sit in the stream's buffer, and the parent
keeps only the units beyond those it has), and the periodic publishes bound the rest. Before
this, an item published once at its end, and each kill re-ran the item's finished units:
2 158 re-runs on arc-dsl (docs/benchmarks.md, "The Dask backend").

If the record cannot be read (no live worker on the dead worker's host), the item's units not
received re-run as attempt + 1, and a unit whose worker dies a third time is recorded ``crashed``.
A Generation job whose worker was lost runs again, as its next attempt only when the worker may
have died in it (not when it had finished, nor when the record shows the worker inside an item).

When the run's parent closes, each worker lets go of the run (its watchdog, record and solver;
an item still running, the run interrupted, stops after its unit) and the scheduler drops the
run's topic: a cluster that outlives the run keeps nothing of it, and the next run on it builds
a fresh solver, as on every backend.

Each worker's CPU is read (with its pid) as the run's window opens and again at its end: the
run counts the difference, so neither a worker's start-up nor an earlier run on an existing
cluster is this run's; a worker started during the run (a replacement) counts whole.

Dask's task stream (start/stop/worker per task), the per-item timings measured in the
workers, the units run again and the batches dropped as late are kept in
:meth:`DaskBackend.resources` (``summary.json`` → ``resources``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import mmap
import os
import pickle
import queue
import signal
import socket
import struct
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional
from urllib.parse import urlsplit

from perfkit.backends import base
from perfkit.backends.base import (
    KILL_GRACE_S, MAX_ATTEMPTS, Assignment, Event, Generation, Job, Requeued, SolverRef, WorkerFailure,
    WorkerUsage, build_solver, drain)
from perfkit.backends.heap import freeze_heap, thaw_heap
from perfkit.backends.unit import BatchRecorder, Watch, generate, run_job
from perfkit.backends.usage import process_cpu_s
from perfkit.model import ConfigError, Outcome, OutcomeBatch, Task

#: An item whose worker died this many times before it could start is ``crashed`` (e.g. the solver
#: kills the process while it is being built).
MAX_LOST_BEFORE_START = 3
#: Longest wait for the results of an item Dask reports finished before re-running it.
RESULT_WAIT_S = 10.0
#: What fetching a finished job's result raises when its worker was lost meanwhile: the job runs again.
LOST_RESULT = ("CancelledError", "FutureCancelledError", "TimeoutError")
#: The run stops (WorkerFailure) when the cluster has had no worker for this long.
NO_WORKER_TIMEOUT_S = 60.0
#: Longest wait for an existing scheduler to accept a connection before the run starts.
SCHEDULER_PROBE_S = 5.0
#: Where the scheduler of a LocalCluster perfkit starts serves HTTP (its health and metrics
#: routes; perfkit asks for no dashboard): a free port of the loopback interface. With the
#: dashboard off (``dashboard_address=None``) distributed still binds that server to 8787, and
#: every other cluster on the machine (a second run, the other test worker) warned "Port 8787 is
#: already in use".
HTTP_ADDRESS = "127.0.0.1:0"
#: Jobs submitted per worker: Dask's own dispatch takes milliseconds, so each worker has a few
#: queued; the runner keeps the rest, in its order.
JOBS_PER_WORKER = 4
#: A worker publishes a running item's rows at least this often (seconds), and at the item's end:
#: a worker that dies by itself loses at most this window (it runs again as attempt + 1), half
#: what its replacement costs anyway (~1 s). Not the process backend's 20 ms: each publish is a
#: message through the scheduler to the client, and at 0.1 s a run without faults took 2.6 %
#: longer (docs/benchmarks.md, "The Dask backend"). A worker killed by its watchdog loses
#: nothing it finished (the watchdog publishes first), whatever this window.
PUBLISH_INTERVAL_S = 0.5
#: Longest wait of the watchdog for the scheduler to confirm the rows it publishes before a kill
#: (seconds; the unit runs on meanwhile, already past its deadline).
KILL_PUBLISH_WAIT_S = 1.0
#: Longest wait of the parent for rows the scheduler confirmed before a kill (seconds): they are
#: forwarded to the client before the worker's death, so they are normally there already.
CONFIRMED_WAIT_S = 5.0

log = logging.getLogger(__name__)

# -- the progress record (one small file per worker process) -------------------------------

#: item id, pos, state, started, elapsed (at kill), cpu (at last update), pid, units of the item the
#: scheduler confirmed before a kill (-1: none confirmed), then the ring of finished items
_HEAD = struct.Struct("<qiidddqq")
_RING = 8
_RING_FMT = struct.Struct(f"<q{_RING}q")  # ring index, then ids of the last finished items
_RECORD_SIZE = _HEAD.size + _RING_FMT.size

IDLE, RUNNING, BETWEEN, TIMED_OUT = 0, 1, 2, 3


def _record_dir(run_token: str) -> Path:
    """The folder of a run's progress records on this machine (tmpfs when there is one)."""
    base = Path("/dev/shm") if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) \
        else Path(tempfile.gettempdir())
    return base / f"perfkit-dask-{run_token}"


def _record_name(address: str, pid: int) -> str:
    """One file per worker *process*: a worker restarted under its old address (``dask worker
    --worker-port``) is a new process with a record of its own, never the dead one's."""
    return "".join(ch if ch.isalnum() else "_" for ch in address) + f"-{pid}"


def read_record(run_token: str, address: str, pid: int, remove: bool = True) -> Optional[dict[str, Any]]:
    """The progress record of the worker process ``pid`` at ``address`` (on this machine), or None."""
    path = _record_dir(run_token) / _record_name(address, pid)
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if len(data) < _RECORD_SIZE:
        return None
    item, pos, state, started, elapsed, cpu, pid, confirmed = _HEAD.unpack_from(data, 0)
    ring = _RING_FMT.unpack_from(data, _HEAD.size)
    if remove:
        try:
            path.unlink()
        except OSError:
            pass
    now = time.monotonic()
    return {"item": item, "pos": pos, "state": state, "started": started,
            "elapsed": elapsed if state == TIMED_OUT else (now - started if state == RUNNING else 0.0),
            "cpu_s": cpu, "pid": pid, "confirmed": confirmed, "finished": [i for i in ring[1:] if i]}


def _remove_records(run_token: str) -> int:
    """Delete this machine's progress records of a run (at close)."""
    folder = _record_dir(run_token)
    n = 0
    if folder.is_dir():
        for p in folder.iterdir():
            try:
                p.unlink()
                n += 1
            except OSError:
                pass
        try:
            folder.rmdir()
        except OSError:
            pass
    return n


# -- worker side ----------------------------------------------------------------------------

class _WorkerState:
    """Per run and worker process: the progress record, the watchdog, the running item's
    publishes. One job (item or Generation) runs at a time (``running``): the record and the
    watchdog follow one item, whatever threads the worker has."""

    def __init__(self, run_token: str, address: str, worker: Any = None):
        folder = _record_dir(run_token)
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / _record_name(address, os.getpid())
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        os.ftruncate(fd, _RECORD_SIZE)
        self.mem = mmap.mmap(fd, _RECORD_SIZE)
        os.close(fd)
        self.lock = threading.Lock()
        #: held by the job that runs: a worker with more threads runs the others after it (two
        #: items at once shared one record and one recorder: each published the other's rows)
        self.running = threading.Lock()
        #: the run has ended (its parent closed): an item stops after its unit, the watchdog once
        #: no item runs (a hung unit of an abandoned item is still killed)
        self.closed = False
        self.pid = os.getpid()
        self.worker = worker  # the distributed Worker: its loop and its connection to the scheduler
        self.topic = _topic(run_token)
        self.item = 0
        self.pos = 0
        self.state = IDLE
        self.started = 0.0
        self.limit = 1.0  # timeout + grace of the running item
        self.ring = [0] * (_RING + 1)
        self.rec: Optional[BatchRecorder] = None
        #: the running item's published batches, [first unit, units done, pickled batch] each
        self.sent: list[list[Any]] = []
        self.wake = threading.Event()
        self._write()
        threading.Thread(target=self._watch, name=f"perfkit-watchdog-{run_token}", daemon=True).start()

    def _write(self, elapsed: float = 0.0, confirmed: int = -1) -> None:
        _HEAD.pack_into(self.mem, 0, self.item, self.pos, self.state, self.started, elapsed, process_cpu_s(),
                        self.pid, confirmed)

    def begin(self, item: int, limit: float, rec: BatchRecorder) -> None:
        with self.lock:
            self.item, self.pos, self.state, self.limit = item, 0, IDLE, limit
            self.rec, self.sent = rec, []
            self._write()

    def unit_start(self, pos: int, started: float) -> None:
        with self.lock:
            self.pos, self.state, self.started = pos, RUNNING, started
            self._write()
        self.wake.set()

    def unit_end(self) -> None:
        with self.lock:
            self.state = BETWEEN
            self._write()

    def _covered(self) -> int:
        """Units of the running item in its published batches (they start at unit 0, in order)."""
        return self.sent[-1][1] if self.sent else 0

    def _take(self) -> Optional[list[Any]]:
        """Under the lock, between units: the rows recorded since the last publish as the next
        batch ``[first unit, units done, pickled batch]``, kept for a publish before a kill."""
        rec = self.rec
        if rec is None or not len(rec):
            return None
        start = self._covered()
        batch, progress = rec.take()
        entry = [start, progress[-1][1], pickle.dumps(batch.sealed(), protocol=pickle.HIGHEST_PROTOCOL)]
        self.sent.append(entry)
        return entry

    def publish(self, facts: Optional[dict[str, Any]] = None) -> None:
        """In the item's thread: publish the rows recorded since the last publish (with the
        item's ``facts`` at its end) on the run's topic."""
        with self.lock:
            entry = self._take()
            item = self.item
        if (entry is None and facts is None) or self.closed:  # closed: nobody takes the rows any more
            return
        msg = {"item": item, "batches": [entry] if entry else [],
               "facts": None if facts is None else pickle.dumps(facts, protocol=pickle.HIGHEST_PROTOCOL)}
        # the event travels on the worker's ordered stream to the scheduler, the item's last one
        # *before* this task's "finished" message, and the scheduler forwards it to the client
        # before the key's completion: results never wait in worker memory
        self.worker.log_event(self.topic, msg)

    def _publish_before_kill(self) -> int:
        """Under the lock, the unit in flight past its deadline: publish every batch of the item
        (again: one published on the worker's stream may still be in its buffer) and the rows
        not yet published, through a request the scheduler answers. Returns the units it covers
        once confirmed (the parent waits for them), else -1."""
        self._take()
        if not self.sent:
            return 0
        if self.worker is None or self.closed:  # closed: nobody listens to the topic any more
            return -1
        from distributed.utils import sync
        msg = {"item": self.item, "batches": self.sent, "facts": None}
        try:
            # answered once the scheduler has queued the event to the client, before it can see
            # this worker's death: the client thus gets the rows before the KilledWorker error
            sync(self.worker.loop, self.worker.scheduler.log_event, topic=self.topic, msg=msg,
                 callback_timeout=KILL_PUBLISH_WAIT_S)
        except Exception:  # the loop is stuck (a C call holding the GIL) or the scheduler is gone
            return -1
        return self._covered()

    def finish(self) -> None:
        with self.lock:
            i = self.ring[0] % _RING
            self.ring[0] = i + 1
            self.ring[1 + i] = self.item
            _RING_FMT.pack_into(self.mem, _HEAD.size, *self.ring)
            self.item, self.state, self.rec, self.sent = 0, IDLE, None, []
            self._write()

    def _watch(self) -> None:
        """Sleep until the running unit's deadline + grace; if it still runs then, publish what
        the item finished and kill this process."""
        while True:
            with self.lock:
                state, started, limit, item = self.state, self.started, self.limit, self.item
            if state != RUNNING:
                if self.closed and not item:  # the run has ended and no item of it runs here
                    return
                self.wake.wait(max(0.01, limit))
                self.wake.clear()
                continue
            remaining = started + limit - time.monotonic()
            if remaining > 0:
                time.sleep(remaining)
                continue
            with self.lock:  # held to the kill: the unit cannot end (unit_end) in between
                if self.state == RUNNING and self.started == started:
                    confirmed = self._publish_before_kill()
                    self.state = TIMED_OUT
                    self._write(time.monotonic() - started, confirmed)
                    self.mem.flush()
                    os.kill(os.getpid(), signal.SIGKILL)


_STATE: dict[str, _WorkerState] = {}
#: Runs whose parent has closed (``_end_run``): a job of theirs that still starts does nothing.
_ENDED: set[str] = set()
_STATE_LOCK = threading.Lock()
#: The solver of each run, by run token and reference: a fresh instance per run, as every backend
#: builds one (perfkit/backends/base.py), also on a cluster that outlives the run.
_SOLVERS: dict[tuple[str, str], Any] = {}
_TASKS: "OrderedDict[str, Task]" = OrderedDict()


def _solver_key(ref: SolverRef) -> str:
    return json.dumps([ref.spec, ref.options, list(ref.plugins)], sort_keys=True, default=repr)


def _worker_address() -> str:
    try:
        from distributed import get_worker
        return get_worker().address
    except (ImportError, ValueError):
        return f"pid-{os.getpid()}"


class _RecordWatch(Watch):
    """The unit loop's view of the progress record."""

    def __init__(self, state: _WorkerState):
        self.state = state

    def begin(self, pos: int, started: float, cpu0: float) -> None:
        self.state.unit_start(pos, started)

    def end(self) -> bool:
        """False once the run has ended (its parent closed, interrupted): the item stops here."""
        self.state.unit_end()
        return not self.state.closed


def _solver_of(ref: SolverRef, run_token: str) -> Any:
    """The run's solver in this worker process, built on its first use (let go by ``_end_run``)."""
    key = (run_token, _solver_key(ref))
    solver = _SOLVERS.get(key)
    if solver is None:
        thaw_heap()
        solver = _SOLVERS[key] = build_solver(ref)
        freeze_heap()  # before the run's first unit here, outside every unit's window
    return solver


def _solver_and_task(ref: SolverRef, run_token: str, task_blob: bytes, task_digest: str) -> tuple[Any, Task]:
    solver = _solver_of(ref, run_token)
    task = _TASKS.get(task_digest)
    if task is None:
        task = _TASKS[task_digest] = pickle.loads(task_blob)
        while len(_TASKS) > 4:
            _TASKS.popitem(last=False)
    return solver, task


def _state_of(run_token: str) -> Optional[_WorkerState]:
    """The run's state in this worker process, made (with its record) by the run's first job
    here, a Generation job too: a worker that dies in candidates() has a record then, and the
    items that were waiting behind it are read as never started (without one, they ran again
    as attempt + 1). None once the run has ended."""
    with _STATE_LOCK:
        if run_token in _ENDED:
            return None
        state = _STATE.get(run_token)
        if state is None:
            from distributed import get_worker
            state = _STATE[run_token] = _WorkerState(run_token, _worker_address(), get_worker())
        return state


def _end_run(run_token: str) -> int:
    """On each worker as the run's parent closes: stop the run's items after their unit and its
    watchdog once none runs (a hung unit of an abandoned item is still killed), let go of its
    state and solver, delete this machine's records. On a cluster that outlives the run, each run
    left a watchdog thread and its state in every worker."""
    with _STATE_LOCK:
        _ENDED.add(run_token)
        state = _STATE.pop(run_token, None)
    if state is not None:
        state.closed = True
        state.wake.set()
    for key in [k for k in _SOLVERS if k[0] == run_token]:
        del _SOLVERS[key]
    return _remove_records(run_token)


def _forget_topic(topic: str, dask_scheduler: Any = None) -> None:
    """On the scheduler as the run's parent closes: drop the run's topic, whose last
    ``distributed.admin.low-level-log-length`` (1 000) events — batches of pickled rows — it
    keeps for its whole life otherwise (its subscribers got every one as it came: the cap never
    dropped a row)."""
    topics = getattr(getattr(dask_scheduler, "_broker", None), "_topics", None)
    if topics is not None:  # a private structure of distributed (2026.8): no public way to drop a topic
        topics.pop(topic, None)


def run_generation(ref: SolverRef, task_blob: bytes, task_digest: str, job: Generation, run_token: str) -> Any:
    """A Generation job on a Dask worker: the solver's candidates(task), timed (None once the
    run has ended)."""
    state = _state_of(run_token)
    if state is None:
        return None
    with state.running:  # as an item: a death in candidates() is never blamed on an item beside it
        solver, task = _solver_and_task(ref, run_token, task_blob, task_digest)
        return generate(solver, task, job, _worker_address())


def run_item(ref: SolverRef, task_blob: bytes, task_digest: str, a: Assignment, item_id: int,
             run_token: str, kill_grace_s: float, publish_s: float = PUBLISH_INTERVAL_S) -> int:
    """One work item on a Dask worker: its outcomes, published on the run's event topic every
    ``publish_s`` seconds and at the end with the item's facts (returns the item id)."""
    state = _state_of(run_token)
    if state is None:  # the run has ended
        return item_id
    address = _worker_address()
    with state.running:
        rec = BatchRecorder(address, flush_interval_s=publish_s)
        state.begin(item_id, a.timeout_s + kill_grace_s, rec)  # before building anything: a death is accounted
        t0, wall0 = time.monotonic(), time.time()
        solver, task = _solver_and_task(ref, run_token, task_blob, task_digest)
        for _ in run_job(solver, task, item_id, a, rec, _RecordWatch(state)):
            state.publish()
        state.publish({"item": item_id, "chunk": a.item.chunk, "attempt": a.attempt, "worker": address,
                       "pid": os.getpid(), "units": len(a.item.units), "start": t0, "stop": time.monotonic(),
                       "start_epoch": wall0})
        state.finish()
    return item_id


def _topic(run_token: str) -> str:
    return f"perfkit-results-{run_token}"


def _worker_cpu() -> tuple[int, float]:
    """This process's id and the CPU (seconds) it used since it started."""
    return os.getpid(), process_cpu_s()


# -- parent side ----------------------------------------------------------------------------

@dataclass
class _Pending:
    future: Any
    a: Assignment
    item_id: int
    lost_before_start: int = 0
    #: units of the item whose outcomes arrived (its batches cover units 0.. in order)
    received: int = 0


#: A dead worker process as Dask names it: (address, pid); either may be unknown.
_Dead = tuple[Optional[str], Optional[int]]


def _dead_worker(exc: Optional[BaseException]) -> _Dead:
    """The worker process whose death ``exc`` (a KilledWorker) reports."""
    last = getattr(exc, "last_worker", None)
    return getattr(last, "address", None), getattr(last, "pid", None)


def _local_hosts() -> set[str]:
    hosts = {"127.0.0.1", "localhost", "::1"}
    try:
        hosts.add(socket.gethostname())
        hosts.update(socket.gethostbyname_ex(socket.gethostname())[2])
    except OSError:
        pass
    return hosts


def _host(address: str) -> str:
    rest = address.split("://", 1)[-1]
    return rest.rsplit(":", 1)[0].strip("[]")


def local_cluster(**options: Any) -> Any:
    """A LocalCluster of worker processes with no dashboard and its scheduler's HTTP server on a
    free loopback port (:data:`HTTP_ADDRESS`); ``options`` go to LocalCluster (``n_workers``,
    ``threads_per_worker``, ``silence_logs``, ...)."""
    from distributed import LocalCluster

    return LocalCluster(processes=True, dashboard_address=None, scheduler_kwargs={"dashboard_address": HTTP_ADDRESS},
                        **options)


class DaskBackend:
    """Work items as Dask tasks; see the module docstring."""

    name = "dask"
    hard_timeouts = True
    reusable = False

    def __init__(self, scheduler: Optional[str] = None, kill_grace_s: float = KILL_GRACE_S,
                 worker_saturation: Optional[float] = None, silence_logs: int = logging.ERROR):
        self.scheduler = scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS") or None
        self.kill_grace_s = kill_grace_s
        self.worker_saturation = worker_saturation
        self.silence_logs = silence_logs
        self.client: Any = None
        self.cluster: Any = None
        self.run_token = ""
        self.usage: list[WorkerUsage] = []
        #: Each worker's (and, on our own LocalCluster, each nanny's) (pid, CPU seconds) when the
        #: run's window opens: the run counts only what they use after it.
        self._cpu0: dict[str, tuple[int, float]] = {}
        self.deaths: list[dict[str, Any]] = []
        self.item_facts: list[dict[str, Any]] = []
        self.task_stream: list[dict[str, Any]] = []
        self.addresses_seen: set[str] = set()
        self._ref: Optional[SolverRef] = None
        self._next_item = 0
        self._records: dict[_Dead, Optional[dict[str, Any]]] = {}
        self._old_allowed_failures: Optional[int] = None
        self._epoch0 = 0.0
        self._clock_offset = 0.0
        self._facts: dict[str, Any] = {}
        self._events: "queue.SimpleQueue[tuple[str, int, Any]]" = queue.SimpleQueue()
        self._pending: dict[int, _Pending] = {}  # item id -> what runs it
        self._generating: dict[int, tuple[Any, Generation]] = {}
        self._unanswered: dict[int, float] = {}  # finished futures whose results have not arrived yet
        #: items whose worker died, accounted once the rows its watchdog confirmed have arrived:
        #: item id -> (dead worker, when to account without them)
        self._lost_items: dict[int, tuple[_Dead, float]] = {}
        #: units run again as attempt + 1 because their outcomes died with a worker
        self.units_run_again = 0
        #: batches that arrived after their item was accounted for (dropped: their units ran again)
        self.late_batches = 0
        self._no_worker_since: Optional[float] = None
        self._blobs: dict[str, tuple[bytes, str]] = {}
        self._tasks: dict[str, Task] = {}
        self._n_workers = 0
        self._publish_s = PUBLISH_INTERVAL_S

    @staticmethod
    def check_options(scheduler: Optional[str] = None, **_: Any) -> None:
        """Before anything is written: an existing scheduler (``scheduler`` or
        $DASK_SCHEDULER_ADDRESS) must accept a connection, else a ConfigError naming it."""
        address = scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS")
        if not address:
            return
        parts = urlsplit(address if "://" in address else f"tcp://{address}")
        if parts.scheme not in ("tcp", "tls"):  # other transports are Dask's own to check
            return
        try:
            host, port = parts.hostname, parts.port
        except ValueError:
            host, port = None, None
        if not host or port is None:
            raise ConfigError("backend_options.scheduler", address, "expected tcp://HOST:PORT")
        try:
            socket.create_connection((host, port), timeout=SCHEDULER_PROBE_S).close()
        except OSError as exc:
            raise ConfigError("backend_options.scheduler", address,
                              f"cannot reach the Dask scheduler: {exc.strerror or exc}") from None

    # -- life cycle -------------------------------------------------------------------------

    def start(self, solver: SolverRef, workers: int) -> None:
        """Start a LocalCluster of ``workers`` processes (one thread each), or connect to
        ``scheduler``; make Dask surface dead workers instead of retrying their tasks."""
        import dask
        from distributed import Client

        self._ref = solver
        self.run_token = f"{os.getpid()}-{os.urandom(4).hex()}"
        config = {"distributed.scheduler.allowed-failures": 0}
        if self.worker_saturation is not None:
            config["distributed.scheduler.worker-saturation"] = self.worker_saturation
        with dask.config.set(config):
            if self.scheduler:
                self.client = Client(self.scheduler, timeout="30s")
            else:
                # for the cluster's whole life, not only while it is built: the LocalCluster reads
                # this timeout when a worker is lost, and past it (15 s by default) closes the
                # nanny of a SIGKILLed worker that a loaded machine restarted too slowly, for good;
                # the run then ended "no worker for 60 s". perfkit's own wait is NO_WORKER_TIMEOUT_S.
                self._lifetime_config = dask.config.set({"distributed.deploy.lost-worker-timeout": "1h"})
                try:
                    self.cluster = local_cluster(n_workers=workers, threads_per_worker=1,
                                                 silence_logs=self.silence_logs)
                except BaseException:
                    self._lifetime_config.__exit__(None, None, None)
                    raise
                self.client = Client(self.cluster)
        # an existing scheduler keeps its own config: set allowed_failures for this run only
        self._old_allowed_failures = self.client.run_on_scheduler(_set_allowed_failures, 0)
        if self.scheduler:
            try:
                self.client.wait_for_workers(1, timeout=60)
            except Exception as exc:
                raise WorkerFailure(f"dask scheduler {self.scheduler}: no worker joined within 60 s ({exc})") from None
        self.client.subscribe_topic(_topic(self.run_token), self._on_event)
        self.client.get_task_stream()  # registers the scheduler's task-stream plugin
        self._epoch0 = time.time()
        self._clock_offset = time.time() - time.monotonic()
        self._n_workers = max(workers, len(self._note_workers()))
        # fail fast (one clear line) when the solver cannot be built on a worker
        try:
            self.client.submit(_probe, solver, self.run_token, pure=False, retries=0).result(timeout=120)
        except Exception as exc:
            raise WorkerFailure(f"cannot build solver {solver.spec!r} on a Dask worker: "
                                f"{type(exc).__name__}: {exc}") from None
        # last, as the run's window opens: the workers' start-up and earlier runs on an existing
        # cluster are not this run's (their whole life counted: 5.03 s of CPU in a 1.57 s window)
        self._cpu0 = self._cpu_now()
        # read here, not in the workers: a counted run sets FLUSH_INTERVAL_S to infinity in this
        # process only (perfkit/orchestration/measured_run.py)
        self._publish_s = max(base.FLUSH_INTERVAL_S, PUBLISH_INTERVAL_S)

    def _on_event(self, event: Any) -> None:
        """Results published by a worker (runs in the client's thread)."""
        _stamp, msg = event
        self._events.put(("result", msg["item"], msg))

    def _note_workers(self) -> dict[str, Any]:
        info = self.client.scheduler_info(n_workers=-1)["workers"] if _takes_n_workers() \
            else self.client.scheduler_info()["workers"]
        self.addresses_seen.update(info)
        return info

    def finish_run(self) -> list[WorkerUsage]:
        """Nothing to do per run: the cluster is the run's (``close`` reports the usage)."""
        return []

    def close(self) -> list[WorkerUsage]:
        """Report every worker's CPU, fetch Dask's task stream, close what this backend started."""
        if self.client is None:
            return self.usage
        try:
            self._facts = self._collect_facts()
        except Exception as exc:  # the run's outcomes matter more than its diagnostics
            self._facts = {"error": f"{type(exc).__name__}: {exc}"}
        try:
            if self._old_allowed_failures is not None:
                self.client.run_on_scheduler(_set_allowed_failures, self._old_allowed_failures)
        except Exception:
            pass
        try:  # the run's state in the workers and its rows kept by the scheduler: the cluster may outlive it
            self.client.run(_end_run, self.run_token, on_error="ignore")
            self.client.run_on_scheduler(_forget_topic, _topic(self.run_token))
        except Exception:
            pass
        _remove_records(self.run_token)
        try:
            self.client.close(timeout=10)
        finally:
            self.client = None
            if self.cluster is not None:
                try:
                    self.cluster.close(timeout=30)
                finally:
                    self.cluster = None
                    self._lifetime_config.__exit__(None, None, None)
        return self.usage

    def _cpu_now(self) -> dict[str, tuple[int, float]]:
        """(pid, CPU seconds since it started) of each worker, and of each nanny when the
        cluster is ours (an existing cluster's nannies are not the run's)."""
        now = {addr: v for addr, v in self.client.run(_worker_cpu, on_error="return").items()
               if isinstance(v, tuple)}
        if self.cluster is not None:
            try:
                nannies = self.client.run(_worker_cpu, nanny=True, on_error="return")
            except Exception:
                nannies = {}
            now.update({f"nanny-of-{addr}": v for addr, v in nannies.items() if isinstance(v, tuple)})
        return now

    def _cpu_in_run(self, name: str, pid: int, cpu_s: float) -> float:
        """CPU seconds process ``pid`` (worker or nanny ``name``) used in this run: since the
        window opened when it was there then, else since it started (a replacement for a
        killed worker, a worker that joined during the run). Matched by pid, not by name: a
        nanny's name follows its worker's address, which a restart changes, while the nanny
        goes on (its whole life was counted again at each restart: 9.8 s of CPU in a 4.1 s
        window on 2 cores, tests/test_dask_backend.py)."""
        before = {p: c for p, c in self._cpu0.values()}
        return max(0.0, cpu_s - before[pid]) if pid in before else cpu_s

    def _collect_facts(self) -> dict[str, Any]:
        cpu = self._cpu_now()
        for name, (pid, cpu_s) in cpu.items():
            self.usage.append(WorkerUsage(name, self._cpu_in_run(name, pid, cpu_s), reason=f"pid {pid}"))
        stream = self.client.get_task_stream(start=self._epoch0)
        mine = []
        for rec in stream:
            key = str(rec.get("key", ""))
            if "perfkit-item-" not in key:
                continue
            for ss in rec.get("startstops", ()):
                if ss.get("action") == "compute":
                    mine.append({"key": key, "worker": rec.get("worker"), "status": rec.get("status"),
                                 "start_epoch": ss["start"], "stop_epoch": ss["stop"],
                                 "start": ss["start"] - self._clock_offset, "stop": ss["stop"] - self._clock_offset})
        self.task_stream = mine
        return {"workers_now": sum(1 for name in cpu if not name.startswith("nanny-of-"))}

    def resources(self) -> dict[str, Any]:
        self.addresses_seen.update(f["worker"] for f in self.item_facts)
        self.addresses_seen.update(d["worker"] for d in self.deaths if d["worker"])
        return {
            "cluster": "existing" if self.scheduler else "LocalCluster",
            "scheduler": self.scheduler or "local",
            "workers": len(self.addresses_seen),
            "worker_addresses": sorted(self.addresses_seen),
            "restarts": len(self.deaths),
            "deaths": self.deaths,
            "units_run_again": self.units_run_again,
            "late_batches": self.late_batches,
            "kill_grace_s": self.kill_grace_s,
            "hard_timeouts": "watchdog thread in each worker (SIGKILL at deadline + grace)",
            "clock": "unit times: the worker's time.monotonic (the run's clock only on one machine); "
                     "task_stream start/stop: Dask's time.time, 'start'/'stop' shifted to this machine's "
                     "monotonic clock",
            "items": self.item_facts,
            "task_stream": self.task_stream,
            **({"close": self._facts} if self._facts else {}),
        }

    # -- jobs -------------------------------------------------------------------------------

    def capacity(self) -> int:
        return max(0, JOBS_PER_WORKER * max(1, self._n_workers) - self.pending())

    def pending(self) -> int:
        return len(self._pending) + len(self._generating)

    def _blob(self, task: Task) -> tuple[bytes, str]:
        blob = self._blobs.get(task.id)
        if blob is None:
            data = pickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL)
            blob = self._blobs[task.id] = (data, hashlib.blake2b(data, digest_size=12).hexdigest())
        return blob

    def submit(self, task: Task, job: Job, lost_before_start: int = 0) -> None:
        """Submit a job as a Dask task (retries 0: a lost worker is accounted here, not re-run
        by Dask)."""
        self._tasks[task.id] = task
        data, digest = self._blob(task)
        self._next_item += 1
        item_id = self._next_item
        if isinstance(job, Generation):
            key = f"perfkit-generate-{task.id}-a{job.attempt}-{item_id}-{self.run_token}"
            fut = self.client.submit(run_generation, self._ref, data, digest, job, self.run_token, key=key, pure=False,
                                     retries=0)
            self._generating[item_id] = (fut, job)
        else:
            key = f"perfkit-item-{job.item.chunk}-a{job.attempt}-{item_id}-{self.run_token}"
            fut = self.client.submit(run_item, self._ref, data, digest, job, item_id, self.run_token,
                                     self.kill_grace_s, self._publish_s, key=key, pure=False, retries=0)
            self._pending[item_id] = _Pending(fut, job, item_id, lost_before_start)
        fut.add_done_callback(lambda f, i=item_id: self._events.put(("done", i, None)))

    def collect(self, wait_s: float) -> list[Event]:
        """Batches published by the workers, generated candidates, lost items accounted for."""
        out: list[Event] = []
        waiting = self._unanswered or self._lost_items
        events = drain(self._events, min(wait_s, 0.05 if self._lost_items else 0.5 if waiting else 1.0))
        if not events:
            self._no_worker_since = self._check_alive(self._no_worker_since)
        for kind, item_id, data in events:
            if item_id in self._generating:
                out.extend(self._generation_done(item_id))
                continue
            p = self._pending.get(item_id)
            if p is None:  # accounted for already (its units ran again), or a late duplicate
                self.late_batches += kind == "result" and bool(data["batches"])
                continue
            if kind == "result":
                out.extend(self._received(p, data))
                continue
            status = p.future.status
            if status == "finished":
                self._unanswered.setdefault(item_id, time.monotonic())  # its last event is on its way
                continue
            exc = _exception(p.future)
            if status == "error" and not _is_killed_worker(exc):
                del self._pending[item_id]
                raise WorkerFailure(f"work item {p.a.item.chunk} failed on a Dask worker: "
                                    f"{type(exc).__name__}: {exc}")
            self._lost_items[item_id] = (_dead_worker(exc), time.monotonic() + CONFIRMED_WAIT_S)
        now = time.monotonic()
        for item_id, (dead, until) in list(self._lost_items.items()):
            p = self._pending.get(item_id)
            if p is None:  # its last results came after all (the worker died as the task ended)
                del self._lost_items[item_id]
                continue
            record = self._record_of(dead)
            if record is not None and record["item"] == item_id and record["confirmed"] > p.received and now < until:
                continue  # the rows its watchdog published before the kill are on their way
            del self._lost_items[item_id], self._pending[item_id]
            lost = list(self._lost(p, dead))
            if lost:
                out.append(OutcomeBatch.from_outcomes([o for o, _ in lost], [u for _, u in lost]))
        for item_id, since in list(self._unanswered.items()):
            if now - since > RESULT_WAIT_S:  # finished, but its last results never arrived
                p = self._pending.pop(item_id)
                del self._unanswered[item_id]
                log.warning("work item %s: finished but its results were lost; re-running them", p.a.item.chunk)
                for piece in p.a.after_loss(ran=len(p.a.item.units), accounted=p.a.item.units[:p.received]):
                    self._resubmit(piece, rerun_of=p.a)
        return out

    def _received(self, p: _Pending, msg: dict[str, Any]) -> list[Event]:
        """The batches of a published message not received yet (a publish before a kill repeats
        the item's earlier ones); the item is done with its facts."""
        batches: list[Event] = []
        for start, done, blob in msg["batches"]:
            if done <= p.received:
                continue  # already recorded
            if start != p.received:  # a gap (not on an ordered stream): these units run again at the loss
                break
            batches.append(pickle.loads(blob))
            p.received = done
        if msg["facts"] is not None and p.received == len(p.a.item.units):
            del self._pending[p.item_id]
            self._unanswered.pop(p.item_id, None)
            facts = pickle.loads(msg["facts"])
            facts["key"] = p.future.key
            self.item_facts.append(facts)
        return batches

    def _generation_done(self, item_id: int) -> list[Event]:
        """A Generation job ended: its candidates, or the job again when its worker was lost. It
        counts an attempt only when its worker may have died in it: not when the job had
        finished (its result died with the worker), nor when the dead worker's record shows it
        inside a work item (the job was waiting behind a unit killed at its timeout: three such
        kills stopped an arc-dsl run, "the solver's candidates() killed its worker 3 times")."""
        fut, job = self._generating.pop(item_id)
        exc: Optional[BaseException] = None
        if fut.status == "finished":
            # its status is read apart from its result: a worker lost in between turns the
            # result into KilledWorker (seen next to a killed worker), which is re-queued below
            try:
                return [fut.result(timeout=RESULT_WAIT_S)]
            except Exception as lost:
                return [Requeued([Generation(job.task_id, job.attempt)])] if _is_lost(lost) else self._failed(job, lost)
        exc = _exception(fut)
        if not _is_lost(exc):
            return self._failed(job, exc)
        record = self._record_of(_dead_worker(exc))
        in_item = record is not None and record["item"] != 0
        return [Requeued([Generation(job.task_id, job.attempt + (0 if in_item else 1))])]

    @staticmethod
    def _failed(job: Generation, exc: Optional[BaseException]) -> list[Event]:
        raise WorkerFailure(f"candidate generation of task {job.task_id!r} failed on a Dask worker: "
                            f"{type(exc).__name__}: {exc}")

    def _resubmit(self, a: Assignment, lost_before_start: int = 0, rerun_of: Optional[Assignment] = None) -> None:
        """Submit a piece of a lost item again (``rerun_of``: the item it came from, to count its
        units that run again as the next attempt)."""
        if rerun_of is not None and a.attempt > rerun_of.attempt:
            self.units_run_again += len(a.item.units)
        self.submit(self._tasks[a.item.task_id], a, lost_before_start)

    def _check_alive(self, since: Optional[float]) -> Optional[float]:
        try:
            n = len(self._note_workers())
        except Exception as exc:
            log.warning("cannot list the Dask workers: %s: %s", type(exc).__name__, exc)
            n = 0
        if n:
            return None
        now = time.monotonic()
        since = since or now
        if now - since > NO_WORKER_TIMEOUT_S:
            raise WorkerFailure(f"the Dask cluster has had no worker for {NO_WORKER_TIMEOUT_S:.0f} s")
        return since

    def _record_of(self, dead: _Dead) -> Optional[dict[str, Any]]:
        """The dead worker process's progress record (read once, then cached: every job it
        held is accounted with it)."""
        address, pid = dead
        if not address or pid is None:
            return None
        if dead in self._records:
            return self._records[dead]
        record = None
        if _host(address) in _local_hosts():
            record = read_record(self.run_token, address, pid)
        else:  # through a live worker on the same machine (its replacement, usually, maybe at its address)
            deadline = time.monotonic() + 30.0
            while record is None and time.monotonic() < deadline:
                same = [w for w in self._note_workers() if _host(w) == _host(address)]
                if same:
                    try:
                        record = self.client.run(read_record, self.run_token, address, pid,
                                                 workers=same[:1])[same[0]]
                    except Exception:
                        record = None
                    break
                time.sleep(0.5)
        self._records[dead] = record
        why = "unknown"
        if record is not None:
            why = {TIMED_OUT: "killed at a unit's deadline", RUNNING: "died in a unit"}.get(
                record["state"], "died between units" if record["item"] else "died outside a work item")
        self.deaths.append({"worker": address, "reason": why, "at": time.monotonic(),
                            **({"units_published_at_kill": record["confirmed"]}
                               if record is not None and record["state"] == TIMED_OUT else {})})
        cpu = self._cpu_in_run(address, record["pid"], record["cpu_s"]) if record else 0.0
        self.usage.append(WorkerUsage(address, cpu, killed=True, reason=why))
        return record

    def _lost(self, p: _Pending, dead: _Dead) -> Iterator[tuple[Outcome, int]]:
        """Account for an item whose worker died (see the module docstring): the outcomes it
        makes, each with its unit's uid; the pieces to run again are resubmitted. The units
        whose outcomes arrived (``p.received``) are recorded already: they never run again."""
        a, units = p.a, list(p.a.item.units)
        accounted = units[:p.received]

        def submit(piece: Assignment, lost_before_start: int = 0) -> None:
            self._resubmit(piece, lost_before_start, rerun_of=a)

        record = self._record_of(dead)
        worker = dead[0] or "unknown"

        def outcome(pos: int, status: str, **fields: Any) -> tuple[Outcome, int]:
            split, index, cand = units[pos]
            return (Outcome(a.item.task_id, split, index, cand, status, queued=a.queued, worker=worker,
                            chunk=a.item.chunk_of(pos), attempt=a.attempt, stage=a.item.stage, **fields),
                    a.item.uids[pos] if a.item.uids else -1)

        ran_here = record is not None and (record["item"] == p.item_id or p.item_id in record["finished"])
        if record is None or (p.received and not ran_here):
            # whatever ran past what arrived is unknown, so all of it counts as tried
            if a.attempt + 1 < MAX_ATTEMPTS:
                for piece in a.after_loss(ran=len(units), accounted=accounted):
                    submit(piece)
                return
            for pos in range(p.received, len(units)):
                yield outcome(pos, "crashed", error_type="WorkerLost",
                              error_message=f"worker {worker} died {a.attempt} times running this item; "
                              "its progress could not be read")
            return
        if record["item"] == p.item_id and record["state"] != IDLE:
            pos = record["pos"]
            if record["state"] in (RUNNING, TIMED_OUT):
                timed_out = record["state"] == TIMED_OUT
                started, wall = record["started"], record["elapsed"]
                yield outcome(pos, "timeout" if timed_out else "crashed",
                              error_type="WorkerKilled" if timed_out else "WorkerDied",
                              error_message=(f"worker killed {wall - a.timeout_s:.3f} s after the unit's deadline"
                                             if timed_out else f"worker {worker} died while running this unit"),
                              started=started, ended=started + wall, wall_s=wall)
                pieces = a.after_loss(ran=pos, in_flight=pos, accounted=accounted)
            else:  # BETWEEN: unit ``pos`` had finished
                pieces = a.after_loss(ran=pos + 1, accounted=accounted)
            for piece in pieces:
                submit(piece)
            return
        if p.item_id in record["finished"]:  # it ran to the end; its last results died with the worker
            for piece in a.after_loss(ran=len(units), accounted=accounted):
                submit(piece)
            return
        # it never started on that worker (it was waiting behind the unit that died)
        if p.lost_before_start + 1 >= MAX_LOST_BEFORE_START and record["item"] == p.item_id:
            for pos in range(len(units)):
                yield outcome(pos, "crashed", error_type="WorkerDied",
                              error_message="worker died before the item's first unit (solver build?)")
            return
        submit(a, p.lost_before_start + (1 if record["item"] == p.item_id else 0))


def _probe(ref: SolverRef, run_token: str) -> str:
    _solver_of(ref, run_token)
    return _worker_address()


def _set_allowed_failures(value: int, dask_scheduler: Any = None) -> int:
    old = dask_scheduler.allowed_failures
    dask_scheduler.allowed_failures = value
    return old


def _takes_n_workers() -> bool:
    import inspect

    from distributed import Client
    return "n_workers" in inspect.signature(Client.scheduler_info).parameters


def _exception(future: Any) -> Optional[BaseException]:
    if future.status != "error":
        return None
    try:
        return future.exception(timeout=10)
    except Exception as exc:  # pragma: no cover - cancelled/lost
        return exc


def _is_killed_worker(exc: Optional[BaseException]) -> bool:
    return exc is None or type(exc).__name__ == "KilledWorker"


def _is_lost(exc: Optional[BaseException]) -> bool:
    """True when ``exc`` says the job's worker was lost (not that the job failed)."""
    return _is_killed_worker(exc) or type(exc).__name__ in LOST_RESULT

