"""The solver plugin contract and the loader of a run's ``solver`` reference.

A *fine-grained* solver offers ``candidates(task)`` and ``evaluate(task, sample, candidate_id,
deadline)``; an *opaque* solver offers ``solve_sample(task, sample, deadline)`` returning every
candidate's output for one sample. ``deadline`` is a ``time.monotonic()`` value in seconds.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

from perfkit.model import ConfigError, PerfkitError, Sample, Task

#: Short names for the built-in solvers.
BUILTIN_SOLVERS = {
    "arc": "perfkit.solvers.arc:ArcSolver",
    "synthetic": "perfkit.solvers.synthetic:SyntheticSolver",
    "batt": "perfkit.solvers.batt:BattSolver",
}

#: A solver class may name, in these class attributes, the option through which it receives
#: its run folder (filled in by the runner for every worker: a place for side tables beside
#: the outcomes; not recorded in the configuration, since it is where the run is) and the one
#: through which it receives the folder of the sequential reference run of the same repeat
#: (filled in by ``perfkit compare`` for the other runs, and recorded with their options).
RUN_FOLDER_ATTR = "run_folder_option"
REFERENCE_ATTR = "reference_option"


@runtime_checkable
class FineGrainedSolver(Protocol):
    """Proposes candidates and evaluates one candidate on one sample."""

    def candidates(self, task: Task) -> Sequence[str]: ...

    def evaluate(self, task: Task, sample: Sample, candidate_id: str, deadline: float) -> Any: ...


@runtime_checkable
class OpaqueSolver(Protocol):
    """Evaluates all its candidates on one sample in one call (a "battery" function)."""

    def solve_sample(self, task: Task, sample: Sample, deadline: float) -> Mapping[str, Any]: ...


def is_opaque(solver: Any) -> bool:
    """True when the solver only offers sample-level evaluation."""
    return not hasattr(solver, "evaluate") and hasattr(solver, "solve_sample")


def resolve_spec(spec: str) -> str:
    """``arc`` → ``perfkit.solvers.arc:ArcSolver``; a ``module:attr`` spec is kept as it is."""
    if spec in BUILTIN_SOLVERS:
        return BUILTIN_SOLVERS[spec]
    if ":" not in spec:
        known = ", ".join(sorted(BUILTIN_SOLVERS))
        raise ConfigError("solver", spec, f"expected one of {known} or 'package.module:attr'")
    return spec


def load_solver(spec: str, options: Mapping[str, Any] | None = None) -> Any:
    """Import and build the solver named by ``spec`` (a built-in name or ``package.module:attr``).

    ``attr`` may be an instance, a class or a zero-argument factory; ``options`` are passed as
    keyword arguments to a class or factory. Workers call this with the same spec, so a solver
    travels by reference and never as a pickled closure.
    """
    target = resolve_spec(spec)
    module_name, _, attr_path = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # any import-time failure (SystemExit too) is the user's module, not perfkit
        raise ConfigError("solver", spec,
                          f"cannot import module {module_name!r}: {type(exc).__name__}: {exc}") from None
    obj: Any = module
    for part in attr_path.split("."):
        if not hasattr(obj, part):
            raise ConfigError("solver", spec, f"module {module_name!r} has no attribute {attr_path!r}")
        obj = getattr(obj, part)
    if inspect.isclass(obj) or (callable(obj) and not _looks_like_solver(obj)):
        try:
            obj = obj(**dict(options or {}))
        except (PerfkitError, KeyboardInterrupt):  # the solver named the field itself; Ctrl-C
            raise
        except BaseException as exc:  # a rejected option (unknown key, wrong type, bad value), SystemExit too
            raise ConfigError("solver", spec, f"cannot build the solver: {type(exc).__name__}: {exc}") from None
    elif options:
        raise ConfigError("solver", spec, "solver options need a class or factory, not an instance")
    if not (_looks_like_solver(obj)):
        raise ConfigError("solver", spec,
                          f"{type(obj).__name__} has neither candidates()+evaluate() nor solve_sample()")
    return obj


def solver_attribute(spec: str, name: str) -> Any:
    """A class attribute of the solver ``spec`` names (None for an instance or a factory, or
    when it has no such attribute), looked up without building the solver."""
    module_name, _, attr_path = resolve_spec(spec).partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr_path.split("."):
            obj = getattr(obj, part)
    except Exception:  # load_solver reports a bad spec in its own words
        return None
    return getattr(obj, name, None) if inspect.isclass(obj) else None


def defining_options(spec: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The options that make the solver ``spec`` what it measures: all of them but the one
    through which ``perfkit compare`` hands it the sequential reference run's folder
    (REFERENCE_ATTR). That one says where the run's reference is stored, not what the solver
    does, and it differs in every repeat: runs that differ only there ran the same solver."""
    reference = solver_attribute(spec, REFERENCE_ATTR)
    return {k: v for k, v in options.items() if k != reference}


def with_run_folder(solver: Any, options: Mapping[str, Any], run_folder: Any) -> dict[str, Any]:
    """``options`` plus the run folder for a solver that asks for it (RUN_FOLDER_ATTR)."""
    key = getattr(solver, RUN_FOLDER_ATTR, None)
    return {**options, key: str(run_folder)} if key else dict(options)


def _looks_like_solver(obj: Any) -> bool:
    return (hasattr(obj, "candidates") and hasattr(obj, "evaluate")) or hasattr(obj, "solve_sample")
