"""The ``perfkit`` entry point.

Every verb (one module each, registered by perfkit/cli/verbs.py on the command object of
perfkit/cli/command.py) parses options, calls one public function and renders its result.
User errors are PerfkitError, caught once in ``main``: one line on stderr, exit status 2, no
traceback; a ConfigError is told by its flag (perfkit/cli/flags.py).
"""

from __future__ import annotations

import sys
from typing import Optional

import click
import typer

from perfkit.cli.command import app, console
from perfkit.cli.flags import describe
from perfkit.model import ConfigError, PerfkitError, RunInterrupted


def main(argv: Optional[list[str]] = None) -> None:
    """Entry point: run the command; a PerfkitError becomes one line and exit status 2."""
    import perfkit.cli.verbs  # noqa: F401  registers every verb on ``app``

    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="perfkit", standalone_mode=False)
    except PerfkitError as exc:
        console.quiet = False  # --quiet silences tables and progress, never an error
        text = describe(exc) if isinstance(exc, ConfigError) else str(exc)
        console.print(f"perfkit: error: {text}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt) as exc:  # click turns Ctrl-C into Abort
        interrupted(exc)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2 if isinstance(exc, click.UsageError) else exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    # typer turns Ctrl-C into Exit(130) and, outside standalone mode, returns the code
    sys.exit(code if isinstance(code, int) else 0)


def interrupted(exc: BaseException) -> None:
    """Say that perfkit was interrupted and, when a run was, how to resume it."""
    cause: Optional[BaseException] = exc
    while cause is not None and not isinstance(cause, RunInterrupted):
        cause = cause.__cause__ or cause.__context__
    if cause is None:
        console.print("perfkit: interrupted", highlight=False)
        return
    console.print(f"perfkit: run interrupted; resume it with: perfkit run --resume {cause.path}",
                  highlight=False, markup=False, soft_wrap=True)
