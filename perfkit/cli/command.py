"""The ``perfkit`` command object, its sub-command groups and the two consoles every verb
prints to (results on stdout, progress and messages on stderr)."""

from __future__ import annotations

from typing import Any, Optional

import typer
from rich.console import Console
from typer.core import TyperGroup

#: ``-h`` as well as ``--help``, on every command (sub-commands inherit it).
HELP = {"help_option_names": ["-h", "--help"]}


class Verbs(TyperGroup):
    """The verbs' group. It keeps the Ctrl-C that ended a verb (``interrupt``): typer turns it
    into exit status 130 and drops it, and its cause says what was interrupted (a run to
    resume, perfkit/cli/app.py ``interrupted``)."""

    interrupt: Optional[BaseException] = None

    def invoke(self, ctx: Any) -> Any:
        """Invoke the verb, keeping a KeyboardInterrupt that ends it."""
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:
            Verbs.interrupt = exc
            raise


app = typer.Typer(cls=Verbs, add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  context_settings=HELP, help="Measure candidate-search solvers under execution strategies and backends.")
tasks_app = typer.Typer(no_args_is_help=True, help="Task sources: list and validate ARC tasks.")
baseline_app = typer.Typer(no_args_is_help=True, help="Baselines committed under reports/baselines/.")
app.add_typer(tasks_app, name="tasks")
app.add_typer(baseline_app, name="baseline")

#: Messages, progress and tables for people.
console = Console(stderr=True)
#: What a script reads: paths of what was written.
out = Console()
