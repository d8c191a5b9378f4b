"""``perfkit compare`` and ``perfkit report``: thin wrappers over perfkit.compare."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any, List, Optional

import typer
from rich.progress import Progress as RichProgress
from rich.table import Table

from perfkit.cli.app import app, console, out, parse_options


def _split(value: Optional[str]) -> Optional[list[str]]:
    return None if value is None else [v.strip() for v in value.split(",") if v.strip()]


class _TerminalProgress:
    """One bar over the runs and, per run, the units bar of ``perfkit run``."""

    def __init__(self, progress: RichProgress):
        self.progress = progress
        self.runs = progress.add_task("runs", total=0, bad="")

    def run_started(self, index: int, total: int, config: Any) -> Any:
        self.progress.update(self.runs, total=total,
                             description=f"run {index + 1}/{total}: {config.strategy}/{config.backend}×"
                                         f"{config.workers} r{config.repeat}")
        for task in list(self.progress.tasks)[1:]:
            self.progress.remove_task(task.id)
        return _UnitsObserver(self.progress, self.progress.add_task("  units", total=0, bad=""))

    def run_finished(self, index: int, total: int, path: Path) -> None:
        self.progress.update(self.runs, advance=1)


class _UnitsObserver:
    """The units bar of one run, with a live count of bad outcomes (a runner Observer)."""

    def __init__(self, progress: RichProgress, bar: Any):
        self.progress, self.bar, self.counts = progress, bar, {}

    def add_units(self, n: int) -> None:
        task = next(t for t in self.progress.tasks if t.id == self.bar)
        self.progress.update(self.bar, total=(task.total or 0) + n)

    def task_started(self, task: Any, n_candidates: int) -> None:
        self.progress.update(self.bar, description=f"  {task.id}")

    def outcome(self, outcome: Any) -> None:
        self.counts[outcome.status] = self.counts.get(outcome.status, 0) + 1
        bad = " ".join(f"{s}={n}" for s, n in self.counts.items() if s != "ok")
        self.progress.update(self.bar, advance=1, bad=bad)


def _fmt(x: float, spec: str) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def print_summary(result: Any) -> None:
    """The answer check, the summary table, the findings and where the report is."""
    c = result.comparison
    console.print(("[bold red]" if c.differences else "[bold green]") + c.headline(), highlight=False)
    table = Table(title="strategies (median over repeats)")
    table.add_column("strategy", no_wrap=True)
    for col in ["repeats", "wall s", "CPU s", "efficiency", "speedup (95% CI)", "timeouts"]:
        table.add_column(col, justify="right")
    for _, r in c.groups.iterrows():
        table.add_row(r["group"], str(r["repeats"]), _fmt(r["wall_s_median"], ".3f"), _fmt(r["cpu_s_median"], ".3f"),
                      _fmt(r["efficiency_median"], ".0%"),
                      f"{_fmt(r['speedup'], '.2f')}× ({_fmt(r['speedup_low'], '.2f')}–{_fmt(r['speedup_high'], '.2f')})",
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
    store: Path = typer.Option(Path("reports/runs"), help="run store folder"),
    allow_differences: bool = typer.Option(False, "--allow-differences", help="exit 0 even when answers differ"),
    profile: bool = typer.Option(False, "--profile", help="also profile each configuration and link the profiles"),
) -> None:
    """Run strategies × backends × workers × repeats (interleaved) and write a comparison report."""
    from perfkit.cli.run import _progress
    from perfkit.compare import compare

    w = _split(workers)
    with _progress() as progress:
        result = compare(experiment, solver=solver, tasks=tasks, strategies=_split(strategies),
                         backends=_split(backends), workers=w if w is None or len(w) > 1 else w[0],
                         repeats=repeats, timeout=timeout, chunk_size=chunk_size,
                         solver_options=parse_options(solver_opt) or None, out=out_dir, store=store,
                         progress=_TerminalProgress(progress), profile=profile)
    print_summary(result)
    _exit(result, allow_differences)


@app.command("report")
def report_cmd(
    run_dirs: List[Path] = typer.Argument(..., help="stored run folders"),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="report folder (default reports/compare-<time>)"),
    allow_differences: bool = typer.Option(False, "--allow-differences", help="exit 0 even when answers differ"),
) -> None:
    """Render the comparison report of stored runs without running anything."""
    from perfkit.compare import report

    result = report(run_dirs, out_dir)
    print_summary(result)
    _exit(result, allow_differences)
