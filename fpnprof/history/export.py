"""``history export``: every stored field of the chosen runs, as JSON (runs with their rows, each
neck's text once) or CSV (one line per row, its run's fields repeated)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from fpnprof.history.records import StoredRow, iso_time

EXPORT_FORMATS = ("json", "csv")
SCHEMA_VERSION = 1
_CSV_JSON = ("config", "extra", "versions", "run_summary")
CSV_COLUMNS = (
    "id",
    "run_id",
    "position",
    "when",
    "command",
    "argv",
    "machine",
    "cpu",
    "cores",
    "gpu",
    "neck",
    "variant",
    "label",
    "part",
    "engine",
    "backend",
    "device",
    "threads",
    "allocator",
    "dtype",
    "framework",
    "kind",
    "unit",
    "estimate",
    "low",
    "high",
    "resolved",
    "ratio",
    "ratio_low",
    "ratio_high",
    "is_base",
    "text_changed",
    "neck_hash",
    "flags",
    "run_flags",
    *_CSV_JSON,
)


def export_json(rows: list[StoredRow], database: str) -> str:
    runs: dict[int, dict[str, Any]] = {}
    texts: dict[str, str] = {}
    for r in rows:
        if r.neck_hash and r.neck_text is not None:
            texts[r.neck_hash] = r.neck_text
        run = runs.setdefault(
            r.run_id,
            {
                "id": r.run_id,
                "when": iso_time(r.at),
                "at": r.at,
                "command": r.command,
                "argv": r.argv,
                "machine": r.machine,
                "machine_info": r.machine_info,
                "versions": r.versions,
                "summary": r.run_summary,
                "flags": r.run_flags,
                "rows": [],
            },
        )
        row = r.to_json()
        for key in ("at", "when", "command", "argv", "machine", "machine_info", "versions", "run_flags", "run_summary"):
            row.pop(key)
        row.pop("neck_text")
        run["rows"].append(row)
    payload = {"schema_version": SCHEMA_VERSION, "database": database, "runs": list(runs.values()), "neck_texts": texts}
    return json.dumps(payload, indent=1, default=str) + "\n"


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return int(value)
    return value


def export_csv(rows: list[StoredRow]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        flat = r.to_json()
        flat |= {k: r.machine_info.get(k) for k in ("cpu", "cores", "gpu")}
        flat["flags"], flat["run_flags"] = "; ".join(r.flags), "; ".join(r.run_flags)
        flat |= {k: json.dumps(flat[k], default=str) for k in _CSV_JSON}
        writer.writerow([_cell(flat.get(k)) for k in CSV_COLUMNS])
    return buffer.getvalue()
