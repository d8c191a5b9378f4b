"""One measured run in a fresh process: the gate's sample (perfkit/orchestration/gate.py).

Run as a script, ``python measured_run.py REQUEST.json RESULT.json``, by the interpreter of the
code being measured — the current tree, or a base revision's worktree put first on
``PYTHONPATH`` — so it imports only the standard library until it imports that tree's perfkit.
It loads the tasks, then runs the configuration and writes what it measured: the run folder,
the CPU and wall seconds of the run window (start-up, imports and task loading excluded), the
markers it made, and, when asked, the *build* the instruction count depends on.

Markers are calls of ``sys.getswitchinterval``: a C function nothing in a run calls, so
callgrind's ``--dump-before=sys_getswitchinterval`` cuts the count exactly there (a call made
through ctypes would not do: callgrind does not see libffi's jump as a call). A marker falls
each time the runner takes the next task from the task list, and when it has taken the last
(:class:`MarkedTasks`): every version of the runner iterates its task list, so the count splits
per task, for a base revision as well as for the current code, without a hook in the runner.

Callgrind instruments the process only while the runner goes through its task list (asked by
``instrument_tasks``): the process starts under ``--instr-atstart=no`` and turns instrumentation
on and off with callgrind's client requests (perfkit/orchestration/callgrind_requests.py).
Start-up, imports, task loading, the run's set-up and teardown and the build then run under
valgrind without being counted, 2–3× faster than instrumented (docs/benchmarks.md, "Session
15"). Where requests cannot be made the process is instrumented throughout, as before, and the
start and end of the run window are marked too, so set-up and teardown are counted apart.

A counted run (markers on) makes no choice by the clock (:func:`untimed_choices`): it hands its
outcomes on by count only — a worker sends a batch every ``FLUSH_UNITS`` outcomes and at the end
of each job, not also every ``FLUSH_INTERVAL_S`` (perfkit/backends/base.py), and the store
writes what it queued at those points — and reads reaped children's CPU after every unit, not
only after those of ``CHILD_MIN_WALL_S`` (perfkit/backends/unit.py). Under valgrind how many
time windows a job of short units spans, and which units last that long, depend on the
machine's load, and each extra batch or read is counted (docs/benchmarks.md).
"""

from __future__ import annotations

import sys

if __name__ == "__main__":
    sys.path.pop(0)  # this script's folder (perfkit/orchestration) must not shadow top-level modules

import importlib.util  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402
from importlib import metadata  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

#: The C function whose entry callgrind dumps before (``--dump-before``).
MARKER_FUNCTION = "sys_getswitchinterval"


class Marks:
    """The markers of one counted process, and whether callgrind is instrumenting it now.

    With ``requests`` (perfkit/orchestration/callgrind_requests.py) the process starts
    uninstrumented (``--instr-atstart=no``) and is instrumented only while the runner goes
    through its task list (:class:`MarkedTasks`); without, it is instrumented throughout and
    the run window's start and end are marked too. A marker made while uninstrumented would
    not be seen by callgrind, so it is not made: every label has its dump."""

    def __init__(self, requests: Any = None):
        self.labels: list[str] = []
        self.requests = requests
        self.instrumented = requests is None

    def mark(self, label: str) -> None:
        """Cut the count here; ``label`` names the marker (the part that ends here ends at it)."""
        if self.instrumented:
            self.labels.append(label)
            sys.getswitchinterval()

    def instrument(self, on: bool) -> None:
        """Turn callgrind's instrumentation on or off (nothing to do without requests)."""
        if self.requests is not None and on != self.instrumented:
            self.requests.client_request(self.requests.START_INSTRUMENTATION if on
                                         else self.requests.STOP_INSTRUMENTATION)
            self.instrumented = on


class MarkedTasks(list):
    """The task list, marking each task as the runner takes it. Every iteration is marked (the
    run's set-up iterates the list too, to record task ids); labels carry the iteration's
    number, so the last iteration — the runner's loop — is told apart. Instrumentation is on
    from just before an iteration's first marker to just after its last: the solver's work is
    all in there, and callgrind need not see the rest (docs/benchmarks.md, "Session 15")."""

    def __init__(self, tasks: list, marks: Marks):
        super().__init__(tasks)
        self.marks = marks
        self.iterations = 0

    def __iter__(self):
        self.iterations += 1
        n = self.iterations
        self.marks.instrument(True)
        for task in list.__iter__(self):
            self.marks.mark(f"task:{n}:{task.id}")
            yield task
        self.marks.mark(f"tasks-end:{n}")
        self.marks.instrument(False)


def _cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _requirement_names(dist: str) -> list[str]:
    names = []
    for req in metadata.requires(dist) or []:
        if "extra ==" in req.replace('"', "'").replace("extra==", "extra =="):
            continue
        names.append(re.split(r"[\s;<>=!~\[(]", req, maxsplit=1)[0])
    return names


