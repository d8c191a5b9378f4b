"""The ``perfkit`` command line: a thin layer over the Python API of perfkit/api.py, one
module per verb or family of verbs (perfkit/cli/verbs.py). The program is :func:`entry`; the
work is :func:`perfkit.cli.app.main`."""

from __future__ import annotations

import sys

#: The exit status of a command stopped by Ctrl-C (128 + SIGINT), as a shell reports it.
INTERRUPTED_STATUS = 130
#: What perfkit says when it is stopped by Ctrl-C outside a run (a run adds how to resume it).
INTERRUPTED_LINE = "perfkit: interrupted"


def entry() -> None:
    """The ``perfkit`` program. Ctrl-C while the command line's own modules are still being
    imported (typer, rich and perfkit's verbs: the first few tenths of a second) ends it with
    the one line every other interruption gives, not a traceback from inside an import."""
    try:
        from perfkit.cli import app
        from perfkit.runner import command  # noqa: F401  pandas and numpy: app.entry's first import
    except KeyboardInterrupt:
        print(INTERRUPTED_LINE, file=sys.stderr)
        raise SystemExit(INTERRUPTED_STATUS) from None
    app.entry()
