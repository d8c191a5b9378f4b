"""GitHub-flavoured Markdown renderer of a report :class:`~perfkit.reports.document.Document`.
The first line is always the answer check."""

from __future__ import annotations

from perfkit.reports.document import Bullets, Document, Heading, Image, Links, Para, Table


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ") or " "


def table(t: Table) -> str:
    """A pipe table; cells escaped so every row has exactly the header's column count."""
    lines = ["| " + " | ".join(_cell(h) for h in t.headers) + " |",
             "|" + "|".join("---" for _ in t.headers) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in t.rows]
    return "\n".join(lines)


def render(doc: Document) -> str:
    """The whole report as Markdown (image links are relative: the PNGs sit beside it)."""
    prefix = "**⚠ " if doc.differences else "**"
    parts = [f"{prefix}{doc.headline}**", "", f"# {doc.title}", ""]
    for block in doc.blocks:
        if isinstance(block, Heading):
            parts += ["#" * block.level + " " + block.text, ""]
        elif isinstance(block, Para):
            parts += [f"**{block.text}**" if block.strong else block.text, ""]
        elif isinstance(block, Table):
            parts += [table(block), ""]
        elif isinstance(block, Bullets):
            for text, subs, strong in block.items:
                parts.append(f"- **{text}**" if strong else f"- {text}")
                parts += [f"  - {s}" for s in subs]
            parts.append("")
        elif isinstance(block, Links):
            parts += [f"- [{text}]({href}) — {note}" if note else f"- [{text}]({href})" for text, href, note in block.items]
            parts.append("")
        elif isinstance(block, Image):
            parts += [f"![{block.title}]({block.path.name})", ""]
    return "\n".join(parts).rstrip() + "\n"
