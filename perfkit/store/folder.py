"""The folders perfkit writes its output into (a report, a profile), made with one line of
error when they cannot be."""

from __future__ import annotations

from pathlib import Path

from perfkit.model import PerfkitError


def output_folder(out: str | Path, what: str = "report folder") -> Path:
    """``out``, created with its parents; a PerfkitError naming it (``what`` says which folder)
    when it cannot be — a path under a file, or in a read-only file system: one line, not
    mkdir's traceback."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PerfkitError(f"{out}: cannot create the {what}: {exc.strerror or exc}") from None
    return out
