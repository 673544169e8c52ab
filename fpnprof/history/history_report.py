"""The history as reports: the table of runs (``history``) and one run whole (``history show``), so
every ``--format`` works as in the other commands."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fpnprof.history.records import StoredRow, StoredRun
from fpnprof.report.model import Column, Report, Section

SCHEMA_VERSION = 1
CHANGED = "changed"
FLAG_MARK = "!"
COLUMNS = [
    Column("id", "id"),
    Column("when", "when"),
    Column("command", "command", drop=8),
    Column("neck", "neck", "text"),
    Column("setup", "setup", drop=4),
    Column("part", "part", drop=6),
    Column("engine", "engine", drop=5),
    Column("kind", "kind", drop=7),
    Column("ms", "ms", "num"),
    Column("interval", "95% / predicted interval", "num", drop=2),
    Column("ratio_text", "x base [95% CI]", "num", drop=3),
    Column("text", "text"),
    Column("flag", "flags", drop=1),
]
CHANGED_NOTE = (
    "text changed: the neck's text (its file, or a built-in neck's definition) differs from the one its "
    "previous run recorded; fpnprof history show ID prints it."
)
FLAG_NOTE = f"{FLAG_MARK}: the run flagged it when it was measured; fpnprof history show ID says why."


def local_time(at: float) -> str:
    return datetime.fromtimestamp(at).strftime("%Y-%m-%d %H:%M")


def setup_text(row: StoredRow) -> str:
    """The configuration in short: ``paper P3-P7 C64 x3 b2 64px``."""
    c = row.config
    if not c:
        return row.dtype or "-"
    from fpnprof.model.necks import NECKS

    builtin = NECKS.get(str(c.get("neck")))
    words = [str(c["variant"])] if builtin is not None and c.get("variant") else []
    if c.get("min_level") is not None and c.get("levels") is not None:
        words.append(f"P{c['min_level']}-P{int(c['min_level']) + int(c['levels']) - 1}")
    imported = bool(row.neck_text and "[[op]]" in row.neck_text)  # its widths are its module's, one pass
    if imported:
        words.append("own widths")
    elif c.get("channels") is not None:
        words.append(f"C{c['channels']}")
    if c.get("cells") is not None and not imported and (builtin is None or builtin.repeats):
        words.append(f"x{c['cells']}")
    words.append(f"b{c.get('batch', '?')} {c.get('size', '?')}px")
    if c.get("dtype") not in (None, "fp32"):
        words.append(str(c["dtype"]))
    if c.get("backbone") == "none":
        words.append("no backbone")
    return " ".join(words)


def engine_text(row: StoredRow) -> str:
    """``paddle eager 2t``; ``torch cudagraph gpu``; a non-default allocator named."""
    words = [w for w in (row.backend, row.engine) if w]
    if row.device == "gpu":
        words.append("gpu")
    elif row.threads is not None:
        words.append(f"{row.threads}t")
    if row.allocator not in (None, "steady"):
        words.append(f"{row.allocator} allocator")
    return " ".join(words) or "-"


def value_text(value: float | None, unit: str) -> str | None:
    if value is None:
        return None
    return f"{value:.3f}" if unit == "ms" else f"{value:,.1f} {unit}"


def interval_text(row: StoredRow) -> str | None:
    if row.low is None or row.high is None:
        return None
    return f"{row.low:.3f}-{row.high:.3f}" if row.unit == "ms" else f"{row.low:,.1f}-{row.high:,.1f}"


def ratio_text(row: StoredRow) -> str | None:
    """As bench prints it: ``1.47x [1.45-1.49]``, ``~1.47x`` unresolved, ``1.00x (base)``."""
    if row.ratio is None:
        return None
    if row.is_base:
        return "1.00x (base)"
    if row.resolved is False or row.ratio_low is None or row.ratio_high is None:
        return f"~{row.ratio:.2f}x"
    return f"{row.ratio:.2f}x [{row.ratio_low:.2f}-{row.ratio_high:.2f}]"


def table_row(row: StoredRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "when": local_time(row.at),
        "command": row.command,
        "neck": row.label or row.neck or "-",
        "setup": setup_text(row),
        "part": row.part or "-",
        "engine": engine_text(row),
        "kind": row.kind,
        "ms": value_text(row.estimate, row.unit),
        "interval": interval_text(row),
        "ratio_text": ratio_text(row),
        "text": CHANGED if row.text_changed else "",
        "flag": FLAG_MARK if row.flags else "",
    }


def _json_row(row: StoredRow) -> dict[str, Any]:
    out = row.to_json()
    out.pop("neck_text")  # history show prints it
    return out


def _columns(table: list[dict[str, Any]]) -> list[Column]:
    """The columns, less those with nothing to say (no ratio, no interval, nothing changed or flagged)."""
    optional = ("text", "flag", "ratio_text", "interval")
    return [c for c in COLUMNS if c.key not in optional or any(t[c.key] for t in table)]


def history_report(rows: list[StoredRow], *, database: str, filters: dict[str, Any], notes: list[str]) -> Report:
    """The table of results, newest run first (JSON: every field of every row)."""
    table = [table_row(r) for r in rows]
    columns = _columns(table)
    runs = len({r.run_id for r in rows})
    title = f"history: {runs} run{'s' if runs != 1 else ''}, {len(rows)} result{'s' if len(rows) != 1 else ''}, newest first"
    shown = list(notes)
    if any(r.text_changed for r in rows):
        shown.append(CHANGED_NOTE)
    if any(r.flags for r in rows):
        shown.append(FLAG_NOTE)
    data = {"schema_version": SCHEMA_VERSION, "database": database, "filters": filters, "results": [_json_row(r) for r in rows]}
    return Report([Section(title, columns, table, fold_same=True)], data, shown)


def _summary_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_summary_text(v) for v in value) or "-"
    return str(value)


def show_report(run: StoredRun) -> Report:
    """One run whole: when, as typed, where, with what; every row; each neck's text."""
    info = run.machine_info
    table = [table_row(r) for r in run.rows]
    facts = [
        ("command line", run.argv),
        ("when", local_time(run.at)),
        ("machine", f"{info.get('cpu')}, {info.get('cores')} cores" + (f", {info['gpu']}" if info.get("gpu") else "")),
        ("machine key", run.machine),
        ("platform", info.get("platform", "-")),
        ("versions", f"fpnprof {run.versions.get('fpnprof')}, Python {run.versions.get('python')}"),
        ("frameworks", ", ".join(run.versions.get("frameworks") or []) or "-"),
        ("flags", "; ".join(run.flags) or "-"),
    ]
    facts += [(f"run: {k}", _summary_text(v)) for k, v in run.summary.items() if v is not None and not isinstance(v, dict)]
    sections = [
        Section(
            f"run {run.id}: {run.command}",
            [Column("what", "field", "text"), Column("value", "value", "text")],
            [{"what": k, "value": v} for k, v in facts],
        ),
        Section("its results", _columns(table), table, fold_same=True),
    ]
    notes = [f"{r.id} {r.label or r.neck}: {'; '.join(r.flags)}" for r in run.rows if r.flags]
    seen: set[str] = set()
    for r in run.rows:
        if r.neck_hash is None or r.neck_hash in seen or r.neck_text is None:
            continue
        seen.add(r.neck_hash)
        changed = ", changed since its previous run" if r.text_changed else ""
        sections.append(
            Section(
                f"neck text: {r.neck} (sha256 {r.neck_hash[:12]}{changed})",
                [Column("line", "text", "text")],
                [{"line": line} for line in r.neck_text.splitlines()],
                wide_title=True,
            )
        )
    return Report(sections, {"schema_version": SCHEMA_VERSION, "run": run.to_json()}, notes)
