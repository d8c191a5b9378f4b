"""``perfkit compare`` and ``perfkit report``: thin wrappers over perfkit.compare and perfkit.report."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, List, Optional

import typer
from rich.text import Text

from perfkit.analysis.text import duration, is_missing, percent
from perfkit.cli.command import app, console
from perfkit.cli.options import (SOLVER_HELP, JsonOut, NoProgress, Plugin, Quiet, SolverOpt, parse_options,
                                  split_list)
from perfkit.cli.output import copy_json, print_notes, print_paths, set_quiet, solver_output_on_stderr
from perfkit.cli.progress import RunsBar, progress_display
from perfkit.cli.tables import fits, show
from perfkit.model import DEFAULT_STORE, RunInterrupted

# perfkit.reports and the analysis modules are imported where they are used: they pull in
# scipy and matplotlib (~1.5 s), which `perfkit --version`, `-h` and every other verb do not need.

#: The terminal's columns (the rest is in report.md and report.json).
SUMMARY_HEADERS = ("strategy", "wall", "CPU", "eff.", "speedup (95% CI)", "t/o")
SUMMARY_TITLE = "the run window, median over repeats; eff. = ideal wall / wall; t/o = timeouts (most in a repeat)"


#: The extra columns when the comparison carries each configuration's prediction: its wall
#: (with the model's error) and its timed-out units, measured / predicted.
PREDICTED_HEADERS = ("predicted (error)", "t/o meas./pred.")
#: One more when some configuration skipped units, measured or predicted (budgets).
SKIPPED_HEADER = "skipped meas./pred."
#: When those columns make the table too wide (80 columns in a CI log), the predictions follow
#: in a table of their own, so that neither table is stacked.
PREDICTED_TITLE = ("predicted from the sequential run alone; error = predicted / measured − 1; "
                   "t/o and skipped: measured / predicted (medians over repeats)")


def _error(model_error: Any) -> str:
    """The model's error, or why there is none (this machine's backend costs never measured)."""
    return "uncalibrated" if is_missing(model_error) else f"{model_error:+.0%}"


def predicted_headers(c: Any) -> tuple[str, ...]:
    """The prediction columns of the summary table (none without a model check)."""
    from perfkit.analysis.prediction.predict import shows_skipped

    if c.model.empty:
        return ()
    return PREDICTED_HEADERS + ((SKIPPED_HEADER,) if shows_skipped(c.model) else ())


def summary_rows(c: Any) -> list[tuple[str, ...]]:
    """One row per strategy: median wall and CPU (auto-scaled), efficiency, speedup, timeouts,
    then (when known) the wall predicted from the sequential run alone with the model's error
    and the timed-out (and skipped) units measured / predicted."""
    from perfkit.reports.document import measured_predicted, speedup_text

    extra = predicted_headers(c)
    model = {} if c.model.empty else {(m.strategy, m.backend, m.workers): m for m in c.model.itertuples()}
    rows = []
    for _, r in c.groups.iterrows():
        row = (r["group"], duration(r["wall_s_median"]), duration(r["cpu_s_median"]), percent(r["efficiency_median"]),
               speedup_text(r), str(r["n_timeout_max"]))
        if extra:
            m = model.get((r["strategy"], r["backend"], r["workers"]))
            row += ("–",) * len(extra) if m is None else (
                f"{duration(m.predicted_wall_s)} ({_error(m.model_error)})",
                measured_predicted(m.measured_timeouts, m.predicted_timeouts),
                measured_predicted(m.measured_skipped, m.predicted_skipped))[:len(extra)]
        rows.append(row)
    return rows


def whole_command_line(c: Any) -> str:
    """The whole command beside the run window the table compares (median per strategy)."""
    parts = [f"{r['group']} wall {duration(r['command_wall_s_median'])}, CPU {duration(r['command_cpu_s_median'])}"
             for _, r in c.groups.iterrows() if not is_missing(r.get("command_wall_s_median"))]
    return "whole command, start-up and teardown included (median): " + "; ".join(parts) if parts else ""


def print_summary(result: Any) -> None:
    """The answer check, the summary table, the findings and the recommendation (stderr, for
    people); the paths of the report's files (stdout, for scripts)."""
    from perfkit.analysis.runset import describe_left_out
    from perfkit.reports import report_files

    c = result.comparison
    console.print(Text(c.headline(), style="bold red" if c.differences else "bold green"))
    if result.left_out:
        console.print(Text(describe_left_out(result.left_out), style="bold yellow"))
    rows, extra = summary_rows(c), predicted_headers(c)
    n = len(SUMMARY_HEADERS)
    if not extra or fits(console, SUMMARY_TITLE, SUMMARY_HEADERS + extra, rows):
        show(console, SUMMARY_TITLE, SUMMARY_HEADERS + extra, rows)
    else:
        show(console, SUMMARY_TITLE, SUMMARY_HEADERS, [row[:n] for row in rows])
        show(console, PREDICTED_TITLE, (SUMMARY_HEADERS[0],) + extra, [(row[0],) + row[n:] for row in rows])
    if whole_command_line(c):
        console.print(Text(whole_command_line(c)))
    unstable = [f"{r['group']} {label} ({r[f'{col}_why']})"
                for _, r in c.groups.iterrows() for col, label in (("wall_s", "wall"), ("cpu_s", "CPU"))
                if r[f"{col}_unstable"]]
    if unstable:
        console.print(Text("unstable over repeats: " + "; ".join(unstable) + " (more repeats, a quieter machine)",
                           style="yellow"))
    for f in c.findings:
        style = "red" if f.severity == "problem" else "yellow" if f.severity == "warning" else ""
        console.print(Text(f"- {f.severity}: {f.sentence}", style=style))
    if c.recommendation is not None:
        console.print(Text(f"→ {c.recommendation.sentence}", style="bold"))
    print_paths(report_files(result.report_dir))


