"""The ``perfkit`` command object, its sub-command groups and the two consoles every verb
prints to (results on stdout, progress and messages on stderr)."""

from __future__ import annotations

import typer
from rich.console import Console

#: ``-h`` as well as ``--help``, on every command (sub-commands inherit it).
HELP = {"help_option_names": ["-h", "--help"]}
app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, context_settings=HELP,
                  help="Measure candidate-search solvers under execution strategies and backends.")
tasks_app = typer.Typer(no_args_is_help=True, help="Task sources: list and validate ARC tasks.")
baseline_app = typer.Typer(no_args_is_help=True, help="Baselines committed under reports/baselines/.")
app.add_typer(tasks_app, name="tasks")
app.add_typer(baseline_app, name="baseline")

#: Messages, progress and tables for people.
console = Console(stderr=True)
#: What a script reads: paths of what was written.
out = Console()
