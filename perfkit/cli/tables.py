"""Tables on the terminal that never cut a number: a rich table when it fits the console's
width (80 columns in a CI log, the terminal's otherwise), else the same rows stacked, one
``header: value`` pair after another, wrapped between pairs. Every verb prints its tables here.
"""

from __future__ import annotations

from typing import Optional, Sequence

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

#: Styles of a cell by its verdict word or mark (colours for verdicts; the text says it too).
VERDICT_STYLES = {"✓": "green", "✗": "bold red", "?": "yellow", "↑": "green", "regression": "bold red",
                  "improvement": "green", "unchanged": "green", "inconclusive": "yellow"}


def cell_style(text: str) -> str:
    """The style of a cell: by its leading mark or verdict word, none otherwise."""
    head = text.split(" ", 1)[0] if text else ""
    return VERDICT_STYLES.get(head, VERDICT_STYLES.get(text[:1], "")) if text else ""


def rich_table(title: Optional[str], headers: Sequence[str], rows: Sequence[Sequence[str]],
               left: int = 1) -> Table:
    """A borderless table: the first ``left`` columns left-aligned, the others (figures) right-aligned;
    no cell ever wraps or is cut (``fits`` decides whether it is shown)."""
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 0, 0, 1), show_edge=False,
                  title_justify="left")
    for i, h in enumerate(headers):
        table.add_column(h, justify="left" if i < left else "right", no_wrap=True)
    for row in rows:
        table.add_row(*(Text(c, style=cell_style(c)) for c in row))
    return table


def width_of(console: Console, table: Table) -> int:
    """Columns the table needs to show every cell whole."""
    return console.measure(table, options=console.options.update(width=10_000)).maximum


def stacked(console: Console, title: Optional[str], headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Each row as its first cell, then ``header value`` pairs wrapped between pairs (never
    inside a number) at the console's width."""
    if title:
        console.print(Text(title, style="italic"))
    width = max(20, console.width)
    for row in rows:
        console.print(Text(row[0], style=cell_style(row[0]) or "bold"))
        line = " "
        for header, value in zip(headers[1:], row[1:]):
            pair = f"{header}: {value}" if header else value
            if len(line) > 1 and len(line) + 3 + len(pair) > width:
                console.print(Text(line), soft_wrap=True)
                line = " "
            line += ("   " if len(line) > 1 else " ") + pair
        if len(line) > 1:
            console.print(Text(line), soft_wrap=True)


def fits(console: Console, title: Optional[str], headers: Sequence[str], rows: Sequence[Sequence[str]],
         left: int = 1) -> bool:
    """Whether these rows fit the console as a table with every cell whole."""
    return width_of(console, rich_table(title, headers, rows, left)) <= console.width


def show(console: Console, title: Optional[str], headers: Sequence[str], rows: Sequence[Sequence[str]],
         left: int = 1) -> None:
    """Print rows as a table when it fits the console, else stacked: never a cut cell."""
    if fits(console, title, headers, rows, left):
        console.print(rich_table(title, headers, rows, left))
    else:
        stacked(console, title, headers, rows)
