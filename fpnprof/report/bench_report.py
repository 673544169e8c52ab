"""Bench rows -> a format-neutral report: latency with intervals and ratios, why a row is flagged,
and where the time goes."""

from __future__ import annotations

from typing import Any

from fpnprof.backends.registry import backend_info
from fpnprof.bench.allocator import ALLOCATOR_TEXT, DEFAULT_ALLOCATOR
from fpnprof.bench.contention import BUSY_SHARE
from fpnprof.bench.defaults import MAX_WORKERS
from fpnprof.bench.flags import advice
from fpnprof.bench.rows import BenchRow
from fpnprof.bench.runner import BenchRun
from fpnprof.model.config import NeckConfig
from fpnprof.model.setups import mixed_setup_note, same_setup
from fpnprof.report.model import Column, Report, Section
from fpnprof.report.provenance import bench_provenance

SCHEMA_VERSION = 3
COLUMNS = [
    Column("neck", "neck", "text"),
    Column("variant", "variant", drop=2),
    Column("levels_text", "levels"),
    Column("channels", "C", "int"),
    Column("cells", "cells", "int", drop=10),
    Column("part", "part"),
    Column("engine", "engine"),
    Column("allocator", "allocator"),
    Column("dtype", "dtype"),
    Column("input", "batch x px", drop=1),
    Column("median_ms", "ms", "ms"),
    Column("ci", "±95%", "num"),
    Column("ratio_text", "x base [95% CI]", "num"),
    Column("workers", "workers", "int", drop=7),
    Column("runs", "runs", "int", drop=9),
    Column("p90_ms", "p90", "ms", drop=8),
    Column("images_per_s", "img/s", "float", drop=5),
    Column("gflops_per_s", "GFLOP/s", "float", drop=4),
    Column("peak_share", "% peak", "pct", drop=3),
    Column("peak_mem_bytes", "peak MB", "mb", drop=6),
]
BREAKDOWN_COLUMNS = [
    Column("name", "group"),
    Column("nodes", "nodes", "int", drop=1),
    Column("ms", "ms", "ms"),
    Column("share", "% pass", "pct"),
    Column("gflops_per_s", "GFLOP/s", "float"),
    Column("mb", "MB moved", "float", drop=2),
    Column("intensity", "FLOP/B", "float", drop=3),
    Column("bound", "bound"),
    Column("peak_share", "% roof", "pct"),
]
NOISY_MARK = "!"
EXPLAIN_ESTIMATE = "ms and ±95%: the mean over fresh worker processes and its t-interval"
EXPLAIN_RATIO = (
    "x base: over the baseline neck's row (the first, or --against's) of the same part and engine, paired round by "
    "round (~: unresolved, the estimate so far)"
)
READ_MORE = "(README: Reading latency)"


def ci_text(row: BenchRow) -> str:
    """The interval's half-width as a share of the estimate, e.g. ``±2.1%``, marked when the row is flagged."""
    if "median_ms" not in row:
        return "-"
    half = row.get("ci95_half_pct")
    text = "no CI" if half is None else f"±{half:.1f}%"
    return text + (f" {NOISY_MARK}" if row.get("flags") else "")


def ratio_text(row: BenchRow) -> str:
    """``1.35x [1.31-1.39]``; an unresolved ratio (its interval missed the precision, or too few
    workers) shows its estimate so far marked ``~`` with its half-width, ``~1.35x ±6.2%``, never
    in the settled form; unpaired ratios (rows not timed together) carry a ``u``."""
    if "ratio" not in row:
        return "-"
    if row.get("is_baseline"):
        return "1.00x (base)"
    ci = row.get("ratio_ci95")
    if not row.get("resolved", False):
        half = row.get("ratio_half_pct")
        return f"~{row['ratio']:.2f}x " + ("no CI" if half is None else f"±{half:.1f}%")
    assert ci is not None
    low, high = ci
    return f"{row['ratio']:.2f}x [{low:.2f}-{high:.2f}]" + ("" if row.get("ratio_paired", True) else " u")


def label(row: BenchRow) -> str:
    variant = "" if row["variant"] in ("-", None) else f" ({row['variant']})"
    allocator = "" if row.get("allocator", DEFAULT_ALLOCATOR) == DEFAULT_ALLOCATOR else f" ({row['allocator']} allocator)"
    return f"{row['neck']}{variant} {row['part']} {row['engine']} b{row['batch']} s{row['size']}{allocator}"


