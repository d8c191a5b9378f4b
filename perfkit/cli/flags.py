"""The command line's names for the fields perfkit's errors name: a ConfigError about
``timeout.unit_timeout_s`` is told to a command-line user as ``--timeout``."""

from __future__ import annotations

from perfkit.model import ConfigError

#: Field of a ConfigError -> the flag (or argument) that sets it.
FLAGS = {
    "solver": "--solver", "tasks": "--tasks", "strategy": "--strategy", "strategies": "--strategies",
    "backend": "--backend", "backends": "--backends", "workers": "--workers", "chunk_size": "--chunk-size",
    "timeout.unit_timeout_s": "--timeout", "timeout.sample_budget_s": "--sample-budget",
    "timeout.task_budget_s": "--task-budget", "label": "--label", "plugins": "--plugin", "repeats": "--repeats",
    "repeat": "--repeat", "threshold": "--threshold", "metrics": "--metric", "normalise": "--normalise",
    "baseline": "--baseline", "current": "--current", "profiler": "--profiler", "run_dirs": "RUN_DIR",
    "runs": "RUN_DIR", "name": "NAME", "phases": "PHASE", "allow_mixed": "--allow-mixed",
    "warmup": "--warmup", "base": "--base", "pairs": "--pairs",
    "instruction_threshold": "--instruction-threshold", "store": "--store", "metric": "--metric",
    "backend_options.scheduler": "--scheduler", "benchmark": "--benchmark",
    "run_dir": "RUN_DIR", "speed": "--speed", "cores": "--cores",
    "machines": "--machines", "timeouts": "--timeout", "chunk_sizes": "--chunk-size",
    "execution": "--generation/--startup", "gil_probe": "--gil-probe/--no-gil-probe", "max_leaked": "--max-leaked",
}
SOLVER_OPTION = "solver_options."


def describe(exc: ConfigError) -> str:
    """The error's one line in the command line's terms."""
    if exc.field.startswith(SOLVER_OPTION):
        key = exc.field[len(SOLVER_OPTION):]
        shown = f"={exc.value}" if exc.has_value else ""
        return f"--solver-opt {key}{shown}: {exc.reason}"
    flag = FLAGS.get(exc.field)
    override = FLAGS.get(getattr(exc, "override", ""), "")
    hint = f" ({override} to go ahead)" if override else ""
    if flag is None:
        return str(exc)
    return (f"{flag} {_typed(flag, exc.value)}: {exc.reason}" if exc.has_value else f"{flag}: {exc.reason}") + hint


def _typed(flag: str, value: object) -> str:
    """A value as the user typed it: a list is a flag's comma-separated value (``--workers 0,2``)
    or an argument's words (``PHASE a b``), never Python's ``['0', '2']``."""
    if not isinstance(value, (list, tuple)):
        return str(value)
    return (" " if flag.isupper() else ",").join(map(str, value))
