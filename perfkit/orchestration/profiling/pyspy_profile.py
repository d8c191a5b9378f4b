"""The py-spy profiler: the whole process tree of a run, sampled from outside.

py-spy *launches* the run (``py-spy record --subprocesses -- python -m perfkit.orchestration.profiling.child``),
so the run and every process it forks (the forkserver, the process-backend workers) are
py-spy's descendants: with the default Yama setting (``ptrace_scope`` 1) a process may ptrace
its descendants, so no root and no ``sysctl`` are needed on an ordinary Linux box. Containers
that drop ``CAP_SYS_PTRACE`` or whose seccomp profile blocks ``process_vm_readv``/``ptrace``
still refuse; that error is recognised and explained.

The flamegraph SVG is *converted* from the speedscope samples of the same run (folded stacks →
SVG, :func:`flamegraph_svg`), not recorded by a second run: one run, so the SVG, the JSON and
the top frames all describe the same samples, and the profiled wall is measured once. The
folded stacks are written too (``profile.folded``), for ``flamegraph.pl`` or ``inferno``.
"""

from __future__ import annotations

import html
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any, Optional

from perfkit.model import PerfkitError, RunConfig, Task
from perfkit.orchestration.profiling.result import FrameStat, LaneStat, ProfileResult, labelled, run_wall_s, short_path

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
                  target: list[str]) -> list[str]:
    cmd = [pyspy, "record", "--subprocesses", "--format", "speedscope", "--output", str(output),
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


def profile_with_pyspy(config: RunConfig, out: Path, runs: Path, tasks: Optional[list[Task]], baseline: bool,
                       rate: int, gil: bool, idle: bool, nonblocking: bool, top: int) -> ProfileResult:
    pyspy = find_pyspy()
    runs.mkdir(parents=True, exist_ok=True)
    tasks_pickle = None
    if tasks is not None:
        tasks_pickle = out / "tasks.pickle"
        with open(tasks_pickle, "wb") as fh:
            pickle.dump(tasks, fh)
    env = dict(os.environ, PERFKIT_PROGRESS="0")

    plain_path = None
    if baseline:  # the same child, without py-spy: a fresh process like the profiled one
        cmd, result = _child(out, "plain", labelled(config, "plain"), runs, tasks_pickle)
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        plain_path = Path(_read_child(result, proc, "plain run")["run_path"])

    speedscope = out / "profile.speedscope.json"
    speedscope.unlink(missing_ok=True)
    target, result = _child(out, "pyspy", labelled(config, "py-spy"), runs, tasks_pickle)
    cmd = pyspy_command(pyspy, speedscope, rate, gil, idle, nonblocking, target)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    (out / "py-spy.log").write_text(f"$ {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}", encoding="utf-8")
    if proc.returncode != 0 or not speedscope.exists():
        detail = _ptrace_refused(proc.stderr + "\n" + proc.stdout)
        if detail is not None:
            raise PerfkitError(PTRACE_FIX.format(detail=detail))
        if not speedscope.exists():
            tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-4:])
            raise PerfkitError(f"py-spy failed (exit status {proc.returncode}): {tail or 'no output'}; "
                               f"see {out / 'py-spy.log'}")
    child = _read_child(result, proc, "profiled run")
    path = Path(child["run_path"])
    parent_pid = int(child["pid"])
    workers = _worker_pids(path)

    data = json.loads(speedscope.read_text(encoding="utf-8"))
    folded, lanes, sample_count = fold(data, parent_pid, workers)
    files = {"speedscope": speedscope, "folded": out / "profile.folded", "svg": out / "profile.svg",
             "text": out / "profile.txt", "log": out / "py-spy.log"}
    files["folded"].write_text("".join(f"{';'.join(s)} {max(1, round(w * rate))}\n" for s, w in folded.items()),
                               encoding="utf-8")
    title = f"perfkit {config.solver} {config.strategy}/{config.backend} w{config.workers} (py-spy, {rate} Hz)"
    files["svg"].write_text(flamegraph_svg(folded, title), encoding="utf-8")
    files["text"].write_text(f"py-spy: {' '.join(cmd)}\n\nflamegraph: {files['svg']}\n"
                             f"speedscope: {speedscope} (open at https://www.speedscope.app)\n", encoding="utf-8")
    flags = ", ".join(f for f, on in (("GIL holders only", gil), ("idle threads included", idle),
                                       ("without pausing the processes", nonblocking)) if on)
    return ProfileResult(
        profiler="py-spy", config=config, out_dir=out, files=files, run_path=path, plain_run_path=plain_path,
        wall_profiled_s=run_wall_s(path), wall_plain_s=run_wall_s(plain_path) if plain_path else None,
        top_frames=top_frames_speedscope(data), lanes=lanes, sample_count=sample_count,
        settings=f"process tree sampled at {rate} Hz{'; ' + flags if flags else ''}",
        parent_pid=parent_pid, worker_pids=sorted(workers))


def _worker_pids(run_path: Path) -> set[int]:
    """Pids of the process-backend workers that ran units (their worker ids are ``pid-N``)."""
    from perfkit.store import load_run

    if not (run_path / "meta.json").exists():
        return set()
    workers = load_run(run_path).units["worker"].dropna().astype(str)
    return {int(w[4:]) for w in workers.unique() if w.startswith("pid-") and w[4:].isdigit()}


