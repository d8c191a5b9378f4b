"""perfkit's own cost around the run window: start-up, worker start, teardown and exit.

    python benchmarks/command_cost.py [--repeats 3] [--job "perfkit run options"]...

Runs ``perfkit run`` (by default the default job: ``perfkit run`` with no option) ``--repeats``
times, each in a fresh cgroup when one can be made (perfkit/orchestration/cgroup.py), and prints
per span the median wall and CPU recorded in summary.json (docs/design.md, "The whole command"),
then the whole command as recorded beside what the operating system measured: the wall around
the command and the cgroup's CPU. ``--job`` (repeatable) replaces the default job; several jobs
run interleaved (A, B, A, B, ...), so that a machine whose speed drifts hits all alike.

``--exit-cost`` measures instead what the fast exit of perfkit/runner/command.py saves: a
process that imports what ``perfkit run`` imports, then exits the ordinary way or with
``os._exit``, interleaved, each in a fresh cgroup (median CPU and wall of each).
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from perfkit.model.command import SPANS  # noqa: E402
from perfkit.orchestration.cgroup import Cgroup, CgroupUnavailable  # noqa: E402

PERFKIT = str(Path(sys.executable).with_name("perfkit"))


def measure(options: list[str], store: Path) -> dict:
    """One ``perfkit run`` with ``options``: its summary.json and the OS's wall and CPU."""
    before = set(store.iterdir()) if store.exists() else set()
    argv = [PERFKIT, "run", *options, "--store", str(store)]
    try:
        group = Cgroup.create()
    except CgroupUnavailable:
        group = None
    t0 = time.monotonic()
    subprocess.run(group.wrap(argv) if group else argv, check=True, stdout=subprocess.DEVNULL)
    wall = time.monotonic() - t0
    cpu = group.cpu_s() if group else float("nan")
    if group:
        group.remove()
    (folder,) = set(store.iterdir()) - before
    return {"summary": json.loads((folder / "summary.json").read_text()), "os_wall_s": wall, "os_cpu_s": cpu}


def report(name: str, results: list[dict]) -> None:
    """The median of every span and of the totals, as Markdown."""
    def med(values) -> float:
        return statistics.median(values)

    print(f"\n`perfkit run {name}` — {len(results)} runs, median\n")
    print("| span | wall s | CPU s (every process) |")
    print("|---|---|---|")
    for span in SPANS:
        rows = [s for r in results for s in r["summary"]["command_spans"] if s["name"] == span]
        if rows:
            print(f"| {span} | {med([s['wall_s'] for s in rows]):.3f} | {med([s['cpu_s'] for s in rows]):.3f} |")
    s = [r["summary"] for r in results]
    print(f"| **whole command (recorded)** | {med([x['command_wall_s'] for x in s]):.3f} | "
          f"{med([x['command_cpu_s'] for x in s]):.3f} |")
    print(f"| whole command (OS: wall around it, cgroup CPU) | {med([r['os_wall_s'] for r in results]):.3f} | "
          f"{med([r['os_cpu_s'] for r in results]):.3f} |")
    print(f"| run window figures (summary wall_s, cpu_s) | {med([x['wall_s'] for x in s]):.3f} | "
          f"{med([x['cpu_s'] for x in s]):.3f} |")


#: What ``perfkit run`` has imported by the time it exits.
IMPORTS = "import perfkit.api, perfkit.cli.app, perfkit.cli.verbs, pandas, pyarrow, pyarrow.parquet, matplotlib.pyplot"


def exit_cost(repeats: int) -> None:
    """CPU and wall of importing what perfkit imports, with an ordinary exit and with os._exit."""
    results: dict[str, list[tuple[float, float]]] = {"ordinary exit": [], "os._exit": []}
    for _ in range(repeats):
        for way, tail in (("ordinary exit", ""), ("os._exit", "; import os; os._exit(0)")):
            group = Cgroup.create()
            t0 = time.monotonic()
            subprocess.run(group.wrap([sys.executable, "-c", IMPORTS + tail]), check=True)
            results[way].append((group.cpu_s(), time.monotonic() - t0))
            group.remove()
    print(f"\n`python -c \"{IMPORTS}\"` — {repeats} runs each, median\n")
    print("| exit | CPU s (cgroup) | wall s |")
    print("|---|---|---|")
    for way, rows in results.items():
        print(f"| {way} | {statistics.median(r[0] for r in rows):.3f} | {statistics.median(r[1] for r in rows):.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--job", action="append", default=[], help="perfkit run options, quoted (repeatable)")
    parser.add_argument("--exit-cost", action="store_true", help="measure what the fast exit saves")
    args = parser.parse_args()
    if args.exit_cost:
        exit_cost(args.repeats)
        return
    jobs = [shlex.split(j) for j in args.job] or [[]]
    results: list[list[dict]] = [[] for _ in jobs]
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            for j, options in enumerate(jobs):
                results[j].append(measure(options, Path(tmp) / f"job{j}"))
    for options, res in zip(jobs, results):
        report(" ".join(options) or "(the default job)", res)


if __name__ == "__main__":
    main()
