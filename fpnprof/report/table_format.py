"""Rich tables for the terminal."""

from __future__ import annotations

import io
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from fpnprof.report.model import NUMERIC_KINDS, Column, Report, format_cell


def _bar(share: float, width: int = 10) -> Text:
    full = round(max(0.0, min(1.0, share)) * width)
    return Text("█" * full + "·" * (width - full) + f" {share * 100:5.1f}%", style="cyan")


def _cell(row: dict[str, Any], col: Column) -> Text | str:
    value = row.get(col.key)
    if col.kind == "bar":
        return _bar(value) if isinstance(value, float) else ""
    return format_cell(value, col.kind)


def render(report: Report, *, color: bool = False, width: int | None = None) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=color, no_color=not color, width=width or 120)
    for section in report.sections:
        table = Table(
            title=section.title,
            title_justify="left",
            header_style="bold",
            box=box.SIMPLE_HEAVY,
            collapse_padding=True,
            pad_edge=False,
        )
        for col in section.columns:
            table.add_column(col.header, justify="right" if col.kind in NUMERIC_KINDS else "left", no_wrap=True)
        for row in section.rows:
            table.add_row(
                *[_bar(row[c.key]) if c.kind == "bar" else format_cell(row.get(c.key), c.kind) for c in section.columns]
            )
        if section.totals:
            table.add_section()
            for row in section.totals:
                table.add_row(
                    *[format_cell(row.get(c.key), c.kind) if c.kind != "bar" else "" for c in section.columns], style="bold"
                )
        console.print(table)
    for note in report.notes:
        console.print(note, highlight=False)
    return buffer.getvalue()
