"""Rich tables for the terminal."""

from __future__ import annotations

import io
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from fpnprof.report.model import NUMERIC_KINDS, Column, Report, Section, format_cell


def _bar(share: float, width: int = 10) -> Text:
    full = round(max(0.0, min(1.0, share)) * width)
    bar = "█" * full + "·" * (width - full) + " " if width else ""
    return Text(f"{bar}{share * 100:5.1f}%", style="cyan")


def _cell(row: dict[str, Any], col: Column, bar_width: int) -> Text | str:
    value = row.get(col.key)
    if col.kind == "bar":
        return _bar(value, bar_width) if isinstance(value, float) else ""
    return format_cell(value, col.kind)


def _table(section: Section, columns: list[Column], bar_width: int) -> Table:
    table = Table(
        title=section.title,
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAVY,
        collapse_padding=True,
        pad_edge=False,
    )
    for col in columns:
        # text may wrap in a narrow terminal; numbers, shapes and bars never do
        text = col.kind == "text"
        table.add_column(
            col.header,
            justify="right" if col.kind in NUMERIC_KINDS else "left",
            no_wrap=not text,
            overflow="fold" if text else "ellipsis",
        )
    for row in section.rows:
        table.add_row(*[_cell(row, c, bar_width) for c in columns])
    if section.totals:
        table.add_section()
        for row in section.totals:
            table.add_row(*[format_cell(row.get(c.key), c.kind) if c.kind != "bar" else "" for c in columns], style="bold")
    return table


#: A wrapping text column needs only this much room to stay readable.
TEXT_MIN = 24
#: Bar widths to try, widest first, before any column is hidden (0: the percentage alone).
BAR_WIDTHS = (10, 5, 0)


def _needed_width(section: Section, columns: list[Column], bar_width: int) -> int:
    """Characters the table needs with no cell cut: widest cell per column plus padding."""
    rows = section.rows + section.totals
    widths = [max([len(col.header)] + [len(str(_cell(r, col, bar_width))) for r in rows]) for col in columns]
    widths = [min(w, TEXT_MIN) if col.kind == "text" else w for w, col in zip(widths, columns, strict=True)]
    return sum(widths) + 2 * len(columns)


def fitted(section: Section, width: int) -> tuple[Table, list[Column]]:
    """The section's table, narrowed to ``width`` without cutting a number: bars shrink first, then
    droppable columns go (highest ``drop`` first). Returns the table and the columns it left out."""
    columns = list(section.columns)
    bar_width = next((w for w in BAR_WIDTHS if _needed_width(section, columns, w) <= width), BAR_WIDTHS[-1])
    hidden: list[Column] = []
    while _needed_width(section, columns, bar_width) > width and any(c.drop for c in columns):
        worst = max((c for c in columns if c.drop), key=lambda c: c.drop)
        columns.remove(worst)
        hidden.append(worst)
    return _table(section, columns, bar_width), hidden


def render(report: Report, *, color: bool = False, width: int | None = None) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=color, no_color=not color, width=width or 120)
    for section in report.sections:
        table, hidden = fitted(section, console.width)
        console.print(table)
        if hidden:
            names = ", ".join(c.header for c in hidden)
            console.print(f"(hidden at {console.width} columns: {names}; widen the terminal or use --format json)")
    for note in report.notes:
        console.print(note, highlight=False)
    return buffer.getvalue()
