"""The ``perfkit`` entry point.

Every verb (one module each, registered by perfkit/cli/verbs.py on the command object of
perfkit/cli/command.py) parses options, calls one public function and renders its result.
User errors are PerfkitError, caught once in ``main``: one line on stderr (one per problem when
it names several), exit status 2, no traceback; a ConfigError is told by its flag (perfkit/cli/flags.py). A usage error (a misspelt
flag, an unknown verb, a missing argument, a bad value) is the same line after the command's
usage line, also exit status 2, whatever click or typer version is installed.
"""

from __future__ import annotations

import signal
import sys
from importlib import metadata
from typing import Any, List, Optional

import typer

from perfkit.cli import INTERRUPTED_LINE, INTERRUPTED_STATUS
from perfkit.cli.command import Verbs, app, console, lay_out_help, out
from perfkit.cli.flags import describe
from perfkit.model import ConfigError, PerfkitError, RunInterrupted


def _click_exception_types() -> tuple[type, type]:
    """(UsageError, ClickException) as the installed typer raises them.

    typer < 0.29 raises click's classes, typer >= 0.29 raises its own copies of them (and no
    longer needs click), so neither can be imported by one name. ``typer.BadParameter`` is public
    in every version and derives from the right pair; they are found through it.
    """
    mro = typer.BadParameter.__mro__
    usage = next((c for c in mro if c.__name__ == "UsageError"), typer.BadParameter)
    click_exception = next((c for c in mro if c.__name__ == "ClickException"), usage)
    return usage, click_exception


UsageError, ClickException = _click_exception_types()


def _show_version(value: bool) -> None:
    if value:
        out.print(f"perfkit {metadata.version('perfkit')}", highlight=False)
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_show_version, is_eager=True,
                                       help="Print perfkit's version and exit.")) -> None:
    """perfkit's own options (the help text is the app's ``help`` in perfkit/cli/command.py)."""


def main(argv: Optional[list[str]] = None) -> None:
    """Entry point: run the command; a PerfkitError or a usage error becomes one line and exit
    status 2."""
    # every command starts speaking: a caller that ran one with --quiet in this process (a test,
    # a notebook) must still see the next one's usage errors
    console.quiet = False
    lay_out_help()
    try:
        import perfkit.cli.verbs  # noqa: F401  registers every verb on ``app``

        command = typer.main.get_command(app)
    except KeyboardInterrupt as exc:
        interrupted(exc)
        sys.exit(INTERRUPTED_STATUS)
    try:
        code = command.main(args=argv, prog_name="perfkit", standalone_mode=False)
    except PerfkitError as exc:
        console.quiet = False  # --quiet silences tables and progress, never an error
        text = describe(exc) if isinstance(exc, ConfigError) else str(exc)
        for line in text.splitlines() or [""]:  # one problem a line (every bad file of a task folder)
            console.print(f"perfkit: error: {line}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt) as exc:  # click turns Ctrl-C into Abort
        interrupted(exc)
        sys.exit(INTERRUPTED_STATUS)
    except UsageError as exc:
        sys.exit(usage_error(exc, command, argv))
    except ClickException as exc:
        console.quiet = False
        console.print(f"perfkit: error: {exc.format_message()}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    # typer turns Ctrl-C into Exit(130) and, outside standalone mode, returns the code; no verb
    # returns 130 itself. Outside a verb (parsing perfkit's own options, which imports pydantic:
    # ~70 ms of every command) no exception is kept: still the same line
    if code == INTERRUPTED_STATUS:
        interrupted(Verbs.interrupt or KeyboardInterrupt())
    sys.exit(code if isinstance(code, int) else 0)


def usage_error(exc: Exception, command: Any = None, argv: Optional[List[str]] = None) -> int:
    """Show a click/typer usage error the ecosystem's way, in two lines: the command's usage
    line, then ``perfkit: error:`` and the problem with its close match. Returns exit status 2.

    ``perfkit`` or ``perfkit tasks`` alone (click's NoArgsIsHelpError, by name: the class exists
    only in click >= 8.2 and its typer copy) prints the help and returns 0, as older click does.
    """
    if type(exc).__name__ == "NoArgsIsHelpError":
        text = exc.format_message()  # typer's rich help is printed when built: the text is then empty
        if text.strip():
            out.print(text, highlight=False, markup=False, soft_wrap=True)
        return 0
    message = exc.format_message()
    matches = getattr(exc, "possibilities", None)
    if matches:  # click's wording differs between versions; its list is closest first (difflib)
        message = f"{exc.message} (did you mean {matches[0]}?)"
    ctx = getattr(exc, "ctx", None)
    usage = ctx.get_usage().strip() if ctx is not None else None
    if usage is None and command is not None:
        try:
            usage = _usage_line(command, list(sys.argv[1:] if argv is None else argv))
        except Exception:  # the usage line is a courtesy: the error line below is what matters
            usage = None
    console.quiet = False  # an error is never silenced, --quiet or not
    if usage:
        console.print(usage, highlight=False, markup=False, soft_wrap=True)
    console.print(f"perfkit: error: {message}", highlight=False, markup=False, soft_wrap=True)
    return 2


def _usage_line(command: Any, argv: List[str]) -> Optional[str]:
    """The usage line of the (sub)command ``argv`` names. click raises some parser errors (an
    option without its value) without a context, so their usage line is rebuilt from argv."""
    ctx = command.make_context("perfkit", [], resilient_parsing=True)
    for word in argv:
        sub = ctx.command.get_command(ctx, word) if hasattr(ctx.command, "get_command") else None
        if sub is None and not word.startswith("-"):
            break
        if sub is not None:
            ctx = sub.make_context(word, [], parent=ctx, resilient_parsing=True)
    return ctx.get_usage().strip()


def entry() -> None:
    """The ``perfkit`` program: :func:`main` as one whole command (perfkit/runner/command.py),
    so that ``perfkit run`` records its figures from the process start to its exit."""
    from perfkit.runner import command

    try:
        command.begin()
    except KeyboardInterrupt as exc:  # Ctrl-C before main: no verb ran, nothing is recorded yet
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        interrupted(exc)
        command.finish(INTERRUPTED_STATUS)  # leaves here when begin() got as far as the command
        raise SystemExit(INTERRUPTED_STATUS) from None
    try:
        main()
    except KeyboardInterrupt:  # pressed again after main's own handler: the run is recorded already
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        command.finish(INTERRUPTED_STATUS)
        raise SystemExit(INTERRUPTED_STATUS) from None
    except SystemExit as exc:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # further presses cannot tear the exit
        command.finish(exc.code)  # leaves here, unless the command must exit the ordinary way
        raise


def interrupted(exc: BaseException) -> None:
    """Say that perfkit was interrupted and, when a run was, how to resume it (under
    ``--quiet`` too: like an error, it is why the command ended)."""
    console.quiet = False
    cause: Optional[BaseException] = exc
    while cause is not None and not isinstance(cause, RunInterrupted):
        cause = cause.__cause__ or cause.__context__
    if cause is None:
        console.print(INTERRUPTED_LINE, highlight=False)
        return
    console.print(f"perfkit: run interrupted; resume it with: perfkit run --resume {cause.path}",
                  highlight=False, markup=False, soft_wrap=True)
