"""The sequential reference of a comparison, run in a fresh process.

Answers are checked against the sequential inline reference, and the reference's own
variability is measured by running it more than once (perfkit/orchestration/experiment.py
plans :data:`~perfkit.orchestration.experiment.MIN_REFERENCE_RUNS` of them) and comparing it
with itself (perfkit/analysis/answers.py). What makes a candidate's output differ between
runs mostly differs only between *processes*: the string hash seed (the iteration order of
sets and of dicts built from sets), state a solver keeps in module globals or caches between
calls, heap addresses (containers ordered by ``id``). So each reference runs in a freshly
spawned interpreter:

- a second reference in this process would share all of that with the first and could never
  reveal such a candidate; it would also start with caches warmed by the runs before it, so
  later references would look faster than the first;
- the process backend with one worker is no fresher: its workers fork from one forkserver per
  perfkit process and share that server's hash seed and imports with every other process run;
  and a pipe round trip per work item would change the times every speedup is divided by.

A spawned child runs exactly the reference configuration (inline, SIGALRM timeouts on its
main thread), starts cold like every process-backend worker, and its start-up (~1 s of
imports) falls outside the run window that the figures use.

Spawned ahead, a few together. A child's imports (perfkit, the solver's module, the task
data: ~0.5 s of CPU) used to sit in the gap before each reference run, once per repeat.
:class:`References` spawns up to :data:`AHEAD` children at once, before the first of them is
needed, and waits until every one has imported and waits for its turn; each reference then
starts at once when its turn comes. Their imports overlap one another on the machine's cores,
never a measured run, and a waiting child uses no CPU. A child that has imported is still fresh
in every sense above: its own hash seed, no run before it, the solver built only when its turn
comes (docs/benchmarks.md §9, "The main job", has what it saves).
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import queue as queue_module
import signal
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

from perfkit.backends import stray_threads
from perfkit.backends.process import main_not_reimported
from perfkit.backends.start_method import adopt_start_method, users_start_method
from perfkit.model import ConfigError, PerfkitError, RunConfig, RunInterrupted, Task
from perfkit.runner import Observer, run
from perfkit.solvers import resolve_spec
from perfkit.store import Run, load_run
from perfkit.store.writer import amend_summary

#: The child sends progress at most this often (seconds): a message per unit would cost the
#: reference's units a pickle and a pipe write each.
FORWARD_S = 0.1
#: How often the parent looks whether the child is still alive while waiting (seconds).
POLL_S = 0.1
#: After Ctrl-C, how long the parent waits for the child to store what it recorded (seconds).
INTERRUPT_WAIT_S = 30.0
#: How many reference interpreters are spawned together ahead of their turn: each waits with
#: ~100 MB of imports, so an experiment of many repeats keeps at most this many waiting.
AHEAD = 3


class _Counts:
    """What a progress observer reads of a batch (its length, its statuses), sent by the child."""

    def __init__(self, n: int, counts: dict[str, int]):
        self.n, self.counts = n, counts

    def __len__(self) -> int:
        return self.n

    def status_counts(self) -> dict[str, int]:
        """Rows per status."""
        return self.counts


class _Forward(Observer):
    """The child's observer: batches progress and sends it to the parent."""

    def __init__(self, channel: Any):
        self.channel = channel
        self.pending: list[tuple] = []
        self.last = 0.0

    def add_units(self, n: int) -> None:
        self.pending.append(("add_units", n))
        self._maybe_send()

    def task_started(self, task: Task, n_candidates: int) -> None:
        self.pending.append(("task_started", task, n_candidates))
        self.flush()

    def batch(self, batch: Any) -> None:
        # counts only: forwarding the rows would cost the reference's units a pickle each
        self.pending.append(("batch", len(batch), batch.status_counts()))
        self._maybe_send()

    def _maybe_send(self) -> None:
        if time.monotonic() - self.last >= FORWARD_S:
            self.flush()

    def flush(self) -> None:
        """Send what is pending (one message)."""
        if self.pending:
            self.channel.put(("progress", self.pending))
            self.pending = []
        self.last = time.monotonic()