def breakdown_sections(row: BenchRow) -> list[Section]:
    b = row["breakdown"]
    title = (
        f"where the time goes: {label(row)}; with a timer around every node {b['instrumented_ms']:.3f} ms, of which "
        f"the nodes {b['node_sum_ms']:.3f} ms: {b['coverage']:.0%} of the forward ({b['forward_ms']:.3f} ms) in the "
        "same rounds" + ("" if b["coverage_ok"] else f" {NOISY_MARK}")
    )

    def table_rows(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{**r, "mb": r["bytes"] / 2**20} for r in items]

    total = {"name": "timed pass", "ms": b["instrumented_ms"], "share": 1.0}
    return [
        Section(
            title + " (per level)", BREAKDOWN_COLUMNS, table_rows(b["by_level"]), [b["between_nodes"], total], wide_title=True
        ),
        Section("same, per op type", BREAKDOWN_COLUMNS, table_rows(b["by_op"])),
    ]


def math_text(row: BenchRow) -> str:
    """The math-mode switches that apply to the row's device (no TF32 switches on a CPU)."""
    mode = {k: v for k, v in row["math_mode"].items() if row["device"] == "gpu" or not ("tf32" in k or "cudnn" in k)}
    return ", ".join(f"{k} {v}" for k, v in mode.items()) or "default"


def _explain(rows: list[BenchRow], ratios_shown: bool) -> str:
    text = EXPLAIN_ESTIMATE + (f"; {EXPLAIN_RATIO}" if ratios_shown else "")
    if any(r.get("ratio_paired") is False for r in rows):
        text += " (u: not timed together, a Welch interval)"
    text += f" {READ_MORE}."
    for backend in dict.fromkeys(r["backend"] for r in rows):
        info, mine = backend_info(backend), [r for r in rows if r["backend"] == backend]
        apart = {info.runs_apart(r["engine"]) for r in mine}
        if apart == {True, False}:  # some of its rows ran apart from the others
            text += f" {info.apart_why}."
    lone = [r for r in rows if r.get("isolated_why")]
    if lone:
        text += " Timed alone: " + "; ".join(f"{label(r)} ({r['isolated_why']})" for r in lone) + "."
    return text


def _count(n: int, what: str) -> str:
    return f"{n} row{'s' if n != 1 else ''} {what}"


def run_note(run: BenchRun) -> str:
    """How long it measured, with how many workers, why it stopped, and what each row got: read from
    the rows, so it never says more than the table shows."""
    m, rows = run.measurement, run.rows
    measured = [r for r in rows if "median_ms" in r]
    with_ci = [r for r in measured if r.get("ci95_half_pct") is not None]
    unresolved = [r for r in with_ci if not r.get("resolved", True)]
    untimed = [r for r in rows if "median_ms" not in r and not r.get("error")]
    stopped = run.extra.get("stopped", "repeat" if m.repeat is not None else "cap" if run.unresolved else "precision")
    if stopped == "repeat":
        why = f"--repeat {m.repeat} runs per row (no precision target)"
    elif stopped == "precision":
        why = f"every interval within ±{100 * m.precision:.1f}% (--precision)"
    elif stopped == "workers":
        why = f"the most workers a row may have ({MAX_WORKERS})"
    else:
        why = f"the {m.max_time_s:g} s cap (--max-time)"
    parts = [_count(len(with_ci) - len(unresolved), "resolved")] if stopped != "precision" and stopped != "repeat" else []
    parts += [_count(len(unresolved), "with a wider interval or too few workers")] if unresolved else []
    parts += [_count(len(measured) - len(with_ci), "with an estimate but no interval")] if len(measured) > len(with_ci) else []
    parts += [_count(len(untimed), "not timed")] if untimed else []
    got = f": {', '.join(parts)}" if parts else ""
    workers = f"{run.workers} worker{'s' if run.workers != 1 else ''}"
    return f"measured {run.seconds:.0f} s with {workers}; stopped at {why}{got}."


