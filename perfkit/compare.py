"""``perfkit compare``: run an experiment (strategies × backends × workers × repeats) and report.

An experiment is a TOML file (``experiments/*.toml``); every field is optional except that a
solver and tasks must come from the file or the caller::

    name = "seed-phase4"                  # label of every run and the report's name
    description = "…"
    solver = "synthetic"                  # as for ``perfkit run --solver``
    tasks = "synthetic:1x5+1"             # as for ``perfkit run --tasks``
    strategies = ["sequential", "sample-parallel"]
    backends = ["thread", "process"]
    workers = 4                           # int, "auto" (usable cores), a list of them, or "1..auto"
    repeats = 3
    timeout = 0.03                        # per-unit running-time limit, seconds
    chunk_size = 8                        # optional
    sample_budget = 2.0                   # optional, seconds
    task_budget = 10.0                    # optional, seconds
    plugins = ["mypkg.strategies"]        # optional
    [solver_options]                      # passed to the solver
    candidates = 32

Runs go repeat-major (every configuration once, then again) so that machine drift hits all
alike; the sequential strategy always runs, inline with one worker: it is the reference for
speedups and answers.
"""

from __future__ import annotations

import time
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Optional, Sequence

from perfkit.errors import PerfkitError
from perfkit.model import RunConfig, Task, TimeoutPolicy

DEFAULT_STORE = Path("reports/runs")
DEFAULT_REPORTS = Path("reports")
REFERENCE = ("sequential", "inline", 1)


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
    "repeats": "an integer ≥ 1", "timeout": "a positive number of seconds",
    "chunk_size": "an integer ≥ 1", "sample_budget": "a positive number of seconds",
    "task_budget": "a positive number of seconds", "solver_options": "a table",
}


def _cores() -> int:
    from perfkit.environment import usable_cores

    return usable_cores()


def parse_workers(value: Any, where: str = "workers") -> tuple[int, ...]:
    """``4`` · ``"auto"`` · ``"1..auto"`` · ``"2..8"`` · ``[1, 2, "auto"]`` → sorted unique ints."""
    items = value if isinstance(value, list) else [value]
    out: list[int] = []
    for item in items:
        if isinstance(item, bool):
            raise PerfkitError(f"{where}: {item!r}: expected {_SCHEMA['workers']}")
        if isinstance(item, int):
            out.append(item)
            continue
        text = str(item).strip()
        try:
            if text == "auto":
                out.append(_cores())
            elif ".." in text:
                lo, hi = text.split("..", 1)
                lo_i = _cores() if lo == "auto" else int(lo)
                hi_i = _cores() if hi == "auto" else int(hi)
                out.extend(range(lo_i, hi_i + 1))
            else:
                out.append(int(text))
        except ValueError:
            raise PerfkitError(f"{where}: {item!r}: expected {_SCHEMA['workers']}") from None
    if not out or min(out) < 1:
        raise PerfkitError(f"{where}: {value!r}: expected {_SCHEMA['workers']}")
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
            kw[key] = parse_workers(value, f"{source}: field 'workers'")
        elif key in ("repeats", "chunk_size"):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
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
    _check_strategies(exp.strategies, f"{source}: field 'strategies'")
    return exp


def _check_strategies(names: Sequence[str], where: str) -> None:
    from perfkit import strategies

    for name in names:
        try:
            strategies.get(name)
        except PerfkitError as exc:
            raise PerfkitError(f"{where}: {exc}") from None


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
    repeat. ``exp.workers`` empty means the usable cores."""
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
            for rep in range(exp.repeats) for s, b, w in combos]


class Progress:
    """Hooks for the terminal; ``run_started`` may return a runner Observer for the run's units."""

    def run_started(self, index: int, total: int, config: RunConfig) -> Any:
        return None

    def run_finished(self, index: int, total: int, path: Path) -> None:
        pass


@dataclass
class CompareResult:
    """What compare and report produce: the analysis, the report folder and the run folders."""

    comparison: Any
    report_dir: Path
    run_dirs: list[Path]

    @property
    def differences(self) -> bool:
        return self.comparison.differences


def _default_out(name: str) -> Path:
    return DEFAULT_REPORTS / f"compare-{time.strftime('%Y%m%d-%H%M%S')}"


