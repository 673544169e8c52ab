"""Formatters: one module per output format behind :func:`render`."""

from __future__ import annotations

from fpnprof.report import csv_format, json_format, markdown_format, table_format
from fpnprof.report.model import Report

_RENDERERS = {
    "table": table_format.render,
    "json": json_format.render,
    "csv": csv_format.render,
    "markdown": markdown_format.render,
}
#: Every ``--format`` for reports (help, completion and checks read this).
FORMATS = tuple(_RENDERERS)


def render(report: Report, fmt: str, *, color: bool = False, width: int | None = None) -> str:
    """Render a report in one of :data:`FORMATS`."""
    if fmt == "table":
        return table_format.render(report, color=color, width=width)
    return _RENDERERS[fmt](report)
