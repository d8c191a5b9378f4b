"""The ``perfkit`` command object and its entry point.

Every verb parses options, calls one public function and renders its result. User errors are
PerfkitError, caught once in ``main``: one line on stderr, exit status 2, no traceback.
"""

from __future__ import annotations

import json
import sys
from typing import Any, List, Optional

import click
import typer
from rich.console import Console

from perfkit.errors import PerfkitError, RunInterrupted

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Measure candidate-search solvers under execution strategies and backends.")
tasks_app = typer.Typer(no_args_is_help=True, help="Task sources: list and validate ARC tasks.")
app.add_typer(tasks_app, name="tasks")

console = Console(stderr=True)
out = Console()


def parse_options(pairs: List[str], flag: str = "--solver-opt") -> dict[str, Any]:
    """``key=value`` pairs; values are JSON when they parse (numbers, true/false), else strings."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise PerfkitError(f"{flag} {pair!r}: expected KEY=VALUE")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def interrupted(exc: RunInterrupted) -> "typer.Exit":
    """Tell where the interrupted run is and how to resume it; exit status 130."""
    console.print(f"perfkit: {exc}", highlight=False, markup=False, soft_wrap=True)
    return typer.Exit(130)


def main(argv: Optional[list[str]] = None) -> None:
    """Entry point: run the command; a PerfkitError becomes one line and exit status 2."""
    import perfkit.cli.verbs  # noqa: F401  registers every verb on ``app``

    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="perfkit", standalone_mode=False)
    except PerfkitError as exc:
        console.print(f"perfkit: error: {exc}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except RunInterrupted as exc:
        console.print(f"perfkit: {exc}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(130)
    except (click.exceptions.Abort, KeyboardInterrupt):
        console.print("perfkit: interrupted", highlight=False)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2 if isinstance(exc, click.UsageError) else exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    # typer turns Ctrl-C into Exit(130) and, outside standalone mode, returns the code
    sys.exit(code if isinstance(code, int) else 0)
