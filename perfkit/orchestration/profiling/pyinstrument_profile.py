"""The pyinstrument profiler: an in-process run with every thread sampled."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from perfkit.model import RunConfig, Task
from perfkit.orchestration.profiling.result import FrameStat, LaneStat, ProfileResult, labelled, run_wall_s
from perfkit.orchestration.profiling.sampler import OFF_CPU_FUNCTION, THREAD_FILE, AllThreadsSampler


def top_frames(session: Any, n: Optional[int] = None) -> list[FrameStat]:
    """Functions by self time, computed from the session's frame tree.

    A function's self time is summed over every node of the tree that is that function (every
    call path, every thread); the ``[off-CPU]`` leaves and the per-thread root frames are left
    out, so the figures are CPU seconds and the shares are of all on-CPU samples.
    """
    from pyinstrument.frame_ops import build_frame_tree

    root = build_frame_tree(session.frame_records, context=session)
    if root is None:
        return []
    totals: dict[tuple[str, str, int], float] = {}
    stack = [root]
    while stack:
        frame = stack.pop()
        stack.extend(frame.children)
        if frame.is_synthetic or frame.function == OFF_CPU_FUNCTION or frame.file_path in (THREAD_FILE, None):
            continue
        self_s = frame.total_self_time
        if self_s > 0:
            key = (frame.function, frame.file_path or "", frame.line_no or 0)
            totals[key] = totals.get(key, 0.0) + self_s
    on_cpu = sum(totals.values()) or 1.0
    ranked = sorted(totals.items(), key=lambda kv: -kv[1])
    if n is not None:
        ranked = ranked[:n]
    return [FrameStat(fn, file, line, s, s / on_cpu) for (fn, file, line), s in ranked]


def write_reports(session: Any, out: Path) -> dict[str, Path]:
    """HTML, text (call tree), speedscope JSON and the raw session (which pyinstrument can load again)."""
    from pyinstrument.renderers import ConsoleRenderer, HTMLRenderer, SpeedscopeRenderer

    files = {"html": out / "profile.html", "text": out / "profile.txt",
             "speedscope": out / "profile.speedscope.json", "session": out / "profile.pyisession"}
    files["html"].write_text(HTMLRenderer().render(session), encoding="utf-8")
    files["text"].write_text(ConsoleRenderer(unicode=True, color=False).render(session), encoding="utf-8")
    files["speedscope"].write_text(SpeedscopeRenderer().render(session), encoding="utf-8")
    session.save(files["session"])
    return files


def profile_in_process(config: RunConfig, out: Path, runs: Path, tasks: Optional[list[Task]], baseline: bool,
                       interval: float, top: int, observer: Any = None) -> ProfileResult:
    from perfkit import runner

    plain_path = None
    if baseline:
        plain_path = runner.run(labelled(config, "plain"), runs, observer=observer, tasks=tasks).path
    sampler = AllThreadsSampler(interval, target_description=f"perfkit run {config.solver} {config.strategy}/"
                                                             f"{config.backend}")
    sampler.start()
    try:
        path = runner.run(labelled(config, "pyinstrument"), runs, observer=observer, tasks=tasks).path
    finally:
        session = sampler.stop()
    files = write_reports(session, out)
    lanes = [LaneStat(name, wall, sampler.thread_cpu.get(name)) for name, wall in
             sorted(sampler.thread_wall.items(), key=lambda kv: -sampler.thread_cpu.get(kv[0], 0.0))]
    return ProfileResult(
        profiler="pyinstrument", config=config, out_dir=out, files=files, run_path=path,
        plain_run_path=plain_path, wall_profiled_s=run_wall_s(path),
        wall_plain_s=run_wall_s(plain_path) if plain_path else None,
        top_frames=top_frames(session, None), lanes=lanes, sample_count=session.sample_count,
        settings=f"every thread sampled every {interval * 1e3:g} ms")
