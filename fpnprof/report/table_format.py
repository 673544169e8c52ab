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
    return Text("█" * full + "·" * (width - full) + f" {share * 100:5.1f}%", style="cyan")


def _cell(row: dict[str, Any], col: Column) -> Text | str:
    value = row.get(col.key)
    if col.kind == "bar":
        return _bar(value) if isinstance(value, float) else ""
    return format_cell(value, col.kind)


def _table(section: Section, columns: list[Column]) -> Table:
    table = Table(
        title=section.title,
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAVY,
        collapse_padding=True,
        pad_edge=False,
    )
    for col in columns:
        table.add_column(col.header, justify="right" if col.kind in NUMERIC_KINDS else "left", no_wrap=True)
    for row in section.rows:
        table.add_row(*[_bar(row[c.key]) if c.kind == "bar" else format_cell(row.get(c.key), c.kind) for c in columns])
    if section.totals:
        table.add_section()
        for row in section.totals:
            table.add_row(*[format_cell(row.get(c.key), c.kind) if c.kind != "bar" else "" for c in columns], style="bold")
    return table


def _needed_width(section: Section, columns: list[Column]) -> int:
    """Characters the table needs with no cell cut: widest cell per column plus padding."""
    rows = section.rows + section.totals

    def cell_width(row: dict[str, Any], col: Column) -> int:
        value = row.get(col.key)
        return len(_bar(value).plain) if col.kind == "bar" and isinstance(value, float) else len(format_cell(value, col.kind))

    widths = [max([len(col.header)] + [cell_width(r, col) for r in rows]) for col in columns]
    return sum(widths) + 2 * len(columns)


def fitted(section: Section, width: int) -> tuple[Table, list[Column]]:
    """The section's table, without its droppable columns (highest ``drop`` first) while it is wider
    than ``width``: a number is never cut. Returns the table and the columns it left out."""
    columns = list(section.columns)
    hidden: list[Column] = []
    while _needed_width(section, columns) > width and any(c.drop for c in columns):
        worst = max((c for c in columns if c.drop), key=lambda c: c.drop)
        columns.remove(worst)
        hidden.append(worst)
    return _table(section, columns), hidden


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
