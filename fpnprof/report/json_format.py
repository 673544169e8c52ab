"""JSON: the report's payload, integers unrounded."""

from __future__ import annotations

import json

from fpnprof.report.model import Report


def render(report: Report) -> str:
    return json.dumps(report.data, indent=2) + "\n"
