"""``perfkit history``: a metric over commits, with its change points."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from perfkit.cli.command import app
from perfkit.model import DEFAULT_STORE


@app.command()
def history(
    metric: str = typer.Option("instructions", metavar="NAME", help="instructions, cpu or wall"),
    benchmark: Optional[str] = typer.Option(None, metavar="NAME",
                                            help="which benchmark (default: the last one measured)"),
    store: Path = typer.Option(DEFAULT_STORE, metavar="DIR", help="the store whose history.jsonl to read"),
) -> None:
    """Show a metric over commits (every gate and baseline measurement) and where it shifted.
    An after-merge view, not a gate: it exits 0 whatever the history shows (2 when there is none)."""
    import perfkit
    from perfkit.reports import gate as render

    typer.echo(render.history_text(perfkit.history(metric, benchmark, store)))
