"""Baselines: repeats of one experiment, summarised for the gate and stored as
``reports/baselines/NAME.json`` (committed), or read straight from run folders.

A *side* of a comparison (baseline or current) is a :class:`Side`: its repeats' figures, its
answers (unit key, status, output hash), and the environment and config it was measured with.
A side keeps every repeat's answers with their walls (:attr:`Side.repeat_answers`): how the
repeats varied among themselves (an unseeded candidate, a unit at its limit) is what the gate
judges the current answers against (perfkit/analysis/answers.py). A baseline file of format 3
stores them (the first repeat's as ``answers``, the others as ``later_answers``); a file of
format 1 or 2 kept the first repeat's answers only, and is judged on them alone.

Instruction counts (perfkit/store/instructions.py) are exact on one build but differ between
builds: a side carries the *build* its counts were measured on (Python build, platform, CPU,
valgrind, dependency versions — perfkit's own code is what is being measured, so its version
is recorded but not compared), and :func:`check_comparable` refuses to compare counts across
builds.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd

from perfkit.model import UNIT_KEY, ConfigError, PerfkitError, RunConfig, TimeoutPolicy, is_path_segment
from perfkit.store.instructions import read_instructions
from perfkit.store.reader import load_run
from perfkit.store.run import Run

BASELINE_DIR = Path("reports/baselines")
BASELINE_FORMAT = "perfkit-baseline/3"
#: Older formats still read (format 1 has no instruction counts, formats 1 and 2 one repeat's
#: answers without their match or wall).
READABLE_FORMATS = ("perfkit-baseline/1", "perfkit-baseline/2", BASELINE_FORMAT)
#: Fields of a build that change instruction counts (the ``dependencies`` are compared too).
BUILD_FIELDS = ("python_build", "implementation", "machine", "libc", "cpu_model", "valgrind", "cpu_features")


class IncompatibleBuild(PerfkitError):
    """Instruction counts measured on different builds: comparing them would be meaningless."""
ANSWER_COLUMNS = (*UNIT_KEY, "status", "output_hash")
#: A repeat's answers as a side keeps them: ``match`` (the output is the expected one; None
#: when no expected output is known) tells an answer gained, ``wall_s`` a unit near its limit.
REPEAT_ANSWER_COLUMNS = (*ANSWER_COLUMNS, "match", "wall_s")
#: The columns of a later repeat in a baseline file, each a list aligned with ``answers``' rows.
LATER_COLUMNS = REPEAT_ANSWER_COLUMNS[len(UNIT_KEY):]


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
    #: Instructions of the run window under valgrind (a count), and per task; None: not measured.
    instructions: Optional[float] = None
    task_instructions: dict[str, float] = field(default_factory=dict)
    #: The whole command around the run window (docs/design.md, "The whole command"); NaN
    #: for a run, or a baseline file, from before perfkit measured it.
    command_wall_s: float = float("nan")
    command_cpu_s: float = float("nan")
    #: CPU seconds other processes of the machine used during the run window (summary
    #: ``others_cpu_s``); None when not measured, or in a baseline file from before it was kept.
    others_cpu_s: Optional[float] = None

    @property
    def others_cores(self) -> float:
        """Cores other work used on average during the run window (NaN when unknown)."""
        if self.others_cpu_s is None or not self.wall_s > 0:
            return float("nan")
        return self.others_cpu_s / self.wall_s

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
    #: What the instruction counts depend on (empty when none were measured).
    build: dict[str, Any] = field(default_factory=dict)
    #: Every repeat's answers (:data:`REPEAT_ANSWER_COLUMNS`), in the order of ``repeats``; empty
    #: for a baseline file from before they were kept (formats 1 and 2).
    repeat_answers: list[pd.DataFrame] = field(default_factory=list)

    @property
    def timeout_s(self) -> float:
        """The unit timeout the side was measured with (seconds)."""
        policy = self.config.get("timeout") if isinstance(self.config.get("timeout"), dict) else {}
        return float(policy.get("unit_timeout_s", TimeoutPolicy.unit_timeout_s))

    @property
    def instruction_counts(self) -> list[float]:
        """The instructions of every repeat that has them."""
        return [r.instructions for r in self.repeats if r.instructions is not None]

    def run_config(self) -> RunConfig:
        """The RunConfig the side was measured with (to measure the current code the same way)."""
        try:
            return RunConfig.from_record(self.config)
        except (TypeError, ConfigError) as exc:  # ConfigError: a key that is no field
            raise PerfkitError(f"baseline {self.label}: field 'config' is not a run configuration: {exc}") from None


def repeat_of_run(run: Run) -> Repeat:
    """A stored run's figures for the gate."""
    units = run.units
    ran = units[units["started"].notna()]
    task_cpu = ran.groupby("task_id")["cpu_s"].sum().to_dict()
    span = ran.groupby("task_id").agg(first=("queued", "min"), last=("ended", "max"))
    task_wall = (span["last"] - span["first"]).to_dict()
    s = run.summary
    count = read_instructions(run.path)
    return Repeat(run.run_id, float(s.wall_s), float(s.cpu_s), s.calibration_cpu_s,
                  {k: float(v) for k, v in task_cpu.items()}, {k: float(v) for k, v in task_wall.items()},
                  None if count is None else float(count.instructions),
                  {} if count is None else {k: float(v) for k, v in count.tasks.items()},
                  float(s.command_wall_s), float(s.command_cpu_s),
                  None if s.others_cpu_s is None else float(s.others_cpu_s))


