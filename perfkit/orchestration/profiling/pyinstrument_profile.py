"""The pyinstrument profiler: an in-process run with every thread sampled."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any, Optional

from perfkit.model import RunConfig, Task
from perfkit.orchestration.profiling.result import FrameStat, LaneStat, ProfileResult, labelled, run_wall_s
from perfkit.orchestration.profiling.sampler import OFF_CPU_FUNCTION, AllThreadsSampler
from perfkit.orchestration.profiling.window import PHASES, RUN, charged_frame, phase_of

#: Names of the thread backend's worker threads (perfkit/backends/thread.py).
WORKER_THREAD_PREFIX = "perfkit-thread-"


def top_frames(session: Any, n: Optional[int] = None) -> list[FrameStat]:
    """Functions by self time: each on-CPU sample charged to its deepest frame outside the
    libraries (perfkit/orchestration/profiling/window.py ``charged_frame``), summed over every
    call path and thread; the ``[off-CPU]`` parts and the per-thread root frames are left out, so
    the figures are CPU seconds and the shares are of all on-CPU samples."""
    totals: dict[tuple[str, str, int], float] = {}
    for stack, seconds in session.frame_records:
        infos = [info.split("\x00") for info in stack[1:]]  # stack[0]: the thread's root frame
        if not infos or infos[-1][0] == OFF_CPU_FUNCTION:
            continue
        frames = [(p[0], p[1] if len(p) > 1 else "") for p in infos]
        i = charged_frame(frames)
        line = infos[i][2].split("\x01", 1)[0] if len(infos[i]) > 2 else "0"
        key = (frames[i][0], frames[i][1], int(line) if line.isdigit() else 0)
        totals[key] = totals.get(key, 0.0) + seconds
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


def _frames(stack: Any) -> list[tuple[str, str]]:
    """A pyinstrument stack ("function\\x00file\\x00line..." strings) as (function, file)."""
    out = []
    for info in stack:
        parts = info.split("\x00")
        out.append((parts[0], parts[1] if len(parts) > 1 else ""))
    return out


def in_window(session: Any) -> tuple[Any, dict[str, float]]:
    """The session cut to the run's samples (perfkit/orchestration/profiling/window.py), and the
    on-CPU seconds of every phase. The thread backend's workers (threads named ``perfkit-...``)
    are the run's; other threads (a library's pool writing the store) are judged by their stack."""
    from pyinstrument.session import Session

    phases = dict.fromkeys(PHASES, 0.0)
    kept = []
    for stack, seconds in session.frame_records:
        frames = _frames(stack)
        off = frames[-1][0] == OFF_CPU_FUNCTION
        worker = stack[0].startswith(WORKER_THREAD_PREFIX)
        phase = phase_of(frames[:-1] if off else frames, worker)
        if not off:
            phases[phase] += seconds
        if phase == RUN:
            kept.append((stack, seconds))
    window = Session(frame_records=kept, start_time=session.start_time, duration=session.duration,
                     min_interval=session.min_interval, max_interval=session.max_interval,
                     sample_count=session.sample_count, start_call_stack=session.start_call_stack,
                     target_description=session.target_description, cpu_time=session.cpu_time,
                     sys_path=session.sys_path, sys_prefixes=session.sys_prefixes)
    return window, phases


def profile_in_process(config: RunConfig, out: Path, runs: Path, tasks: Optional[list[Task]], pairs: int,
                       interval: float, top: int, observer: Any = None) -> ProfileResult:
    """``pairs`` pairs of a plain and a profiled run, back to back, in alternating order (plain
    first, then profiled first, ...), after the tasks and the solver are loaded and one warm-up
    run has run: every run of a pair starts in the same state. Zero pairs: one profiled run."""
    from pyinstrument.session import Session

    from perfkit import runner
    from perfkit.solvers import load_solver
    from perfkit.tasks import load_tasks

    if tasks is None:  # loaded once, outside every run: no dataset loading in any run
        tasks = load_tasks(config.tasks)
    load_solver(config.solver, config.solver_options)
    if pairs:  # a first run in this process pays lazy imports and cold caches: not one of the pair
        runner.run(labelled(config, "warm-up"), runs, observer=observer, tasks=tasks)
    samplers = []
    sessions, walls, plain_path, path = [], [], None, None
    for i in range(max(1, pairs)):
        order = ("profiled",) if not pairs else ("plain", "profiled") if i % 2 == 0 else ("profiled", "plain")
        pair: dict[str, float] = {}
        for kind in order:
            if kind == "plain":
                plain_path = runner.run(labelled(config, "plain"), runs, observer=observer, tasks=tasks).path
                pair[kind] = run_wall_s(plain_path)
                continue
            sampler = AllThreadsSampler(interval, target_description=f"perfkit run {config.solver} "
                                                                     f"{config.strategy}/{config.backend}")
            samplers.append(sampler)
            sampler.start()
            try:
                path = runner.run(labelled(config, "pyinstrument"), runs, observer=observer, tasks=tasks).path
            finally:
                sessions.append(sampler.stop())
            pair[kind] = run_wall_s(path)
        if pairs:
            walls.append((pair["plain"], pair["profiled"]))
    session = sessions[0]
    for more in sessions[1:]:
        session = Session.combine(session, more)
    window, phases = in_window(session)
    files = write_reports(window, out)
    # the frames sum every profiled run's samples, so do the threads (networkx: frames of 38.2 s
    # under a thread table of one run's 22.1 s)
    wall_of: dict[str, float] = {}
    cpu_of: dict[str, float] = {}
    for one in samplers:
        for name, wall in one.thread_wall.items():
            wall_of[name] = wall_of.get(name, 0.0) + wall
        for name, cpu in one.thread_cpu.items():
            cpu_of[name] = cpu_of.get(name, 0.0) + cpu
    lanes = [LaneStat(name, wall, cpu_of.get(name)) for name, wall in
             sorted(wall_of.items(), key=lambda kv: -cpu_of.get(kv[0], 0.0))]
    return ProfileResult(
        profiler="pyinstrument", config=config, out_dir=out, files=files, run_path=path,
        plain_run_path=plain_path, wall_profiled_s=statistics.median(b for _, b in walls) if walls else run_wall_s(path),
        wall_plain_s=statistics.median(a for a, _ in walls) if walls else None,
        top_frames=top_frames(window, None), lanes=lanes, sample_count=session.sample_count,
        settings=f"every thread sampled every {interval * 1e3:g} ms", pairs=walls, phases_s=phases,
        profiled_runs=len(sessions))
