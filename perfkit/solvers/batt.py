"""The adapter for generated "battery" modules: ``batt(task_id, S, I, C, log_path) -> (o, s)``.

A battery is an *opaque* solver (README "Solver plugins"): one call evaluates every candidate
program on one sample. :class:`BattSolver` imports the battery by name in every worker, builds
its arguments in the battery's own types, calls it once per sample under perfkit's timeouts and
turns its result into one output per candidate:

- ``S``: the task's demo pairs, ``((input, output), ...)``; ``I``: the sample's input; ``C``:
  ``None`` (the expected output is withheld, so no answer leaks into the candidates; perfkit
  checks the outputs itself), or the expected output with ``pass_expected=True``. Grids are
  tuples of tuples of Python ints (:func:`grid_to_tuples`).
- ``o``: ``(t_n, evo, solver_id, output_grid)`` per candidate that produced an output; a second
  output under one ``solver_id`` becomes ``solver_id#2`` (then ``#3``, …), a candidate of its own.
- ``s``: ``(t_n, solver_id, name, value)`` scores, kept with ``o``'s metadata in the run folder
  (the run's solver table, perfkit/solvers/table.py; the store loads the scores as ``Run.scores``).

Declared candidates (what a sample that fails as a whole — a timeout, an exception out of
``batt``, a malformed result — is recorded as, one outcome per id): the module's
``candidates(task_id)`` function when it has one, else its ``SOLVER_IDS`` tuple; plus, when the
``reference`` option names a run folder (``perfkit compare`` fills it in with the sequential
reference run of the same repeat), every id the battery returned for this very sample in that
run. A declared id that a sample returns no output for is an ``error`` (``MissingOutput``).
"""

from __future__ import annotations

import importlib
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import numpy as np
from perfkit.model import ConfigError, DeadlineExceeded, PerfkitError, Sample, Task, as_grid
from perfkit.solvers.table import SampleTable, read_table

#: A grid in the battery's types: rows of Python ints.
BatteryGrid = tuple[tuple[int, ...], ...]


# -- conversions ------------------------------------------------------------------------------

def grid_to_tuples(grid: Any) -> BatteryGrid:
    """A grid (numpy array or nested sequence) as a tuple of tuples of Python ints.

    ``tolist()`` is what turns numpy scalars into Python ints: ``tuple(map(tuple, array))``
    keeps ``numpy.uint8`` cells, which fail ``isinstance(x, int)``, wrap around on arithmetic
    (``uint8(0) - 1 == 255``) and so silently change what some programs return.
    """
    rows = np.asarray(grid).tolist()
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise ValueError(f"not a 2-D grid (shape {np.shape(grid)})")
    return tuple(tuple(row) for row in rows)


def tuples_to_grid(grid: Any) -> np.ndarray:
    """A battery's output grid as perfkit's 2-D ``uint8`` array (ValueError when it is not a
    non-empty grid of cells 0..9)."""
    return as_grid(grid)


def demo_pairs(task: Task) -> tuple[tuple[BatteryGrid, BatteryGrid], ...]:
    """``S``: the task's demo (ARC ``train``) pairs as ``(input, output)`` battery grids."""
    return tuple((grid_to_tuples(s.input), grid_to_tuples(s.output)) for s in task.demo)


def name_outputs(o: Iterable[Any]) -> tuple[dict[str, Any], list[list[Any]]]:
    """``o`` as ``{candidate: grid}`` plus ``[candidate, solver_id, t_n, evo]`` rows, in order.

    A second output under one ``solver_id`` is kept apart as ``solver_id#2`` (then ``#3``, …):
    each is a candidate of its own, counted and checked against the reference like any other.
    Raises BatteryResultError when an entry is not a ``(t_n, evo, solver_id, grid)`` tuple.
    """
    outputs: dict[str, Any] = {}
    rows: list[list[Any]] = []
    seen: dict[str, int] = {}
    for entry in o:
        try:
            t_n, evo, solver_id, grid = entry
        except (TypeError, ValueError):
            raise BatteryResultError(f"an entry of o is not (t_n, evo, solver_id, output_grid): {entry!r:.120}") from None
        base = str(solver_id)
        name = base
        while name in outputs:
            seen[base] = seen.get(base, 1) + 1
            name = f"{base}#{seen[base]}"
        outputs[name] = grid
        rows.append([name, base, t_n, evo])
    return outputs, rows