def _child(config: RunConfig, store: str, tasks: Optional[list[Task]], channel: Any, orders: Any,
           start_method: Optional[str] = None) -> None:
    """A reference's interpreter: imports what its run will need, says it is ready, waits for
    its turn, then runs; its result or error goes to ``channel``. A solver's own processes
    start by ``start_method``, the user's process's (perfkit/backends/start_method.py), not spawn."""
    adopt_start_method(start_method)
    _import_ahead(config, tasks)
    # the channel's feeder thread is not registered as perfkit's own (perfkit/backends/own_threads.py):
    # it sleeps but for a send per progress flush (every FORWARD_S), well under 1 ms of CPU a
    # second, where taking its clock out of the process's would add ~2.9 µs to every reference
    # unit's window, 14 % of the main job's ~21 µs units (docs/benchmarks.md, "Session 12")
    channel.put(("ready",))
    try:
        if orders.recv() != "go":
            return  # the experiment ended before this reference's turn
    except EOFError:  # the parent is gone
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C is this run's now
    forward = _Forward(channel)
    try:
        stored = run(config, store, observer=forward, tasks=tasks)
        forward.flush()
        channel.put(("done", str(stored.path)))
    except RunInterrupted as exc:
        forward.flush()
        channel.put(("interrupted", str(exc.path)))
    except KeyboardInterrupt:  # before the run could record anything
        channel.put(("stopped",))
    except ConfigError as exc:
        channel.put(("config-error", exc.field, exc.has_value, exc.value if exc.has_value else None, exc.reason))
    except PerfkitError as exc:
        channel.put(("perfkit-error", str(exc)))
    except BaseException as exc:  # a perfkit bug in the child: told in one line, with its type
        channel.put(("crash", f"{type(exc).__name__}: {exc}"))


def _import_ahead(config: RunConfig, tasks: Optional[list[Task]]) -> None:
    """Import the solver's module and read the task data before the turn (module docstring).
    Nothing is built; a failure is left to the run itself, which reports it in its own words."""
    import importlib

    try:
        importlib.import_module(resolve_spec(config.solver).partition(":")[0])
        if tasks is None:
            from perfkit.tasks import load_tasks

            load_tasks(config.tasks)  # datasets are cached per process; the run builds its own Tasks
    except BaseException:  # a bad solver or task spec: the run says so, as without this step
        pass


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Start a child with Ctrl-C ignored (an ignored signal stays ignored across exec): a
    reference importing or waiting for its turn must not die of the Ctrl-C its parent handles
    (the parent stops it with an order); its turn restores Python's handler."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class _Waiting:
    """One spawned reference interpreter, its channel to the parent and its orders."""

    def __init__(self, config: RunConfig, store: Path, tasks: Optional[list[Task]]):
        ctx = mp.get_context("spawn")
        self.config = config
        self.channel = ctx.Queue()
        # a pipe, not a queue: a queue's put starts a feeder thread in this process, and a live
        # thread keeps the report's work out of a forked child (perfkit/orchestration/forked.py)
        orders, self.orders = ctx.Pipe(duplex=False)
        self.process = ctx.Process(target=_child, name="perfkit-reference",
                                   args=(config, str(Path(store).resolve()), tasks, self.channel, orders,
                                         users_start_method()))
        with main_not_reimported(), _sigint_ignored():
            self.process.start()
        orders.close()

    def wait_ready(self) -> None:
        """Return once the child has imported and waits for its turn (or has died: its run
        then says so)."""
        while self.process.is_alive():
            try:
                self.channel.get(timeout=POLL_S)
                return
            except queue_module.Empty:
                continue

    def end(self) -> None:
        """Tell a child still waiting that its turn will not come, and reap it."""
        with contextlib.suppress(OSError, ValueError):
            self.orders.send("stop")
        self.orders.close()
        self.process.join(timeout=INTERRUPT_WAIT_S)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


