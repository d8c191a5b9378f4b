"""Baselines: repeats of one experiment, summarised for the gate and stored as
``reports/baselines/NAME.json`` (committed), or read straight from run folders.

A *side* of a comparison (baseline or current) is a :class:`Side`: its repeats' figures, its
answers (unit key, status, output hash), and the environment and config it was measured with.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd

from perfkit.model import UNIT_KEY, ConfigError, PerfkitError, RunConfig, is_path_segment
from perfkit.store.reader import load_run
from perfkit.store.run import Run

BASELINE_DIR = Path("reports/baselines")
BASELINE_FORMAT = "perfkit-baseline/1"
ANSWER_COLUMNS = (*UNIT_KEY, "status", "output_hash")


@dataclass
class Repeat:
    """One run's figures (seconds) as the gate needs them."""

    run_id: str
    wall_s: float
    cpu_s: float
    calibration_cpu_s: Optional[float]
    #: Per task: sum of unit CPU and span of unit wall (seconds), for the paired comparison.
    task_cpu_s: dict[str, float] = field(default_factory=dict)
    task_wall_s: dict[str, float] = field(default_factory=dict)

    def value(self, metric: str, normalised: bool) -> float:
        """The metric (``wall`` or ``cpu``) in seconds, or in calibration units when ``normalised``."""
        v = self.wall_s if metric == "wall" else self.cpu_s
        return v / self.calibration_cpu_s if normalised and self.calibration_cpu_s else v

    def per_task(self, metric: str, normalised: bool) -> dict[str, float]:
        """The metric per task, likewise."""
        d = self.task_wall_s if metric == "wall" else self.task_cpu_s
        scale = self.calibration_cpu_s if normalised and self.calibration_cpu_s else 1.0
        return {k: v / scale for k, v in d.items()}


@dataclass
class Side:
    """Repeats of one experiment plus its answers (a DataFrame of key, status, output_hash)."""

    label: str
    repeats: list[Repeat]
    answers: pd.DataFrame
    environment: dict[str, Any]
    config: dict[str, Any]

    def run_config(self) -> RunConfig:
        """The RunConfig the side was measured with (to measure the current code the same way)."""
        try:
            return RunConfig.from_record(self.config)
        except TypeError as exc:
            raise PerfkitError(f"baseline {self.label}: field 'config' is not a run configuration: {exc}") from None


def repeat_of_run(run: Run) -> Repeat:
    """A stored run's figures for the gate."""
    units = run.units
    ran = units[units["started"].notna()]
    task_cpu = ran.groupby("task_id")["cpu_s"].sum().to_dict()
    span = ran.groupby("task_id").agg(first=("queued", "min"), last=("ended", "max"))
    task_wall = (span["last"] - span["first"]).to_dict()
    s = run.summary
    return Repeat(run.run_id, float(s.wall_s), float(s.cpu_s), s.calibration_cpu_s,
                  {k: float(v) for k, v in task_cpu.items()}, {k: float(v) for k, v in task_wall.items()})


def answers_of(units: pd.DataFrame) -> pd.DataFrame:
    """The answer columns of a units table (key, status, output hash)."""
    return units[list(ANSWER_COLUMNS)].reset_index(drop=True)


def side_of_runs(label: str, runs: Sequence[Run]) -> Side:
    """Stored runs (repeats of one experiment) as a side."""
    return Side(label, [repeat_of_run(r) for r in runs], answers_of(runs[0].units), runs[0].environment,
                runs[0].config.to_record())


def resolve_baseline(spec: str, directory: Path = BASELINE_DIR) -> Path:
    """A baseline argument as a path: a run folder, a JSON file, or a NAME in ``directory``."""
    path = Path(spec)
    if path.exists():
        return path
    named = directory / f"{spec}.json"
    if named.exists():
        return named
    raise ConfigError("baseline", spec, f"no such run folder, baseline file or baseline name in {directory}")


def load_side(specs: Sequence[str | Path], label: str) -> Side:
    """Run folders (repeats of one experiment) or one baseline file as one side; ``label`` is
    the field the specs came from (``baseline``, ``current``)."""
    if not specs:
        raise ConfigError(label, reason="give at least one run folder or baseline file")
    paths = [resolve_baseline(str(s)) for s in specs]
    files = [p for p in paths if p.is_file()]
    if files:
        if len(paths) > 1:
            raise ConfigError(label, [str(p) for p in paths], "a baseline file stands alone")
        return load_baseline_file(files[0])
    runs = [load_run(p) for p in paths]
    configs = {json.dumps(_comparable(r.config.to_record()), sort_keys=True) for r in runs}
    if len(configs) > 1:
        raise ConfigError(label, [str(p) for p in paths], "the runs are of different experiments; "
                          "a side is repeats of one")
    return side_of_runs(", ".join(p.name for p in paths), runs)


def _comparable(config: dict[str, Any]) -> dict[str, Any]:
    """The parts of a config that make two runs repeats of one experiment."""
    return {k: v for k, v in config.items() if k not in ("repeat", "label")}


def load_baseline_file(path: Path) -> Side:
    """Read ``reports/baselines/NAME.json``; a malformed file is one clear line."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise PerfkitError(f"{path}: malformed JSON at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(data, dict) or data.get("format") != BASELINE_FORMAT:
        raise PerfkitError(f"{path}: field 'format': expected {BASELINE_FORMAT!r}")
    for key in ("repeats", "answers", "config"):
        if key not in data:
            raise PerfkitError(f"{path}: missing field {key!r}")
    try:
        repeats = [Repeat(**r) for r in data["repeats"]]
        answers = pd.DataFrame(data["answers"], columns=list(ANSWER_COLUMNS))
    except (TypeError, ValueError) as exc:
        raise PerfkitError(f"{path}: field 'repeats' or 'answers': {exc}") from None
    return Side(data.get("name", Path(path).stem), repeats, answers, data.get("environment", {}), data["config"])


def write_baseline(name: str, side: Side, directory: Path = BASELINE_DIR) -> Path:
    """Write ``directory/NAME.json`` from a side (repeats of one experiment, its environment)."""
    if not is_path_segment(name):
        raise ConfigError("name", name, "use a plain file name")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    answers = side.answers.astype(object).where(side.answers.notna(), None)
    payload = {
        "format": BASELINE_FORMAT,
        "name": name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "environment": side.environment,
        "config": side.config,
        "repeats": [asdict(r) for r in side.repeats],
        "answers": answers.values.tolist(),
    }
    # compact: a baseline is committed, and its answers are one row per unit
    path.write_text(json.dumps(payload, separators=(",", ":"), default=_plain) + "\n", encoding="utf-8")
    return path


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)