class BatteryResultError(Exception):
    """``batt`` returned something other than ``(o, s)`` with well-formed entries: the sample
    is an ``error`` for every declared candidate."""


# -- the solver ----------------------------------------------------------------------------------

class _BatteryStopped(BaseException):
    """Raised into the battery by the adapter's alarm at the sample's deadline. A BaseException,
    so that the battery's own ``except Exception`` around every step cannot swallow it."""


class _Alarm:
    armed = False


def _on_alarm(signum: int, frame: Any) -> None:
    if _Alarm.armed:  # a signal delivered just as the battery returned is ignored
        raise _BatteryStopped()


def _can_stop_with_alarm() -> bool:
    """True on a process's main thread where nobody else uses SIGALRM: a process-backend
    worker. The inline backend installs its own SIGALRM stop, and threads cannot take signals."""
    return threading.current_thread() is threading.main_thread() and \
        signal.getsignal(signal.SIGALRM) == signal.SIG_DFL and hasattr(signal, "setitimer")


class BattSolver:
    """An opaque solver calling a battery module's ``batt`` once per sample (module docstring).

    Options (the run's solver options): ``module`` — the battery's import name
    (importable in every worker: installed or on ``PYTHONPATH``); ``function`` — its name
    (default ``batt``); ``log_path`` — the fifth argument (default ``os.devnull``);
    ``pass_expected`` — give ``C`` the expected output (default False: ``C`` is None, no answer
    leaks); ``reference`` — a run folder whose returned ids are declared too (filled in by
    ``perfkit compare``); ``stop_at_deadline`` — on a process-backend worker, stop the battery
    with SIGALRM at the sample's deadline so that the worker survives and every declared
    candidate is recorded (default True); ``run_folder`` — filled in by the runner.
    """

    #: The runner puts the run folder in this option (see perfkit.solvers.RUN_FOLDER_ATTR).
    run_folder_option = "run_folder"
    #: ``perfkit compare`` puts the sequential reference run's folder in this option.
    reference_option = "reference"

    def __init__(self, module: Optional[str] = None, function: str = "batt", log_path: str = os.devnull,
                 pass_expected: bool = False, reference: Optional[str] = None, stop_at_deadline: bool = True,
                 run_folder: Optional[str] = None):
        if not module or not isinstance(module, str):
            raise ConfigError("solver_options.module", reason="required: the import name of the battery module")
        self.module_name, self.function_name = module, function
        self.log_path, self.pass_expected = str(log_path), bool(pass_expected)
        self.stop_at_deadline = bool(stop_at_deadline)
        self.run_folder = Path(run_folder) if run_folder else None
        self.table = SampleTable(self.run_folder, default=_plain)
        self.reference = Path(reference) if reference else None
        self.module = _import_battery(module)
        self.function: Callable[..., Any] = getattr(self.module, function, None)  # type: ignore[assignment]
        if not callable(self.function):
            raise ConfigError("solver_options.function", function, f"battery module {module!r} has no such function")
        self._module_ids = _module_ids(self.module)
        self._referenced: Optional[dict[tuple, list[str]]] = None
        self._demo: tuple[Optional[str], Any] = (None, ())
        self._asked: tuple[Optional[str], tuple[str, ...]] = (None, ())
        self._local = threading.local()  # the thread backend shares one solver between threads

    # -- what perfkit calls ---------------------------------------------------------------------

    def candidates(self, task: Task) -> list[str]:
        """The candidates declared for the sample this thread last ran of ``task`` (module
        docstring); without one, for the task as a whole (every sample's reference ids)."""
        key = getattr(self._local, "sample", None)
        if key is not None and key[0] == task.id:
            return list(self._local.declared)
        try:
            ids = self._declared_by_module(task.id)
        except Exception:  # the module's own failure, already recorded on the sample it hit
            ids = []
        for (task_id, _, _), names in self._reference_ids().items():
            if task_id == task.id:
                ids += [n for n in names if n not in ids]
        return ids

    def declared_candidates(self, task: Task, sample: Sample) -> list[str]:
        """The candidates declared for ``sample`` (module docstring), wherever it ran: perfkit asks
        in the parent when the worker running the sample was killed."""
        return self._declared((task.id, sample.split, sample.index))

    def solve_sample(self, task: Task, sample: Sample, deadline: float) -> dict[str, Any]:
        """Call the battery on ``sample`` and return ``{candidate: output grid}``; raises on a
        failure of the whole sample (then every declared candidate gets the failure)."""
        key = (task.id, sample.split, sample.index)
        self._local.sample, self._local.declared = key, []
        # a failing candidates(task_id) fails the sample as one unit, with the module's error
        self._local.declared = self._declared(key)
        args = (task.id, self._demo_pairs(task), grid_to_tuples(sample.input),
                grid_to_tuples(sample.output) if self.pass_expected and sample.output is not None else None,
                self.log_path)
        if self.stop_at_deadline and _can_stop_with_alarm():
            result = _call_with_alarm(self.function, args, deadline)
        else:
            result = self.function(*args)
        try:
            o, s = result
            outputs, rows = name_outputs(o)
            scores = [list(x) for x in (s or ())]
        except BatteryResultError:
            raise
        except (TypeError, ValueError):
            raise BatteryResultError(f"{self.function_name} returned {type(result).__name__}, "
                                     "expected (o, s): two lists") from None
        self.table.record(key, outputs=rows, scores=scores)
        return outputs

    # -- declared candidates ---------------------------------------------------------------------

    def _declared_by_module(self, task_id: str) -> list[str]:
        """``candidates(task_id)`` when the module has it (asked once per task), else ``SOLVER_IDS``."""
        if not hasattr(self.module, "candidates"):
            return list(self._module_ids)
        if self._asked[0] != task_id:
            self._asked = (task_id, tuple(str(c) for c in self.module.candidates(task_id)))
        return list(self._asked[1])

    def _declared(self, key: tuple[str, str, int]) -> list[str]:
        ids = self._declared_by_module(key[0])
        ids += [n for n in self._reference_ids().get(key, ()) if n not in ids]
        return ids

    def _reference_ids(self) -> dict[tuple, list[str]]:
        if self._referenced is None:
            self._referenced = returned_ids(self.reference) if self.reference is not None else {}
        return self._referenced

    def _demo_pairs(self, task: Task) -> tuple:
        if self._demo[0] != task.id:  # S is the same for every sample of a task: built once
            self._demo = (task.id, demo_pairs(task))
        return self._demo[1]


