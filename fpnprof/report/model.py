"""A format-neutral report: titled sections of typed columns, plus a JSON payload."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: How a column's values print in human formats (JSON and CSV keep raw values).
KINDS = ("str", "text", "int", "giga", "mb", "ms", "float", "ratio", "pct", "num", "bar")
#: Kinds aligned right in human formats ("num": a number pre-formatted as text, e.g. "1.35x").
NUMERIC_KINDS = frozenset({"int", "giga", "mb", "ms", "float", "ratio", "pct", "num"})


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    kind: str = "str"
    drop: int = 0  # > 0: a narrow terminal may hide it, highest first
    label: str = ""  # its name where the header alone is ambiguous (a ratio column "x": "GFLOPs ratio")


@dataclass
class Section:
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]] = field(default_factory=list)
    totals: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Report:
    sections: list[Section]
    data: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def format_cell(value: Any, kind: str) -> str:
    """A value as people read it: 1,234,567 params, 12.345 G, 3.21 MB, 4.56 ms."""
    if value is None:
        return "-"
    if kind == "int":
        return f"{value:,}"
    if kind == "giga":
        return f"{value / 1e9:.3f}"
    if kind == "mb":
        return f"{value / 2**20:.2f}"
    if kind == "ms":
        return f"{value:.3f}"
    if kind == "float":
        return f"{value:.1f}"
    if kind == "ratio":
        return f"{value:.2f}x"
    if kind == "pct":
        return f"{value * 100:.1f}%"
    if isinstance(value, (tuple, list)):
        return "x".join(str(v) for v in value)
    return str(value)
