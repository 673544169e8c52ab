"""GitHub-flavoured Markdown tables that paste cleanly into a README."""

from __future__ import annotations

from fpnprof.report.model import NUMERIC_KINDS, Report, format_cell
from fpnprof.report.table_format import printable


def _cell(value: object, kind: str) -> str:
    if kind == "bar" and isinstance(value, float):
        return f"{value * 100:.1f}%"
    return printable(format_cell(value, kind)).replace("|", "\\|")


def render(report: Report) -> str:
    lines: list[str] = []
    for section in report.sections:
        lines.append(f"### {printable(section.title)}")
        lines.append("")
        lines.append("| " + " | ".join(c.header for c in section.columns) + " |")
        lines.append("|" + "|".join("---:" if c.kind in NUMERIC_KINDS else "---" for c in section.columns) + "|")
        for row in section.rows:
            lines.append("| " + " | ".join(_cell(row.get(c.key), c.kind) for c in section.columns) + " |")
        for row in section.totals:
            cells = [f"**{_cell(row.get(c.key), c.kind)}**" if row.get(c.key) is not None else "" for c in section.columns]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines.extend(f"{printable(note)}  " for note in report.notes)
    return "\n".join(lines).rstrip() + "\n"
