"""Bench rows -> a format-neutral report."""

from __future__ import annotations

from typing import Any

from fpnprof.report.model import Column, Report, Section

SCHEMA_VERSION = 1
COLUMNS = [
    Column("neck", "neck"),
    Column("variant", "variant"),
    Column("part", "part"),
    Column("engine", "engine"),
    Column("dtype", "dtype"),
    Column("batch", "batch", "int"),
    Column("size", "size", "int"),
    Column("median_ms", "median ms", "ms"),
    Column("iqr_ms", "IQR ms", "ms"),
    Column("p90_ms", "p90 ms", "ms"),
    Column("min_ms", "min ms", "ms"),
    Column("runs", "runs", "int"),
    Column("images_per_s", "img/s", "float"),
    Column("gflops_per_s", "GFLOP/s", "float"),
    Column("peak_mem_bytes", "peak MB", "mb"),
]


def bench_report(rows: list[dict[str, Any]], provenance: dict[str, Any]) -> Report:
    devices = sorted({f"{r['device']} ({r['device_name']})" for r in rows})
    title = f"latency: {', '.join(sorted({r['backend'] for r in rows}))} on {', '.join(devices)}"
    notes = [
        f"{p['framework']}, {p['threads']} threads, math mode {p['math_mode']}, peak memory = {p['peak_mem_kind']}"
        for p in {(r["framework"], r["threads"], str(r["math_mode"]), r["peak_mem_kind"]): r for r in rows}.values()
    ]
    notes.append(
        f"cpu: {provenance['cpu']}; timed after warm-up until --min-time was spent, device synchronised; "
        "GFLOP/s from the analytic FLOP count."
    )
    data = {"schema_version": SCHEMA_VERSION, "rows": rows, "provenance": provenance}
    return Report([Section(title, COLUMNS, rows)], data, notes)
