"""Profiling inside the workers: where does the CPU go, in every worker, under every strategy.

Two profilers, one result type::

    import perfkit
    result = perfkit.profile(perfkit.RunConfig(solver="arc", tasks="arc1-training:2"),
                             profiler="pyinstrument")
    print(result.header)            # includes "profiler overhead: +x % wall (... profiled vs ... plain)"
    result.top_frames[:5]           # [FrameStat(function="rot90", file=".../arc/dsl.py", ...), ...]

- ``pyinstrument``: the run happens in this process (``inline`` or ``thread`` backend) while
  every thread is sampled (see :mod:`perfkit.orchestration.profiling.sampler` for why pyinstrument's own
  Profiler is not enough); writes HTML, text, speedscope JSON and the raw session.
- ``py-spy``: the run happens in a child process launched *by* py-spy
  (``py-spy record --subprocesses``), so py-spy may ptrace it and every process it forks
  (process-backend workers included) without extra privilege; writes speedscope JSON, folded
  stacks and a flamegraph SVG converted from the same samples (one run, not two).

The same run config also runs without the profiler, in pairs back to back with the profiled
runs, so the overhead is measured, not guessed; the top frames cover the run window only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional, Sequence

from perfkit.model import ConfigError, RunConfig, Task
from perfkit.orchestration.profiling.result import (
    DEFAULT_PAIRS,
    DEFAULT_TOP,
    IN_PROCESS_BACKENDS,
    PROFILERS,
    FrameStat,
    LaneStat,
    ProfileResult,
    default_out_dir,
    short_path,
)
from perfkit.runner import check
from perfkit.store.folder import output_folder


def profile(config: RunConfig, profiler: str = "pyinstrument", out_dir: str | Path | None = None, *,
            tasks: Optional[Sequence[Task]] = None, store_dir: str | Path | None = None,
            baseline: bool = True, plain_wall_s: Optional[float] = None, pairs: int = DEFAULT_PAIRS,
            interval: float = 0.001, rate: int = 200, gil: bool = False, idle: bool = False,
            nonblocking: bool = False, top: int = DEFAULT_TOP, observer: Any = None) -> ProfileResult:
    """Run ``config`` under ``profiler`` and write the profile to ``out_dir``.

    ``out_dir`` defaults to ``reports/profiles/<timestamp>/``; the runs themselves are stored in
    ``store_dir`` (default ``<out_dir>/runs``). Unless ``baseline=False`` or ``plain_wall_s`` is
    given (a wall already measured on the same config, e.g. by ``compare``: then not paired), the
    overhead is measured on ``pairs`` pairs of a plain and a profiled run made back to back in the
    same state (tasks and solver loaded once first), in alternating order; it is the median of
    the pairs' wall ratios. The top frames cover the run window only
    (perfkit/orchestration/profiling/window.py): imports, dataset loading, calibration and the
    store's writing are shown apart with their seconds.
    ``tasks`` overrides ``config.tasks`` as in :func:`perfkit.runner.run`.

    pyinstrument: ``interval`` (seconds between samples). py-spy: ``rate`` (samples per second),
    ``gil`` (only samples holding the GIL), ``idle`` (include idle threads), ``nonblocking``
    (do not pause the process to sample: less overhead, less accurate).
    """
    if profiler not in PROFILERS:
        raise ConfigError("profiler", profiler, f"expected one of {', '.join(PROFILERS)}")
    if profiler == "pyinstrument":
        if config.backend not in IN_PROCESS_BACKENDS:
            raise ConfigError(
                "profiler", profiler, f"pyinstrument sees only this process, but the {config.backend} backend runs "
                f"the units in other processes: use py-spy (it records the whole process tree), or the "
                f"{' or '.join(IN_PROCESS_BACKENDS)} backend")
        if gil or idle or nonblocking:
            raise ConfigError("profiler", profiler, "gil, idle and nonblocking are py-spy settings: use py-spy")
    check(config)  # every value valid before the output folder is made
    # absolute, taken once: a solver's chdir during the run cannot move the output
    out = output_folder((Path(out_dir) if out_dir is not None else default_out_dir()).absolute(), "profile folder")
    runs = Path(store_dir).absolute() if store_dir is not None else out / "runs"
    tasks = list(tasks) if tasks is not None else None
    if profiler == "pyinstrument":
        from perfkit.orchestration.profiling.pyinstrument_profile import profile_in_process

        result = profile_in_process(config, out, runs, tasks, pairs if baseline and plain_wall_s is None else 0,
                                    interval, top, observer)
    else:
        from perfkit.orchestration.profiling.pyspy_profile import profile_with_pyspy

        result = profile_with_pyspy(config, out, runs, tasks, pairs if baseline and plain_wall_s is None else 0,
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


__all__ = ["FrameStat", "LaneStat", "PROFILERS", "ProfileResult", "profile", "short_path"]
