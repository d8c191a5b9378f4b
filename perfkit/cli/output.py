"""What every verb does with its output: ``--quiet`` (only the paths of what was written, and
errors) and the paths printed at the end, one per line on stdout, for scripts."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterable, Optional, Sequence

from perfkit.cli.command import console, out


def set_quiet(quiet: bool) -> None:
    """``--quiet``: the people's console (stderr) says nothing more; errors are still printed
    (perfkit/cli/app.py turns it back on for them)."""
    console.quiet = quiet


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