def compare(experiment: str | Path | Experiment | None = None, *, solver: Optional[str] = None,
            tasks: Optional[str] = None, strategies: Optional[Sequence[str]] = None,
            backends: Optional[Sequence[str]] = None, workers: Any = None, repeats: Optional[int] = None,
            timeout: Optional[float] = None, chunk_size: Optional[int] = None,
            solver_options: Optional[dict[str, Any]] = None, name: Optional[str] = None,
            out: str | Path | None = None, store: str | Path = DEFAULT_STORE,
            progress: Optional[Progress] = None, task_list: Optional[list[Task]] = None,
            profile: bool = False) -> CompareResult:
    """Run an experiment and write its report folder (report.md, report.html, PNGs).

    ``experiment``: a TOML path or an :class:`Experiment` (None = defaults); keyword arguments
    override its fields. ``task_list``: hand-made tasks used instead of loading ``tasks``.
    Returns the comparison; ``result.differences`` is True when any answer differs from sequential.
    ``profile``: also profile one run of every configuration (pyinstrument in-process, py-spy for
    worker processes) into ``<report>/profiles/`` and link the profiles from the report.
    """
    exp = experiment if isinstance(experiment, Experiment) else (
        load_experiment(experiment) if experiment is not None else Experiment())
    overrides: dict[str, Any] = {}
    for key, value in (("solver", solver), ("tasks", tasks), ("repeats", repeats), ("timeout", timeout),
                       ("chunk_size", chunk_size), ("name", name)):
        if value is not None:
            overrides[key] = value
    if strategies is not None:
        overrides["strategies"] = tuple(strategies)
    if backends is not None:
        overrides["backends"] = tuple(backends)
    if workers is not None:
        overrides["workers"] = parse_workers(list(workers) if isinstance(workers, (list, tuple)) else workers,
                                             "--workers")
    if solver_options:
        overrides["solver_options"] = {**exp.solver_options, **solver_options}
    exp = replace(exp, **overrides)
    _check_strategies(exp.strategies, "--strategies")
    if exp.repeats < 1:
        raise PerfkitError(f"--repeats {exp.repeats}: must be at least 1")
    from perfkit import runner

    configs = plan_runs(exp)
    progress = progress or Progress()
    paths: list[Path] = []
    for i, config in enumerate(configs):
        observer = progress.run_started(i, len(configs), config)
        path = runner.run(config, store, observer=observer, tasks=task_list)
        paths.append(path)
        progress.run_finished(i, len(configs), path)
    folder = Path(out) if out is not None else _default_out(exp.name)
    links = profile_configs(configs, paths, folder, task_list) if profile else None
    return report(paths, folder, name=exp.name, profiles=links)


def profile_configs(configs: Sequence[RunConfig], paths: Sequence[Path], folder: Path,
                    task_list: Optional[list[Task]] = None) -> list[tuple[str, str, str]]:
    """Profile one run of each distinct configuration; returns report links to the profiles.

    The profiler's overhead is measured against the median wall of that configuration's runs
    already made (no extra plain run).
    """
    import statistics

    from perfkit.profiling import profile as run_profile
    from perfkit.store import load_run

    walls: dict[tuple, list[float]] = {}
    firsts: dict[tuple, RunConfig] = {}
    for config, path in zip(configs, paths):
        key = (config.strategy, config.backend, config.workers)
        walls.setdefault(key, []).append(float(load_run(path).summary.get("wall_s", 0.0)))
        firsts.setdefault(key, config)
    links = []
    for key, config in firsts.items():
        name = "-".join(str(k) for k in key)
        profiler = "pyinstrument" if config.backend in ("inline", "thread") else "py-spy"
        result = run_profile(replace(config, label=f"profile-{name}"), profiler, folder / "profiles" / name,
                             tasks=task_list, plain_wall_s=statistics.median(walls[key]))
        main = next((p for k, p in result.files.items() if str(p).endswith((".html", ".svg"))),
                    next(iter(result.files.values())))
        top = result.top_frames[0].function if result.top_frames else "no samples"
        links.append((f"{config.strategy}/{config.backend}×{config.workers} ({profiler})",
                      str(main.relative_to(folder)), f"top frame {top}; {result.overhead_line}"))
    return links


def report(run_dirs: Sequence[str | Path], out: str | Path | None = None, name: Optional[str] = None,
           profiles: Optional[list[tuple[str, str, str]]] = None) -> CompareResult:
    """Render the report of stored runs into ``out`` without running anything."""
    from perfkit.analysis import analyse
    from perfkit.reports import write_report
    from perfkit.store import load_run

    if not run_dirs:
        raise PerfkitError("report: no run folders given")
    runs = [load_run(p) for p in run_dirs]
    comparison = analyse(runs)
    if name is None:
        labels = {r.meta.get("config", {}).get("label") for r in runs} - {None}
        name = labels.pop() if len(labels) == 1 else "comparison"
    folder = write_report(comparison, Path(out) if out is not None else _default_out(name), name, profiles)
    return CompareResult(comparison, folder, [Path(p) for p in run_dirs])
