"""A format-neutral report: titled sections of typed columns, plus a JSON payload."""

from __future__ import annotations

from collections.abc import Callable
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
    #: the title printed at the terminal's width, above the table (rich wraps a table's title at the table's)
    wide_title: bool = False
    #: a table prints a text column with one value on every row once, in a note under it ("all rows: ...")
    fold_same: bool = False


@dataclass
class Report:
    sections: list[Section]
    data: dict[str, Any]
    notes: list[str] = field(default_factory=list)


#: How each kind of number reads: 1,234,567 params, 12.345 G, 3.21 MB, 4.56 ms, 1.23x, 4.5%.
NUMBER_FORMATS: dict[str, Callable[[Any], str]] = {
    "int": lambda v: f"{v:,}",
    "giga": lambda v: f"{v / 1e9:.3f}",
    "mb": lambda v: f"{v / 2**20:.2f}",
    "ms": lambda v: f"{v:.3f}",
    "float": lambda v: f"{v:.1f}",
    "ratio": lambda v: f"{v:.2f}x",
    "pct": lambda v: f"{v * 100:.1f}%",
}


def format_cell(value: Any, kind: str) -> str:
    """A value as people read it (:data:`NUMBER_FORMATS`); a shape as 1x256x16x16; None as "-"."""
    if value is None:
        return "-"
    if kind in NUMBER_FORMATS:
        return NUMBER_FORMATS[kind](value)
    if isinstance(value, (tuple, list)):
        return "x".join(str(v) for v in value)
    return str(value)
