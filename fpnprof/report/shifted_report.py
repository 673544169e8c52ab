"""The report of ``calibrate --validate --shifted``: each neck of the shifted set, predicted beside
``bench``'s median, and the summary over the set and apart for necks inside the model's fitted ranges
and past them."""

from __future__ import annotations

from typing import Any

from fpnprof.latency.model import LatencyModel
from fpnprof.latency.shifted import Shifted, ShiftedCheck, ShiftedRow
from fpnprof.latency.validate import Validation
from fpnprof.model.config import NeckConfig
from fpnprof.model.setups import cells_of, levels_text, neck_label
from fpnprof.report.latency_report import SCHEMA_VERSION, setup
from fpnprof.report.model import Column, Report, Section

PARTS = (("all", None), ("inside", False), ("extrapolated", True))


def _stats(v: Validation) -> dict[str, Any]:
    empty = not v.rows
    return {
        "necks": len(v.rows),
        "within_10pct": None if empty else v.within_10pct,
        "median_abs_error": None if empty else v.median_abs_error,
        "p90_abs_error": None if empty else v.p90_abs_error,
        "interval_coverage": None if empty else v.coverage,
        "raw_within_10pct": None if empty else v.raw_within_10pct,
        "raw_median_abs_error": None if empty else v.raw_median_abs_error,
    }


def _pct(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}%}"


def _setup(cfg: NeckConfig) -> str:
    """``fpn (paper) P2-P5 C=32, 64x64, batch 1`` (cells where the neck repeats)."""
    cells = cells_of(cfg)
    cells_text = f", {cells} cell{'s' if cells != 1 else ''}" if cells else ""
    return f"{neck_label(cfg)} {levels_text(cfg)} C={cfg.channels}{cells_text}, {cfg.size}x{cfg.size}, batch {cfg.batch}"


def _row(r: ShiftedRow) -> dict[str, Any]:
    p, c, half = r.prediction, r.checked, r.bench.get("ci95_half_pct")
    return {
        "neck": _setup(r.neck.config),
        "why": r.neck.why,
        "predicted": p.total_ms,
        "interval": f"{p.low_ms:.3f}-{p.high_ms:.3f}",
        "bench": c.measured_ms if c else None,
        "ci": None if c is None or half is None else f"±{half:.1f}%",
        "error": f"{c.error:+.1%}" if c else "not timed",
        "inside": None if c is None else "yes" if c.inside else "no",
        "domain": "EXTRAPOLATED" if p.extrapolated else "inside",
    }


def _neck_json(r: ShiftedRow) -> dict[str, Any]:
    p, c, b = r.prediction, r.checked, r.bench
    return {
        "label": neck_label(r.neck.config),
        "why": r.neck.why,
        "config": r.neck.config.as_dict(),
        "predicted_ms": p.total_ms,
        "predicted_low_ms": p.low_ms,
        "predicted_high_ms": p.high_ms,
        "extrapolated": p.extrapolated,
        "extrapolated_by": list(p.reasons),
        "interval_widened_by": p.widened,
        "bench_ms": c.measured_ms if c else None,
        "bench_ci95_ms": b.get("ci95_ms"),
        "bench_ci95_half_pct": b.get("ci95_half_pct"),
        "bench_workers": b.get("workers"),
        "bench_error": b.get("error"),
        "error": c.error if c else None,
        "raw_error": c.raw_error if c else None,
        "inside_interval": c.inside if c else None,
    }


def _speed_note(check: ShiftedCheck) -> str:
    """What the errors are compared at: the anchors' speed, or calibration's where none was timed."""
    if not check.anchor_ratios:
        return "compared at calibration's speed: no calibration neck was timed again beside the set."
    ratios = ", ".join(f"{r:.2f}" for r in sorted(check.anchor_ratios))
    return (
        f"compared at today's speed: {len(check.anchor_ratios)} calibration necks timed by bench in the same run "
        f"took {check.speed:.3f}x their calibration times (median of {ratios}); each prediction is scaled by it."
    )