def answers_of(units: pd.DataFrame) -> pd.DataFrame:
    """The answer columns of a units table (:data:`REPEAT_ANSWER_COLUMNS`)."""
    return units[list(REPEAT_ANSWER_COLUMNS)].reset_index(drop=True)


def side_of_runs(label: str, runs: Sequence[Run]) -> Side:
    """Stored runs (repeats of one experiment) as a side."""
    counts = [c for c in (read_instructions(r.path) for r in runs) if c is not None]
    answers = [answers_of(r.units) for r in runs]
    return Side(label, [repeat_of_run(r) for r in runs], answers[0], runs[0].environment,
                runs[0].config.to_record(), counts[0].build if counts else {}, answers)


def build_differences(baseline: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """What differs between two builds, as ``field: baseline vs current`` (empty: comparable).
    Dependencies are compared where both builds have them (a package only one side has is not
    imported by the other's code, so it cannot change that side's count)."""
    differ = [f"{f}: {baseline.get(f)} vs {current.get(f)}" for f in BUILD_FIELDS
              if baseline.get(f) != current.get(f)]
    deps_b, deps_c = baseline.get("dependencies", {}), current.get("dependencies", {})
    differ += [f"{name} {deps_b[name]} vs {deps_c[name]}" for name in sorted(set(deps_b) & set(deps_c))
               if deps_b[name] != deps_c[name]]
    return differ


def check_comparable(baseline: Side, current: Side) -> None:
    """Refuse (IncompatibleBuild, exit status 2) to compare instruction counts of two builds."""
    if not baseline.build or not current.build:
        missing = baseline.label if not baseline.build else current.label
        raise IncompatibleBuild(f"{missing}: field 'build': no instruction counts were measured")
    differ = build_differences(baseline.build, current.build)
    if differ:
        raise IncompatibleBuild(f"baseline {baseline.label}: instruction counts were measured on another build "
                                f"({'; '.join(differ)}); re-record the baseline on this build, or measure its "
                                f"revision here as the base")


def resolve_baseline(spec: str, directory: Path = BASELINE_DIR, field: str = "baseline") -> Path:
    """A baseline argument as a path: a run folder, a JSON file, or a NAME in ``directory``;
    a ConfigError on ``field`` (the argument it came from) when it is none of them."""
    path = Path(spec)
    if path.exists():
        return path
    named = directory / f"{spec}.json"
    if named.exists():
        return named
    raise ConfigError(field, spec, f"no such run folder, baseline file or baseline name in {directory}")


def load_side(specs: Sequence[str | Path], label: str) -> Side:
    """Run folders (repeats of one experiment) or one baseline file as one side; ``label`` is
    the field the specs came from (``baseline``, ``current``)."""
    if not specs:
        raise ConfigError(label, reason="give at least one run folder or baseline file")
    paths = [resolve_baseline(str(s), field=label) for s in specs]
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
    except (OSError, UnicodeDecodeError) as exc:
        raise PerfkitError(f"{path}: unreadable: {getattr(exc, 'strerror', None) or exc}") from None
    if not isinstance(data, dict) or data.get("format") not in READABLE_FORMATS:
        raise PerfkitError(f"{path}: field 'format': expected {BASELINE_FORMAT!r}")
    for key in ("repeats", "answers", "config"):
        if key not in data:
            raise PerfkitError(f"{path}: missing field {key!r}")
    if not isinstance(data["repeats"], list) or not data["repeats"]:
        raise PerfkitError(f"{path}: field 'repeats': expected a list of at least one repeat")
    if not isinstance(data["config"], dict):
        raise PerfkitError(f"{path}: field 'config': expected a run configuration (a JSON object)")
    kept = data["format"] == BASELINE_FORMAT  # every repeat's answers, with match and wall
    columns = list(REPEAT_ANSWER_COLUMNS if kept else ANSWER_COLUMNS)
    try:
        repeats = [Repeat(**r) for r in data["repeats"]]
    except (TypeError, ValueError, AttributeError) as exc:
        raise PerfkitError(f"{path}: field 'repeats': {exc}") from None
    try:
        answers = pd.DataFrame(data["answers"], columns=columns)
    except (TypeError, ValueError, AttributeError, AssertionError) as exc:
        raise PerfkitError(f"{path}: field 'answers': expected rows of {', '.join(columns)} ({exc})") from None
    build = data.get("build", {})
    if not isinstance(build, dict):
        raise PerfkitError(f"{path}: field 'build': expected an object")
    repeat_answers = [answers, *_later_answers(path, data.get("later_answers"), answers, len(repeats))] if kept else []
    return Side(data.get("name", Path(path).stem), repeats, answers, data.get("environment", {}), data["config"],
                build, repeat_answers)


def _later_answers(path: Path, later: Any, first: pd.DataFrame, n_repeats: int) -> list[pd.DataFrame]:
    """The answers of a baseline file's repeats after the first (``later_answers``): per repeat,
    :data:`LATER_COLUMNS` as lists aligned with the first repeat's units, or with its own
    ``units`` (key rows) when its units differ."""
    if not isinstance(later, list) or len(later) != n_repeats - 1:
        raise PerfkitError(f"{path}: field 'later_answers': expected {n_repeats - 1} repeats' answers "
                           "(one per repeat after the first)")
    frames = []
    for i, repeat in enumerate(later, start=2):
        try:
            key = list(UNIT_KEY)
            units = pd.DataFrame(repeat["units"], columns=key) if "units" in repeat else first[key]
            columns = {c: repeat[c] for c in LATER_COLUMNS}
            if any(not isinstance(v, list) or len(v) != len(units) for v in columns.values()):
                raise ValueError(f"each of {', '.join(LATER_COLUMNS)} must list one value per unit ({len(units)})")
            frames.append(units.reset_index(drop=True).assign(**columns))
        except (TypeError, KeyError, ValueError, AssertionError) as exc:
            raise PerfkitError(f"{path}: field 'later_answers': repeat {i}: {exc}") from None
    return frames


def write_baseline(name: str, side: Side, directory: Path = BASELINE_DIR) -> Path:
    """Write ``directory/NAME.json`` from a side (repeats of one experiment, its environment)."""
    if not is_path_segment(name):
        raise ConfigError("name", name, "use a plain file name")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    payload = {
        # a side read from an older file has one repeat's answers: written as what it is
        "format": BASELINE_FORMAT if side.repeat_answers else "perfkit-baseline/2",
        "name": name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "environment": side.environment,
        "config": side.config,
        "build": side.build,
        "repeats": [asdict(r) for r in side.repeats],
    }
    if side.repeat_answers:
        first, *later = side.repeat_answers
        payload["answers"] = _plain_rows(first[list(REPEAT_ANSWER_COLUMNS)])
        payload["later_answers"] = [_later_record(first, df) for df in later]
    else:
        payload["answers"] = _plain_rows(side.answers[list(ANSWER_COLUMNS)])
    # compact: a baseline is committed, and its answers are one row per unit
    path.write_text(json.dumps(payload, separators=(",", ":"), default=_plain) + "\n", encoding="utf-8")
    return path


def _json_ready(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with None for every missing value (JSON null, not NaN)."""
    return df.astype(object).where(df.notna(), None)


def _plain_rows(df: pd.DataFrame) -> list[list[Any]]:
    return _json_ready(df).values.tolist()


def _later_record(first: pd.DataFrame, df: pd.DataFrame) -> dict[str, Any]:
    """A later repeat's answers as columns; its units' keys only when they differ from the
    first repeat's (a candidate generated in one repeat and not in another)."""
    key = list(UNIT_KEY)
    columns = _json_ready(df[list(LATER_COLUMNS)])
    record: dict[str, Any] = {c: columns[c].tolist() for c in LATER_COLUMNS}
    if not df[key].reset_index(drop=True).equals(first[key].reset_index(drop=True)):
        record["units"] = _plain_rows(df[key])
    return record


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)
