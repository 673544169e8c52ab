"""Rich tables for the terminal.

Every string is printed literally: a neck file's path or description may hold ``[brackets]`` that
rich would read as markup, or control characters; none of it is interpreted (:func:`literal`).
"""

from __future__ import annotations

import io
import re
from typing import Any

from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from fpnprof.report.model import NUMERIC_KINDS, Column, Report, Section, format_cell

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """Control characters shown as escapes (``\\x1b``), so no user string can move the cursor or colour
    the terminal."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def literal(text: str, style: str = "") -> Text:
    """``text`` as rich should print it: as it is, never read as markup."""
    return Text(printable(text), style=style)


def _bar(share: float, width: int = 10) -> Text:
    full = round(max(0.0, min(1.0, share)) * width)
    bar = "█" * full + "·" * (width - full) + " " if width else ""
    return Text(f"{bar}{share * 100:5.1f}%", style="cyan")


def _cell(row: dict[str, Any], col: Column, bar_width: int) -> Text:
    value = row.get(col.key)
    if col.kind == "bar":
        return _bar(value, bar_width) if isinstance(value, float) else Text("")
    return literal(format_cell(value, col.kind))


def _table(section: Section, columns: list[Column], bar_width: int) -> Table:
    table = Table(
        title=None if section.wide_title else literal(section.title),
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
            literal(col.header),
            justify="right" if col.kind in NUMERIC_KINDS else "left",
            no_wrap=not text,
            overflow="fold" if text else "ellipsis",
        )
    for row in section.rows:
        table.add_row(*[_cell(row, c, bar_width) for c in columns])
    if section.totals:
        table.add_section()
        for row in section.totals:
            table.add_row(*[_cell(row, c, bar_width) if c.kind != "bar" else Text("") for c in columns], style="bold")
    return table


#: A wrapping text column needs only this much room to stay readable.
TEXT_MIN = 24
#: Bar widths to try, widest first, before any column is hidden (0: the percentage alone).
BAR_WIDTHS = (10, 5, 0)


def needed_width(section: Section, columns: list[Column], bar_width: int) -> int:
    """Characters the table needs with no cell cut: widest cell per column plus padding."""
    rows = section.rows + section.totals
    widths = [max([len(col.header)] + [len(_cell(r, col, bar_width).plain) for r in rows]) for col in columns]
    widths = [min(w, TEXT_MIN) if col.kind == "text" else w for w, col in zip(widths, columns, strict=True)]
    return sum(widths) + 2 * len(columns)


def fitted(section: Section, width: int) -> tuple[Table, list[Column], int]:
    """The section's table, narrowed to ``width`` without cutting a number: bars shrink first, then
    droppable columns go (highest ``drop`` first). Returns the table, the columns it left out, and
    the width it needs (more than ``width`` when even the narrowest form does not fit: then it is
    printed that wide, and the terminal wraps its lines rather than any number being cut)."""
    columns = list(section.columns)
    bar_width = next((w for w in BAR_WIDTHS if needed_width(section, columns, w) <= width), BAR_WIDTHS[-1])
    hidden: list[Column] = []
    while needed_width(section, columns, bar_width) > width and any(c.drop for c in columns):
        worst = max((c for c in columns if c.drop), key=lambda c: c.drop)
        columns.remove(worst)
        hidden.append(worst)
    return _table(section, columns, bar_width), hidden, needed_width(section, columns, bar_width)


def _cuts(table: Table, width: int) -> int:
    """How many cells rich shortens with an ellipsis when it prints ``table`` at ``width``."""
    scratch = Console(file=io.StringIO(), width=width, no_color=True, highlight=False)
    with scratch.capture() as captured:
        scratch.print(table)
    return captured.get().count("…")


def least_width(table: Table, width: int) -> int:
    """The narrowest width, from ``width`` up, at which rich prints the table without cutting a cell
    (text columns still fold): a binary search between ``width`` and the table's natural width."""
    if _cuts(table, width) == 0:
        return width
    natural = Measurement.get(Console(width=100_000), Console(width=100_000).options, table).maximum
    allowed = _cuts(table, max(natural, width))  # an ellipsis in the data itself is no cut
    if _cuts(table, width) <= allowed:
        return width
    low, high = width, max(natural, width)
    while low < high:
        middle = (low + high) // 2
        if _cuts(table, middle) <= allowed:
            high = middle
        else:
            low = middle + 1
    return low


#: How a folded value reads in the "all rows" note where the value alone is unclear (others: the value).
SAME_PHRASES = {"batch x px": "batch {} px", "part": "part {}", "allocator": "{} allocator"}


def fold_same(section: Section) -> tuple[Section, str | None]:
    """``section`` without its text columns that hold one value on every row (two rows or more), and
    the note that says them once: ``all rows: paper, part neck, batch 2 x 64 px``."""
    rows = section.rows
    if not section.fold_same or len(rows) < 2 or section.totals:
        return section, None
    same = [
        c for c in section.columns if c.kind in ("str", "text") and len({format_cell(r.get(c.key), c.kind) for r in rows}) == 1
    ]
    if not same or len(same) == len(section.columns):
        return section, None
    said = [SAME_PHRASES.get(c.header, "{}").format(format_cell(rows[0].get(c.key), c.kind)) for c in same]
    kept = Section(section.title, [c for c in section.columns if c not in same], rows, wide_title=section.wide_title)
    return kept, f"all rows: {', '.join(said)}"


def hidden_note(hidden: list[Column], width: int) -> str:
    names = ", ".join(c.label or c.header for c in hidden)
    return f"(hidden at {width} columns: {names}; widen the terminal or use --format json)"


def render(report: Report, *, color: bool = False, width: int | None = None) -> str:
    buffer = io.StringIO()

    def console_of(columns: int) -> Console:
        return Console(file=buffer, force_terminal=color, no_color=not color, width=columns, highlight=False)

    console = console_of(width or 120)
    for whole in report.sections:
        section, same = fold_same(whole)
        table, hidden, estimate = fitted(section, console.width)
        # a table that cannot fit even with every droppable column hidden is printed as wide as it needs
        # (the estimate errs wide: only then is the table rendered to find the least width)
        needed = console.width if estimate <= console.width else least_width(table, console.width)
        if section.wide_title:
            console.print(literal(section.title))
        (console if needed <= console.width else console_of(needed)).print(table)
        if same:
            console.print(literal(same))
        if hidden:
            console.print(literal(hidden_note(hidden, console.width)))
    for note in report.notes:
        console.print(literal(note))
    return buffer.getvalue()
