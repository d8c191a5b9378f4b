"""Does dividing by the calibration workload make figures comparable across machines?

    python benchmarks/calibration.py [--runs 8]

We have one machine, so "another machine" is simulated by the same machine made slower: two
busy-looping processes share its 2 cores with the run (a machine with half the CPU per run).
The same experiment runs ``--runs`` times quiet and ``--runs`` times loaded (alternating), and
for wall and CPU the script prints the loaded/quiet ratio of medians raw and normalised by each
run's calibration CPU. Normalisation works when the normalised ratio is near 1. Also printed:
the spread of the calibration figure itself across fresh processes.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from perfkit import runner  # noqa: E402
from perfkit.model import RunConfig, TimeoutPolicy  # noqa: E402

EXPERIMENT = RunConfig(solver="synthetic", tasks="synthetic:2x5+1", strategy="sequential", backend="inline",
                       workers=1, timeout=TimeoutPolicy(30.0), solver_options={"candidates": 32, "cpu_ms": 3.0})


def _spin(stop) -> None:
    x = 0
    while not stop.is_set():
        for i in range(10000):
            x = (x * 31 + i) % 1000003


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=8)
    args = parser.parse_args()
    figures: dict[str, list[tuple[float, float, float]]] = {"quiet": [], "loaded": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            for condition in ("quiet", "loaded"):
                stop = mp.Event()
                hogs = [mp.Process(target=_spin, args=(stop,)) for _ in range(2 if condition == "loaded" else 0)]
                for h in hogs:
                    h.start()
                run = runner.run(replace(EXPERIMENT, label=condition, repeat=i), Path(tmp))
                stop.set()
                for h in hogs:
                    h.join()
                s = run.summary
                figures[condition].append((s["wall_s"], s["cpu_s"], s["calibration_cpu_s"]))
    print("| metric | quiet median | loaded median | loaded/quiet raw | loaded/quiet normalised |")
    print("|---|---|---|---|---|")
    for name, col in (("wall", 0), ("cpu", 1), ("calibration", 2)):
        q = statistics.median(f[col] for f in figures["quiet"])
        lo = statistics.median(f[col] for f in figures["loaded"])
        qn = statistics.median(f[col] / f[2] for f in figures["quiet"])
        ln = statistics.median(f[col] / f[2] for f in figures["loaded"])
        print(f"| {name} | {q:.4f} s | {lo:.4f} s | {lo / q:.3f} | {ln / qn:.3f} |")
    fresh = []
    for _ in range(8):
        out = subprocess.run([sys.executable, "-c", "from perfkit import calibration as c; print(c.measure())"],
                             capture_output=True, text=True, check=True)
        fresh.append(float(out.stdout))
    print(f"\ncalibration CPU in 8 fresh processes (quiet): "
          + ", ".join(f"{x * 1000:.1f}" for x in fresh) + " ms")


if __name__ == "__main__":
    main()
