"""``perfkit profile``: a run under pyinstrument (in-process, every thread) or py-spy (process tree)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from perfkit.cli import options as opt
from perfkit.cli.command import app, console, out
from perfkit.cli.output import solver_output_on_stderr
from perfkit.model import RunConfig


@app.command()
@opt.run_options
def profile(
    config: RunConfig,
    profiler: str = typer.Option("pyinstrument", metavar="NAME",
                                 help="pyinstrument (inline/thread backends) or py-spy (any backend)"),
    out_dir: Optional[Path] = typer.Option(None, "--out", metavar="DIR",
                                           help="output folder (default reports/profiles/<timestamp>)"),
    store: Optional[Path] = typer.Option(None, metavar="DIR", help="run store folder (default <out>/runs)"),
    baseline: bool = typer.Option(True, "--baseline/--no-baseline",
                                  help="also run without the profiler, paired with the profiled runs, "
                                  "to measure its overhead"),
    pairs: int = typer.Option(2, metavar="N", help="pairs of a plain and a profiled run the overhead is the median of"),
    interval: float = typer.Option(0.001, metavar="SECONDS", help="pyinstrument: seconds between samples"),
    rate: int = typer.Option(200, metavar="HZ", help="py-spy: samples per second"),
    gil: bool = typer.Option(False, "--gil", help="py-spy: only samples of threads holding the GIL"),
    idle: bool = typer.Option(False, "--idle", help="py-spy: include idle (waiting) threads"),
    nonblocking: bool = typer.Option(False, "--nonblocking", help="py-spy: do not pause the processes to sample"),
    top: int = typer.Option(15, metavar="N", help="how many top frames to list"),
) -> None:
    """Profile a run inside its workers; print the overhead and the top frames by self time."""
    import perfkit

    console.print(f"profiling with {profiler}" + (f" ({pairs} pairs of a plain and a profiled run, for the overhead)"
                                                  if baseline else ""), highlight=False)
    with solver_output_on_stderr():
        result = perfkit.profile(config, profiler, out_dir, store_dir=store, baseline=baseline, pairs=pairs,
                                 interval=interval, rate=rate, gil=gil, idle=idle, nonblocking=nonblocking, top=top)
    console.print(result.summary(top), highlight=False, markup=False, soft_wrap=True)
    for kind, path in result.files.items():
        console.print(f"{kind:>10}: {path}", highlight=False, markup=False, soft_wrap=True)
    out.print(str(result.out_dir), soft_wrap=True, highlight=False)
