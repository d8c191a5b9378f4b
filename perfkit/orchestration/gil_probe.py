"""The GIL probe: what a solver's units cost on several threads of one process, measured once
per (machine, solver) and stored beside the machine's calibration.

A unit that releases the GIL (a numpy or GPU call, hashing, I/O) hands it over to a waiting
thread at every release and waits to take it back. Alone on its thread that costs nothing; with
other runnable threads it inflates the unit's own thread CPU (docs/benchmarks.md, section 7,
"Threads on the ARC solver"), and nothing in a sequential run shows how often a unit releases
the GIL. So the probe replays a bounded sample of the reference run's own units (every k-th unit
of each task, about :data:`SAMPLE_CPU_S` of CPU, only units that ended ``ok`` or ``error``) in a
fresh Python process, with the run's solver, options and tasks: on 1 thread, then on k concurrent
threads for k in :data:`THREADS` (and the machine's usable cores), the passes interleaved
:data:`ROUNDS` times so that a change of the machine's speed hits every side; measured again (up to
:data:`ATTEMPTS` times) while other processes take a core, which hides hand-overs. Each unit's thread
CPU on k threads over its CPU on 1 thread in the same round (summed over the units that ran
while all k threads did; the median over rounds) is the factor at k:
:class:`perfkit.analysis.prediction.gil.Inflation`, which the simulator applies to threads. Then
each of the reference's :data:`HELD_UNITS` longest units that ended runs beside a thread asking
for the GIL every millisecond: its longest wait is how long the solver's calls hold the GIL at
once (:func:`hold_s`, ``Inflation.hold_s``), beside the unit's wall (``Inflation.hold_unit_s``): a
unit that is one C call holding it to its end cannot be given up at a deadline. Last, in a process of their own, the units the reference stopped at their
deadline run alone, one after another in the run's order, each to its end or
:data:`STOPPED_CAP_TIMEOUTS` × the run's timeout, while :data:`STOPPED_BUDGET_S` lasts
(:func:`run_alone`, ``Inflation.stopped``): what such a unit costs past its deadline — on
threads a call holding the GIL runs to its end — no run that stops it records.

Stored as ``<dir>/gil-<machine key>.json``, one entry per solver (name, options, plugins),
reused until measured again; the probe times only the solver's ``evaluate`` (perfkit's own
per-unit cost is pure Python and is the calibration's).
"""

from __future__ import annotations

import hashlib
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from perfkit.analysis.metrics.machine import BUSY_OTHER_CORES
from perfkit.analysis.prediction.gil import Inflation, StoppedCost
from perfkit.model import WHOLE_SAMPLE, ConfigError, PerfkitError, finished_late
from perfkit.orchestration.calibration import DEFAULT_DIR, machine_facts, machine_key
from perfkit.orchestration.forked import import_path_env
from perfkit.runner.environment import usable_cores
from perfkit.store import Run

#: CPU seconds (on one thread) of the units replayed per pass.
SAMPLE_CPU_S = 0.15
#: Fewest units replayed (when the run has them): enough for every thread of the largest count.
MIN_UNITS = 16
#: Most CPU seconds a pass may take to reach MIN_UNITS: a solver of 2 s units replays as few
#: units as the largest thread count needs (a probe is ~10 passes, its process PROBE_TIMEOUT_S).
MAX_PASS_CPU_S = 1.0
#: Concurrent thread counts measured (with the machine's usable cores when not among them).
THREADS = (2, 4)
#: Rounds of (1 thread, then each count): interleaved, the median kept.
ROUNDS = 3
#: Statuses whose units ran to their end in the reference (a timeout or a crash may hang).
REPLAYED = ("ok", "error")
#: Probes at most, while other processes use more than BUSY_OTHER_CORES (the least disturbed kept).
ATTEMPTS = 3
#: Bump when the measurement changes: stored probes of an older version are measured again.
VERSION = 3
#: The reference's longest units that ended, each run beside a ticker thread (:func:`hold_s`).
HELD_UNITS = 4
#: How often the ticker thread of :func:`hold_s` asks for the GIL (seconds).
TICK_S = 0.001
#: Longest a probe may take (seconds) before it counts as failed.
PROBE_TIMEOUT_S = 300
#: A stopped unit runs alone at most this many times the run's unit timeout (its cost past it
#: is then a lower bound still)...
STOPPED_CAP_TIMEOUTS = 10
#: ... and all of them at most this many wall seconds: the units after are not run (their cost
#: past the timeout unseen, and said so).
STOPPED_BUDGET_S = 10.0
#: Seconds the stopped units' process may take besides their budget (start, the solver, the tasks)
#: before it counts as failed (a C call that never lets the alarm in).
STOPPED_SETUP_S = 60.0


