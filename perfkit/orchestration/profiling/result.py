"""What a profile measured: frames, lanes and the overhead, as plain data (one type for both
profilers), and how paths read in it."""

from __future__ import annotations

import dataclasses
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from perfkit.analysis.text import duration
from perfkit.model import RunConfig
from perfkit.orchestration.profiling.window import RUN

PROFILERS = ("pyinstrument", "py-spy")
#: Backends whose units run in this process (what pyinstrument can see).
IN_PROCESS_BACKENDS = ("inline", "thread")
DEFAULT_OUT_ROOT = Path("reports/profiles")
DEFAULT_TOP = 15
#: Pairs of a plain and a profiled run the overhead is the median of (alternating order).
DEFAULT_PAIRS = 2

_PKG_ROOT = Path(__file__).resolve().parents[3]  # the folder holding the perfkit package


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
        """``file:line``, the file relative to the project or site-packages."""
        return f"{short_path(self.file)}:{self.line}"


@dataclass(frozen=True)
class LaneStat:
    """A thread (pyinstrument) or a process's thread (py-spy) and what the profiler saw of it:
    ``sampled_s``, the seconds its samples cover; ``cpu_s``, its CPU seconds where measured
    (pyinstrument's threads); ``pid`` and ``role`` (parent, worker or child) for py-spy's."""

    name: str
    sampled_s: float
    cpu_s: Optional[float] = None
    pid: Optional[int] = None
    role: str = ""


@dataclass
class ProfileResult:
    """What ``profile`` measured and wrote.

    ``pairs``: (plain wall, profiled wall) seconds of each pair of runs made back to back in the
    same state (docs/benchmarks.md: this machine's speed flips, so only adjacent runs compare);
    the overhead is the median of the pairs' ratios. ``phases_s``: seconds sampled in each
    phase of perfkit/orchestration/profiling/window.py (the top frames cover ``run`` only);
    ``waiting_s``: seconds of waiting frames left out of the top frames.
    """

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
    pairs: list[tuple[float, float]] = field(default_factory=list)
    phases_s: dict[str, float] = field(default_factory=dict)
    waiting_s: float = 0.0
    idle_included: bool = False
    #: How many profiled runs the top frames and threads sum (pyinstrument: every pair's).
    profiled_runs: int = 1

    @property
    def overhead_pct(self) -> Optional[float]:
        """Median over pairs of (profiled / plain − 1) in percent; without pairs, against a plain
        wall measured elsewhere (a profiled compare); None when nothing was measured."""
        ratios = [b / a - 1.0 for a, b in self.pairs if a > 0]
        if ratios:
            return 100.0 * statistics.median(ratios)
        if not self.wall_plain_s:
            return None
        return 100.0 * (self.wall_profiled_s / self.wall_plain_s - 1.0)

    @property
    def overhead_line(self) -> str:
        """The overhead with how it was measured; a negative figure is said to be noise."""
        pct = self.overhead_pct
        if pct is None:
            return f"profiler overhead: not measured (no plain run; {duration(self.wall_profiled_s)} profiled)"
        walls = f"{duration(self.wall_profiled_s)} profiled vs {duration(self.wall_plain_s)} plain"
        if self.pairs:
            n = len(self.pairs)
            how = (f"median of {n} pairs, each a plain and a profiled run back to back in the same state"
                   if n > 1 else "one plain and one profiled run back to back in the same state")
        else:
            how = "against the comparison's plain runs, not paired"
        line = f"profiler overhead: {pct:+.1f} % wall ({how}; {walls})"
        each = [100.0 * (b / a - 1.0) for a, b in self.pairs if a > 0]
        if pct < 0:
            line += " — negative: noise, the profiler's cost is below what this machine resolves here"
        elif len(each) > 1 and min(each) < 0 < max(each):
            line += f" — within noise (pairs from {min(each):+.1f} % to {max(each):+.1f} %)"
        return line

    @property
    def window_line(self) -> str:
        """What the top frames cover, and the seconds shown apart."""
        inside = self.phases_s.get(RUN, 0.0)
        apart = ", ".join(f"{k} {duration(v)}" for k, v in self.phases_s.items() if k != RUN and v > 0)
        runs = (f" of {self.profiled_runs} profiled runs, summed ({duration(inside / self.profiled_runs)} a run)"
                if self.profiled_runs > 1 else "")
        return (f"profile window: the run (perfkit/runner/run.py execute), {duration(inside)} sampled{runs}"
                + (f"; outside it, shown apart: {apart}" if apart else ""))

    @property
    def header(self) -> str:
        c = self.config
        return "\n".join([
            f"perfkit profile: {self.profiler} ({self.settings}; {self.sample_count} samples)",
            f"run: solver={c.solver} tasks={c.tasks} strategy={c.strategy} backend={c.backend} "
            f"workers={c.workers}",
            self.window_line,
            self.overhead_line,
        ])

    def top_table(self, n: int = DEFAULT_TOP) -> str:
        if self.profiler == "pyinstrument":
            what = "CPU in the run window; off-CPU time excluded"
        elif self.idle_included:
            what = "samples in the run window; idle threads included"
        else:
            what = f"samples in the run window; waiting frames excluded ({duration(self.waiting_s)})"
        what += "; library time charged to the code that called it"
        lines = [f"top frames by self time ({what}):",
                 f"{'self':>9} {'share':>7}  {'function':<32} where"]
        for f in self.top_frames[:n]:
            lines.append(f"{duration(f.self_s):>9} {100 * f.share:6.1f}%  {f.function:<32} {f.where}")
        if not self.top_frames:
            lines.append("  (no samples: the run was too short for the sampling interval)")
        return "\n".join(lines)

    def lanes_table(self) -> str:
        kind = "thread" if self.profiler == "pyinstrument" else "process/thread"
        lines = [f"{'sampled':>10} {'cpu':>9}  {kind}"]
        for lane in self.lanes:
            cpu = "–" if lane.cpu_s is None else duration(lane.cpu_s)
            role = f" ({lane.role})" if lane.role else ""
            lines.append(f"{duration(lane.sampled_s):>10} {cpu:>9}  {lane.name}{role}")
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
            "pairs": [{"plain_s": a, "profiled_s": b} for a, b in self.pairs], "phases_s": self.phases_s,
            "waiting_s": self.waiting_s, "overhead_line": self.overhead_line, "profiled_runs": self.profiled_runs,
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


def labelled(config: RunConfig, suffix: str) -> RunConfig:
    """The config with ``suffix`` appended to its label (the profiled and the plain run)."""
    return dataclasses.replace(config, label=f"{config.label}-{suffix}" if config.label else suffix)


def run_wall_s(path: Path) -> float:
    """The wall seconds of a stored run."""
    from perfkit.store import load_run

    return float(load_run(path).summary.wall_s)