class References:
    """The reference runs of an experiment, each in its own freshly spawned interpreter,
    spawned :data:`AHEAD` at a time ahead of their turn (module docstring). A context
    manager: children whose turn never came are stopped on leaving it."""

    def __init__(self, configs: Sequence[RunConfig], store: Path, tasks: Optional[list[Task]] = None):
        self._planned = list(configs)
        self._store, self._tasks = store, tasks
        self._waiting: list[_Waiting] = []

    def __enter__(self) -> "References":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def run(self, config: RunConfig, observer: Optional[Observer] = None) -> Run:
        """Run the reference ``config`` in its fresh interpreter and return the stored run.
        Errors are raised here as in :func:`perfkit.runner.run`; Ctrl-C stops the child's run,
        which keeps what it recorded (RunInterrupted)."""
        child = self._take(config)
        observer = observer or Observer()
        strays0 = stray_threads()
        with contextlib.suppress(OSError):  # it died before its turn (no reader: EPIPE); _wait says so
            child.orders.send("go")
        interrupted = False
        try:
            result = _wait(child.process, child.channel, observer)
        except KeyboardInterrupt:
            interrupted = True
            result = _stop(child.process, child.channel, observer)
        finally:
            child.end()
        stored = _outcome_of(result, child.process.exitcode)
        if strays0[0]:
            stored = _with_strays(stored, strays0[0], stray_threads()[1] - strays0[1])
        if interrupted:  # the run ended whole before the Ctrl-C reached it: stored, and the experiment stops
            raise KeyboardInterrupt
        return stored

    def close(self) -> None:
        """Stop and reap every child still waiting for its turn."""
        while self._waiting:
            self._waiting.pop().end()

    def _take(self, config: RunConfig) -> _Waiting:
        """The waiting child of ``config``: the next planned reference (spawning the next
        ones ahead when none waits), else one spawned for it alone."""
        if self._planned and self._planned[0] == config:
            if not self._waiting:
                self._spawn_ahead()
            self._planned.pop(0)
            return self._waiting.pop(0)
        child = _Waiting(config, self._store, self._tasks)
        child.wait_ready()
        return child

    def _spawn_ahead(self) -> None:
        """Spawn the next :data:`AHEAD` planned references together and wait until each has
        imported: their imports share the cores with one another, never with a run."""
        batch = [_Waiting(c, self._store, self._tasks) for c in self._planned[:AHEAD]]
        self._waiting.extend(batch)  # first: Ctrl-C while they import still ends every one (close)
        for child in batch:
            child.wait_ready()


def _with_strays(stored: Run, threads: int, cpu_s: float) -> Run:
    """The reference run, its summary told of the threads that earlier thread-backend runs of
    this process left running beside it (perfkit/backends/thread.py). Another process's to the
    child, their CPU is in its ``others_cpu_s`` already; measured here over the child's whole
    turn, it is capped at that figure, which covers the run window only."""
    others = stored.summary.others_cpu_s
    cpu_s = max(0.0, min(cpu_s, others) if others is not None else cpu_s)
    amend_summary(stored.path, stray_threads=threads, stray_cpu_s=cpu_s)
    return load_run(stored.path)


def _wait(child: Any, channel: Any, observer: Observer) -> tuple:
    """Relay the child's progress until it sends its result (or dies without one)."""
    while True:
        try:
            msg = channel.get(timeout=POLL_S)
        except queue_module.Empty:
            if not child.is_alive():
                try:  # its last message may still be in the pipe
                    msg = channel.get(timeout=POLL_S)
                except queue_module.Empty:
                    return ("died",)
            else:
                continue
        if msg[0] != "progress":
            return msg
        for event in msg[1]:
            if event[0] == "batch":
                observer.batch(_Counts(*event[1:]))
            else:
                getattr(observer, event[0])(*event[1:])


def _stop(child: Any, channel: Any, observer: Observer) -> tuple:
    """Ctrl-C reached this process: make sure the child got it, then wait for its result."""
    if child.is_alive() and child.pid is not None:
        with contextlib.suppress(OSError):
            os.kill(child.pid, signal.SIGINT)
    deadline = time.monotonic() + INTERRUPT_WAIT_S
    while time.monotonic() < deadline:
        try:
            return _wait(child, channel, observer)
        except KeyboardInterrupt:  # a second Ctrl-C: keep waiting for the store to close
            continue
    return ("died",)


def _outcome_of(result: tuple, exitcode: Optional[int]) -> Run:
    kind = result[0]
    if kind == "done":
        return load_run(result[1])
    if kind == "interrupted":
        raise RunInterrupted(result[1])
    if kind == "stopped":
        raise KeyboardInterrupt
    if kind == "config-error":
        _, field, has_value, value, reason = result
        raise ConfigError(field, value, reason) if has_value else ConfigError(field, reason=reason)
    if kind == "perfkit-error":
        raise PerfkitError(result[1])
    if kind == "crash":
        raise RuntimeError(f"the reference run failed in its process: {result[1]}")
    raise PerfkitError(f"the reference run's process ended without a result (exit status {exitcode})")


__all__ = ["References"]
