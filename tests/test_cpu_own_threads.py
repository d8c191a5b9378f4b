"""perfkit's own threads beside inline units (perfkit/backends/own_threads.py): a live progress
display's refresh thread, or any thread perfkit starts, runs in the process whose CPU an inline
unit is charged with (perfkit/backends/unit.py ``PROCESS_CPU``); its CPU is not the units'. The
units here compute a known amount on their own thread and wait, while a thread of perfkit's
spins without the GIL: each unit's CPU is its own work, whatever the spinner got of a core."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import threading
import time

import pytest
from builders import make_task, synthetic_config
from rich.console import Console

import perfkit
from perfkit.backends.own_threads import own_thread_clocks, started_as_own, thread_clock_id
from perfkit.backends.unit import PROCESS_CPU, cpu_clock_of
from perfkit.cli import progress as progress_module
from perfkit.cli.progress import UnitsBar, progress_display
from perfkit.model import RunConfig

#: CPU (seconds) each unit computes on its own thread, then it waits WAIT_S.
WORK_S, WAIT_S = 0.001, 0.02
#: unit key -> the CPU its own thread used, as the solver read it
OWN_CPU: dict[tuple, float] = {}


class ComputeThenWait:
    """Units that compute WORK_S of CPU on the calling thread, then sleep WAIT_S."""

    def candidates(self, task):
        return [f"c{i}" for i in range(10)]

    def evaluate(self, task, sample, candidate, deadline):
        t0 = time.thread_time()
        while time.thread_time() - t0 < WORK_S:
            pass
        OWN_CPU[(sample.split, sample.index, candidate)] = time.thread_time() - t0
        time.sleep(WAIT_S)
        return [[1]]


def _spin_without_the_gil(stop: threading.Event, used: list) -> None:
    """Busy on a core of its own: sha256 of a large buffer releases the GIL."""
    data, t0 = b"x" * (1 << 20), time.thread_time()
    while not stop.is_set():
        hashlib.sha256(data).digest()
    used.append(time.thread_time() - t0)


def _beside_a_display_and_a_spinner(store: str) -> dict:
    """Inline units run under a live display (rich's forced terminal) beside a perfkit thread
    that spins: the run's units, each unit's own CPU, the spinner's CPU and the run's resources."""
    import test_cpu_own_threads as me  # the module the run loads the solver from

    progress_module.console = Console(file=io.StringIO(), force_terminal=True, width=100)
    stop, spun = threading.Event(), []
    base = synthetic_config("sequential", "inline", 1).__dict__
    config = RunConfig(**{**base, "solver": "test_cpu_own_threads:ComputeThenWait", "solver_options": {}})
    with progress_display() as progress:
        live = progress.live.is_started and not progress.disable  # a terminal's live display
        with started_as_own():
            spinner = threading.Thread(target=_spin_without_the_gil, args=(stop, spun), daemon=True)
            spinner.start()
        try:
            run = perfkit.run(config, store, observer=UnitsBar(progress), tasks=[make_task("t", n_demo=2, n_test=0)])
        finally:
            stop.set()
            spinner.join()
    u = run.units
    return {"live": live, "resources": run.summary.resources, "spun_s": spun[0], "status": u["status"].tolist(),
            "wall_s": u["wall_s"].tolist(), "cpu_s": u["cpu_s"].tolist(),
            "own_s": [me.OWN_CPU[(r.split, r.index, r.candidate)] for r in u.itertuples()]}


@pytest.mark.slow
def test_inline_units_beside_a_live_display_and_a_busy_perfkit_thread_are_charged_their_own_cpu(tmp_path):
    # a unit of 1 ms of CPU and 20 ms of wall read ~15 ms of CPU beside the spinner: the
    # process's clock counted it (and the display's redraws) as the unit's. In a fresh
    # interpreter: threads earlier tests could not stop would spin in this one
    done = subprocess.run([sys.executable, __file__, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    r = json.loads(done.stdout.strip().splitlines()[-1])
    assert r["live"] and r["resources"]["unit_cpu"] == "process"
    assert r["resources"]["perfkit_threads_beside"] >= 2  # the display's refresh and the spinner
    assert len(r["cpu_s"]) == 20 and set(r["status"]) == {"ok"}
    for wall, cpu, own in zip(r["wall_s"], r["cpu_s"], r["own_s"]):
        assert own * 0.9 <= cpu <= wall, r  # the clocks read within SAME_INSTANT_S of each other
    # perfkit's code inside a unit's window is microseconds of CPU: twice the unit's own work
    # plus a tenth of what the spinner burned meanwhile is far above it, and far below the bug
    assert sum(r["cpu_s"]) <= 2 * sum(r["own_s"]) + 0.1 * r["spun_s"], r


def test_only_threads_perfkit_started_are_taken_out_of_a_units_cpu():
    # a solver's own threads (a pool it starts) stay the unit's
    stop = threading.Event()
    with started_as_own():
        mine = threading.Thread(target=stop.wait, daemon=True)
        mine.start()
    theirs = threading.Thread(target=stop.wait, daemon=True)
    theirs.start()
    try:
        clocks = own_thread_clocks()
        assert thread_clock_id(mine.native_id) in clocks
        assert thread_clock_id(theirs.native_id) not in clocks
        assert thread_clock_id(threading.get_native_id()) not in clocks
        clock = cpu_clock_of(PROCESS_CPU, clocks)
        before = clock()
    finally:
        stop.set()
        mine.join()
        theirs.join()
    # a thread that ended keeps its last reading: the clock goes on, never backwards
    assert clock() >= before
    assert thread_clock_id(mine.native_id) not in own_thread_clocks()


if __name__ == "__main__":  # the scenario of the first test, in a fresh interpreter
    print(json.dumps(_beside_a_display_and_a_spinner(sys.argv[1])))
