"""The daemon probe: what the reference's units that computed on several cores do inside a
daemonic process, as a Dask worker runs them (perfkit's own process workers are not daemonic:
perfkit/backends/process.py ``worker_main``).

A unit's CPU over its wall in the reference says how many cores it computed on at once
(perfkit/analysis/prediction/workload.py), and the inline backend counts the child processes a
unit reaped in its CPU (perfkit/backends/unit.py). But the workers of
``DAEMONIC_BACKENDS`` are daemonic, and multiprocessing lets no daemonic process start a child:
there a unit whose cores were child processes raises ("daemonic processes are not allowed to
have children": python-constraint2's ``ParallelSolver(process_mode=True)``), while one whose
cores were threads (OpenBLAS) runs as in the reference. Nothing the reference recorded tells
them apart, so for each candidate that computed on more than one core in some unit, that unit
runs in a daemonic process of its own (a fresh interpreter with this process's import path,
each unit to its end or the run's unit timeout, :func:`perfkit.orchestration.gil_probe.run_alone`).
When it ends as in the reference, the candidate is taken as the reference ran it; when it does
not, every other unit of the candidate that ended ``ok`` in the reference runs there too, while
:data:`BUDGET_S` lasts (a unit that starts a child may start it on any sample, a small one
included).
"""

from __future__ import annotations

import multiprocessing as mp
from typing import Any

from perfkit.analysis.prediction.workload import DaemonCost, Workload
from perfkit.backends.process import main_not_reimported
from perfkit.model import ConfigError, PerfkitError
from perfkit.store import Run

#: Wall seconds all the units of the probe may take (a unit that ran as in the reference stops
#: its candidate's, so this bounds mainly candidates whose every unit raises: milliseconds each).
BUDGET_S = 10.0
#: Seconds the daemonic process may take besides the budget (start, imports, the solver, the
#: tasks) before it counts as failed.
SETUP_S = 60.0


def units_to_run(workload: Workload) -> list[tuple[tuple[str, str, int, str], str]]:
    """``((task_id, split, index, candidate), reference status)`` of each candidate that
    computed on more than one core in a unit that ended (ok or error) in the reference: that
    unit first, then the candidate's other units that ended ok, in the reference's order."""
    ended = [((t.task_id, *unit), cost) for t in workload.tasks for unit, cost in t.units.items()
             if cost.status in ("ok", "error")]
    wide = {}
    for key, cost in ended:
        if cost.cores > 1.0:
            wide.setdefault(key[3], key)
    out = []
    for candidate, first in wide.items():
        statuses = {key: cost.status for key, cost in ended if key[3] == candidate}
        out.append((first, statuses[first]))
        out += [(key, "ok") for key, status in statuses.items() if status == "ok" and key != first]
    return out


def may_run(run: Run) -> bool:
    """Whether some unit of the reference ``run`` spent more CPU than wall: without one, none
    computed on more than one core (``cores_of`` in perfkit/analysis/prediction/workload.py) and
    :func:`units_to_run` is empty, which this tells without building the workload (half a
    second for 34,000 units)."""
    u = run.units
    return bool((u["cpu_s"] > u["wall_s"]).any()) if len(u) else False


def measure(run: Run, workload: Workload, budget_s: float = BUDGET_S) -> tuple[DaemonCost, ...]:
    """Run :func:`units_to_run` of ``workload`` (read from ``run``) in a daemonic process: the
    :class:`DaemonCost` of each unit run. A ConfigError when the solver, a plugin or the tasks
    cannot be used there; a PerfkitError when the process fails or does not answer."""
    units = units_to_run(workload)
    if not units:
        return ()
    c = run.config
    spec = {"solver": c.solver, "options": c.solver_options or {}, "plugins": list(c.plugins), "tasks": c.tasks,
            "stopped_units": [list(key) for key, _ in units], "reference": [status for _, status in units],
            "cap_s": float(c.timeout.unit_timeout_s), "budget_s": budget_s}
    # spawn: a fresh interpreter with this process's sys.path, daemonic as a Dask worker is
    ctx = mp.get_context("spawn")
    answers, sender = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_in_daemon, args=(spec, sender), daemon=True, name="perfkit-daemon-probe")
    # spawn runs the caller's script again in the child (as __mp_main__): a script without a
    # __name__ guard ran its whole body there (a run stored twice, review17); the probe needs
    # nothing of it, its target and arguments are perfkit's
    with main_not_reimported():
        process.start()
    sender.close()
    try:
        if not answers.poll(budget_s + SETUP_S):
            raise PerfkitError(f"daemon probe of {c.solver}: no answer within {budget_s + SETUP_S:g} s")
        try:
            kind, *value = answers.recv()
        except EOFError:
            raise PerfkitError(f"daemon probe of {c.solver}: its process ended without an answer "
                               f"(exit status {process.exitcode})") from None
    finally:
        if process.is_alive():
            process.kill()
        process.join()
    if kind == "config_error":
        field, given, reason = value
        raise ConfigError(field, given, f"{reason} (in the daemon probe, with this command's import path): the "
                                        f"process predictions need the solver (its folder on PYTHONPATH, as for the run)")
    if kind == "failed":
        raise PerfkitError(f"daemon probe of {c.solver}: {value[0]}")
    return tuple(DaemonCost(str(t), str(s), int(i), str(k), _status(capped, error), error, message,
                            float(cpu) + float(children), float(wall))
                 for t, s, i, k, cpu, wall, capped, error, message, children in value[0])


def _status(capped: bool, error: Any) -> str:
    return "timeout" if capped else "error" if error else "ok"


def _in_daemon(spec: dict[str, Any], answers: Any) -> None:
    """The daemonic process: the units of ``spec`` one after another, each candidate's after
    its first only when that one ended otherwise than in the reference."""
    from perfkit.orchestration.gil_probe import run_alone
    from perfkit.runner.run import import_plugins
    from perfkit.tasks import load_tasks

    reference = {tuple(key): status for key, status in zip(map(tuple, spec["stopped_units"]), spec["reference"])}
    tried: set[str] = set()

    def done_with(row: list[Any]) -> bool:
        t, s, i, k, _, _, capped, error = row[:8]
        first = k not in tried
        tried.add(k)
        return first and _status(capped, error) == reference[(t, s, i, k)]

    try:
        import_plugins(spec["plugins"])
        tasks = {t.id: t for t in load_tasks(spec["tasks"])}
        answers.send(("rows", run_alone(spec, tasks, done_with)))
    except ConfigError as exc:  # the user's to fix: one line in the parent
        answers.send(("config_error", exc.field, exc.value if exc.has_value else None, exc.reason))
    except Exception as exc:  # noqa: BLE001 - told in one line by the parent
        answers.send(("failed", f"{type(exc).__name__}: {exc}"))
    finally:
        answers.close()
