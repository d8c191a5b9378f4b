"""Instruction counts: a run measured under valgrind, exact enough to gate on a noisy machine.

The run executes in a fresh process (perfkit/orchestration/measured_run.py) under
``valgrind --tool=callgrind`` with ASLR off (``setarch -R``) and a fixed ``PYTHONHASHSEED``, so
the same code on the same build executes the same instructions (coefficient of variation ~1e-7
across runs, docs/benchmarks.md), whatever the machine's load or speed state. Callgrind, not
cachegrind: valgrind 3.19's cachegrind cannot start or stop counting inside a run, while
callgrind dumps its count whenever the process enters a marker function (``--dump-before``),
so the count splits per task, and starts uninstrumented (``--instr-atstart=no``) until the
process asks for instrumentation (a client request): only the runner's loop over its tasks is
instrumented, and interpreter start-up, imports, task loading, the run's set-up and teardown
are neither counted nor slowed by callgrind's instrumentation. Per candidate a dump is not
cheap: each writes a profile file, and a run has thousands of candidates. Cache simulation is
off (callgrind's default): only instructions are counted.

The process's environment and arguments are fixed in size (:func:`child_environment`): where
the stack starts depends on their length, and the stack's alignment changes which code paths
memcpy and friends take — a path two characters longer moved the count by 0.65 %
(docs/benchmarks.md) — so only a fixed set of variables is passed, padded to a constant total.

A counted process never writes bytecode (``PYTHONDONTWRITEBYTECODE=1``): what it does not find
cached it compiles, and compiling leaves a different heap behind than loading a cached file —
obmalloc's arena bookkeeping in ``_PyObject_Free`` then costs a different number of
instructions inside the counted window. Two counted runs started together that both could
write raced for each cache file, so which of them compiled what depended on timing: identical
runs differed by up to 1.2 % on a loaded machine (docs/benchmarks.md). The cache is written
beforehand by :func:`write_bytecode`, in a plain run allowed to write it whatever the caller's
environment says (a ``PYTHONDONTWRITEBYTECODE=1`` inherited from the caller's shell or CI image
had silently stopped it).

Under valgrind the run is 60–100× slower, so its per-unit timeout and budgets are multiplied
by :data:`TIMEOUT_SCALE` (no unit may time out because of the measurement); a run with a unit
that still timed out is refused, since a timeout changes the work done.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Optional, Sequence

from perfkit.model import PerfkitError, RunConfig, TimeoutPolicy
from perfkit.orchestration import callgrind_requests, measured_run
from perfkit.store.instructions import InstructionCount, write_instructions

#: Fixed hash seed: set and dict iteration orders, hence the work, are the same every run.
HASH_SEED = "0"
#: How much longer a unit may run under valgrind than the configuration allows.
TIMEOUT_SCALE = 100.0
#: The driver script every measured run executes.
DRIVER = Path(measured_run.__file__).resolve()
#: The driver of a run outside valgrind (a timing sample): DRIVER's run plus its run-queue wait.
TIMED_DRIVER = DRIVER.with_name("timed_run.py")
#: Bytes of argument and environment strings every counted process starts with (padded to).
STACK_STRINGS = 16384
#: The variables a counted process sees (besides PYTHONHASHSEED, PYTHONPATH and the padding).
KEPT_VARIABLES = ("PATH", "HOME")
PAD = "PERFKIT_STACK_PAD"


def child_environment(argv: Sequence[str], pythonpath: Optional[str]) -> dict[str, str]:
    """A fixed, minimal environment, padded so that arguments plus environment (plus the
    executable's name, which the loader copies too) always take STACK_STRINGS bytes."""
    env = {k: os.environ[k] for k in KEPT_VARIABLES if k in os.environ}
    env.update({"PYTHONHASHSEED": HASH_SEED, "LC_ALL": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"})
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    used = sum(len(a.encode()) + 1 for a in argv) + len(argv[0].encode()) + 1 + \
        sum(len(k.encode()) + len(v.encode()) + 2 for k, v in env.items()) + len(PAD) + 2
    if used > STACK_STRINGS:
        raise PerfkitError(f"the measured process's arguments and environment take {used} bytes, more than "
                           f"{STACK_STRINGS}: shorten PATH or the paths involved")
    env[PAD] = "x" * (STACK_STRINGS - used)
    return env


@dataclass(frozen=True)
class Target:
    """Code to measure: an interpreter and, for a base revision, the tree put first on
    ``PYTHONPATH`` (None: the code this interpreter imports)."""

    name: str
    python: str = sys.executable
    pythonpath: Optional[str] = None


def valgrind_version() -> str:
    """``valgrind-3.19.0``; a PerfkitError when valgrind is missing."""
    exe = shutil.which("valgrind")
    if exe is None:
        raise PerfkitError("valgrind: not installed; instruction counts need it (Debian package 'valgrind')")
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60)
    return out.stdout.strip()


def _hidden_marker(python: str) -> str:
    """Why no count of ``python`` can be split: its build hides the marker function."""
    return (f"callgrind sees no call of {measured_run.MARKER_FUNCTION} in {python}: this interpreter's build "
            "has no symbol for it (a stripped binary, as Debian's /usr/bin/python3 is), so the count cannot be "
            "cut at the run's markers; count with a Python built with its symbols (pyenv, python.org)")


def marker_refusal(python: str = sys.executable) -> Optional[str]:
    """Why instruction counts of ``python`` cannot be taken here (valgrind missing, or the marker
    function invisible to callgrind in this build), or None when they can: one call of the
    marker under callgrind must make one dump. Costs one interpreter start under valgrind (~2 s)."""
    try:
        valgrind_version()
    except PerfkitError as exc:
        return str(exc)
    with tempfile.TemporaryDirectory(prefix="perfkit-marker-") as tmp:
        out = Path(tmp) / "callgrind.out"
        probe = subprocess.run(["valgrind", "--tool=callgrind", f"--dump-before={measured_run.MARKER_FUNCTION}",
                                f"--callgrind-out-file={out}", "--quiet", python, "-I", "-S", "-c",
                                "import sys; sys.getswitchinterval()"],
                               capture_output=True, text=True, timeout=300)
        if probe.returncode != 0:
            return f"valgrind could not run {python}: {probe.stderr.strip()[-300:] or probe.returncode}"
        return None if out.with_name(out.name + ".1").exists() else _hidden_marker(python)


def _no_aslr() -> list[str]:
    """``setarch <machine> -R`` when it works here (a container may forbid the personality call)."""
    exe = shutil.which("setarch")
    if exe is None:
        return []
    probe = subprocess.run([exe, platform.machine(), "-R", "true"], capture_output=True, timeout=60)
    return [exe, platform.machine(), "-R"] if probe.returncode == 0 else []


def scaled(config: RunConfig, factor: float) -> RunConfig:
    """``config`` with its unit timeout and budgets multiplied by ``factor``."""
    t = config.timeout
    return replace(config, timeout=TimeoutPolicy(
        t.unit_timeout_s * factor,
        None if t.sample_budget_s is None else t.sample_budget_s * factor,
        None if t.task_budget_s is None else t.task_budget_s * factor))


def plain_environment(target: Target) -> dict[str, str]:
    """The environment of a run outside valgrind (timing samples, :func:`write_bytecode`): the
    environment matters less than the noise there, so the caller's, with the fixed hash seed,
    ``target``'s tree first on ``PYTHONPATH``, and bytecode writing allowed even when the
    caller forbids it (``PYTHONDONTWRITEBYTECODE``): such a run is what caches the bytecode
    that counted runs load instead of compiling."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONHASHSEED"] = HASH_SEED
    if target.pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (target.pythonpath, os.environ.get("PYTHONPATH")) if p)
    return env


@dataclass
class Child:
    """One measured run in flight (a process started by :func:`start`)."""

    target: Target
    process: subprocess.Popen
    folder: Path
    result_path: Path
    valgrind: Optional[str]
    command: list[str]

    def wait(self) -> dict[str, Any]:
        """Wait for the run; its result (run folder, seconds, markers, build; outside valgrind
        also ``queued_s``, perfkit/orchestration/timed_run.py)."""
        _, err = self.process.communicate()
        if self.process.returncode != 0 or not self.result_path.exists():
            tail = " | ".join(line for line in err.strip().splitlines()[-3:] if line)
            raise PerfkitError(f"{self.target.name}: the measured run failed (exit {self.process.returncode}): {tail}")
        return json.loads(self.result_path.read_text(encoding="utf-8"))


def start(target: Target, config: RunConfig, store: Path, folder: Path, *, valgrind: bool) -> Child:
    """Start one measured run of ``config`` by ``target`` into ``store``; ``folder`` holds its
    request, result and, under valgrind, the callgrind dumps."""
    folder.mkdir(parents=True, exist_ok=True)
    tasks_only = valgrind and callgrind_requests.available()
    request = {"config": (scaled(config, TIMEOUT_SCALE) if valgrind else config).to_record(),
               "store": str(Path(store).resolve()), "markers": valgrind, "build": valgrind,
               "instrument_tasks": tasks_only}
    request_path, result_path = folder / "request.json", folder / "result.json"
    request_path.write_text(json.dumps(request), encoding="utf-8")
    command = [target.python, str(DRIVER if valgrind else TIMED_DRIVER), str(request_path), str(result_path)]
    version = None
    env = child_environment(command, target.pythonpath) if valgrind else plain_environment(target)
    if valgrind:
        version = valgrind_version()
        command = [*_no_aslr(), "valgrind", "--tool=callgrind", f"--dump-before={measured_run.MARKER_FUNCTION}",
                   *(["--instr-atstart=no"] if tasks_only else []),
                   f"--callgrind-out-file={folder / 'callgrind.out'}", "--quiet", *command]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    return Child(target, process, folder, result_path, version, command)


#: A dump's own total. Its header's ``summary:`` line is not: in a dump whose stretch saw
#: instrumentation turned off and on again callgrind 3.19 writes it wrapped below zero
#: (18446744073709541070 where ``totals:``, the sum of the dump's cost lines, reads 13930).
_TOTALS = re.compile(r"^totals:\s*(\d+)", re.M)


def dump_counts(folder: Path) -> list[int]:
    """Instructions of each callgrind dump, in order: ``callgrind.out.1`` … then the final
    ``callgrind.out`` (what ran after the last marker, up to exit)."""
    numbered = sorted(folder.glob("callgrind.out.*"), key=lambda p: int(p.suffix[1:]))
    counts = []
    for path in [*numbered, folder / "callgrind.out"]:
        match = _TOTALS.search(path.read_text(encoding="utf-8", errors="replace"))
        if match is None:
            raise PerfkitError(f"{path}: no instruction total in this callgrind dump")
        counts.append(int(match.group(1)))
    return counts


def instruction_count(result: dict[str, Any], counts: Sequence[int], valgrind: str) -> InstructionCount:
    """The solver's work and its parts from the dumps: dump k is the part that ended at marker k
    (labels in ``result['markers']``), the last one what followed the final marker. The
    runner's loop over the tasks is the last marked iteration; a task's part runs from taking
    it to taking the next (its candidates' generation and all its units, perfkit's accounting
    of them included)."""
    labels = result["markers"]
    if len(counts) != len(labels) + 1:
        raise PerfkitError(f"{result['run_dir']}: {len(counts) - 1} callgrind dumps for {len(labels)} markers "
                           f"(did the solver call sys.getswitchinterval?); the count cannot be split")
    loop = max((int(label.split(":")[1]) for label in labels if label.startswith("tasks-end:")), default=None)
    if loop is None:
        raise PerfkitError(f"{result['run_dir']}: the runner never went through its tasks; nothing was counted")
    first = next(i for i, label in enumerate(labels) if label.startswith(f"task:{loop}:"))
    last = labels.index(f"tasks-end:{loop}")
    tasks: dict[str, int] = {}
    for i in range(first, last):  # the part that ends at marker i + 1 is the task taken at marker i
        task = labels[i].split(":", 2)[2]
        tasks[task] = tasks.get(task, 0) + counts[i + 1]
    setup = teardown = startup = None
    instrumented = "the task loop only"
    if "start" in labels:  # instrumented from the first instruction: what surrounds the loop was counted too
        start, end = labels.index("start"), len(labels) - 1 - labels[::-1].index("end")
        setup, teardown, startup = sum(counts[start + 1:first + 1]), sum(counts[last + 1:end + 1]), counts[start]
        instrumented = "the whole process"
    return InstructionCount(instructions=sum(tasks.values()), tasks=tasks, setup=setup, teardown=teardown,
                            startup=startup, build={**result["build"], "valgrind": valgrind},
                            tool=f"{valgrind} callgrind ({instrumented}), ASLR off, PYTHONHASHSEED={HASH_SEED}",
                            timeout_scale=TIMEOUT_SCALE)


def finish(child: Child) -> tuple[Path, InstructionCount]:
    """Wait for a run started under valgrind; store and return its instruction count."""
    result = child.wait()
    if result["status_counts"].get("timeout"):
        raise PerfkitError(f"{result['run_dir']}: {result['status_counts']['timeout']} unit(s) timed out under "
                           f"valgrind even with {TIMEOUT_SCALE:g}× the timeout; the count would not be the work")
    counts = dump_counts(child.folder)
    if len(counts) == 1 and result["markers"]:  # not one marker cut the count: the build hides them all
        raise PerfkitError(f"{child.target.name}: {_hidden_marker(child.target.python)}")
    count = instruction_count(result, counts, child.valgrind or "")
    run_dir = Path(result["run_dir"])
    write_instructions(run_dir, count)
    return run_dir, count


def write_bytecode(config: RunConfig, targets: Sequence[Target], folder: Path) -> None:
    """Run ``config`` once per distinct code, outside valgrind and into a scratch store, so every
    module the run imports has its bytecode cached before anything is counted. In a fresh clone
    or venv the first process to import a module compiles it, and two counted runs started
    together raced for that: CI saw identical runs differ by 0.6 %. The counted runs do not
    write bytecode (:func:`child_environment`), so a module this run did not cache is compiled
    by each of them alike (they then still differ by ~4 × 10⁻⁵, docs/benchmarks.md)."""
    distinct = {(t.python, t.pythonpath): t for t in targets}
    for i, target in enumerate(distinct.values()):
        scratch = folder / f"{i:04d}"
        start(target, config, scratch / "store", scratch, valgrind=False).wait()


def measure_instructions(config: RunConfig, store: Path, targets: Sequence[Target],
                         parallel: int = 2) -> list[tuple[Path, InstructionCount]]:
    """Count ``config``'s instructions once per target, ``parallel`` runs at a time (counts do
    not depend on load, so they may share the cores). Returns (run folder, count) per target."""
    results: list[tuple[Path, InstructionCount]] = []
    with tempfile.TemporaryDirectory(prefix="perfkit-callgrind-") as tmp:
        write_bytecode(config, targets, Path(tmp) / "warm")
        pending = list(enumerate(targets))
        done: dict[int, tuple[Path, InstructionCount]] = {}
        while pending:
            batch, pending = pending[:parallel], pending[parallel:]
            # folder names of one length: the paths are arguments of the counted process
            children = [(i, start(t, config, store, Path(tmp) / f"{i:04d}", valgrind=True)) for i, t in batch]
            for i, child in children:
                done[i] = finish(child)
        results = [done[i] for i in range(len(targets))]
    return results