def shifted_report(
    check: ShiftedCheck, model: LatencyModel, *, seed: int, skipped: list[tuple[Shifted, str]], seconds: float
) -> Report:
    parts = {name: check.part(flag) for name, flag in PARTS}
    stats = {name: _stats(v) for name, v in parts.items()}
    summary = [
        {"what": "necks timed by bench", **{k: str(s["necks"]) for k, s in stats.items()}},
        {"what": "within ±10% of bench", **{k: _pct(s["within_10pct"]) for k, s in stats.items()}},
        {"what": "median |error|", **{k: _pct(s["median_abs_error"], 1) for k, s in stats.items()}},
        {"what": "p90 |error|", **{k: _pct(s["p90_abs_error"], 1) for k, s in stats.items()}},
        {"what": f"inside the {model.coverage:.0%} interval", **{k: _pct(s["interval_coverage"]) for k, s in stats.items()}},
        {"what": "within ±10%, raw*", **{k: _pct(s["raw_within_10pct"]) for k, s in stats.items()}},
        {"what": "median |error|, raw*", **{k: _pct(s["raw_median_abs_error"], 1) for k, s in stats.items()}},
    ]
    sections = [
        Section(
            f"validation by bench on necks calibration never draws: {setup(model)}",
            [
                Column("what", "shifted set", "text"),
                Column("all", "all", "num"),
                Column("inside", "inside fitted range", "num"),
                Column("extrapolated", "extrapolated", "num"),
            ],
            summary,
            wide_title=True,
        ),
        Section(
            "each neck alone, ms: predicted (at calibration's speed) beside bench's median; error at today's",
            [
                Column("neck", "neck and setup", "text"),
                Column("why", "why", "text", drop=4),
                Column("predicted", "predicted", "ms"),
                Column("interval", f"{model.coverage:.0%} interval", drop=3),
                Column("bench", "bench", "ms"),
                Column("ci", "95% CI", "num", drop=1),
                Column("error", "error", "num"),
                Column("inside", "in interval", drop=2),
                Column("domain", "fitted range", "text"),
            ],
            [_row(r) for r in check.rows],
            wide_title=True,
        ),
    ]
    run = check.run
    untimed = [r for r in check.rows if r.checked is None]
    needed = run.extra.get("max_time_needed_s")
    more = f"; --max-time {needed} would give every neck an interval" if needed else ""
    cap = f"--max-time {run.measurement.max_time_s:g}"
    notes = [
        f"timed by bench in {seconds:.0f} s ({cap}): fresh workers, interleaved rounds, "
        f"each neck's median with its 95% interval; necks drawn with seed {seed}.",
        _speed_note(check),
        "error: predicted x speed / bench - 1 (*raw: at calibration's speed, x 1); extrapolated: past the ranges "
        f"the model was fitted on, its interval widened ({model.domain.widen:.0%} per doubling past them).",
        *([str(run.extra["plan"])] if run.extra.get("plan") else []),
        *([f"{len(untimed)} necks not timed within {cap} (or failed): not in the summary{more}."] if untimed else []),
        *(f"left out: {_setup(n.config)} ({n.why}): {why}." for n, why in skipped),
    ]
    data = {
        "schema_version": SCHEMA_VERSION,
        "kind": "shifted validation",
        "model": {
            "fingerprint": model.fingerprint,
            "created": model.created,
            "band": list(model.band),
            "coverage": model.coverage,
        },
        "seed": seed,
        "seconds": seconds,
        "max_time_s": run.measurement.max_time_s,
        "compared_at": "today's speed" if check.anchor_ratios else "calibration's speed",
        "speed": check.speed,
        "anchor_ratios": check.anchor_ratios,
        "bench": {"workers": run.workers, "stopped": run.extra.get("stopped"), "plan": run.extra.get("plan")},
        "summary": stats,
        "necks": [_neck_json(r) for r in check.rows],
        "skipped": [{"config": n.config.as_dict(), "why": n.why, "reason": why} for n, why in skipped],
    }
    return Report(sections, data, notes)