class ProbeCannotRun(ConfigError):
    """The probe's process cannot use the run's solver, a plugin or the tasks (an import path
    without the solver's folder): the thread predictions hinge on the probe, so predict stops.
    ``override`` names the argument that predicts without it (the command line: its flag)."""

    override = "gil_probe"

    def __str__(self) -> str:
        return f"{super().__str__()} ({self.override}=False predicts without it)"


def solver_identity(run: Run) -> dict[str, Any]:
    """What identifies a solver's code for the probe: its spec, options and plugins."""
    c = run.config
    return {"solver": c.solver, "options": dict(sorted((c.solver_options or {}).items())),
            "plugins": list(c.plugins), "version": VERSION}


def solver_key(run: Run) -> str:
    """A short stable hash of :func:`solver_identity` (the entry's key in the probe file)."""
    text = json.dumps(solver_identity(run), sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


def path_of(directory: Path = DEFAULT_DIR) -> Path:
    """This machine's probe file (the machine's facts with the probe's own version, not the
    calibration's: a new calibration does not make the stored probes stale)."""
    return Path(directory) / f"gil-{machine_key({**machine_facts(), 'version': VERSION})}.json"


def load(run: Run, directory: Path = DEFAULT_DIR) -> Optional[Inflation]:
    """The stored probe of ``run``'s solver on this machine, or None."""
    path = path_of(directory)
    if not path.exists():
        return None
    try:
        entry = json.loads(path.read_text(encoding="utf-8")).get("solvers", {}).get(solver_key(run))
        return None if entry is None else Inflation.from_record(entry)
    except (OSError, TypeError, ValueError, AttributeError, KeyError):  # (JSONDecodeError is a ValueError)
        raise PerfkitError(f"{path}: malformed or unreadable GIL probe file (delete it, or measure again)") from None


def save(run: Run, inflation: Inflation, directory: Path = DEFAULT_DIR) -> Path:
    """Store ``inflation`` as this machine's probe of ``run``'s solver (other solvers kept)."""
    path = path_of(directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {"machine": machine_facts(), "solvers": {}}
    if path.exists():
        try:
            stored = json.loads(path.read_text(encoding="utf-8")).get("solvers", {})
        except (json.JSONDecodeError, AttributeError):
            stored = None
        if isinstance(stored, dict):  # a malformed file ('"solvers": []' too) is replaced
            data["solvers"] = stored
    data["solvers"][solver_key(run)] = {**solver_identity(run), **inflation.to_record()}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    tmp.replace(path)
    return path


def sample_units(run: Run, cpu_s: float = SAMPLE_CPU_S, least: int = MIN_UNITS) -> list[tuple[str, str, int, str]]:
    """``(task_id, split, index, candidate)`` of every k-th replayable unit of each task (in
    the run's order), k chosen so that the sample's CPU is about ``cpu_s`` seconds and it holds
    at least ``least`` units (or all of them) — fewer, down to the largest thread count, when
    ``least`` units would take more than ``MAX_PASS_CPU_S``."""
    u = run.units
    u = u[u["status"].isin(REPLAYED) & u["cpu_s"].notna()].sort_values(["task_id", "started"], kind="stable")
    if u.empty:
        return []
    total = float(u["cpu_s"].sum())
    least = max(max(THREADS), min(least, int(MAX_PASS_CPU_S / (total / len(u))) if total > 0 else least))
    stride = max(1, min(int(total / cpu_s) if cpu_s > 0 else 1, len(u) // max(1, least)))
    picked = u[u.groupby("task_id", sort=False).cumcount() % stride == 0]
    return [(str(t), str(s), int(i), str(c)) for t, s, i, c in
            picked[["task_id", "split", "index", "candidate"]].itertuples(index=False, name=None)]


def longest_units(run: Run, count: int = HELD_UNITS) -> list[tuple[str, str, int, str]]:
    """The ``count`` units of the run that ended (:data:`REPLAYED`) with the most CPU within
    ``MAX_PASS_CPU_S`` for all their runs (:func:`hold_s` runs each twice): the calls most likely
    to hold the GIL long enough to matter; the shortest one when every unit is longer."""
    u = run.units
    u = u[u["status"].isin(REPLAYED) & u["cpu_s"].notna()]
    fits = u[u["cpu_s"] <= MAX_PASS_CPU_S / (2 * count)]
    u = fits.nlargest(count, "cpu_s") if len(fits) else u.nsmallest(1, "cpu_s")
    return [(str(t), str(s), int(i), str(c)) for t, s, i, c in
            u[["task_id", "split", "index", "candidate"]].itertuples(index=False, name=None)]


def stopped_units(run: Run) -> list[tuple[str, str, int, str]]:
    """The units ``run`` stopped at their deadline (timeouts that did not return by themselves
    after it: ``perfkit.model.finished_late``), in the run's order: their cost is only known to
    be at least what they ran. A crashed unit is left out (it may take its process with it), and
    so are an opaque solver's whole samples."""
    u = run.units
    u = u[(u["status"] == "timeout") & ~finished_late(u) & (u["candidate"] != WHOLE_SAMPLE)]
    u = u.sort_values("started", kind="stable")
    return [(str(t), str(s), int(i), str(c)) for t, s, i, c in
            u[["task_id", "split", "index", "candidate"]].itertuples(index=False, name=None)]


def thread_counts() -> tuple[int, ...]:
    """The concurrent thread counts the probe measures on this machine."""
    return tuple(sorted({*THREADS, usable_cores()} - {1}))


def measure(run: Run, rounds: int = ROUNDS, cpu_s: float = SAMPLE_CPU_S) -> Inflation:
    """Run the probe on ``run``'s solver in a fresh Python process (see the module docstring)."""
    units = sample_units(run, cpu_s)
    if not units:
        raise PerfkitError(f"GIL probe of {run.config.solver}: the run has no unit that ended ok or error to replay")
    c = run.config
    spec = {"solver": c.solver, "options": c.solver_options or {}, "plugins": list(c.plugins), "tasks": c.tasks,
            "units": units, "threads": list(thread_counts()), "rounds": rounds, "long_units": longest_units(run)}
    result: Optional[dict[str, Any]] = None
    for _ in range(ATTEMPTS):  # hand-overs need a free core: a probe next to other work is measured again
        attempt = _probe_process(spec)
        if result is None or attempt["others_cores"] < result["others_cores"]:
            result = attempt
        if result["others_cores"] <= BUSY_OTHER_CORES:
            break
    stopped, cap_s, why_not = _stopped_costs(run)
    factors = tuple((int(n), float(f)) for n, f in result["factors"].items())  # (below 1: taken as 1, Inflation)
    cpu = tuple((int(n), float(f)) for n, f in result["cpu_factors"].items())
    hold, hold_unit = result.get("hold_s"), result.get("hold_unit_s")
    source = (f"GIL probe {time.strftime('%Y-%m-%d %H:%M')}: {len(units)} units of run {run.run_id} "
              f"({result['unit_cpu_s'] * 1000:.0f} ms of CPU on one thread), replayed on 1 and "
              f"{', '.join(str(n) for n, _ in factors)} threads, {rounds} rounds interleaved"
              + (f"; a thread waited up to {hold * 1000:.1f} ms for the GIL beside its longest units"
                 + (f" (beside a unit of {hold_unit * 1000:.0f} ms)" if hold_unit else "") if hold is not None else "")
              + (f"; {len(stopped)} of the units the run stopped run alone, each up to {cap_s:g} s, "
                 f"{STOPPED_BUDGET_S:g} s for all" if stopped else "") + why_not)
    if result["others_cores"] > BUSY_OTHER_CORES:
        # hand-overs depend on a free core to wake a waiting thread on: a busy machine shows fewer
        source += (f"; other processes used {result['others_cores']:.1f} cores meanwhile: measure again on a "
                   f"quiet machine")
    return Inflation(factors, source, cpu, None if hold is None else float(hold), stopped, cap_s, STOPPED_BUDGET_S,
                     None if hold_unit is None else float(hold_unit))


def _stopped_costs(run: Run) -> tuple[Optional[tuple[StoppedCost, ...]], float, str]:
    """(the run's stopped units run alone, in a process of their own — None when that failed —,
    the cap of each in seconds, "" or why they were not measured)."""
    units = stopped_units(run)
    cap_s = STOPPED_CAP_TIMEOUTS * float(run.config.timeout.unit_timeout_s)
    if not units:
        return (), cap_s, ""
    c = run.config
    spec = {"mode": "stopped", "solver": c.solver, "options": c.solver_options or {}, "plugins": list(c.plugins),
            "tasks": c.tasks, "stopped_units": units, "cap_s": cap_s, "budget_s": STOPPED_BUDGET_S,
            "timeout_s": STOPPED_BUDGET_S + STOPPED_SETUP_S}
    try:
        rows = _probe_process(spec).get("stopped")
    except PerfkitError as exc:
        return None, cap_s, f"; the units the run stopped could not be run alone ({exc})"
    if rows is None:
        return None, cap_s, ""
    return tuple(StoppedCost(str(t), str(s), int(i), str(k), float(cpu), float(wall), bool(capped))
                 for t, s, i, k, cpu, wall, capped, *_ in rows), cap_s, ""


def _probe_process(spec: dict[str, Any]) -> dict[str, Any]:
    """One probe in a fresh Python process (at most ``spec["timeout_s"]``, default
    :data:`PROBE_TIMEOUT_S`): its JSON result."""
    limit_s = float(spec.get("timeout_s", PROBE_TIMEOUT_S))
    try:
        # this command's import path: a solver importable here (a folder on sys.path) is there too
        done = subprocess.run([sys.executable, "-m", "perfkit.orchestration.gil_probe"], input=json.dumps(spec),
                              capture_output=True, text=True, timeout=limit_s, env=import_path_env())
    except subprocess.TimeoutExpired:
        raise PerfkitError(f"GIL probe of {spec['solver']}: no answer within {limit_s:g} s") from None
    try:
        result = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise PerfkitError(f"GIL probe of {spec['solver']}: the probe failed: {last}") from None
    if "config_error" in result:  # the solver, a plugin or the tasks cannot be used: the user's to fix
        field, value, reason = result["config_error"]
        raise ProbeCannotRun(field, value, f"{reason} (in the GIL probe, with this command's import path): the "
                                           f"thread predictions need the solver (its folder on PYTHONPATH, as for the run)")
    return result


def inflation_for(run: Run, directory: Path = DEFAULT_DIR, again: bool = False) -> tuple[Inflation, bool]:
    """``run``'s solver's inflation on this machine and whether it was measured now (False:
    the stored probe reused)."""
    stored = None if again else load(run, directory)
    if stored is not None:
        return stored, False
    inflation = measure(run)
    save(run, inflation, directory)
    return inflation, True


# -- inside the probe's own process -------------------------------------------------------------

class _Replay:
    """The reference's sampled units on perfkit's own thread backend (its workers, its watcher,
    this process's collecting loop: what a thread run pays), started with the most threads any
    pass needs: a pass on k threads hands out k lanes of work, so k threads run and the others
    wait for work, off the CPU."""

    def __init__(self, spec: dict[str, Any]):
        from perfkit.backends import get_backend
        from perfkit.backends.base import SolverRef
        from perfkit.tasks import load_tasks

        self.tasks = {t.id: t for t in load_tasks(spec["tasks"])}
        self.units = [(t, s, int(i), c) for t, s, i, c in spec["units"]]
        self.backend = get_backend("thread")
        self.backend.start(SolverRef(spec["solver"], spec["options"], tuple(spec["plugins"])), max(spec["threads"]))

    def generate(self) -> None:
        """Each sampled task's candidates, once: a solver may prepare them (the ARC solver does)."""
        from perfkit.backends.base import Generated, Generation

        task_ids = list(dict.fromkeys(u[0] for u in self.units))
        for task_id in task_ids:
            self.backend.submit(self.tasks[task_id], Generation(task_id))
        done = 0
        while done < len(task_ids):
            done += sum(isinstance(e, Generated) for e in self.backend.collect(0.05))

    def _lanes_of(self, threads: int) -> list[list[Any]]:
        """Lane k: every ``threads``-th unit from the k-th, in work items of one task each."""
        import numpy as np

        from perfkit.model import WorkItem

        lanes = []
        for lane in range(threads):
            by_task: dict[str, list[int]] = {}
            for k in range(lane, len(self.units), threads):
                by_task.setdefault(self.units[k][0], []).append(k)
            lanes.append([WorkItem(lane, t, tuple(self.units[k][1:] for k in ks), uids=np.array(ks))
                          for t, ks in by_task.items()])
        return lanes

    def run_pass(self, threads: int) -> tuple[dict[int, float], dict[int, float], float]:
        """One pass on ``threads`` busy threads: (unit → its thread CPU, of the units that ended
        while every lane still ran; unit → the share of it done by the time the first lane ran
        out of units, of those running then; the wall seconds until that time). Each lane's
        items are handed out one at a time, the next when the last one's outcomes are in."""
        from perfkit.backends.base import Assignment
        from perfkit.model import OutcomeBatch

        queued, lane_of = self._lanes_of(threads), {k: k % threads for k in range(len(self.units))}
        left = {lane: 0 for lane in range(threads)}

        def hand(lane: int) -> None:
            if queued[lane]:
                item = queued[lane].pop(0)
                left[lane] = len(item.units)
                self.backend.submit(self.tasks[item.task_id], Assignment(item, time.monotonic(), float(PROBE_TIMEOUT_S)))

        began = time.monotonic()
        for lane in range(threads):
            hand(lane)
        rows: list[tuple[int, float, float, float]] = []  # (unit, cpu, ended, started)
        while len(rows) < len(self.units):
            for batch in (e for e in self.backend.collect(0.05) if isinstance(e, OutcomeBatch)):
                c, uids = batch.columns, batch.uids.tolist()
                rows += zip(uids, c["cpu_s"].tolist(), c["ended"].tolist(), c["started"].tolist())
                for k in uids:
                    left[lane_of[k]] -= 1
                for lane in {lane_of[k] for k in uids}:
                    if left[lane] == 0:
                        hand(lane)
        return _cut(rows, lane_of, began)

    def close(self) -> None:
        """Stop the backend's threads."""
        self.backend.close()


def _cut(rows: list[tuple[int, float, float, float]], lane_of: dict[int, int],
         began: float) -> tuple[dict[int, float], dict[int, float], float]:
    """A pass's figures up to the time the first lane ran out of units (every lane ran until
    then): see :meth:`_Replay.run_pass`."""
    last: dict[int, float] = {}
    for k, _, ended, _ in rows:
        last[lane_of[k]] = max(last.get(lane_of[k], 0.0), ended)
    cutoff = min(last.values())
    # the units still running at the cutoff: the part of each done by then (by wall)
    running = {k: (cutoff - started) / (ended - started) for k, _, ended, started in rows if started < cutoff < ended}
    return {k: cpu for k, cpu, ended, _ in rows if ended <= cutoff}, running, cutoff - began


def _replay(spec: dict[str, Any]) -> dict[str, Any]:
    """Replay ``spec["units"]`` on 1 and on k busy threads (k in ``spec["threads"]``),
    interleaved ``spec["rounds"]`` times; the factor per k (the module docstring)."""
    import psutil

    me = psutil.Process()
    before = (time.monotonic(), _busy_s(), sum(me.cpu_times()[:2]))
    replay = _Replay(spec)
    cpu: dict[int, list[float]] = {n: [] for n in spec["threads"]}
    wall: dict[int, list[float]] = {n: [] for n in spec["threads"]}
    alone_s: list[float] = []
    try:
        replay.generate()
        replay.run_pass(1)  # warm: caches, lazy set-up
        for _ in range(spec["rounds"]):
            alone, _, alone_wall = replay.run_pass(1)
            alone_s.append(sum(alone.values()))
            for n in spec["threads"]:
                shared, running, shared_wall = replay.run_pass(n)
                base = sum(alone[k] for k in shared)
                if base > 0:
                    cpu[n].append(sum(shared.values()) / base)
                    # the same work's share of the one-thread pass's wall (harness included)
                    done = base + sum(alone[k] * part for k, part in running.items())
                    wall[n].append(shared_wall / (alone_wall * done / alone_s[-1]))
    finally:
        replay.close()
    hold, hold_unit = hold_s(spec, replay.tasks) or (None, None)
    wall_s = time.monotonic() - before[0]
    others = max(0.0, (_busy_s() - before[1]) - (sum(me.cpu_times()[:2]) - before[2])) / max(wall_s, 1e-9)
    return {"factors": {str(n): statistics.median(r) for n, r in wall.items() if r},
            "others_cores": others,
            "cpu_factors": {str(n): statistics.median(r) for n, r in cpu.items() if r},
            "rounds": {str(n): r for n, r in wall.items()}, "unit_cpu_s": statistics.median(alone_s),
            "hold_s": hold, "hold_unit_s": hold_unit}


def hold_s(spec: dict[str, Any], tasks: dict[str, Any]) -> Optional[tuple[float, float]]:
    """The longest a ticker thread, asking for the GIL every millisecond, waited for it while one
    of ``spec["long_units"]`` ran on this thread, and that unit's wall (seconds; each unit run
    twice, the shorter wait kept: a C call holding the GIL holds it every time, the OS's delays do
    not recur). Python code gives the GIL up within a switch interval, a call releasing it (numpy)
    at once; a C call holding it (CPython's re) only when it returns: a unit that is one such call
    makes the wait as long as itself. None when there is no such unit."""
    import threading

    from perfkit.backends.base import SolverRef, build_solver

    units = [(t, s, int(i), c) for t, s, i, c in spec.get("long_units") or []]
    if not units:
        return None
    solver = build_solver(SolverRef(spec["solver"], spec["options"], tuple(spec["plugins"])))
    for task_id in dict.fromkeys(u[0] for u in units):
        solver.candidates(tasks[task_id])  # a solver may prepare a task's candidates (the ARC solver does)
    longest = (0.0, 0.0)
    for task_id, split, index, candidate in units:
        task = tasks[task_id]
        sample = task.sample(split, index)
        waits = []
        for _ in range(2):
            stop, gap = threading.Event(), [0.0]

            def tick() -> None:
                last = time.monotonic()
                while not stop.is_set():
                    time.sleep(TICK_S)
                    now = time.monotonic()
                    gap[0], last = max(gap[0], now - last - TICK_S), now

            ticker = threading.Thread(target=tick, daemon=True)
            ticker.start()
            time.sleep(2 * TICK_S)  # the ticker running before the unit takes the GIL
            start = time.monotonic()
            try:
                solver.evaluate(task, sample, candidate, None)
            except Exception:  # noqa: BLE001 - an error ends the unit as in the reference
                pass
            wall = time.monotonic() - start
            stop.set()
            ticker.join()
            waits.append((gap[0], wall))
        longest = max(longest, min(waits))
    return longest


class _Capped(BaseException):
    """Raised by the alarm in a stopped unit run alone past its cap (a BaseException: a solver's
    ``except Exception`` does not swallow it)."""


def run_alone(spec: dict[str, Any], tasks: dict[str, Any],
              done_with: Optional[Callable[[list[Any]], bool]] = None) -> list[list[Any]]:
    """Each of ``spec["stopped_units"]`` alone on this thread, one after another, to its end or
    ``spec["cap_s"]`` (an alarm, as the inline backend stops a unit: CPython's ``re`` and Python
    code let it in), until ``spec["budget_s"]`` is spent: ``[task_id, split, index, candidate,
    process CPU s, wall s, capped, error type or None, error message or None, reaped children's
    CPU s]`` per unit run. ``done_with(row)`` True: the rest of that row's candidate's units
    are not run."""
    import signal

    from perfkit.backends.base import SolverRef, build_solver
    from perfkit.backends.usage import children_cpu_s

    units = [(t, s, int(i), c) for t, s, i, c in spec["stopped_units"]]
    solver = build_solver(SolverRef(spec["solver"], spec["options"], tuple(spec["plugins"])))
    for task_id in dict.fromkeys(u[0] for u in units):
        solver.candidates(tasks[task_id])  # a solver may prepare a task's candidates (the ARC solver does)

    def cap(signum: int, frame: Any) -> None:
        raise _Capped()

    rows: list[list[Any]] = []
    spent, done = 0.0, set()
    previous = signal.signal(signal.SIGALRM, cap)
    try:
        for task_id, split, index, candidate in units:
            if candidate in done:
                continue
            limit = min(float(spec["cap_s"]), float(spec["budget_s"]) - spent)
            if limit <= 0:
                break
            task = tasks[task_id]
            sample = task.sample(split, index)
            capped, error = False, (None, None)
            cpu0, wall0, children0 = time.process_time(), time.monotonic(), children_cpu_s()
            try:
                signal.setitimer(signal.ITIMER_REAL, limit)
                try:
                    solver.evaluate(task, sample, candidate, None)
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
            except _Capped:
                capped = True
            except Exception as exc:  # noqa: BLE001 - an error ends the unit: its cost is measured
                error = (type(exc).__name__, str(exc)[:200])
            wall, cpu = time.monotonic() - wall0, time.process_time() - cpu0
            spent += wall
            rows.append([task_id, split, index, candidate, cpu, wall, capped or wall >= limit, *error,
                         children_cpu_s() - children0])
            if done_with is not None and done_with(rows[-1]):
                done.add(candidate)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return rows


def _busy_s() -> float:
    """CPU seconds every core of the machine has been busy since boot."""
    import psutil

    t = psutil.cpu_times()
    return t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0) + getattr(t, "steal", 0.0)


def main(argv: Sequence[str] = ()) -> None:
    """The probe's process: a JSON spec on stdin, the result as one JSON line on stdout."""
    from perfkit.runner.run import import_plugins

    spec = json.loads(sys.stdin.read())
    try:
        import_plugins(spec["plugins"])
        if spec.get("mode") == "stopped":
            from perfkit.tasks import load_tasks

            print(json.dumps({"stopped": run_alone(spec, {t.id: t for t in load_tasks(spec["tasks"])})}))
            return
        print(json.dumps(_replay(spec)))
    except ConfigError as exc:  # one line for the parent to raise again, no traceback
        print(json.dumps({"config_error": [exc.field, exc.value if exc.has_value else None, exc.reason]},
                         default=str))


if __name__ == "__main__":
    main(sys.argv[1:])
