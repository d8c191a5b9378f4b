"""Experiments: strategies × backends × workers × repeats of one solver on one task set.

An experiment is a TOML file (``experiments/*.toml``); every field is optional except that a
solver and tasks must come from the file or the caller::

    name = "seed-phase4"                  # label of every run and the report's name
    description = "…"
    solver = "synthetic"                  # as for a run: a built-in name or module:attr
    tasks = "synthetic:1x5+1"             # as for a run: a task spec
    strategies = ["sequential", "sample-parallel"]
    backends = ["thread", "process"]
    workers = 4                           # int, "auto" (usable cores), a list of them, or "1..auto"
    repeats = 3
    warmup = 1                            # optional: warm-up repeats, run first and left out
    timeout = 0.03                        # per-unit running-time limit, seconds
    chunk_size = 8                        # optional
    sample_budget = 2.0                   # optional, seconds
    task_budget = 10.0                    # optional, seconds
    plugins = ["mypkg.strategies"]        # optional
    [solver_options]                      # passed to the solver
    candidates = 32

Runs go repeat-major (every configuration once, then again) so that machine drift hits all
alike; the sequential strategy always runs, inline with one worker: it is the reference for
speedups and answers. It runs in every repeat and at least :data:`MIN_REFERENCE_RUNS` times,
each in a fresh process (perfkit/orchestration/reference.py), so that the reference can be
compared with itself: a unit that differs between reference runs is the solver's or the
machine's variability, not a strategy's fault (perfkit/analysis/answers.py).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Optional, Sequence

from perfkit.model import REFERENCE, ConfigError, PerfkitError, RunConfig, TimeoutPolicy

#: The reference runs at least this often, even with one repeat: one run cannot show how much
#: the reference varies by itself (nondeterministic candidates, units near their timeout).
MIN_REFERENCE_RUNS = 2


@dataclass(frozen=True)
class Experiment:
    """A validated experiment; ``workers`` is resolved to integers."""

    name: str = "compare"
    solver: str = "arc"
    tasks: str = "default"
    strategies: tuple[str, ...] = ("sequential", "sample-parallel", "candidate-parallel", "hybrid")
    backends: tuple[str, ...] = ("process",)
    workers: tuple[int, ...] = ()
    repeats: int = 3
    #: Repeats of every configuration run first and left out of the comparison (their runs are
    #: stored with the label ``<name>-warmup``): caches, imports and the CPU's clock settle.
    warmup: int = 0
    timeout: float = 1.0
    chunk_size: Optional[int] = None
    sample_budget: Optional[float] = None
    task_budget: Optional[float] = None
    plugins: tuple[str, ...] = ()
    solver_options: dict[str, Any] = field(default_factory=dict)
    description: str = ""


_STR_LIST = "a list of strings"
_SCHEMA = {
    "name": "a string", "description": "a string", "solver": "a string", "tasks": "a string",
    "strategies": _STR_LIST, "backends": _STR_LIST, "plugins": _STR_LIST,
    "workers": 'an integer ≥ 1, "auto", "1..auto", "A..B" or a list of them',
    "repeats": "an integer ≥ 1", "warmup": "an integer ≥ 0", "timeout": "a positive number of seconds",
    "chunk_size": "an integer ≥ 1", "sample_budget": "a positive number of seconds",
    "task_budget": "a positive number of seconds", "solver_options": "a table",
}


def _cores() -> int:
    from perfkit.runner.environment import usable_cores

    return usable_cores()


def parse_workers(value: Any) -> tuple[int, ...]:
    """``4`` · ``"auto"`` · ``"1..auto"`` · ``"2..8"`` · ``[1, 2, "auto"]`` → sorted unique ints;
    a ConfigError on field ``workers`` otherwise."""
    items = value if isinstance(value, list) else [value]
    out: list[int] = []
    for item in items:
        # each item is told alone (workers = 0, not the whole list): the one to correct
        wrong = ConfigError("workers", item, f"expected {_SCHEMA['workers']}")
        if isinstance(item, bool):
            raise wrong
        if isinstance(item, int):
            counts = [item]
        else:
            text = str(item).strip()
            try:
                if text == "auto":
                    counts = [_cores()]
                elif ".." in text:
                    lo, hi = text.split("..", 1)
                    lo_i = _cores() if lo == "auto" else int(lo)
                    hi_i = _cores() if hi == "auto" else int(hi)
                    counts = list(range(lo_i, hi_i + 1))
                else:
                    counts = [int(text)]
            except ValueError:
                raise wrong from None
        if not counts or min(counts) < 1:
            raise wrong
        out.extend(counts)
    if not out:
        raise ConfigError("workers", value, f"expected {_SCHEMA['workers']}")
    return tuple(sorted(set(out)))


def experiment_from_dict(data: dict[str, Any], source: str = "experiment") -> Experiment:
    """Validate a parsed TOML table; a bad field raises PerfkitError naming ``source`` and the field."""
    def bad(key: str) -> PerfkitError:
        return PerfkitError(f"{source}: field {key!r}: expected {_SCHEMA[key]} (got {data[key]!r})")

    unknown = sorted(set(data) - set(_SCHEMA))
    if unknown:
        raise PerfkitError(f"{source}: unknown field {unknown[0]!r} (known: {', '.join(_SCHEMA)})")
    kw: dict[str, Any] = {}
    for key, value in data.items():
        if key in ("name", "description", "solver", "tasks"):
            if not isinstance(value, str) or (key != "description" and not value.strip()):
                raise bad(key)
            kw[key] = value
        elif key in ("strategies", "backends", "plugins"):
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value) \
                    or (key != "plugins" and not value):
                raise bad(key)
            kw[key] = tuple(value)
        elif key == "workers":
            kw[key] = _in_file(source, parse_workers, value)
        elif key in ("repeats", "chunk_size", "warmup"):
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if key == "warmup" else 1):
                raise bad(key)
            kw[key] = value
        elif key in ("timeout", "sample_budget", "task_budget"):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise bad(key)
            kw[key] = float(value)
        elif key == "solver_options":
            if not isinstance(value, dict):
                raise bad(key)
            kw[key] = dict(value)
    exp = Experiment(**kw)
    _in_file(source, check_strategies, exp.strategies, exp.plugins)
    _in_file(source, check_backends, exp.backends)
    return exp


def _in_file(source: str, check: Any, *values: Any) -> Any:
    """``check(*values)``, its ConfigError told as a field of the file ``source``."""
    try:
        return check(*values)
    except ConfigError as exc:
        shown = f" {exc.value!r}:" if exc.has_value else ""
        raise PerfkitError(f"{source}: field {exc.field!r}:{shown} {exc.reason}") from None


def check_strategies(names: Sequence[str], plugins: Sequence[str] = ()) -> tuple[str, ...]:
    """The names when there is one and every one is a registered strategy, once ``plugins``
    (which may register one) are imported; a ConfigError on ``strategies`` (or ``plugins``)
    otherwise."""
    from perfkit import strategies
    from perfkit.runner import import_plugins

    if not names:
        raise ConfigError("strategies", reason="expected at least one strategy")
    import_plugins(plugins)
    for name in names:
        try:
            strategies.get(name)
        except ConfigError as exc:
            raise ConfigError("strategies", name, exc.reason) from None
    return tuple(names)


def check_backends(names: Sequence[str]) -> tuple[str, ...]:
    """The names when there is one and every one is a backend; a ConfigError on ``backends``
    otherwise."""
    from perfkit.backends import check_backend

    if not names:
        raise ConfigError("backends", reason="expected at least one backend")
    for name in names:
        try:
            check_backend(name)
        except ConfigError as exc:
            raise ConfigError("backends", name, exc.reason) from None
    return tuple(names)


def load_experiment(path: str | Path) -> Experiment:
    """Read and validate an experiment TOML file (name defaults to the file's stem)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PerfkitError(f"{path}: experiment file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise PerfkitError(f"{path}: malformed TOML: {exc}") from None
    data.setdefault("name", path.stem)
    return experiment_from_dict(data, str(path))


def plan_runs(exp: Experiment) -> list[RunConfig]:
    """Every run of the experiment, repeat-major; the sequential inline reference first in each
    repeat, and alone in the extra rounds that bring it to :data:`MIN_REFERENCE_RUNS` runs
    (after every other run, so that the references bracket the experiment). ``exp.workers``
    empty means the usable cores."""
    workers = exp.workers or (_cores(),)
    timeout = TimeoutPolicy(exp.timeout, exp.sample_budget, exp.task_budget)
    base = RunConfig(solver=exp.solver, tasks=exp.tasks, chunk_size=exp.chunk_size, timeout=timeout,
                     label=exp.name, solver_options=dict(exp.solver_options), plugins=tuple(exp.plugins))
    combos = [REFERENCE]
    for strategy in exp.strategies:
        if strategy == "sequential":
            continue
        for backend in exp.backends:
            for w in workers:
                combos.append((strategy, backend, w))
    return [replace(base, strategy=s, backend=b, workers=w, repeat=rep, solver_options=dict(exp.solver_options))
            for rep in range(max(exp.repeats, MIN_REFERENCE_RUNS))
            for s, b, w in (combos if rep < exp.repeats else [REFERENCE])]


def plan_warmup(exp: Experiment) -> list[RunConfig]:
    """The warm-up runs: every configuration of :func:`plan_runs`, ``exp.warmup`` times, labelled
    ``<name>-warmup`` (stored, never compared)."""
    one = list({c.group: c for c in plan_runs(replace(exp, repeats=1))}.values())  # each configuration once
    return [replace(c, label=f"{exp.name}-warmup", repeat=r) for r in range(exp.warmup) for c in one]


def with_overrides(exp: Experiment, **overrides: Any) -> Experiment:
    """``exp`` with the given fields replaced (None values are ignored), validated: what a
    caller's arguments make of an experiment file."""
    kw = {k: v for k, v in overrides.items() if v is not None}
    for key in ("strategies", "backends", "plugins"):
        if key in kw:
            kw[key] = tuple(kw[key])
    if "workers" in kw:
        w = kw["workers"]
        kw["workers"] = parse_workers(list(w) if isinstance(w, (list, tuple)) else w)
    if "plugins" in kw:  # the caller's plugins add to the file's, as its solver options do
        kw["plugins"] = tuple(dict.fromkeys((*exp.plugins, *kw["plugins"])))
    if "solver_options" in kw:
        kw["solver_options"] = {**exp.solver_options, **kw["solver_options"]}
    exp = replace(exp, **kw)
    check_strategies(exp.strategies, exp.plugins)
    check_backends(exp.backends)
    if isinstance(exp.repeats, bool) or not isinstance(exp.repeats, int) or exp.repeats < 1:
        raise ConfigError("repeats", exp.repeats, "expected an integer ≥ 1")
    if isinstance(exp.warmup, bool) or not isinstance(exp.warmup, int) or exp.warmup < 0:
        raise ConfigError("warmup", exp.warmup, "expected an integer ≥ 0")
    return exp
