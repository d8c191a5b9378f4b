"""The py-spy profiler: the whole process tree of a run, sampled from outside.

py-spy *launches* the run (``py-spy record --subprocesses -- python -m perfkit.orchestration.profiling.child``),
so the run and every process it forks (the forkserver, the process-backend workers) are
py-spy's descendants: with the default Yama setting (``ptrace_scope`` 1) a process may ptrace
its descendants, so no root and no ``sysctl`` are needed on an ordinary Linux box. Containers
that drop ``CAP_SYS_PTRACE`` or whose seccomp profile blocks ``process_vm_readv``/``ptrace``
still refuse; that error is recognised and explained.

The profiled runs alternate with plain ones (the overhead is paired, perfkit/orchestration/
profiling/result.py): the first records speedscope JSON, from which the top frames, lanes and
the folded stacks of the run window (``profile.folded``, for ``flamegraph.pl`` or ``inferno``)
are computed; the next records py-spy's own interactive flamegraph SVG (zoom, search). Samples
outside the run window and waiting frames are counted apart
(perfkit/orchestration/profiling/window.py).
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

from perfkit.model import PerfkitError, RunConfig, Task
from perfkit.orchestration.profiling.result import FrameStat, LaneStat, ProfileResult, labelled, run_wall_s, short_path
from perfkit.orchestration.profiling.window import PHASES, RUN, charged_frame, is_waiting, phase_of

#: py-spy's messages when the kernel refuses to let it read another process.
PTRACE_REFUSED = re.compile(
    r"permission denied|operation not permitted|SYS_PTRACE|elevated permissions|ptrace|EPERM|os error 1\b",
    re.IGNORECASE)
PTRACE_FIX = (
    "py-spy could not read the run's processes: the platform refuses ptrace ({detail}). Fix one of: "
    "run perfkit as root; allow ptrace with `sudo sysctl kernel.yama.ptrace_scope=1` (0 also lets "
    "non-descendants be traced); in a container, start it with `--cap-add SYS_PTRACE` (docker/podman) "
    "or securityContext.capabilities.add: [SYS_PTRACE] (Kubernetes); or profile in-process with "
    "the pyinstrument profiler on the thread backend")
_PROFILE_NAME = re.compile(r'^Process (\d+) Thread (\d+)(?: "(.*)")?')
_PROCESS_FRAME = re.compile(r"^process (\d+):")


def find_pyspy() -> str:
    """py-spy next to this interpreter (the venv's bin) first, then on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("py-spy")
    if found:
        return found
    raise PerfkitError(f"py-spy: no py-spy next to {sys.executable} nor on PATH: "
                       f"install it with `{sys.executable} -m pip install py-spy`")


def pyspy_command(pyspy: str, output: Path, rate: int, gil: bool, idle: bool, nonblocking: bool,
                  target: list[str], fmt: str = "speedscope") -> list[str]:
    """``py-spy record`` of ``target`` and its subprocesses into ``output`` in format ``fmt``."""
    cmd = [pyspy, "record", "--subprocesses", "--format", fmt, "--output", str(output),
           "--rate", str(rate)]
    cmd += ["--gil"] if gil else []
    cmd += ["--idle"] if idle else []
    cmd += ["--nonblocking"] if nonblocking else []
    return cmd + ["--"] + target


def _child(out: Path, name: str, config: RunConfig, runs: Path, tasks_pickle: Optional[Path]) -> tuple[list[str], Path]:
    result = out / f"{name}.result.json"
    result.unlink(missing_ok=True)
    spec = out / f"{name}.spec.json"
    spec.write_text(json.dumps({"config": config.to_record(), "store": str(runs.resolve()), "result": str(result),
                                "tasks_pickle": str(tasks_pickle) if tasks_pickle else None}), encoding="utf-8")
    return [sys.executable, "-m", "perfkit.orchestration.profiling.child", str(spec)], result


def _read_child(result: Path, proc: subprocess.CompletedProcess, what: str) -> dict[str, Any]:
    if not result.exists():
        tail = "\n".join((proc.stderr or "").strip().splitlines()[-6:])
        raise PerfkitError(f"{what}: the run did not finish (exit status {proc.returncode}): {tail or 'no output'}")
    data = json.loads(result.read_text(encoding="utf-8"))
    if "error" in data:
        raise PerfkitError(data["error"])
    return data


def _ptrace_refused(text: str) -> Optional[str]:
    for line in text.splitlines():
        if PTRACE_REFUSED.search(line):
            return line.strip().removeprefix("Error:").strip()
    return None


def _run_child(out: Path, kind: str, config: RunConfig, runs: Path, tasks_pickle: Optional[Path],
               env: dict[str, str], pyspy_cmd: Optional[list[str]] = None) -> Path:
    """One run in a fresh child process (under py-spy when ``pyspy_cmd`` is its command up to
    ``--``); returns its run folder and the child's result file. Every run of a profile starts in the same state: a new
    process that loads the tasks and the solver itself."""
    target, result = _child(out, kind, labelled(config, "plain" if pyspy_cmd is None else "py-spy"), runs,
                            tasks_pickle)
    cmd = target if pyspy_cmd is None else [*pyspy_cmd, "--", *target]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if pyspy_cmd is not None:
        with open(out / "py-spy.log", "a", encoding="utf-8") as log:
            log.write(f"$ {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}\n")
        output = Path(pyspy_cmd[pyspy_cmd.index("--output") + 1])
        if proc.returncode != 0 or not output.exists():
            detail = _ptrace_refused(proc.stderr + "\n" + proc.stdout)
            if detail is not None:
                raise PerfkitError(PTRACE_FIX.format(detail=detail))
            if not output.exists():
                tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-4:])
                raise PerfkitError(f"py-spy failed (exit status {proc.returncode}): {tail or 'no output'}; "
                                   f"see {out / 'py-spy.log'}")
    return Path(_read_child(result, proc, f"{kind} run")["run_path"]), result


