"""``perfkit gate``, ``perfkit baseline save`` and ``perfkit phases``."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.text import Text

from perfkit.cli.command import app, baseline_app, console, out
from perfkit.cli.options import (Backend, JsonOut, NoProgress, Quiet, Solver, SolverOpt, Strategy, Tasks, Timeout,
                                  parse_options)
from perfkit.cli.output import copy_json, print_notes, print_paths, set_quiet, solver_output_on_stderr
from perfkit.cli.tables import show
from perfkit.model import DEFAULT_STORE


def headline(text: str, bad: bool) -> None:
    """A verb's first line, red when something is wrong."""
    console.print(Text(text, style="bold red" if bad else "bold green"))


@app.command()
def gate(
    baseline: List[str] = typer.Option([], metavar="RUN_DIR|FILE|NAME",
                                       help="a run folder (the flag once per repeat), a baseline file, "
                                       "or a baseline NAME"),
    current: List[str] = typer.Option([], metavar="RUN_DIR",
                                      help="a run folder (the flag once per repeat); none: measure "
                                      "the current code now"),
    base: Optional[str] = typer.Option(None, metavar="REF",
                                       help="a git ref measured here as the base (temporary worktree): "
                                       "instructions side by side, timing in interleaved pairs"),
    threshold: str = typer.Option("10%", metavar="PERCENT",
                                  help="smallest timing change that matters, e.g. 10% or 0.1"),
    instruction_threshold: str = typer.Option("2%", metavar="PERCENT",
                                              help="smallest instruction-count change that matters"),
    metric: List[str] = typer.Option([], metavar="NAME,...",
                                     help="instructions, cpu, wall and/or unqueued (the wall less the "
                                     "wait for a core; --base only) (default: instructions when the baseline "
                                     "has them, else cpu and wall; instructions, unqueued and cpu with --base)"),
    normalise: str = typer.Option("auto", metavar="MODE", help="divide by the calibration workload: auto, yes, no"),
    repeats: Optional[int] = typer.Option(None, metavar="N",
                                          help="timed runs of the current code, and of a rebuilt baseline's revision "
                                          "(unpaired timing)"),
    pairs: Optional[int] = typer.Option(None, metavar="N", help="at most this many interleaved pairs, only with --base "
                                        "(stops early when clear) [default: 25]"),
    rebuild_incompatible: bool = typer.Option(False, "--rebuild-incompatible",
                                              help="when the baseline's instruction counts come from another build, "
                                              "measure the revision that committed it here instead of refusing"),
    answers_only: bool = typer.Option(False, "--answers-only", help="check answers, skip speed"),
    store: Path = typer.Option(DEFAULT_STORE, metavar="DIR", help="where measured runs and the history are stored"),
    summary: Optional[Path] = typer.Option(None, metavar="FILE", help="append the Markdown summary here "
                                           "(default: $GITHUB_STEP_SUMMARY when set)"),
    json_out: JsonOut = None,
    quiet: Quiet = False,
    no_progress: NoProgress = False,
) -> None:
    """Fail on lost or changed answers, then on a speed regression beyond the threshold."""
    import perfkit
    from perfkit.analysis.gate import parse_threshold
    from perfkit.reports import gate as render

    set_quiet(quiet)
    metrics = [] if answers_only else ([m for spec in metric for m in spec.split(",") if m] or None)
    with solver_output_on_stderr():  # with no --current, it runs the solver
        result = perfkit.gate(baseline, current, base=base, threshold=parse_threshold(threshold),
                              instruction_threshold=parse_threshold(instruction_threshold, "instruction_threshold"),
                              metrics=metrics, normalise=normalise, repeats=repeats, pairs=pairs,
                              rebuild_incompatible=rebuild_incompatible, store=store)
    step_summary = summary or (Path(os.environ["GITHUB_STEP_SUMMARY"]) if os.environ.get("GITHUB_STEP_SUMMARY") else None)
    render.write(result, step_summary, json_out)
    doc = render.build(result)
    headline(doc.headline, not result.passed)
    console.print(Text(result.answer_summary, style="" if result.answers_ok else "bold red"))
    rows = render.verdict_rows(result)
    if rows:  # the method, long and the same for every metric, goes below the table
        show(console, None, render.GATE_HEADERS[:-1], [r[:-1] for r in rows])
        for method in dict.fromkeys(r[-1] for r in rows):
            console.print(Text(f"method: {method}"))
    if result.metrics:  # an answers-only gate judged no metric against a threshold
        console.print(Text(render.thresholds(result)))
    for task, base_count, current_count, change in result.tasks:
        console.print(Text(f"task {task}: {base_count:,.0f} → {current_count:,.0f} instructions "
                           f"({change:+.2f} %)"))
    for note in result.notes:
        console.print(Text(note))
    print_paths(p for p in (step_summary, json_out) if p is not None)
    sys.exit(result.exit_code)


