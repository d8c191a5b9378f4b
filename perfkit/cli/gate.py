"""``perfkit gate``, ``perfkit baseline save`` and ``perfkit phases``."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

from perfkit.cli.command import app, baseline_app, console, out
from perfkit.cli.options import parse_options
from perfkit.model import DEFAULT_STORE


@app.command()
def gate(
    baseline: List[str] = typer.Option(..., help="run folder(s), a baseline file, or a baseline NAME"),
    current: List[str] = typer.Option([], help="run folder(s); none: measure the current code now"),
    threshold: str = typer.Option("10%", help="smallest change that matters, e.g. 10% or 0.1"),
    metric: List[str] = typer.Option(["wall", "cpu"], help="wall and/or cpu"),
    normalise: str = typer.Option("auto", help="divide by the calibration workload: auto, yes, no"),
    repeats: Optional[int] = typer.Option(None, help="repeats when measuring the current code"),
    answers_only: bool = typer.Option(False, "--answers-only", help="check answers, skip speed"),
    store: Path = typer.Option(DEFAULT_STORE, help="where measured runs are stored"),
    summary: Optional[Path] = typer.Option(None, help="append the Markdown summary here "
                                           "(default: $GITHUB_STEP_SUMMARY when set)"),
    json_out: Optional[Path] = typer.Option(None, "--json", help="write the JSON verdict here"),
) -> None:
    """Fail on lost or changed answers, then on a speed regression beyond the threshold."""
    import perfkit
    from perfkit.analysis.gate import parse_threshold
    from perfkit.reports import gate as render

    result = perfkit.gate(baseline, current, threshold=parse_threshold(threshold),
                          metrics=[] if answers_only else metric, normalise=normalise, repeats=repeats, store=store)
    step_summary = summary or (Path(os.environ["GITHUB_STEP_SUMMARY"]) if os.environ.get("GITHUB_STEP_SUMMARY") else None)
    text = render.write(result, step_summary, json_out)
    typer.echo(text)
    sys.exit(result.exit_code)


@baseline_app.command("save")
def baseline_save(
    name: str = typer.Argument(..., help="file name under reports/baselines/ (without .json)"),
    runs: List[Path] = typer.Argument(None, help="repeats of one experiment; none: run it now"),
    solver: str = typer.Option("arc"),
    tasks: str = typer.Option("default"),
    strategy: str = typer.Option("sequential"),
    backend: str = typer.Option("inline"),
    workers: int = typer.Option(1),
    timeout: float = typer.Option(1.0),
    solver_opt: List[str] = typer.Option([], "--solver-opt"),
    repeats: int = typer.Option(5),
    store: Path = typer.Option(DEFAULT_STORE),
    directory: Optional[Path] = typer.Option(None, help="where baselines are written (default reports/baselines)"),
) -> None:
    """Write reports/baselines/NAME.json from runs (or from fresh runs), with its environment."""
    import perfkit
    from perfkit.model import RunConfig, TimeoutPolicy

    config = RunConfig(solver=solver, tasks=tasks, strategy=strategy, backend=backend, workers=workers,
                       timeout=TimeoutPolicy(timeout), solver_options=parse_options(solver_opt))
    path = perfkit.save_baseline(name, runs or (), config=config, repeats=repeats, store=store, directory=directory)
    out.print(str(path), highlight=False)


@app.command()
def phases(
    phase: List[str] = typer.Argument(..., help="run folders or labels, in order; the first is the baseline"),
    threshold: str = typer.Option("10%", help="slower than the previous phase by more than this: ❌"),
    store: Path = typer.Option(DEFAULT_STORE, help="where labels are looked up"),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="report folder (default reports/phases-<time>)"),
) -> None:
    """A phase report: every step's wall, CPU, candidates and answers against the baseline."""
    import perfkit
    from perfkit.analysis.gate import parse_threshold

    result = perfkit.phases(phase, threshold=parse_threshold(threshold), store=store, out=out_dir)
    typer.echo((result.report_dir / "report.md").read_text(encoding="utf-8"))
    console.print(f"report: {result.report_dir}", highlight=False)
    sys.exit(0 if result.ok else 1)
