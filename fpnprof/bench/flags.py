"""Why a row is flagged: one short phrase per reason (its interval, its ratio's, workers that disagree,
contention, a breakdown that does not add up or shows a class far below its roof, a drifting machine),
and what to do about it."""

from __future__ import annotations

from fpnprof.bench.breakdown import COVERAGE_BAND, FAR_BELOW_ROOF, breakdown_flags
from fpnprof.bench.contention import BUSY_SHARE, LOAD_SPREAD
from fpnprof.bench.defaults import MIN_WORKERS
from fpnprof.bench.estimate import MIN_CI_WORKERS
from fpnprof.bench.rows import BenchRow

#: Workers disagree when more than this share of the round-to-round variance lies between them.
DISAGREE_SHARE = 0.5


def reasons(row: BenchRow, base: BenchRow | None, precision: float, min_workers: int = MIN_WORKERS) -> list[str]:
    """Every reason to distrust ``row`` (``base``: its baseline row, if another; ``min_workers``: the
    workers the stopping rule wants before it calls an interval resolved)."""
    out = []
    if row.get("ci_reason"):
        out.append(f"no interval: {row['ci_reason']}")
    half = row.get("ci95_half_pct")
    has_ratio = base is not None and "ratio" in row
    if not row.get("resolved", True):
        if has_ratio:
            ratio_half = row.get("ratio_half_pct")
            estimate = f"~{row['ratio']:.2f}x"
            if ratio_half is None:
                paired = row.get("ratio_workers", row.get("workers"))
                out.append(
                    f"ratio unresolved ({estimate} so far, from {paired} worker{'s' if paired != 1 else ''} that timed it "
                    f"beside the baseline: an interval needs {MIN_CI_WORKERS})"
                )
            elif ratio_half > 100 * precision:
                out.append(f"ratio unresolved ({estimate} ±{ratio_half:.1f}%, target ±{100 * precision:.1f}%)")
            else:
                workers = row.get("ratio_workers", row.get("workers"))
                out.append(
                    f"ratio unresolved ({estimate} ±{ratio_half:.1f}% is within the target, but from {workers} workers: "
                    f"a ratio counts as resolved from {min_workers} (--processes), a few that agree by chance are too narrow)"
                )
        elif half is not None:  # a row in no ratio is judged by its own interval
            out.append(f"CI ±{half:.1f}% (target ±{100 * precision:.1f}%)")
    share = row.get("ratio_between_worker_share") if has_ratio else row.get("between_worker_share")
    if share is not None and share > DISAGREE_SHARE and row.get("workers", 0) > 1:
        out.append(f"workers disagree ({share:.0%} of the variance between processes)")
    load = row.get("other_load")
    if load is not None and load > BUSY_SHARE:
        out.append(f"machine busy (others used {load:.0%} of the cores)")
    loads = row.get("other_load_workers") or []
    if loads and max(loads) - min(loads) > LOAD_SPREAD:
        out.append(f"load varied between workers ({min(loads):.0%}-{max(loads):.0%} of the cores)")
    base_load = base.get("other_load") if base is not None and base is not row else None
    unpaired = base is not None and not row.get("ratio_paired", True)
    if unpaired and load is not None and base_load is not None and abs(load - base_load) > LOAD_SPREAD:
        out.append(f"baseline measured under other load ({base_load:.0%} vs {load:.0%} of the cores)")
    breakdown = row.get("breakdown")
    if breakdown is not None and not breakdown["coverage_ok"]:
        low, high = COVERAGE_BAND
        out.append(f"nodes sum to {breakdown['coverage']:.0%} of the forward (expected {low:.0%}-{high:.0%})")
    if breakdown is not None:
        out += breakdown_flags(breakdown, row.get("probe_drift") or [])
    return out


def flag_rows(rows: list[BenchRow], bases: list[int | None], precision: float, min_workers: int = MIN_WORKERS) -> None:
    """Set each measured row's ``flags`` and ``noisy`` (the flags joined, or None)."""
    for row, b in zip(rows, bases, strict=True):
        if "median_ms" not in row:
            continue
        row["flags"] = reasons(row, rows[b] if b is not None else None, precision, min_workers)
        row["noisy"] = "; ".join(row["flags"]) or None


def advice(rows: list[BenchRow], more_time: str | None = None) -> list[str]:
    """What to do, one line per kind of reason that occurs; ``more_time``: what more time would give
    (said only when the run stopped at its cap)."""
    text = " ".join(f for r in rows for f in r.get("flags", []))
    out = []
    if more_time and ("unresolved" in text or "CI ±" in text or "no interval" in text):
        out.append(more_time)
    if "busy" in text or "load" in text:
        out.append(
            "on a busy machine use fewer threads than idle cores (--threads 1 on 2 cores): each op waits for its slowest thread"
        )
    if "disagree" in text:
        out.append("workers differ more than rounds do: more workers narrow it, more rounds do not")
    if "nodes sum" in text or "drift probe" in text:
        out.append("rerun the breakdown on a quieter machine")
    if "roof (under" in text:
        out.append(
            f"a node class under {FAR_BELOW_ROOF:.0%} of its roof is held back by its kernel, not by the machine: "
            "see whether a deployed engine (fpnprof list) runs it faster"
        )
    return out
