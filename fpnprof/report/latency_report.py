"""Tables for the latency model: what calibration fitted, predicted latency (marked "predicted" in
every title and key, never to be taken for a measurement), and a validation against held-out necks."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from fpnprof.latency.model import LatencyModel
from fpnprof.latency.predict import Prediction
from fpnprof.latency.validate import Validation
from fpnprof.model.config import NeckConfig
from fpnprof.model.setups import mixed_setup_note, row_label
from fpnprof.model.setups import setup as setup_of
from fpnprof.report.compare_report import SETUP_COLUMNS
from fpnprof.report.model import Column, Report, Section
from fpnprof.report.profile_report import title

SCHEMA_VERSION = 1


def setup(model: LatencyModel) -> str:
    fp = model.fingerprint
    threads = f"{fp['threads']} thread{'s' if fp['threads'] != 1 else ''}"
    return f"{fp['backend']} {fp['framework_version']} {fp['engine']}, {fp['device']}, {threads} ({fp['cpu']})"


def busy_note(share: float | None, what: str) -> str | None:
    """A warning when other processes took more than BUSY_SHARE of the cores meanwhile."""
    from fpnprof.bench.contention import BUSY_SHARE

    if share is None or share <= BUSY_SHARE:
        return None
    return f"WARNING: the machine was busy: other processes took {share:.0%} of its cores while this was {what}; times run slow."


def _band_note(model: LatencyModel) -> str:
    low, high = model.band
    return (
        f"interval: the prediction x {low:.2f} .. x {high:.2f}, the band on measured / predicted that held "
        f"{model.coverage:.0%} of the calibration necks (each predicted by a model fitted without it)."
    )


def _measured(cal: dict[str, Any]) -> str:
    """How the kernels were timed (by the executor's timer or the engine's profiler), and the fusion
    rules of an engine that fuses."""
    trees = cal.get("trees") or []
    corrected = f"; trees on in-context times correct {len(trees)} classes" if trees else ""
    timed = f", timed by {cal['per_node_times']}" if cal.get("per_node_times") else ""
    rules = ", ".join(cal.get("fusion_rules", []))
    checked = cal.get("fusion_rules_checked_on_necks", 0)
    held = f"held to the engine's own program on {checked} necks" if checked else "not checked against the engine"
    fused = f"; fusion rules: {rules}, {held}" if rules else ""
    return (
        f"{cal.get('isolated_samples')} isolated and {cal.get('in_context_samples')} in-context kernel samples{timed} "
        f"(lines fitted on: {cal.get('samples_used')}{_weighted(cal)}{corrected}{fused})"
    )


def _weighted(cal: dict[str, Any]) -> str:
    return {"ms": ", by milliseconds", "relative": ", by relative error"}.get(str(cal.get("line_weights")), "")


def calibration_report(model: LatencyModel, path: Path) -> Report:
    rows = [
        {
            "cls": cls,
            "samples": f.samples,
            "fixed": f.fixed_ms,
            "gflops": 1e3 / f.ms_per_gflop if f.ms_per_gflop else None,  # GFLOP per ms -> per s
            "gbytes": 1e3 / f.ms_per_gbyte if f.ms_per_gbyte else None,
            "median": f.median_error,
            "p90": f.p90_error,
            "trees": "yes" if cls in model.trees else "-",
        }
        for cls, f in sorted(model.classes.items())
    ]
    columns = [
        Column("cls", "kernel class", "text"),
        Column("samples", "samples", "int"),
        Column("fixed", "fixed ms", "ms"),
        Column("gflops", "GFLOP/s", "float"),
        Column("gbytes", "GB/s", "float"),
        Column("median", "median err", "pct"),
        Column("p90", "p90 err", "pct", drop=1),
        Column("trees", "trees", "text"),
    ]
    ex, cal = model.executor, model.calibration
    notes = [
        f"saved to {path}",
        f"executor: {ex.base_ms:.3f} ms a pass + {ex.per_kernel_ms:.4f} ms a kernel; kernels x {ex.scale:.3f} in a whole graph.",
        _band_note(model),
        *_context_note(cal),
        f"calibration necks, cross-fitted: {cal.get('cross_fitted_within_10pct', 0):.0%} within ±10%, median error "
        f"{cal.get('cross_fitted_median_error', 0):.1%}; {_measured(cal)}, "
        f"{cal.get('necks')} necks in {cal.get('neck_processes')} processes, {cal.get('seconds')} s.",
        "check it on held-out necks: fpnprof calibrate --validate",
    ]
    busy = busy_note(cal.get("others_cpu_share"), "calibrated")
    if busy:
        notes.insert(0, busy)
    data = {"schema_version": SCHEMA_VERSION, "model_path": str(path), "model": model.to_json()}
    return Report([Section(f"latency model of {setup(model)}", columns, rows)], data, notes)


def _context_note(cal: dict[str, Any]) -> list[str]:
    """How a kernel class the calibration necks lack is priced, and how well that held on those they have."""
    errors = cal.get("context_factor_errors") or {}
    if "context_factor" not in cal or not errors:
        return []
    worst = max(errors.items(), key=lambda kv: abs(kv[1]))
    return [
        f"a class the calibration necks lack: its isolated times x {cal['context_factor']:.2f} (each class they have, "
        f"priced so: median |error| {statistics.median(abs(e) for e in errors.values()):.0%}, worst {worst[1]:+.0%} "
        f"{worst[0]})."
    ]


def model_note(model: LatencyModel, path: Path) -> str:
    """The model a prediction used: its file, when it was calibrated, the machine it was stamped
    with, and the start of its SHA-256 seal."""
    fp = model.fingerprint
    gpu = f", {fp['gpu']}" if fp.get("gpu") else ""
    return (
        f"latency model: {path}, calibrated {model.created.replace('T', ' ')} on {fp['cpu']} ({fp['cores']} cores{gpu}), "
        f"sha256 {model.seal()[:12]}"
    )


def prediction_report(
    items: list[tuple[str, NeckConfig, Prediction]], model: LatencyModel, part: str, warning: str | None, path: Path
) -> Report:
    configs = [cfg for _, cfg, _ in items]
    mixed = mixed_setup_note([label for label, _, _ in items], configs)
    summary = [
        {
            "label": row_label(label, cfg),
            **setup_of(cfg),
            "kernels": len(p.kernels),
            "ms": p.total_ms,
            "interval": f"{p.low_ms:.3f}-{p.high_ms:.3f}",
            "domain": _domain_mark(p.extrapolated),
        }
        for label, cfg, p in items
    ]
    sections = [
        Section(
            f"PREDICTED latency ({part}), not measured: {setup(model)}",
            [
                Column("label", "neck", "text"),
                *(SETUP_COLUMNS if mixed else []),
                Column("kernels", "kernels", "int"),
                Column("ms", "predicted ms", "ms"),
                Column("interval", f"{model.coverage:.0%} interval ms"),
                Column("domain", "fitted range", "text"),
            ],
            summary,
            wide_title=True,
        )
    ]
    for label, cfg, p in items:
        levels = p.by_level()
        total = p.total_ms
        outside = p.extrapolated_levels()
        rows = [
            {"level": lvl, "ms": ms, "share": ms / total, "domain": _domain_mark(outside[lvl])}
            for lvl, ms in sorted(levels.items(), key=_level_order)
        ]
        if p.base_ms:  # a model whose executor costs nothing a pass has no such row
            rows.append({"level": "executor (a pass)", "ms": p.base_ms, "share": p.base_ms / total})
        sections.append(
            Section(
                f"{label}: predicted per level: {title(cfg)}",
                [
                    Column("level", "level", "text"),
                    Column("ms", "predicted ms", "ms"),
                    Column("share", "share", "pct"),
                    Column("domain", "fitted range", "text"),
                ],
                rows,
                wide_title=True,
            )
        )
    notes = [
        *([warning] if warning else []),
        *([mixed] if mixed else []),
        _band_note(model),
        model_note(model, path),
        *(_extrapolated_note(label, p, model) for label, _, p in items if p.extrapolated),
        "predicted by fpnprof's latency model; time it with 'fpnprof bench'.",
    ]
    data: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "kind": "predicted",
        "model": {
            "path": str(path),
            "sha256": model.seal(),
            "fingerprint": model.fingerprint,
            "created": model.created,
            "band": list(model.band),
            "widen_per_doubling": model.domain.widen,
        },
        "warning": warning,
        "necks": [
            {
                "label": label,
                "config": cfg.as_dict(),
                "part": part,
                "predicted_ms": p.total_ms,
                "predicted_low_ms": p.low_ms,
                "predicted_high_ms": p.high_ms,
                "predicted_by_level_ms": p.by_level(),
                "predicted_executor_ms": p.base_ms,
                "extrapolated": p.extrapolated,
                "extrapolated_by": list(p.reasons),
                "extrapolated_levels": p.extrapolated_levels(),
                "interval_widened_by": p.widened,
                "predicted_kernels": [
                    {
                        "nodes": list(k.kernel.nodes),
                        "class": k.kernel.cls,
                        "level": k.level,
                        "predicted_ms": k.ms,
                        "doublings_past_fitted_range": k.past,
                    }
                    for k in p.kernels
                ],
            }
            for label, cfg, p in items
        ],
    }
    return Report(sections, data, notes)


def _domain_mark(extrapolated: bool) -> str:
    return "EXTRAPOLATED" if extrapolated else "inside"


def _extrapolated_note(label: str, p: Prediction, model: LatencyModel) -> str:
    """Why a prediction is extrapolated, and how its interval was widened for it."""
    return (
        f"{label}: extrapolated, past the ranges the model was fitted on ({'; '.join(p.reasons)}); its interval is "
        f"widened x {p.widened:.2f} each way ({model.domain.widen:.0%} per doubling past them, an assumption: "
        "nothing past them was timed); time it with 'fpnprof bench'."
    )


def _level_order(item: tuple[str, float]) -> tuple[int, int]:
    name = item[0]
    return (0, 0) if name == "backbone" else (1, int(name[1:]))


def validation_report(v: Validation, model: LatencyModel, seconds: float, seed: int) -> Report:
    rows = [
        {
            "neck": f"{r.config.neck} ({r.config.variant})",
            "c": r.config.channels,
            "size": r.config.size,
            "batch": r.config.batch,
            "predicted": r.predicted_ms * r.speed,
            "measured": r.measured_ms,
            "error": f"{r.error:+.1%}",
            "inside": "yes" if r.inside else "no",
        }
        for r in v.rows
    ]
    summary = [
        {"what": "held-out necks", "value": str(len(v.rows))},
        {"what": "within ±10% of measured", "value": f"{v.within_10pct:.0%}"},
        {"what": "median |error|", "value": f"{v.median_abs_error:.1%}"},
        {"what": "p90 |error|", "value": f"{v.p90_abs_error:.1%}"},
        {"what": f"inside the {model.coverage:.0%} interval", "value": f"{v.coverage:.0%}"},
    ]
    if v.halves_within_10pct is not None and v.halves_median is not None:
        summary.append(
            {
                "what": "A/A, odd vs even processes: ±10%, median",
                "value": f"{v.halves_within_10pct:.0%}, {v.halves_median:.1%}",
            }
        )
    if v.anchor_ratios:
        summary[1:1] = [
            {
                "what": f"machine speed vs calibration ({len(v.anchor_ratios)} calibration necks again)",
                "value": f"x{v.speed:.2f} (x{min(v.anchor_ratios):.2f}..x{max(v.anchor_ratios):.2f})",
            },
            {
                "what": "at calibration's speed: within ±10%, median",
                "value": f"{v.raw_within_10pct:.0%}, {v.raw_median_abs_error:.1%}",
            },
        ]
    files = v.of_files(True)
    if files.rows and len(files.rows) < len(v.rows):
        for label, part in (("shipped necks", v.of_files(False)), ("random neck files", files)):
            summary.append(
                {
                    "what": f"{label} ({len(part.rows)}): within ±10%, median",
                    "value": f"{part.within_10pct:.0%}, {part.median_abs_error:.1%}",
                }
            )
    sections = [
        Section(f"validation on held-out necks: {setup(model)}", [Column("what", "", "text"), Column("value", "")], summary),
        Section(
            "each held-out neck (the neck alone), predicted beside measured (median of its runs)",
            [
                Column("neck", "neck", "text"),
                Column("c", "C", "int"),
                Column("size", "size", "int"),
                Column("batch", "batch", "int", drop=1),
                Column("predicted", f"predicted ms x{v.speed:.2f}" if v.anchor_ratios else "predicted ms", "ms"),
                Column("measured", "measured ms", "ms"),
                Column("error", "error"),
                Column("inside", "in interval", drop=2),
            ],
            rows,
        ),
    ]
    data = {
        "schema_version": SCHEMA_VERSION,
        "model": {"fingerprint": model.fingerprint, "created": model.created, "band": list(model.band)},
        "seed": seed,
        "seconds": seconds,
        "within_10pct": v.within_10pct,
        "median_abs_error": v.median_abs_error,
        "p90_abs_error": v.p90_abs_error,
        "interval_coverage": v.coverage,
        "machine_speed": v.speed,
        "anchor_ratios": v.anchor_ratios,
        "raw_within_10pct": v.raw_within_10pct,
        "raw_median_abs_error": v.raw_median_abs_error,
        "halves_within_10pct": v.halves_within_10pct,
        "halves_median_abs_difference": v.halves_median,
        "others_cpu_share": v.others_share,
        "neck_files": dict(v.neck_texts),
        "necks": [
            {
                **r.config.as_dict(),
                "predicted_ms": r.predicted_ms,
                "low_ms": r.low_ms,
                "high_ms": r.high_ms,
                "measured_ms": r.measured_ms,
                "measured_halves_ms": list(r.halves) if r.halves else None,
            }
            for r in v.rows
        ],
    }
    notes = [f"timed in {seconds:.0f} s; necks drawn with seed {seed}, apart from calibration's."]
    if v.anchor_ratios:
        notes.append(
            f"errors and the interval are at today's speed: predictions x {v.speed:.2f}, the median of "
            f"{len(v.anchor_ratios)} calibration necks' times now / at calibration, timed with the held-out necks."
        )
    busy = busy_note(v.others_share, "measured")
    if busy:
        notes.insert(0, busy)
    return Report(sections, data, notes)
