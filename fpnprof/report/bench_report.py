"""Bench rows -> a format-neutral report: latency with CIs and ratios, and where the time goes."""

from __future__ import annotations

from typing import Any

from fpnprof.bench.rows import BenchRow, Ratio
from fpnprof.bench.runner import INFERENCE_APART
from fpnprof.report.model import Column, Report, Section

SCHEMA_VERSION = 2
COLUMNS = [
    Column("neck", "neck", "text"),
    Column("variant", "variant", drop=2),
    Column("part", "part"),
    Column("engine", "engine"),
    Column("dtype", "dtype"),
    Column("input", "batch x px", drop=1),
    Column("median_ms", "median", "ms"),
    Column("ci", "±95%", "num"),
    Column("ratio_text", "x base", "num"),
    Column("p90_ms", "p90", "ms", drop=7),
    Column("runs", "runs", "int", drop=6),
    Column("images_per_s", "img/s", "float", drop=5),
    Column("gflops_per_s", "GFLOP/s", "float", drop=4),
    Column("peak_share", "% peak", "pct", drop=3),
    Column("peak_mem_bytes", "peak MB", "mb", drop=8),
]
BREAKDOWN_COLUMNS = [
    Column("name", "group"),
    Column("nodes", "nodes", "int", drop=1),
    Column("ms", "ms", "ms"),
    Column("share", "% pass", "pct"),
    Column("gflops_per_s", "GFLOP/s", "float"),
    Column("mb", "MB moved", "float", drop=2),
    Column("intensity", "FLOP/B", "float"),
    Column("bound", "bound"),
    Column("peak_share", "% peak", "pct"),
]
NOISY_MARK = "!"
ADVICE = (
    f"{NOISY_MARK} noisy row (95% CI wider than ±5% of the median, or worker processes that disagree): raise "
    "--min-time or --processes, try --threads 1, or measure on a quieter machine."
)


def ci_text(row: BenchRow) -> str:
    """The CI half-width as a share of the median, e.g. ``±2.1%``, marked when the row is noisy."""
    if "ci95_half_pct" not in row:
        return "-"
    return f"±{row['ci95_half_pct']:.1f}%" + (f" {NOISY_MARK}" if row.get("noisy") else "")


def ratio_text(row: BenchRow | Ratio) -> str:
    """``1.35x [1.31-1.39]``; unpaired ratios (rows not timed together) carry a ``u``."""
    if "ratio" not in row:
        return "-"
    low, high = row["ratio_ci95"]
    return f"{row['ratio']:.2f}x [{low:.2f}-{high:.2f}]" + ("" if row["ratio_paired"] else " u")


def label(row: BenchRow) -> str:
    return f"{row['neck']} ({row['variant']}) {row['part']} {row['engine']} b{row['batch']} s{row['size']}"


def breakdown_sections(row: BenchRow) -> list[Section]:
    b = row["breakdown"]
    title = (
        f"where the time goes: {label(row)}; forward median {b['forward_ms']:.3f} ms; with a timer "
        f"around every node {b['instrumented_ms']:.3f} ms, of which the nodes {b['node_sum_ms']:.3f} ms "
        f"({b['coverage']:.0%} of the forward)"
    )

    def table_rows(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{**r, "mb": r["bytes"] / 2**20} for r in items]

    overhead = b["overhead"]
    total = {"name": "timed pass", "ms": b["instrumented_ms"], "share": 1.0}
    by_op = [{**r, "name": f"{r['name']}"} for r in table_rows(b["by_op"])]
    return [
        Section(title + " (per level)", BREAKDOWN_COLUMNS, table_rows(b["by_level"]), [overhead, total]),
        Section("same, per op type", BREAKDOWN_COLUMNS, by_op),
    ]


def _mode_note(rows: list[BenchRow]) -> str:
    paired = [r for r in rows if r.get("mode") == "paired"]
    lone = [r for r in rows if r.get("isolated_why")]
    text = (
        "±95%: confidence interval of the median (bootstrap over timing rounds); x base: ratio of medians to the "
        "baseline neck's row with the same part and engine, with its 95% CI"
    )
    text += ", paired over rows timed side by side in shuffled, interleaved rounds" if paired else ""
    text += " (u: not timed together, unpaired CI)." if any(r.get("ratio_paired") is False for r in rows) else "."
    if any(r["engine"] == "inference" for r in rows) and any(
        r["engine"] != "inference" and r["backend"] == "paddle" for r in rows
    ):
        text += f" {INFERENCE_APART}."
    if lone:
        text += " Timed alone: " + "; ".join(f"{label(r)} ({r['isolated_why']})" for r in lone) + "."
    return text


def _probe_note(provenance: dict[str, Any]) -> str | None:
    peaks = provenance.get("peaks") or []
    if not peaks:
        return None
    peak_text = "; ".join(f"{dev} {dtype}: matmul {g:,.0f} GFLOP/s, copy {bw:,.1f} GB/s" for dev, dtype, g, bw in peaks)
    drift = provenance.get("probe_drift_max")
    drift_text = f"; matmul probe drift before -> after: up to {drift:+.1%}" if drift is not None else ""
    return (
        f"peaks measured on the spot ({peak_text}){drift_text}. % peak: achieved GFLOP/s over the matmul peak; in a "
        "breakdown, a memory-bound group's bytes moved per second over the copy peak (tensors that stay in cache can "
        "pass 100%)."
    )


def bench_report(rows: list[BenchRow], provenance: dict[str, Any]) -> Report:
    ok = [r for r in rows if "median_ms" in r]
    failed = [r for r in rows if r.get("error")]
    devices = sorted({f"{r['device']} ({r['device_name']})" for r in ok}) or sorted({r["device"] for r in rows})
    title = f"latency in ms: {', '.join(sorted({r['backend'] for r in rows}))} on {', '.join(devices)}"
    dtypes = sorted({r["dtype"] for r in rows})
    skip = {"dtype"} if len(dtypes) == 1 else set()
    if not any("ratio" in r and r["ratio"] != 1.0 for r in ok):
        skip.add("ratio_text")  # one neck only: every ratio would be 1.00x
    columns = [c for c in COLUMNS if c.key not in skip]
    table_rows = [
        {
            **r,
            "input": f"{r['batch']} x {r['size']}",
            "ci": ci_text(r),
            "ratio_text": ratio_text(r),
            "median_ms": r.get("median_ms"),
        }
        for r in rows
    ]
    notes = [
        f"{p['framework']}, {p['threads']} threads, math mode {p['math_mode']}, peak memory = {p['peak_mem_kind']}"
        for p in {(r["framework"], r["threads"], str(r["math_mode"]), r["peak_mem_kind"]): r for r in ok}.values()
    ]
    notes.append(
        f"dtype {', '.join(dtypes)}; cpu: {provenance['cpu']}; warm-up, then timed rounds until --min-time, device "
        "synchronised, pooled over worker processes; GFLOP/s from the analytic FLOP count."
    )
    notes.append(_mode_note(rows))
    probe = _probe_note(provenance)
    if probe:
        notes.append(probe)
    if any(r.get("noisy") for r in ok):
        notes.append(ADVICE)
    notes += [f"FAILED {label(r)}: {r['error']}" for r in failed]
    sections = [Section(title, columns, table_rows)]
    for r in ok:
        if "breakdown" in r:
            sections += breakdown_sections(r)
    data = {"schema_version": SCHEMA_VERSION, "rows": rows, "provenance": provenance, "failed": len(failed)}
    return Report(sections, data, notes)
