"""Renderers of a :class:`perfkit.analysis.Comparison`: charts (PNG), Markdown and HTML.

:func:`write_report` writes a report folder: ``report.md``, ``report.html`` and the PNGs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from perfkit.reports import charts, html, markdown
from perfkit.reports.document import build


def write_report(comparison: Any, out: str | Path, name: str = "comparison",
                 profiles: Optional[list[tuple[str, str, str]]] = None) -> Path:
    """Render ``comparison`` into the folder ``out`` (created); returns the folder.
    ``profiles``: (title, href relative to ``out``, note) of profiles to link."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    done = charts.render_all(comparison, out)
    doc = build(comparison, done, name, profiles)
    (out / "report.md").write_text(markdown.render(doc), encoding="utf-8")
    (out / "report.html").write_text(html.render(doc), encoding="utf-8")
    return out