def profile_with_pyspy(config: RunConfig, out: Path, runs: Path, tasks: Optional[list[Task]], pairs: int,
                       rate: int, gil: bool, idle: bool, nonblocking: bool, top: int) -> ProfileResult:
    """``pairs`` pairs of a plain and a profiled run (alternating order), each run a fresh child
    process. The first profiled run records speedscope JSON (the top frames, lanes and folded
    stacks come from it), the next py-spy's own interactive flamegraph SVG (an extra run when
    there is no second pair); both count in the overhead."""
    pyspy = find_pyspy()
    runs.mkdir(parents=True, exist_ok=True)
    (out / "py-spy.log").unlink(missing_ok=True)
    tasks_pickle = None
    if tasks is not None:
        tasks_pickle = out / "tasks.pickle"
        with open(tasks_pickle, "wb") as fh:
            pickle.dump(tasks, fh)
    env = dict(os.environ, PERFKIT_PROGRESS="0")
    speedscope, svg = out / "profile.speedscope.json", out / "profile.svg"
    for f in (speedscope, svg):
        f.unlink(missing_ok=True)
    formats = iter([("speedscope", speedscope), ("flamegraph", svg)])
    walls, plain_path, path, parent = [], None, None, None

    def profiled() -> float:
        nonlocal path, parent
        fmt, output = next(formats, ("speedscope", out / "profile.extra.json"))
        cmd = pyspy_command(pyspy, output, rate, gil, idle, nonblocking, [], fmt)[:-1]
        run_path, result = _run_child(out, f"pyspy-{fmt}", config, runs, tasks_pickle, env, cmd)
        if fmt == "speedscope":
            path, parent = run_path, int(json.loads(result.read_text(encoding="utf-8"))["pid"])
        return run_wall_s(run_path)

    for i in range(max(1, pairs)):
        pair: dict[str, float] = {}
        order = ("profiled",) if not pairs else ("plain", "profiled") if i % 2 == 0 else ("profiled", "plain")
        for kind in order:
            if kind == "plain":
                plain_path, _ = _run_child(out, "plain", config, runs, tasks_pickle, env)
                pair[kind] = run_wall_s(plain_path)
            else:
                pair[kind] = profiled()
        if pairs:
            walls.append((pair["plain"], pair["profiled"]))
    if not svg.exists():  # py-spy's own interactive flamegraph: one more profiled run
        profiled()

    workers = _worker_pids(path)
    data = json.loads(speedscope.read_text(encoding="utf-8"))
    samples = classify(data, parent, workers, idle)
    folded, lanes, sample_count = fold(data, parent, workers, samples)
    files = {"speedscope": speedscope, "svg": svg, "folded": out / "profile.folded", "text": out / "profile.txt",
             "log": out / "py-spy.log"}
    files["folded"].write_text("".join(f"{';'.join(s)} {max(1, round(w * rate))}\n" for s, w in folded.items()),
                               encoding="utf-8")
    files["text"].write_text(f"py-spy's interactive flamegraph (click to zoom, Ctrl-F to search): {svg}\n"
                             f"speedscope: {speedscope} (open at https://www.speedscope.app)\n"
                             f"folded stacks of the run window: {files['folded']}\n", encoding="utf-8")
    flags = ", ".join(f for f, on in (("GIL holders only", gil), ("idle threads included", idle),
                                       ("without pausing the processes", nonblocking)) if on)
    phases = dict.fromkeys(PHASES, 0.0)
    for phase, _, w, _ in samples:
        phases[phase] += w
    return ProfileResult(
        profiler="py-spy", config=config, out_dir=out, files=files, run_path=path, plain_run_path=plain_path,
        wall_profiled_s=statistics.median(b for _, b in walls) if walls else run_wall_s(path),
        wall_plain_s=statistics.median(a for a, _ in walls) if walls else None,
        top_frames=top_frames_speedscope(data, samples), lanes=lanes, sample_count=sample_count,
        settings=f"process tree sampled at {rate} Hz{'; ' + flags if flags else ''}",
        parent_pid=parent, worker_pids=sorted(workers), pairs=walls, phases_s=phases,
        waiting_s=sum(w for phase, waiting, w, _ in samples if phase == RUN and waiting), idle_included=idle)