@baseline_app.command("save")
def baseline_save(
    name: str = typer.Argument(..., metavar="NAME", help="file name under reports/baselines/ (without .json)"),
    runs: List[Path] = typer.Argument(None, metavar="RUN_DIR...", help="repeats of one experiment; none: run it now"),
    solver: Solver = "arc",
    tasks: Tasks = "default",
    strategy: Strategy = "sequential",
    backend: Backend = "inline",
    workers: int = typer.Option(1, metavar="N", help="worker count"),
    timeout: Timeout = 1.0,
    solver_opt: SolverOpt = [],
    repeats: int = typer.Option(5, metavar="N", help="fresh runs to make when no RUN_DIR is given"),
    store: Path = typer.Option(DEFAULT_STORE, metavar="DIR", help="run store folder for the fresh runs"),
    directory: Optional[Path] = typer.Option(None, metavar="DIR",
                                             help="where baselines are written (default reports/baselines)"),
    instructions: bool = typer.Option(False, "--instructions", help="also count each repeat's instructions under "
                                      "valgrind (inline backend), for the instruction gate"),
) -> None:
    """Write reports/baselines/NAME.json from runs (or from fresh runs), with its environment."""
    import perfkit
    from perfkit.model import RunConfig, TimeoutPolicy

    config = RunConfig(solver=solver, tasks=tasks, strategy=strategy, backend=backend, workers=workers,
                       timeout=TimeoutPolicy(timeout), solver_options=parse_options(solver_opt))
    with solver_output_on_stderr():  # with no RUN_DIR, it runs the solver
        path = perfkit.save_baseline(name, runs or (), config=config, repeats=repeats, store=store,
                                     directory=directory, instructions=instructions)
    out.print(str(path), highlight=False)


@app.command()
def phases(
    phase: List[str] = typer.Argument(..., metavar="PHASE...",
                                      help="run folders or labels, in order; the first is the baseline"),
    threshold: str = typer.Option("10%", metavar="PERCENT",
                                  help="slower than the previous phase by more than this: flagged ✗"),
    store: Path = typer.Option(DEFAULT_STORE, metavar="DIR", help="where labels are looked up"),
    out_dir: Optional[Path] = typer.Option(None, "--out", metavar="DIR",
                                           help="report folder (default reports/phases-<time>)"),
    json_out: JsonOut = None,
    quiet: Quiet = False,
) -> None:
    """A phase report: every step's wall, CPU, candidates and answers against the baseline."""
    import perfkit
    from perfkit.analysis.gate import parse_threshold
    from perfkit.analysis.text import duration, signed_percent
    from perfkit.reports import report_files
    from perfkit.reports.phases import build, verdict

    set_quiet(quiet)
    result = perfkit.phases(phase, threshold=parse_threshold(threshold), store=store, out=out_dir)
    print_notes(result.notes)
    doc = build(result.phases, result.report_dir / "phases.png")
    headline(doc.headline, not result.ok)
    rows = [(verdict(p), p.label, duration(p.wall_s), duration(p.cpu_s), str(p.candidates_ok), str(p.timeouts),
             signed_percent(p.wall_vs_previous_pct), signed_percent(p.wall_vs_baseline_pct)) for p in result.phases]
    show(console, "phases (median over repeats; every column in report.md)",
         ("", "phase", "wall", "CPU", "ok cand.", "timeouts", "wall vs prev.", "wall vs base"), rows, left=2)
    for p in result.phases[1:]:
        if not p.answers_ok or p.gained:  # a gain is named too, not flagged
            console.print(Text(f"{p.label}: {p.answers}", style="" if p.answers_ok else "red"))
    copy_json(result.report_dir / "report.json", json_out)
    print_paths(report_files(result.report_dir))
    sys.exit(0 if result.ok else 1)