def dependency_versions(root: str = "perfkit") -> dict[str, str]:
    """Installed versions of every runtime dependency of ``root``, transitively (perfkit's own
    version excluded: its code is what is measured)."""
    seen: dict[str, str] = {}
    todo = _requirement_names(root)
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        try:
            seen[key] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        todo += _requirement_names(name)
    return dict(sorted(seen.items()))


def _this_trees(module: str) -> Any:
    """perfkit's ``module`` (``runner.environment``) of the tree this script belongs to, loaded
    from its file (it imports only the standard library): ``import perfkit.runner.environment``
    would import the measured tree's copy, which a base revision may not have."""
    path = Path(__file__).resolve().parents[1].joinpath(*module.split(".")).with_suffix(".py")
    spec = importlib.util.spec_from_file_location(f"perfkit_driver_{module.replace('.', '_')}", path)
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


def _this_trees_environment() -> Any:
    """perfkit/runner/environment.py of the tree this script belongs to (:func:`_this_trees`)."""
    return _this_trees("runner.environment")


def _numpy_features() -> str:
    """The SIMD features numpy dispatches on here (under valgrind: those valgrind emulates)."""
    try:
        import numpy as np

        core = getattr(np, "_core", None) or np.core
        features = core._multiarray_umath.__cpu_features__
        return ",".join(sorted(k for k, v in features.items() if v))
    except Exception:  # an old or absent numpy: the dependency versions still tell builds apart
        return "unknown"


def build() -> dict[str, Any]:
    """What an instruction count depends on besides perfkit's code (compared by
    perfkit/store/baseline.py; ``valgrind`` is added by the parent)."""
    try:
        perfkit_version = metadata.version("perfkit")
    except metadata.PackageNotFoundError:
        perfkit_version = None
    return {
        "python_build": sys.version,
        "implementation": platform.python_implementation(),
        "machine": platform.machine(),
        "libc": "-".join(platform.libc_ver()),
        "cpu_model": _this_trees_environment().cpu_model(),
        "cpu_features": _numpy_features(),
        "dependencies": dependency_versions(),
        "perfkit": perfkit_version,
        "platform": platform.platform(),
    }


#: The measured tree's choices made by the clock, each fixed so that the work no longer depends
#: on how fast valgrind runs (module: {name: value}): the workers' batches of outcomes
#: (perfkit/backends/base.py: then sent every FLUSH_UNITS outcomes and at each job's end), the
#: store's queue (perfkit/store/writer.py: then written at stage and run ends), and the read of
#: reaped children's CPU after a unit of at least CHILD_MIN_WALL_S (perfkit/backends/unit.py: then
#: after every unit; a unit near that wall read it in one count and not in the next).
UNTIMED = {
    "perfkit.backends.base": {"FLUSH_INTERVAL_S": float("inf")},
    "perfkit.store.writer": {"FLUSH_INTERVAL_S": float("inf")},
    "perfkit.backends.unit": {"CHILD_MIN_WALL_S": 0.0},
}


def untimed_choices() -> None:
    """Fix the measured tree's clock-driven choices (:data:`UNTIMED`) where it has them. Call it
    before the run's backend is made. A base revision laid out otherwise keeps what it has."""
    for module, values in UNTIMED.items():
        try:
            loaded = importlib.import_module(module)
        except ImportError:
            continue
        for name, value in values.items():
            if hasattr(loaded, name):
                setattr(loaded, name, value)


def main(request_path: str, result_path: str) -> None:
    """Run the request's configuration once and write the result (see the module docstring)."""
    request = json.loads(Path(request_path).read_text(encoding="utf-8"))
    from perfkit.model import RunConfig
    from perfkit.runner import run
    from perfkit.tasks import load_tasks

    config = RunConfig.from_record(request["config"])
    tasks = load_tasks(config.tasks)
    marks = Marks()
    if request.get("markers"):
        if request.get("instrument_tasks"):
            requests = _this_trees("orchestration.callgrind_requests")
            if not requests.client_request(requests.RUNNING_ON_VALGRIND):
                raise RuntimeError("asked to instrument the task loop only, but not running under valgrind")
            marks = Marks(requests)
        tasks = MarkedTasks(tasks, marks)
        untimed_choices()
    marks.mark("start")
    cpu0, wall0 = _cpu_s(), time.perf_counter()
    stored = run(config, request["store"], tasks=tasks)
    cpu_s, wall_s = _cpu_s() - cpu0, time.perf_counter() - wall0
    marks.mark("end")
    marks.instrument(False)  # off already, unless the runner left its loop early: the build needs none
    result = {"run_dir": str(stored.path), "cpu_s": cpu_s, "wall_s": wall_s, "markers": marks.labels,
              "status_counts": dict(stored.summary.status_counts),
              "build": build() if request.get("build") else {}}
    Path(result_path).write_text(json.dumps(result), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