def _worker_pids(run_path: Path) -> set[int]:
    """Pids of the process-backend workers that ran units (their worker ids are ``pid-N``)."""
    from perfkit.store import load_run

    if not (run_path / "meta.json").exists():
        return set()
    workers = load_run(run_path).units["worker"].dropna().astype(str)
    return {int(w[4:]) for w in workers.unique() if w.startswith("pid-") and w[4:].isdigit()}


def _is_pseudo(frame: dict[str, Any]) -> bool:
    return bool(_PROCESS_FRAME.match(frame.get("name", ""))) and not frame.get("file")


def classify(data: dict[str, Any], parent_pid: Optional[int], workers: set[int],
             idle: bool) -> list[tuple[str, bool, float, tuple[int, list[int]]]]:
    """Every sample as (phase, waiting, seconds, (profile index, its frames root → leaf)); a
    waiting sample counts as waiting only when idle threads were not asked for."""
    frames = data["shared"]["frames"]
    out = []
    for p, prof in enumerate(data["profiles"]):
        m = _PROFILE_NAME.match(prof.get("name", ""))
        pid = int(m.group(1)) if m else 0
        worker = pid in workers
        for stack, w in zip(prof["samples"], prof["weights"]):
            real = [i for i in stack if not _is_pseudo(frames[i])]
            pairs = [(frames[i]["name"], short_path(frames[i].get("file") or "")) for i in real]
            full = [(frames[i]["name"], frames[i].get("file") or "") for i in real]
            out.append((phase_of(full, worker), (not idle) and is_waiting(pairs), w, (p, real)))
    return out


def fold(data: dict[str, Any], parent_pid: Optional[int], workers: set[int],
         samples: list[tuple[str, bool, float, tuple[int, list[int]]]]
         ) -> tuple[dict[tuple[str, ...], float], list[LaneStat], int]:
    """The run window's samples as folded stacks ``process;thread;frames...`` → seconds, and
    per-lane totals (every sample)."""
    frames = data["shared"]["frames"]
    labels = []
    for f in frames:
        where = short_path(f.get("file") or "")
        labels.append(f"{f['name']} ({where})" if where else f["name"])
    heads, lanes = [], []
    for prof in data["profiles"]:
        m = _PROFILE_NAME.match(prof.get("name", ""))
        pid, thread = (int(m.group(1)), m.group(3) or m.group(2)) if m else (0, prof.get("name", "?"))
        role = _role(pid, parent_pid, workers)
        heads.append((f"process {pid} ({role})", f"thread {thread}"))
        lanes.append(LaneStat(f"pid {pid} {thread}", float(sum(prof["weights"])), None, pid, role))
    folded: dict[tuple[str, ...], float] = {}
    for phase, waiting, w, (p, real) in samples:
        if phase == RUN and not waiting:
            key = heads[p] + tuple(labels[i] for i in real)
            folded[key] = folded.get(key, 0.0) + w
    lanes.sort(key=lambda lane: -lane.sampled_s)
    return folded, lanes, len(samples)


def _role(pid: int, parent_pid: Optional[int], workers: set[int]) -> str:
    return "parent" if pid == parent_pid else "worker" if pid in workers else "child"


def top_frames_speedscope(data: dict[str, Any], samples: list[tuple[str, bool, float, tuple[int, list[int]]]]
                          ) -> list[FrameStat]:
    """Functions by self time in the run window: every sample of the ``run`` phase that is not
    waiting, charged to its deepest frame outside the libraries (``charged_frame``), summed by
    (function, file)."""
    frames = data["shared"]["frames"]
    totals: dict[tuple[str, str], float] = {}
    lines: dict[tuple[str, str], int] = {}
    for phase, waiting, w, (_, real) in samples:
        if phase != RUN or waiting or not real:
            continue
        f = frames[real[charged_frame([(frames[i]["name"], frames[i].get("file") or "") for i in real])]]
        key = (f["name"], f.get("file") or "")
        totals[key] = totals.get(key, 0.0) + w
        line = f.get("line") or 0
        lines[key] = min(lines.get(key, line), line) if line else lines.get(key, 0)
    all_s = sum(totals.values()) or 1.0
    ranked = sorted(totals.items(), key=lambda kv: -kv[1])
    return [FrameStat(fn, file, lines.get((fn, file), 0), s, s / all_s) for (fn, file), s in ranked]
