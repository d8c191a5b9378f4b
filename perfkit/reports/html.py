"""Self-contained HTML renderer: one file, inline CSS, every PNG embedded as a base64 data URI."""

from __future__ import annotations

import base64
from html import escape

from perfkit.reports.document import FAIL, PASS, Bullets, Document, Heading, Image, Links, Para, Table

#: The verdict marks drawn as inline SVG: they show whatever fonts the browser has (an emoji
#: ✅/❌ is an empty box without an emoji font).
MARK_SVG = {
    PASS: ('ok', '<svg class="mark" viewBox="0 0 16 16" width="1em" height="1em" role="img" aria-label="pass">'
                 '<circle cx="8" cy="8" r="8" fill="#1a7f37"/><path d="M4 8.5l2.5 2.5L12 5.5" stroke="#fff" '
                 'stroke-width="2" fill="none"/></svg>'),
    FAIL: ('bad', '<svg class="mark" viewBox="0 0 16 16" width="1em" height="1em" role="img" aria-label="fail">'
                  '<circle cx="8" cy="8" r="8" fill="#cf222e"/><path d="M5 5l6 6M11 5l-6 6" stroke="#fff" '
                  'stroke-width="2"/></svg>'),
}

CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.85em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left}th{background:#f0f0f0}
.headline{padding:.6em 1em;border-radius:4px;font-weight:bold;background:#e6f4ea}
.headline.bad{background:#fde7e9;color:#a00}img{max-width:100%;border:1px solid #ddd}
li.problem{color:#a00}figure{margin:1em 0}
td.ok{color:#1a7f37}td.bad{color:#cf222e;font-weight:bold}svg.mark{vertical-align:-.15em;margin-right:.25em}
td{white-space:nowrap}.scroll{overflow-x:auto;max-width:100%}
"""


def cell(text: str) -> str:
    """A table cell; a leading ✓/✗ mark becomes an SVG mark and colours the cell."""
    mark = MARK_SVG.get(text[:1]) if text else None
    if mark is None:
        return f"<td>{escape(text)}</td>"
    cls, svg = mark
    return f'<td class="{cls}">{svg}{escape(text[1:].strip())}</td>'


def data_uri(path) -> str:
    """A PNG file as ``data:image/png;base64,...``."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def render(doc: Document) -> str:
    """The whole report as one HTML page (no external resource)."""
    body = [f'<p class="headline{" bad" if doc.differences else ""}" id="headline">{escape(doc.headline)}</p>',
            f"<h1>{escape(doc.title)}</h1>"]
    for block in doc.blocks:
        if isinstance(block, Heading):
            body.append(f"<h{block.level + 0}>{escape(block.text)}</h{block.level}>")
        elif isinstance(block, Para):
            text = escape(block.text)
            body.append(f"<p><strong>{text}</strong></p>" if block.strong else f"<p>{text}</p>")
        elif isinstance(block, Table):
            head = "".join(f"<th>{escape(h)}</th>" for h in block.headers)
            rows = "".join("<tr>" + "".join(cell(c) for c in row) + "</tr>" for row in block.rows)
            body.append(f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>')
        elif isinstance(block, Bullets):
            items = []
            for text, subs, strong in block.items:
                sub = "<ul>" + "".join(f"<li>{escape(s)}</li>" for s in subs) + "</ul>" if subs else ""
                items.append(f'<li class="{"problem" if strong else ""}">{escape(text)}{sub}</li>')
            body.append("<ul>" + "".join(items) + "</ul>")
        elif isinstance(block, Links):
            body.append("<ul>" + "".join(f'<li><a href="{escape(href)}">{escape(text)}</a>'
                                         + (f" — {escape(note)}" if note else "") + "</li>"
                                         for text, href, note in block.items) + "</ul>")
        elif isinstance(block, Image):
            body.append(f'<figure><img alt="{escape(block.title)}" src="{data_uri(block.path)}">'
                        f"<figcaption>{escape(block.title)}</figcaption></figure>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(doc.title)}</title><style>{CSS}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")
