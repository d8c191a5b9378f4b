"""perfkit's error types. A user error carries the field it is about, so that each caller can
name it in its own terms: the Python API by the field (``RunConfig.workers``), the command line
by its flag (mapped in perfkit/cli/flags.py)."""

from __future__ import annotations

from typing import Any

_NO_VALUE = object()


class PerfkitError(Exception):
    """A user error (bad input, bad options): one line naming the file, the task and the field.
    The command line prints it and exits with ``exit_code``."""

    exit_code = 2


class ConfigError(PerfkitError):
    """A configuration value that cannot be used: ``field`` names it (``workers``,
    ``timeout.unit_timeout_s``, ``solver_options.cpu_ms``, ...), ``value`` is what was given and
    ``reason`` what is expected."""

    def __init__(self, field: str, value: Any = _NO_VALUE, reason: str = ""):
        self.field, self.value, self.reason = field, value, reason
        shown = "" if value is _NO_VALUE else f" = {value!r}"
        super().__init__(f"{field}{shown}: {reason}")

    @property
    def has_value(self) -> bool:
        """True when the error carries the offending value."""
        return self.value is not _NO_VALUE


class StoreError(PerfkitError):
    """A run folder (or the store holding it) that cannot be read or written: ``path`` names
    it and ``reason`` says why (a full disk, a read-only store, a torn file, a live writer)."""

    def __init__(self, path: Any, reason: str):
        self.path, self.reason = path, reason
        super().__init__(f"{path}: {reason}")


class RunLocked(StoreError):
    """Another perfkit is writing this run folder: a second writer (or a resume of a live run)
    would duplicate its units."""


class RunStopped(PerfkitError):
    """A run that stopped before its end because its workers could not go on (perfkit/backends
    ``WorkerFailure``: threads that cannot be stopped piling up, workers that cannot be started
    or kept alive, the solver failing outside its units): what it recorded is in ``path``, the
    run marked failed, and ``reason`` says why. A comparison goes on without the configuration
    (perfkit/orchestration/compare.py)."""

    def __init__(self, path: Any, reason: str):
        self.path, self.reason = path, reason
        super().__init__(f"{path}: run stopped: {reason}")


class SignalInterrupt(KeyboardInterrupt):
    """Ctrl-C or SIGTERM, as perfkit's own signal handler raises it during a run; a solver's
    own ``KeyboardInterrupt`` is not one."""


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM ended a run; everything recorded is in ``path``, which can be resumed."""

    def __init__(self, path: Any):
        super().__init__(f"run interrupted; resume it with the run folder {path}")
        self.path = path


class DeadlineExceeded(TimeoutError):
    """Raised by a solver that checked its deadline and stopped itself (cooperative timeout)."""
