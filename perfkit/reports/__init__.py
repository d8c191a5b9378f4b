"""Renderers of a :class:`perfkit.analysis.Comparison`: charts (PNG), Markdown, HTML and JSON.

:func:`write_report` writes a report folder: ``report.md``, ``report.html``, ``report.json``
and the PNGs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence

from perfkit.reports import charts, html, json_report, markdown
from perfkit.reports.document import build
from perfkit.store.folder import output_folder

#: The files of every report folder, by kind.
REPORT_FILES = {"markdown": "report.md", "html": "report.html", "json": "report.json"}


def write_report(comparison: Any, out: str | Path, name: str = "comparison",
                 profiles: Optional[list[tuple[str, str, str]]] = None, left_out: Sequence[Any] = ()) -> Path:
    """Render ``comparison`` into the folder ``out`` (created); returns the folder.
    ``profiles``: (title, href relative to ``out``, note) of profiles to link; ``left_out``: runs
    given but not complete (perfkit/analysis/runset.py ``LeftOut``), named in the report."""
    out = output_folder(out)
    done = charts.render_all(comparison, out)
    doc = build(comparison, done, name, profiles, left_out)
    (out / REPORT_FILES["markdown"]).write_text(markdown.render(doc), encoding="utf-8")
    (out / REPORT_FILES["html"]).write_text(html.render(doc), encoding="utf-8")
    files = {**{k: out / v for k, v in REPORT_FILES.items()}, **{k: p for k, (_, p) in done.items()}}
    json_report.write(json_report.comparison_record(comparison, name, files, left_out, profiles),
                      out / REPORT_FILES["json"])
    return out


def report_files(folder: Path) -> list[Path]:
    """The files of a report folder a person opens: report.md, report.html, report.json, then the charts."""
    folder = Path(folder)
    found = [folder / v for v in REPORT_FILES.values() if (folder / v).exists()]
    return found + sorted(folder.glob("*.png"))
