"""What every verb does with its output: ``--quiet`` (only the paths of what was written, and
errors) and the paths printed at the end, one per line on stdout, for scripts."""

from __future__ import annotations

import os
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence

from perfkit.cli.command import console, out


def set_quiet(quiet: bool) -> None:
    """``--quiet``: the people's console (stderr) says nothing more; errors are still printed
    (perfkit/cli/app.py turns it back on for them)."""
    console.quiet = quiet


@contextmanager
def solver_output_on_stderr() -> Iterator[None]:
    """While a verb runs a solver: whatever the solver prints goes to stderr, so that stdout
    stays the paths a script reads (``RUN=$(perfkit run ...)``). A candidate's ``print`` landed
    between them, from the parent (inline) and from every worker process. The redirection is of
    file descriptor 1, which the workers (and the forkserver they come from) inherit, and C code
    writes to."""
    _flush(sys.stdout)
    try:
        saved = os.dup(1)
        os.dup2(2, 1)
    except OSError:  # no stdout or stderr to redirect (closed by the caller): nothing to keep apart
        yield
        return
    try:
        yield
    finally:
        _flush(sys.stdout)  # the solver's buffered lines go where it printed them: stderr
        os.dup2(saved, 1)
        os.close(saved)


def _flush(stream: object) -> None:
    try:
        stream.flush()  # type: ignore[attr-defined]
    except (OSError, ValueError, AttributeError):  # closed or replaced by a caller
        pass


def print_paths(paths: Iterable[Path]) -> None:
    """The files written, one per line on stdout."""
    for path in paths:
        out.print(str(path), soft_wrap=True, highlight=False)


def print_notes(notes: Sequence[str]) -> None:
    """What reading or writing a run folder skipped or worked around (``Run.notes``), one
    warning line each."""
    for note in notes:
        console.print(f"perfkit: warning: {note}", highlight=False, markup=False, soft_wrap=True)


def copy_json(report_json: Path, target: Optional[Path]) -> Optional[Path]:
    """``--json FILE``: a copy of the report folder's report.json (nothing to copy when FILE is
    that report.json: ``--out DIR --json DIR/report.json`` ended in shutil's SameFileError)."""
    if target is None:
        return None
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    if not (Path(target).exists() and Path(target).samefile(report_json)):
        shutil.copyfile(report_json, target)
    return Path(target)
