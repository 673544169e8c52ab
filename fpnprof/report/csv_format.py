"""CSV: one block per section, raw numbers (no rounding), a ``section`` column first."""

from __future__ import annotations

import csv
import io

from fpnprof.report.model import Report


def _raw(value: object) -> object:
    if isinstance(value, (tuple, list)):
        return "x".join(str(v) for v in value)
    return "" if value is None else value


def render(report: Report) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    keys = list(dict.fromkeys(c.key for s in report.sections for c in s.columns))
    writer.writerow(["section", *keys])
    for section in report.sections:
        for row in [*section.rows, *section.totals]:
            writer.writerow([section.title, *[_raw(row.get(k)) for k in keys]])
    return buffer.getvalue()
