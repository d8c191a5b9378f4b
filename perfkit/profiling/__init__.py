"""Profiling inside the workers: where does the CPU go, in every worker, under every strategy.

Two profilers, one result type::

    import perfkit
    result = perfkit.profile(perfkit.RunConfig(solver="arc", tasks="arc1-training:2"),
                             profiler="pyinstrument")
    print(result.header)            # includes "profiler overhead: +x % wall (... profiled vs ... plain)"
    result.top_frames[:5]           # [FrameStat(function="rot90", file=".../arc/dsl.py", ...), ...]

- ``pyinstrument``: the run happens in this process (``inline`` or ``thread`` backend) while
  every thread is sampled (see :mod:`perfkit.profiling.sampler` for why pyinstrument's own
  Profiler is not enough); writes HTML, text, speedscope JSON and the raw session.
- ``py-spy``: the run happens in a child process launched *by* py-spy
  (``py-spy record --subprocesses``), so py-spy may ptrace it and every process it forks
  (process-backend workers included) without extra privilege; writes speedscope JSON, folded
  stacks and a flamegraph SVG converted from the same samples (one run, not two).

The same run config also runs once without the profiler, so the overhead is measured, not
guessed. ``profile_run`` is the same function under the name the comparison report uses.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from perfkit.errors import PerfkitError
from perfkit.model import RunConfig, Task

PROFILERS = ("pyinstrument", "py-spy")
#: Backends whose units run in this process (what pyinstrument can see).
IN_PROCESS_BACKENDS = ("inline", "thread")
DEFAULT_OUT_ROOT = Path("reports/profiles")
DEFAULT_TOP = 15

_PKG_ROOT = Path(__file__).resolve().parents[2]  # the folder holding the perfkit package


@dataclass(frozen=True)
class FrameStat:
    """One function's self time (seconds on CPU, summed over every call path and thread)."""

    function: str
    file: str
    line: int
    self_s: float
    share: float  # of all sampled on-CPU time

    @property
    def where(self) -> str:
        return f"{short_path(self.file)}:{self.line}"


@dataclass(frozen=True)
class LaneStat:
    """A thread (pyinstrument) or a process (py-spy) and what the profiler saw of it."""

    name: str
    sampled_s: float
    cpu_s: Optional[float] = None
    pid: Optional[int] = None
    role: str = ""


@dataclass
class ProfileResult:
    """What ``profile`` measured and wrote."""

    profiler: str
    config: RunConfig
    out_dir: Path
    files: dict[str, Path]
    run_path: Path
    plain_run_path: Optional[Path]
    wall_profiled_s: float
    wall_plain_s: Optional[float]
    top_frames: list[FrameStat]
    lanes: list[LaneStat]
    sample_count: int
    settings: str
    parent_pid: Optional[int] = None
    worker_pids: list[int] = field(default_factory=list)

    @property
    def overhead_pct(self) -> Optional[float]:
        if not self.wall_plain_s:
            return None
        return 100.0 * (self.wall_profiled_s / self.wall_plain_s - 1.0)

    @property
    def overhead_line(self) -> str:
        if self.overhead_pct is None:
            return (f"profiler overhead: not measured (no plain run; {self.wall_profiled_s:.2f} s profiled)")
        return (f"profiler overhead: {self.overhead_pct:+.1f} % wall "
                f"({self.wall_profiled_s:.2f} s profiled vs {self.wall_plain_s:.2f} s plain)")

    @property
    def header(self) -> str:
        c = self.config
        return "\n".join([
            f"perfkit profile: {self.profiler} ({self.settings}; {self.sample_count} samples)",
            f"run: solver={c.solver} tasks={c.tasks} strategy={c.strategy} backend={c.backend} "
            f"workers={c.workers}",
            self.overhead_line,
        ])

    def top_table(self, n: int = DEFAULT_TOP) -> str:
        lines = [f"top frames by self time ({'CPU; off-CPU time excluded' if self.profiler == 'pyinstrument' else 'samples; idle excluded unless --idle'}):",
                 f"{'self s':>9} {'share':>7}  {'function':<32} where"]
        for f in self.top_frames[:n]:
            lines.append(f"{f.self_s:9.3f} {100 * f.share:6.1f}%  {f.function:<32} {f.where}")
        if not self.top_frames:
            lines.append("  (no samples: the run was too short for the sampling interval)")
        return "\n".join(lines)

    def lanes_table(self) -> str:
        kind = "thread" if self.profiler == "pyinstrument" else "process/thread"
        lines = [f"{'sampled s':>10} {'cpu s':>8}  {kind}"]
        for lane in self.lanes:
            cpu = "-" if lane.cpu_s is None else f"{lane.cpu_s:.3f}"
            role = f" ({lane.role})" if lane.role else ""
            lines.append(f"{lane.sampled_s:10.3f} {cpu:>8}  {lane.name}{role}")
        return "\n".join(lines)

    def summary(self, n: int = DEFAULT_TOP) -> str:
        """Header, top frames and lanes: what the terminal shows and the text report starts with."""
        return "\n\n".join([self.header, self.top_table(n), self.lanes_table()])

    def to_record(self) -> dict[str, Any]:
        return {
            "profiler": self.profiler, "config": self.config.to_record(), "out_dir": str(self.out_dir),
            "files": {k: str(v) for k, v in self.files.items()}, "run_path": str(self.run_path),
            "plain_run_path": str(self.plain_run_path) if self.plain_run_path else None,
            "wall_profiled_s": self.wall_profiled_s, "wall_plain_s": self.wall_plain_s,
            "overhead_pct": self.overhead_pct, "sample_count": self.sample_count, "settings": self.settings,
            "parent_pid": self.parent_pid, "worker_pids": self.worker_pids,
            "top_frames": [dict(dataclasses.asdict(f), where=f.where) for f in self.top_frames],
            "lanes": [dataclasses.asdict(lane) for lane in self.lanes],
        }


