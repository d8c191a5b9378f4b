"""One timing sample in a fresh process: perfkit/orchestration/measured_run.py's run, plus
how long the run window waited for a core.

Run as a script, ``python timed_run.py REQUEST.json RESULT.json``, by the interpreter of the
code being measured, like measured_run.py (which it loads from its file and runs unchanged). It
adds ``queued_s`` to the result: the seconds the main thread spent runnable but not running
during ``run()`` — the run-queue wait the Linux scheduler accounts per thread
(``/proc/thread-self/schedstat``, second field, nanoseconds; NaN where the kernel does not
keep it). ``wall_s − queued_s`` is the *unqueued* wall of the paired gate
(perfkit/analysis/gate.py): the wall the run takes when a core is free whenever it wants one.

Why: next to two busy loops, the wall of identical runs varies 2–3× more than with an idle
machine, and most of that is waiting for a core (docs/benchmarks.md §3); a slowdown from
sleeping or I/O is in the wall but not in CPU time nor in instructions, so the gate needs a
wall figure without the machine's queueing. The wait is read around ``perfkit.runner.run``,
which measured_run.py calls for exactly its run window (it imports it at call time, so the
wrapped function is the one called, in the current tree and in a base revision alike).
"""

from __future__ import annotations

import sys

if __name__ == "__main__":
    sys.path.pop(0)  # this script's folder (perfkit/orchestration) must not shadow top-level modules

import importlib.util  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

#: The calling thread's scheduler statistics: on-CPU ns, run-queue wait ns, time slices.
SCHEDSTAT = "/proc/thread-self/schedstat"


def run_queue_wait_s() -> float:
    """Seconds the calling thread has waited on a run queue since it started (NaN when the
    kernel does not say: not Linux, or schedstat compiled out)."""
    try:
        with open(SCHEDSTAT, encoding="ascii") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return math.nan


def _measured_run() -> Any:
    """measured_run.py of this script's tree, loaded from its file (as measured_run.py loads
    its environment module: the measured tree's copy may differ)."""
    path = Path(__file__).resolve().with_name("measured_run.py")
    spec = importlib.util.spec_from_file_location("perfkit_measured_run", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(request_path: str, result_path: str) -> None:
    """measured_run.py's run of the request, its result with ``queued_s`` added."""
    import perfkit.runner as runner

    measured, run, waits = _measured_run(), runner.run, []

    def queued_run(*args: Any, **kwargs: Any) -> Any:
        before = run_queue_wait_s()
        try:
            return run(*args, **kwargs)
        finally:
            waits.append(run_queue_wait_s() - before)

    runner.run = queued_run
    measured.main(request_path, result_path)
    result = json.loads(Path(result_path).read_text(encoding="utf-8"))
    result["queued_s"] = waits[-1] if waits else math.nan
    Path(result_path).write_text(json.dumps(result), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
