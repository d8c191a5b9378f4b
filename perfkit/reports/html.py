"""Self-contained HTML renderer: one file, inline CSS, every PNG embedded as a base64 data URI."""

from __future__ import annotations

import base64
from html import escape

from perfkit.reports.document import Bullets, Document, Heading, Image, Links, Para, Table

CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.85em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left}th{background:#f0f0f0}
.headline{padding:.6em 1em;border-radius:4px;font-weight:bold;background:#e6f4ea}
.headline.bad{background:#fde7e9;color:#a00}img{max-width:100%;border:1px solid #ddd}
li.problem{color:#a00}figure{margin:1em 0}
"""


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
            rows = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in block.rows)
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
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
