"""What a unit killed at its timeout costs a Dask run: the units run again and the wall, for two
perfkit trees side by side (docs/benchmarks.md, section 2).

Runs ``perfkit run`` of one configuration alternately in this tree and in a base tree (each
with its own virtualenv, from its own folder: an editable install is found before
``PYTHONPATH``, and ``python -m`` imports from the current folder first), ``--rounds`` times, base first in odd rounds and last in even ones (this machine's speed flips between two
states: only runs side by side compare), and prints one markdown row per run::

    git -C /work/main worktree add --detach /work/wt-base <base commit> && make -C /work/wt-base install
    flock -x /work/.heavy.lock .venv/bin/python benchmarks/dask_kills.py --base /work/wt-base \\
        --rounds 2 -- --solver arc_dsl_work:ArcDslSolver --solver-opt dsl=/work/arc-dsl \\
        --tasks arc1-training:00d62c1b,045e512c --strategy candidate-parallel --backend dask --workers 2 --timeout 1.5

Units run again: the rows recorded from a second or later attempt (a unit that ran, but whose
outcome died with its worker, runs again as attempt + 1).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd


#: This tree (the one holding this script).
HERE = Path(__file__).absolute().parent.parent


def run_once(tree: Path, args: list[str], store: Path) -> dict:
    """One ``perfkit run`` by the perfkit of ``tree``; the figures of the run it stored."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(HERE / "benchmarks"),
                                                                    os.environ.get("PYTHONPATH")])))
    python = tree / ".venv" / "bin" / "python"
    done = subprocess.run([str(python), "-m", "perfkit", "run", *args, "--store", str(store), "--quiet",
                           "--no-progress"], env=env, cwd=tree, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True)
    if done.returncode:  # the run stopped: its one-line error is the figure
        return {"error": [line for line in done.stderr.splitlines() if line.startswith("perfkit: error")][-1:]}
    (folder,) = [p for p in store.iterdir() if p.is_dir()]
    summary = json.loads((folder / "summary.json").read_text())
    units = pd.read_parquet(folder / "units.parquet")
    resources = summary.get("resources", {})
    return {"wall_s": summary["wall_s"], "units": len(units), "timeouts": int((units.status == "timeout").sum()),
            "run_again": int((units.attempt > 1).sum()), "killed": resources.get("restarts", 0),
            "duplicates": int(units.duplicated(["task_id", "split", "index", "candidate"]).sum())}


def main() -> None:
    """Parse the options, run the rounds, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, type=Path, help="the base tree (with its .venv)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("run_args", nargs=argparse.REMAINDER, help="-- then the options of perfkit run")
    opts = parser.parse_args()
    args = [a for a in opts.run_args if a != "--"]
    trees = {"base": opts.base.absolute(), "this": HERE}
    for name, tree in trees.items():  # which perfkit each side imports (stderr: the table stays clean)
        where = subprocess.run([str(tree / ".venv" / "bin" / "python"), "-c", "import perfkit; print(perfkit.__file__)"],
                               cwd=tree, capture_output=True, text=True, check=True).stdout.strip()
        print(f"{name}: {where}", file=sys.stderr)
    print("| round | tree | wall s | units | timeouts | workers killed | units run again | duplicates |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(1, opts.rounds + 1):
            for name in (("base", "this") if r % 2 else ("this", "base")):
                f = run_once(trees[name], args, Path(tmp) / f"{r}-{name}")
                if "error" in f:
                    print(f"| {r} | {name} | stopped: {' '.join(f['error'])} |||||||", flush=True)
                    continue
                print(f"| {r} | {name} | {f['wall_s']:.2f} | {f['units']} | {f['timeouts']} | {f['killed']} | "
                      f"{f['run_again']} | {f['duplicates']} |", flush=True)


if __name__ == "__main__":
    main()