def _exit(result: Any, allow_differences: bool) -> None:
    if result.differences and not allow_differences:
        console.print("perfkit: answers differ from sequential (exit 1; --allow-differences to accept)",
                      highlight=False)
        sys.exit(1)


@app.command("compare")
def compare_cmd(
    experiment: Optional[Path] = typer.Argument(None, metavar="EXPERIMENT",
                                                help="experiment TOML (experiments/*.toml)"),
    solver: Optional[str] = typer.Option(None, metavar="NAME", help=SOLVER_HELP),
    solver_opt: SolverOpt = [],
    plugin: Plugin = [],
    tasks: Optional[str] = typer.Option(None, metavar="SPEC", help="task spec as for perfkit run --tasks"),
    strategies: Optional[str] = typer.Option(None, metavar="NAME,...", help="comma-separated strategies"),
    backends: Optional[str] = typer.Option(None, metavar="NAME,...", help="comma-separated backends"),
    workers: Optional[str] = typer.Option(None, metavar="N,...",
                                          help='comma-separated worker counts, "auto" or "1..auto"'),
    repeats: Optional[int] = typer.Option(None, metavar="N", help="repeats of every configuration"),
    warmup: Optional[int] = typer.Option(None, metavar="N",
                                         help="warm-up repeats run first and left out of the comparison"),
    timeout: Optional[float] = typer.Option(None, metavar="SECONDS", help="per-unit running-time limit, seconds"),
    chunk_size: Optional[int] = typer.Option(None, metavar="N", help="units per work item"),
    out_dir: Optional[Path] = typer.Option(None, "--out", metavar="DIR",
                                           help="report folder (default reports/compare-<time>)"),
    store: Path = typer.Option(DEFAULT_STORE, metavar="DIR", help="run store folder"),
    allow_differences: bool = typer.Option(False, "--allow-differences", help="exit 0 even when answers differ"),
    profile: bool = typer.Option(False, "--profile", help="also profile each configuration and link the profiles"),
    json_out: JsonOut = None,
    quiet: Quiet = False,
    no_progress: NoProgress = False,
) -> None:
    """Run strategies × backends × workers × repeats (interleaved) and write a comparison report."""
    import perfkit

    set_quiet(quiet)
    w = split_list(workers)
    try:
        with solver_output_on_stderr(), progress_display(not (quiet or no_progress)) as progress:
            result = perfkit.compare(experiment, solver=solver, tasks=tasks, strategies=split_list(strategies),
                                     backends=split_list(backends), workers=w if w is None or len(w) > 1 else w[0],
                                     repeats=repeats, warmup=warmup, timeout=timeout, chunk_size=chunk_size,
                                     solver_options=parse_options(solver_opt) or None, out=out_dir, store=store,
                                     progress=RunsBar(progress), profile=profile, plugins=plugin or None)
    except RunInterrupted:
        # the resume line that follows finishes one run, not the comparison: say what does
        console.quiet = False
        console.print(f"perfkit: comparison interrupted; its runs so far are in {store}: run the comparison "
                      "again, or render complete runs with perfkit report RUN_DIR...",
                      highlight=False, markup=False, soft_wrap=True)
        raise
    print_summary(result)
    copy_json(result.report_dir / "report.json", json_out)
    _exit(result, allow_differences)


@app.command("report")
def report_cmd(
    run_dirs: List[Path] = typer.Argument(..., metavar="RUN_DIR...", help="stored run folders"),
    out_dir: Optional[Path] = typer.Option(None, "--out", metavar="DIR",
                                           help="report folder (default reports/compare-<time>)"),
    allow_differences: bool = typer.Option(False, "--allow-differences", help="exit 0 even when answers differ"),
    allow_mixed: bool = typer.Option(False, "--allow-mixed",
                                     help="render runs of different solvers or task sets together"),
    json_out: JsonOut = None,
    quiet: Quiet = False,
) -> None:
    """Render the comparison report of stored runs without running anything."""
    import perfkit

    set_quiet(quiet)
    result = perfkit.report(run_dirs, out_dir, allow_mixed=allow_mixed)
    for run in result.runs:
        print_notes(run.notes)
    print_summary(result)
    copy_json(result.report_dir / "report.json", json_out)
    _exit(result, allow_differences)
