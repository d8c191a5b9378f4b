"""``perfkit compare`` and ``perfkit report``: thin wrappers over perfkit.compare and perfkit.report."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, List, Optional

import typer
from rich.table import Table

from perfkit.analysis.text import number
from perfkit.cli.command import app, console, out
from perfkit.cli.options import parse_options, split_list
from perfkit.cli.progress import RunsBar, progress_display
from perfkit.model import DEFAULT_STORE


def print_summary(result: Any) -> None:
    """The answer check, the summary table, the findings and where the report is."""
    c = result.comparison
    console.print(("[bold red]" if c.differences else "[bold green]") + c.headline(), highlight=False)
    table = Table(title="strategies (median over repeats)")
    table.add_column("strategy", no_wrap=True)
    for col in ["repeats", "wall s", "CPU s", "efficiency", "speedup (95% CI)", "timeouts"]:
        table.add_column(col, justify="right")
    for _, r in c.groups.iterrows():
        table.add_row(r["group"], str(r["repeats"]), number(r["wall_s_median"], ".3f"), number(r["cpu_s_median"], ".3f"),
                      number(r["efficiency_median"], ".0%"),
                      f"{number(r['speedup'], '.2f')}× ({number(r['speedup_low'], '.2f')}–{number(r['speedup_high'], '.2f')})",
                      str(r["n_timeout_max"]))
    console.print(table)
    for f in c.findings:
        console.print(f"- {f.severity}: {f.sentence}", highlight=False, markup=False)
    if c.recommendation is not None:
        console.print(f"→ {c.recommendation.sentence}", highlight=False, markup=False)
    out.print(str(result.report_dir / "report.md"), soft_wrap=True, highlight=False)


def _exit(result: Any, allow_differences: bool) -> None:
    if result.differences and not allow_differences:
        console.print("perfkit: answers differ from sequential (exit 1; --allow-differences to accept)",
                      highlight=False)
        sys.exit(1)


@app.command("compare")
def compare_cmd(
    experiment: Optional[Path] = typer.Argument(None, help="experiment TOML (experiments/*.toml)"),
    solver: Optional[str] = typer.Option(None, help="arc, synthetic, or package.module:attr"),
    solver_opt: List[str] = typer.Option([], "--solver-opt", help="KEY=VALUE passed to the solver (repeatable)"),
    tasks: Optional[str] = typer.Option(None, help="task spec as for perfkit run --tasks"),
    strategies: Optional[str] = typer.Option(None, help="comma-separated strategies"),
    backends: Optional[str] = typer.Option(None, help="comma-separated backends"),
    workers: Optional[str] = typer.Option(None, help='comma-separated worker counts, "auto" or "1..auto"'),
    repeats: Optional[int] = typer.Option(None, help="repeats of every configuration"),
    timeout: Optional[float] = typer.Option(None, help="per-unit running-time limit, seconds"),
    chunk_size: Optional[int] = typer.Option(None, help="units per work item"),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="report folder (default reports/compare-<time>)"),
    store: Path = typer.Option(DEFAULT_STORE, help="run store folder"),
    allow_differences: bool = typer.Option(False, "--allow-differences", help="exit 0 even when answers differ"),
    profile: bool = typer.Option(False, "--profile", help="also profile each configuration and link the profiles"),
) -> None:
    """Run strategies × backends × workers × repeats (interleaved) and write a comparison report."""
    import perfkit

    w = split_list(workers)
    with progress_display() as progress:
        result = perfkit.compare(experiment, solver=solver, tasks=tasks, strategies=split_list(strategies),
                                 backends=split_list(backends), workers=w if w is None or len(w) > 1 else w[0],
                                 repeats=repeats, timeout=timeout, chunk_size=chunk_size,
                                 solver_options=parse_options(solver_opt) or None, out=out_dir, store=store,
                                 progress=RunsBar(progress), profile=profile)
    print_summary(result)
    _exit(result, allow_differences)


@app.command("report")
def report_cmd(
    run_dirs: List[Path] = typer.Argument(..., help="stored run folders"),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="report folder (default reports/compare-<time>)"),
    allow_differences: bool = typer.Option(False, "--allow-differences", help="exit 0 even when answers differ"),
) -> None:
    """Render the comparison report of stored runs without running anything."""
    import perfkit

    result = perfkit.report(run_dirs, out_dir)
    print_summary(result)
    _exit(result, allow_differences)