def short_path(path: str) -> str:
    """``perfkit/solvers/arc/dsl.py`` for perfkit's files, the path relative to the closest
    ``sys.path`` entry for libraries, the path itself otherwise."""
    if not path or path.startswith("<"):
        return path
    p = Path(path)
    try:
        return str(p.resolve().relative_to(_PKG_ROOT))
    except (ValueError, OSError):
        pass
    best = path
    for entry in sys.path:
        if entry and path.startswith(entry.rstrip(os.sep) + os.sep):
            rel = path[len(entry.rstrip(os.sep)) + 1:]
            if len(rel) < len(best):
                best = rel
    return best


def default_out_dir() -> Path:
    return DEFAULT_OUT_ROOT / time.strftime("%Y%m%d-%H%M%S")


def _labelled(config: RunConfig, suffix: str) -> RunConfig:
    return dataclasses.replace(config, label=f"{config.label}-{suffix}" if config.label else suffix)


def _run_wall_s(path: Path) -> float:
    from perfkit.store import read_json

    return float(read_json(Path(path) / "summary.json")["wall_s"])


def profile(config: RunConfig, profiler: str = "pyinstrument", out_dir: str | Path | None = None, *,
            tasks: Optional[Sequence[Task]] = None, store_dir: str | Path | None = None,
            baseline: bool = True, plain_wall_s: Optional[float] = None,
            interval: float = 0.001, rate: int = 200, gil: bool = False, idle: bool = False,
            nonblocking: bool = False, top: int = DEFAULT_TOP, observer: Any = None) -> ProfileResult:
    """Run ``config`` under ``profiler`` and write the profile to ``out_dir``.

    ``out_dir`` defaults to ``reports/profiles/<timestamp>/``; the runs themselves are stored in
    ``store_dir`` (default ``<out_dir>/runs``). Unless ``baseline=False`` or ``plain_wall_s`` is
    given (a wall already measured on the same config, e.g. by ``compare``), the same config runs
    once without the profiler first, and the overhead is the ratio of the two runs' wall.
    ``tasks`` overrides ``config.tasks`` as in :func:`perfkit.runner.run`.

    pyinstrument: ``interval`` (seconds between samples). py-spy: ``rate`` (samples per second),
    ``gil`` (only samples holding the GIL), ``idle`` (include idle threads), ``nonblocking``
    (do not pause the process to sample: less overhead, less accurate).
    """
    if profiler not in PROFILERS:
        raise PerfkitError(f"--profiler {profiler!r}: expected one of {', '.join(PROFILERS)}")
    out = Path(out_dir) if out_dir is not None else default_out_dir()
    out.mkdir(parents=True, exist_ok=True)
    runs = Path(store_dir) if store_dir is not None else out / "runs"
    tasks = list(tasks) if tasks is not None else None
    if profiler == "pyinstrument":
        if config.backend not in IN_PROCESS_BACKENDS:
            raise PerfkitError(
                f"--profiler pyinstrument sees only this process, but --backend {config.backend} runs the "
                f"units in other processes: use --profiler py-spy (it records the whole process tree), "
                f"or --backend {' or '.join(IN_PROCESS_BACKENDS)}")
        if gil or idle or nonblocking:
            raise PerfkitError("--gil, --idle and --nonblocking are py-spy options: add --profiler py-spy")
        from perfkit.profiling.pyinstrument_profile import profile_in_process

        result = profile_in_process(config, out, runs, tasks, baseline and plain_wall_s is None,
                                    interval, top, observer)
    else:
        from perfkit.profiling.pyspy_profile import profile_with_pyspy

        result = profile_with_pyspy(config, out, runs, tasks, baseline and plain_wall_s is None,
                                    rate, gil, idle, nonblocking, top)
    if plain_wall_s is not None:
        result.wall_plain_s = plain_wall_s
    result.files["result"] = out / "profile.json"
    (out / "profile.json").write_text(json.dumps(result.to_record(), indent=2), encoding="utf-8")
    _prepend_header(result)
    return result


def _prepend_header(result: ProfileResult) -> None:
    """The text report starts with the header (overhead included) and the top frames."""
    text = result.files.get("text")
    if text is None:
        return
    body = text.read_text(encoding="utf-8") if text.exists() else ""
    text.write_text(result.summary() + "\n\n" + body, encoding="utf-8")


#: The name the comparison report calls: ``profile_run(config, profiler, out_dir) -> ProfileResult``.
profile_run = profile

__all__ = ["FrameStat", "LaneStat", "PROFILERS", "ProfileResult", "profile", "profile_run", "short_path"]