def more_time_advice(run: BenchRun) -> str | None:
    """What more time would give, when the run stopped at its cap: where rows have no interval, the
    --max-time the plan named for intervals on every row (priced from the rows' own costs); where all
    have one, the time that would narrow them to --precision at this pace (an extrapolation from how
    the intervals narrowed, rougher the fewer workers it rests on)."""
    if run.extra.get("stopped", "cap") != "cap" or run.measurement.repeat is not None:
        return None
    needed = run.extra.get("max_time_needed_s")
    if needed and any(r.get("ci95_half_pct") is None for r in run.rows):
        return f"give it more time: --max-time {needed} would give every row an interval (the plan above)"
    more = run.extra.get("more_needed_s")
    if more:
        return f"give it more time: about {_duration(run.seconds + more)} would narrow every interval to the target at this pace"
    return "give it more time (--max-time)"


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{seconds:.0f} s" if seconds < 120 else f"{minutes} minutes (--max-time {60 * minutes})"


def flag_notes(ok: list[BenchRow], more_time: str | None = None) -> list[str]:
    """Each flagged row with its reasons, and what to do about them."""
    notes = [f"{NOISY_MARK} {label(r)}: {'; '.join(r['flags'])}." for r in ok if r.get("flags")]
    what = advice(ok, more_time)
    if what:
        notes.append(f"{NOISY_MARK} what to do: {'; '.join(what)}.")
    return notes


#: Where glibc's default allocator costs more than this (the interval's low end), bench says so.
ALLOCATOR_COST = 1.10


def allocator_notes(rows: list[BenchRow]) -> list[str]:
    """With ``--allocator both``: each row's default-over-steady ratio, and one line where the
    default costs more than 10%."""
    timed = [r for r in rows if r.get("allocator_ratio") is not None]
    if not timed:
        return []

    def text(r: BenchRow) -> str:
        ci = r.get("allocator_ratio_ci95")
        span = f" [{ci[0]:.2f}-{ci[1]:.2f}]" if ci else " (no interval)"
        return f"{r['neck']} {r['part']} {r['engine']} {r['allocator_ratio']:.2f}x{span}"

    notes = [
        "allocator: each row with glibc's default allocator over the same row held steady (workers of their own, "
        f"a Welch 95% interval): {'; '.join(text(r) for r in timed)}."
    ]
    costly = [r for r in timed if (ci := r.get("allocator_ratio_ci95")) and ci[0] > ALLOCATOR_COST]
    if costly:
        worst = max(costly, key=lambda r: r["allocator_ratio"])
        notes.append(
            f"{NOISY_MARK} this machine's default allocator costs more than {ALLOCATOR_COST - 1:.0%} here (up to "
            f"{worst['allocator_ratio']:.2f}x, {worst['neck']} {worst['part']}): a process that keeps its freed memory "
            "(--allocator steady's settings, or jemalloc/tcmalloc preloaded) runs these necks faster (README: One latency)."
        )
    return notes


def load_note(rows: list[BenchRow]) -> str | None:
    """Said only when other processes took more than BUSY_SHARE of the cores while measuring."""
    loads = [x for r in rows for x in r.get("other_load_workers", [])]
    if not loads or max(loads) <= BUSY_SHARE:
        return None
    return (
        f"the machine was busy: other processes took {sum(loads) / len(loads):.0%} of the cores on average while "
        f"measuring (at most {max(loads):.0%}); rows measured under such load are flagged."
    )


def _peak_note(provenance: dict[str, Any], rows: list[BenchRow]) -> str | None:
    peaks = provenance.get("peaks") or []
    if not peaks or not any(r.get("peak_share") is not None for r in rows):
        return None
    peak_text = "; ".join(f"{dev} {dtype} {g:,.0f} GFLOP/s, copy {bw:,.1f} GB/s" for dev, dtype, g, bw in peaks)
    drift = provenance.get("probe_drift_max")
    drift_text = f"; probe drift {drift:+.1%}" if drift is not None else ""
    text = f"% peak: GFLOP/s (analytic FLOPs) over the matmul peak measured now ({peak_text}{drift_text})."
    if any((r.get("peak_share") or 0) > 1 for r in rows):
        text += " Over 100%: the engine did fewer FLOPs than counted (fused or Winograd convolutions)."
    return text