def _role(pid: int, parent_pid: int, workers: set[int]) -> str:
    return "parent" if pid == parent_pid else "worker" if pid in workers else "child"


def _is_pseudo(frame: dict[str, Any]) -> bool:
    return bool(_PROCESS_FRAME.match(frame.get("name", ""))) and not frame.get("file")


def fold(data: dict[str, Any], parent_pid: int, workers: set[int]) -> tuple[dict[tuple[str, ...], float], list[LaneStat], int]:
    """Speedscope (py-spy) → folded stacks ``process;thread;frames...`` → seconds, and per-lane totals."""
    frames = data["shared"]["frames"]
    labels = []
    for f in frames:
        if _is_pseudo(f):
            labels.append(None)  # py-spy's process-ancestry frames: replaced by one readable lane frame
        else:
            where = short_path(f.get("file") or "")
            labels.append(f"{f['name']} ({where})" if where else f["name"])
    folded: dict[tuple[str, ...], float] = {}
    lanes: list[LaneStat] = []
    count = 0
    for prof in data["profiles"]:
        m = _PROFILE_NAME.match(prof.get("name", ""))
        pid, thread = (int(m.group(1)), m.group(3) or m.group(2)) if m else (0, prof.get("name", "?"))
        role = _role(pid, parent_pid, workers)
        head = (f"process {pid} ({role})", f"thread {thread}")
        total = 0.0
        for stack, w in zip(prof["samples"], prof["weights"]):
            key = head + tuple(labels[i] for i in stack if labels[i] is not None)
            folded[key] = folded.get(key, 0.0) + w
            total += w
            count += 1
        lanes.append(LaneStat(f"pid {pid} {thread}", total, None, pid, role))
    lanes.sort(key=lambda lane: -lane.sampled_s)
    return folded, lanes, count


def top_frames_speedscope(data: dict[str, Any]) -> list[FrameStat]:
    """Functions by self time: the leaf frame of every sample, summed by (function, file)."""
    frames = data["shared"]["frames"]
    totals: dict[tuple[str, str], float] = {}
    lines: dict[tuple[str, str], int] = {}
    for prof in data["profiles"]:
        for stack, w in zip(prof["samples"], prof["weights"]):
            real = [i for i in stack if not _is_pseudo(frames[i])]
            if not real:
                continue
            f = frames[real[-1]]
            key = (f["name"], f.get("file") or "")
            totals[key] = totals.get(key, 0.0) + w
            line = f.get("line") or 0
            lines[key] = min(lines.get(key, line), line) if line else lines.get(key, 0)
    all_s = sum(totals.values()) or 1.0
    ranked = sorted(totals.items(), key=lambda kv: -kv[1])
    return [FrameStat(fn, file, lines.get((fn, file), 0), s, s / all_s) for (fn, file), s in ranked]


def flamegraph_svg(folded: dict[tuple[str, ...], float], title: str, width: int = 1200, row: int = 16) -> str:
    """A self-contained flamegraph (root at the bottom; hover a box for its time) of folded stacks."""
    tree: dict[str, Any] = {"value": 0.0, "children": {}}
    for stack, w in folded.items():
        node = tree
        node["value"] += w
        for name in stack:
            node = node["children"].setdefault(name, {"value": 0.0, "children": {}})
            node["value"] += w
    total = tree["value"] or 1.0

    def depth(node: dict[str, Any]) -> int:
        return 1 + max((depth(c) for c in node["children"].values()), default=0)

    levels = depth(tree) - 1
    pad_top, pad = 40, 10
    height = pad_top + levels * row + pad
    scale = (width - 2 * pad) / total
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="Verdana, sans-serif" font-size="11">',
             f'<rect width="100%" height="100%" fill="#f8f8f8"/>',
             f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="15">{html.escape(title)}</text>']

    def colour(name: str) -> str:
        h = zlib.crc32(name.encode())
        if name.startswith(("process ", "thread ")):
            return "rgb(190,190,210)"
        if "perfkit/solvers" in name:
            return f"rgb({200 + h % 55},{90 + (h >> 8) % 80},{40 + (h >> 16) % 40})"
        return f"rgb({220 + h % 35},{150 + (h >> 8) % 80},{40 + (h >> 16) % 50})"

    def draw(node: dict[str, Any], x: float, level: int) -> None:
        for name, child in sorted(node["children"].items()):
            w = child["value"] * scale
            if w >= 0.3:
                y = height - pad - (level + 1) * row
                label = html.escape(name)
                chars = int(w / 7)
                text = html.escape(name if len(name) <= chars else name[:max(0, chars - 2)] + "..") if chars >= 3 else ""
                parts.append(f'<g><title>{label}: {child["value"]:.3f} s ({100 * child["value"] / total:.1f} %)'
                             f'</title><rect x="{x:.2f}" y="{y}" width="{w:.2f}" height="{row - 1}" '
                             f'fill="{colour(name)}" rx="2"/>'
                             + (f'<text x="{x + 3:.2f}" y="{y + row - 4}">{text}</text>' if text else "") + "</g>")
                draw(child, x, level + 1)
            x += w

    draw(tree, float(pad), 0)
    parts.append("</svg>")
    return "\n".join(parts)
