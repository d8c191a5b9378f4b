"""A command whose processes come and go, for tests/test_command_usage.py.

``python process_family.py OUT BURN_S`` makes itself a perfkit command
(perfkit/runner/command.py) and then, like a run of the process backend: starts two forkserver
workers that each burn BURN_S of CPU and exit, one that is SIGKILLed mid-work, and a grandchild
that is orphaned (its parent exits first) and burns BURN_S on its own. Its exit hook writes the
meter's figures to OUT (JSON): spans, totals, and the origin and end on ``time.monotonic()``.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import sys
import time

import psutil


def burn(seconds: float) -> None:
    """Use ``seconds`` of CPU."""
    t0 = time.process_time()
    while time.process_time() - t0 < seconds:
        pass


def orphan(seconds: float) -> None:
    """Fork a grandchild that burns ``seconds`` after this process has exited."""
    if os.fork() == 0:
        burn(seconds)
        os._exit(0)
    os._exit(0)


def wait_for_new_children_to_exit(known: set[int]) -> None:
    """Until every child of this process not in ``known`` (the orphan handed to it) has exited."""
    while any(c.status() != psutil.STATUS_ZOMBIE for c in psutil.Process().children() if c.pid not in known):
        time.sleep(0.005)


def main(out: str, burn_s: float) -> None:
    from perfkit.runner import command
    from perfkit.runner.process_tree import process_cpu_s

    cmd = command.begin()
    ctx = mp.get_context("forkserver")
    cmd.meter.mark("start-up")
    finished = [ctx.Process(target=burn, args=(burn_s,)) for _ in range(2)]
    victim = ctx.Process(target=burn, args=(100 * burn_s,))
    for p in (*finished, victim):
        p.start()
    cmd.meter.mark("worker start")
    for p in finished:
        p.join()
    while (process_cpu_s(victim.pid) or 0.0) < burn_s:  # killed mid-work, with CPU to lose
        time.sleep(0.005)
    victim.kill()
    victim.join()
    cmd.meter.mark("run window")
    helpers = {c.pid for c in psutil.Process().children()}  # forkserver, resource tracker
    middle = os.fork()
    if middle == 0:
        orphan(burn_s)
    os.waitpid(middle, 0)
    wait_for_new_children_to_exit(helpers)
    cmd.meter.mark("teardown")

    def record(span, meter) -> None:
        figures = {"spans": [s.to_record() for s in meter.spans], "wall_s": meter.wall_s, "cpu_s": meter.cpu_s,
                   "origin_s": meter.first.at_s, "end_s": meter.last.at_s, "subreaper": cmd.subreaper}
        with open(out, "w") as f:
            json.dump(figures, f)

    cmd.on_exit(record)
    command.finish(0)


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
