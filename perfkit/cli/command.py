"""The ``perfkit`` command object, its sub-command groups and the two consoles every verb
prints to (results on stdout, progress and messages on stderr)."""

from __future__ import annotations

import os
from typing import Any, Optional

import typer
from rich.console import Console
from typer.core import TyperGroup

#: ``-h`` as well as ``--help``, on every command (sub-commands inherit it).
HELP = {"help_option_names": ["-h", "--help"]}
#: Help is laid out at least this wide: narrower, typer's rich option table cuts option names
#: ("--strat…", "--solve…" at 40 columns); wider, a long line wraps in the terminal, whole.
HELP_MIN_COLUMNS = 80


def lay_out_help() -> None:
    """Lay out typer's help at the console's width, or HELP_MIN_COLUMNS when that is narrower
    (``TERMINAL_WIDTH``, typer's own setting, wins), with no type after a flag and arguments
    named as usage lines name them."""
    from typer import rich_utils

    if "TERMINAL_WIDTH" not in os.environ:
        rich_utils.MAX_WIDTH = max(Console().width, HELP_MIN_COLUMNS)
    _untyped_flags()
    _plain_arguments()


def _untyped_flags() -> None:
    """A flag takes no value, so its help names no type. typer 0.29's rich help prints its
    Python type after every option, flags too (``--quiet -q <bool>``, ``--help -h <bool>``);
    its plain help and earlier typers (which have no ``display_type_rich``) print none for a
    flag. Every declared flag and the help option are typer's own TyperOption: changed here,
    once, on the class."""
    from typer import core

    typed = getattr(core.TyperOption, "display_type_rich", None)
    if typed is None or getattr(typed, "untyped_flags", False):
        return

    def display_type_rich(self: Any, ctx: Any) -> Optional[str]:
        return None if self.is_flag or self.count else typed(self, ctx)

    display_type_rich.untyped_flags = True  # type: ignore[attr-defined]
    core.TyperOption.display_type_rich = display_type_rich


def _plain_arguments() -> None:
    """An argument reads as click, git and the manual pages write it: its metavar, the name
    a reader replaces (``RUN_DIR...``, a verb's own declaration), in brackets when it may be left
    out (``[SPEC]``), with no Python type beside it. typer 0.29 wraps a required one in braces
    in the usage line and prints its annotation in the help (``{run_dirs}...``,
    ``run_dirs... <list[Path]>``); earlier typers print click's usage, which this matches.
    Changed here, once, on typer's TyperArgument class."""
    from typer import core

    usage = getattr(core.TyperArgument, "_usage_display_name", None)
    if usage is None or getattr(usage, "plain", False):
        return

    def _usage_display_name(self: Any) -> str:
        name = self.metavar or self.name.upper() + ("..." if self.nargs != 1 else "")
        return name if self.required else f"[{name}]"

    def display_type_rich(self: Any, ctx: Any) -> Optional[str]:
        return None  # the metavar says what to give, the help what it is

    _usage_display_name.plain = True  # type: ignore[attr-defined]
    core.TyperArgument._usage_display_name = _usage_display_name
    core.TyperArgument.display_type_rich = display_type_rich


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



def _console(stderr: bool = False) -> Console:
    """A console on stdout or stderr. Piped (to a file, ``| cat``) with no ``$COLUMNS``, rich
    takes 80 columns and wraps every longer line there, cutting a description or a
    tab-separated row in two: such output soft-wraps instead, each line whole (the viewer wraps
    it). A terminal, or a width asked for with ``$COLUMNS`` (a CI log), keeps rich's wrapping
    at that width; tables fit it either way (perfkit/cli/tables.py). Emoji codes are left as
    typed: a message quoting ``--solver mod:X:`` must not read ``mod❌``."""
    made = Console(stderr=stderr, emoji=False)
    if not made.is_terminal and "COLUMNS" not in os.environ:
        made.soft_wrap = True
    return made


#: Messages, progress and tables for people.
console = _console(stderr=True)
#: What a script reads: paths of what was written.
out = _console()