def _import_battery(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except Exception as exc:  # any import-time failure is the user's module, not perfkit
        raise ConfigError("solver_options.module", module, f"cannot import the battery module: "
                          f"{type(exc).__name__}: {exc} (is its folder on PYTHONPATH?)") from None


def _module_ids(module: Any) -> tuple[str, ...]:
    ids = getattr(module, "SOLVER_IDS", ())
    if not isinstance(ids, (tuple, list)):
        raise PerfkitError(f"{getattr(module, '__file__', None) or module.__name__}: field 'SOLVER_IDS': "
                           f"expected a tuple of solver ids, not {type(ids).__name__}")
    return tuple(str(i) for i in ids)  # ids name candidates as text, like name_outputs does


def _call_with_alarm(function: Callable[..., Any], args: tuple, deadline: float) -> Any:
    """``function(*args)``, stopped by SIGALRM at ``deadline`` (monotonic seconds). The stop is
    raised as DeadlineExceeded after the deadline, which perfkit records as a ``timeout`` of
    every declared candidate; the worker process lives on (no kill, no replacement)."""
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    try:
        _Alarm.armed = True
        signal.setitimer(signal.ITIMER_REAL, max(1e-4, deadline - time.monotonic()))
        try:
            return function(*args)
        finally:
            # if the alarm fires before this line runs, its exception is caught below and the
            # one-shot timer has nothing left to fire
            _Alarm.armed = False
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _BatteryStopped:
        raise DeadlineExceeded("the batt adapter stopped the battery at the sample's deadline") from None
    finally:
        signal.signal(signal.SIGALRM, previous)


def _plain(value: Any) -> Any:
    """Scores and metadata of any type as JSON: numpy scalars as numbers, anything else as text."""
    if hasattr(value, "item"):
        return value.item()
    return repr(value)


# -- reading the side table ----------------------------------------------------------------------

def returned_ids(run_folder: str | os.PathLike) -> dict[tuple[str, str, int], list[str]]:
    """Per (task_id, split, index): the candidates the battery returned in that run."""
    return {(r["task_id"], r["split"], r["index"]): [row[0] for row in r["outputs"]]
            for r in read_table(run_folder)}

