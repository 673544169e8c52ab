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
    Column("input", "batch x px"),
    Column("median_ms", "median", "ms"),
    Column("iqr_ms", "IQR", "ms"),
    Column("p90_ms", "p90", "ms"),
    Column("min_ms", "min", "ms"),
    Column("runs", "runs", "int"),
    Column("images_per_s", "img/s", "float"),
    Column("gflops_per_s", "GFLOP/s", "float"),
    Column("peak_mem_bytes", "peak MB", "mb"),
]


def bench_report(rows: list[dict[str, Any]], provenance: dict[str, Any]) -> Report:
    devices = sorted({f"{r['device']} ({r['device_name']})" for r in rows})
    title = f"latency in ms: {', '.join(sorted({r['backend'] for r in rows}))} on {', '.join(devices)}"
    dtypes = sorted({r["dtype"] for r in rows})
    columns = [c for c in COLUMNS if c.key != "dtype" or len(dtypes) > 1]
    table_rows = [{**r, "input": f"{r['batch']} x {r['size']}"} for r in rows]
    notes = [
        f"{p['framework']}, {p['threads']} threads, math mode {p['math_mode']}, peak memory = {p['peak_mem_kind']}"
        for p in {(r["framework"], r["threads"], str(r["math_mode"]), r["peak_mem_kind"]): r for r in rows}.values()
    ]
    notes.append(
        f"dtype {', '.join(dtypes)}; cpu: {provenance['cpu']}; warm-up, then timed runs until --min-time, device "
        "synchronised, pooled over each row's worker processes; GFLOP/s from the analytic FLOP count."
    )
    data = {"schema_version": SCHEMA_VERSION, "rows": rows, "provenance": provenance}
    return Report([Section(title, columns, table_rows)], data, notes)
