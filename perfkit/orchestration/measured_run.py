"""One measured run in a fresh process: the gate's sample (perfkit/orchestration/gate.py).

Run as a script, ``python measured_run.py REQUEST.json RESULT.json``, by the interpreter of the
code being measured — the current tree, or a base revision's worktree put first on
``PYTHONPATH`` — so it imports only the standard library until it imports that tree's perfkit.
It loads the tasks, then runs the configuration between two markers and writes what it
measured: the run folder, the CPU and wall seconds of the run window (start-up, imports and
task loading excluded), and, when asked, the *build* the instruction count depends on.

Markers are calls of ``sys.getswitchinterval``: a C function nothing in a run calls, so
callgrind's ``--dump-before=sys_getswitchinterval`` cuts the count exactly there (a call made
through ctypes would not do: callgrind does not see libffi's jump as a call). Besides the start
and end of the run window, a marker falls each time the runner takes the next task from the
task list, and when it has taken the last (:class:`MarkedTasks`): every version of the runner
iterates its task list, so the count splits per task, set-up and teardown apart, for a base
revision as well as for the current code, without a hook in the runner.

A counted run (markers on) hands its outcomes on by count only, never by wall time
(:func:`untimed_store`): a worker sends a batch every ``FLUSH_UNITS`` outcomes and at the end of
each job, not also every ``FLUSH_INTERVAL_S`` (perfkit/backends/base.py), and the store writes
what it queued at those points. Under valgrind how many time windows a job of short units spans
depends on the machine's load, and each extra batch is counted (docs/benchmarks.md).
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


def mark(labels: list[str], label: str) -> None:
    """Cut the count here; ``label`` names the marker (the part that ends here ends at it)."""
    labels.append(label)
    sys.getswitchinterval()


class MarkedTasks(list):
    """The task list, marking each task as the runner takes it. Every iteration is marked (the
    run's set-up iterates the list too, to record task ids); labels carry the iteration's
    number, so the last iteration — the runner's loop — is told apart."""

    def __init__(self, tasks: list, labels: list[str]):
        super().__init__(tasks)
        self.labels = labels
        self.iterations = 0

    def __iter__(self):
        self.iterations += 1
        n = self.iterations
        for task in list.__iter__(self):
            mark(self.labels, f"task:{n}:{task.id}")
            yield task
        mark(self.labels, f"tasks-end:{n}")


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


def _this_trees_environment() -> Any:
    """perfkit/runner/environment.py of the tree this script belongs to, loaded from its file
    (it imports only the standard library): ``import perfkit.runner.environment`` would import
    the measured tree's copy, which a base revision may not have."""
    path = Path(__file__).resolve().parents[1] / "runner" / "environment.py"
    spec = importlib.util.spec_from_file_location("perfkit_driver_environment", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


def untimed_store() -> None:
    """Turn off the measured tree's time-driven flushes of outcomes, where it has them: the
    workers' batches (perfkit/backends/base.py: then sent every FLUSH_UNITS outcomes and at each
    job's end) and the store's queue (perfkit/store/writer.py: then written at stage and run
    ends). Call it before the run's backend is made. A base revision laid out otherwise keeps
    what it has."""
    for module in ("perfkit.backends.base", "perfkit.store.writer"):
        try:
            flushing = importlib.import_module(module)
        except ImportError:
            continue
        if hasattr(flushing, "FLUSH_INTERVAL_S"):
            flushing.FLUSH_INTERVAL_S = float("inf")


def main(request_path: str, result_path: str) -> None:
    """Run the request's configuration once and write the result (see the module docstring)."""
    request = json.loads(Path(request_path).read_text(encoding="utf-8"))
    from perfkit.model import RunConfig
    from perfkit.runner import run
    from perfkit.tasks import load_tasks

    config = RunConfig.from_record(request["config"])
    labels: list[str] = []
    tasks = load_tasks(config.tasks)
    if request.get("markers"):
        tasks = MarkedTasks(tasks, labels)
        untimed_store()
    mark(labels, "start")
    cpu0, wall0 = _cpu_s(), time.perf_counter()
    stored = run(config, request["store"], tasks=tasks)
    cpu_s, wall_s = _cpu_s() - cpu0, time.perf_counter() - wall0
    mark(labels, "end")
    result = {"run_dir": str(stored.path), "cpu_s": cpu_s, "wall_s": wall_s, "markers": labels,
              "status_counts": dict(stored.summary.status_counts),
              "build": build() if request.get("build") else {}}
    Path(result_path).write_text(json.dumps(result), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