def bench_report(run: BenchRun) -> Report:
    rows = run.rows
    provenance = bench_provenance(rows)
    ok = [r for r in rows if "median_ms" in r]
    failed = [r for r in rows if r.get("error")]
    devices = sorted({f"{r['device']} ({r['device_name']})" for r in ok}) or sorted({r["device"] for r in rows})
    title = f"latency in ms: {', '.join(sorted({r['backend'] for r in rows}))} on {', '.join(devices)}"
    dtypes = sorted({r["dtype"] for r in rows})
    skip = {"dtype"} if len(dtypes) == 1 else set()
    if len({r.get("allocator") for r in rows}) == 1:
        skip.add("allocator")
    ratios_shown = any("ratio" in r and r["ratio"] != 1.0 for r in ok)
    if not ratios_shown:
        skip.add("ratio_text")  # one neck only: every ratio would be 1.00x
    if not any(r.get("peak_share") is not None for r in ok):
        skip.add("peak_share")
    configs = [NeckConfig.from_dict(r["config"]) for r in rows]
    if same_setup(configs):
        skip |= {"levels_text", "channels", "cells"}
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
    allocators = ", ".join(dict.fromkeys(f"{a} ({ALLOCATOR_TEXT[a]})" for r in rows if (a := r.get("allocator"))))
    notes = [
        f"{framework}, {threads} thread{'s' if threads != 1 else ''}, {', '.join(dtypes)}, math mode {mode}; cpu "
        f"{provenance['cpu']}; allocator {allocators}; peak memory = {kind}"
        for framework, threads, mode, kind in dict.fromkeys(
            (r["framework"], r["threads"], math_text(r), r["peak_mem_kind"]) for r in ok
        )
    ]
    mixed = mixed_setup_note([r["neck"] for r in rows], configs)
    if mixed and ratios_shown:
        notes.append(mixed)
    notes.append(_explain(rows, ratios_shown))
    if run.extra.get("plan"):
        notes.append(f"before measuring: {run.extra['plan']}")
    notes.append(run_note(run))
    untimed = [label(r) for r in rows if "median_ms" not in r and not r.get("error")]
    if untimed:
        notes.append(f"not timed within the {run.measurement.max_time_s:g} s cap: {'; '.join(untimed)}.")
    if run.extra.get("peaks_skipped"):
        notes.append("% peak: not measured, no time was left for the peaks worker within --max-time.")
    notes += [note for note in (load_note(ok), _peak_note(provenance, rows)) if note]
    notes += allocator_notes(ok)
    more = more_time_advice(run)
    advice_lines = flag_notes(ok, more)
    if untimed and more and not any("what to do" in line for line in advice_lines):
        advice_lines.append(f"{NOISY_MARK} what to do: {more}.")  # nothing was flagged, for nothing was timed
    notes += advice_lines
    notes += [f"FAILED {label(r)}: {r['error']}" for r in failed]
    sections = [Section(title, columns, table_rows, fold_same=True)]
    for r in ok:
        if "breakdown" in r:
            sections += breakdown_sections(r)
    data = {
        "schema_version": SCHEMA_VERSION,
        "rows": rows,
        "run": run_summary(run),
        "provenance": provenance,
        "failed": len(failed),
    }
    return Report(sections, data, notes)


def run_summary(run: BenchRun) -> dict[str, Any]:
    """How the run went, for JSON: the stopping rule, its outcome and the machine's load."""
    m = run.measurement
    loads = [x for r in run.rows for x in r.get("other_load_workers", [])]
    return {
        "seconds": run.seconds,
        "workers": run.workers,
        "precision": m.precision,
        "max_time_s": m.max_time_s,
        "processes": m.processes,
        "repeat": m.repeat,
        "unresolved": len(run.unresolved),
        "not_timed": sum(1 for r in run.rows if "median_ms" not in r and not r.get("error")),
        "stopped": run.extra.get("stopped"),
        "plan": run.extra.get("plan"),
        "max_time_needed_s": run.extra.get("max_time_needed_s"),
        "more_needed_s": run.extra.get("more_needed_s"),
        "other_load": sum(loads) / len(loads) if loads else None,
        "other_load_max": max(loads) if loads else None,
        "busy": bool(loads) and max(loads) > BUSY_SHARE,
    }
