"""A command's result (its ``Report.data``: what ``-f json`` prints) as a run to record.

Each command lays its JSON out its own way: ``bench`` and ``compare --bench`` (under ``bench``) keep
bench's rows; ``sweep --bench`` one row per configuration (its setup read from the command's options);
``peak`` one row of peaks; ``predict`` (and ``--latency predicted``) the model's ``necks``;
``calibrate --validate`` its held-out ``necks`` (``--shifted``: bench's times of them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fpnprof.history.identity import installed_framework, machine_info, machine_key, versions
from fpnprof.history.necktext import neck_text, text_hash
from fpnprof.history.records import RowRecord, RunRecord

#: The commands that record, as the history names them.
COMMANDS = ("bench", "compare", "sweep", "peak", "predict", "validate")
#: NeckConfig's keys (a validation row spreads its configuration among its numbers).
CONFIG_KEYS = ("neck", "variant", "levels", "min_level", "channels", "cells", "batch", "size", "stem", "backbone", "in_channels")


@dataclass(frozen=True)
class Context:
    """What the report does not say: the command line as typed, and its parsed options."""

    argv: str
    at: float
    params: Mapping[str, Any] = field(default_factory=dict)


def _neck_fields(config: Mapping[str, Any], label: str | None, known: Mapping[str, str] | None = None) -> dict[str, Any]:
    text = neck_text(config, known)
    return {
        "neck": config.get("neck"),
        "variant": config.get("variant"),
        "label": label or config.get("neck"),
        "config": dict(config),
        "neck_text": text,
        "neck_hash": None if text is None else text_hash(text),
    }


def _interval(pair: Any) -> tuple[float | None, float | None]:
    return (pair[0], pair[1]) if isinstance(pair, (list, tuple)) and len(pair) == 2 else (None, None)


#: Bench row keys kept beside the estimate (the regression gate compares workers' estimates).
BENCH_EXTRA = (
    "workers",
    "runs",
    "ci95_half_pct",
    "ci_reason",
    "worker_medians_ms",
    "p90_ms",
    "images_per_s",
    "gflops_per_s",
    "peak_share",
    "peak_mem_bytes",
    "device_name",
    "baseline",
    "ratio_half_pct",
    "ratio_paired",
    "ratio_workers",
    "between_worker_share",
    "other_load",
    "error",
    "batch",
    "size",
)


def bench_row(r: Mapping[str, Any]) -> RowRecord:
    """One of bench's rows (``bench``, ``compare --bench``)."""
    low, high = _interval(r.get("ci95_ms"))
    ratio_low, ratio_high = _interval(r.get("ratio_ci95"))
    flags = list(r.get("flags") or [])
    if r.get("error"):
        flags.append(f"failed: {r['error']}")
    elif r.get("median_ms") is None:
        flags.append("not timed")
    return RowRecord(
        kind="measured",
        **_neck_fields(r.get("config") or {"neck": r.get("neck"), "variant": r.get("variant")}, r.get("neck")),
        part=r.get("part"),
        engine=r.get("engine"),
        backend=r.get("backend"),
        device=r.get("device"),
        threads=r.get("threads"),
        allocator=r.get("allocator"),
        dtype=r.get("dtype"),
        framework=r.get("framework"),
        estimate=r.get("median_ms"),
        low=low,
        high=high,
        resolved=r.get("resolved"),
        ratio=r.get("ratio"),
        ratio_low=ratio_low,
        ratio_high=ratio_high,
        is_base=bool(r.get("is_baseline")),
        flags=flags,
        extra={k: r[k] for k in BENCH_EXTRA if r.get(k) is not None},
    )


def _bench_flags(summary: Mapping[str, Any], rows: list[RowRecord]) -> list[str]:
    flags = []
    if summary.get("busy"):
        flags.append("machine busy while measuring")
    if summary.get("unresolved"):
        flags.append(f"{summary['unresolved']} unresolved")
    if summary.get("not_timed"):
        flags.append(f"{summary['not_timed']} not timed")
    failed = sum(1 for r in rows if any(f.startswith("failed") for f in r.flags))
    if failed:
        flags.append(f"{failed} failed")
    return flags


def _bench_run(command: str, data: Mapping[str, Any], ctx: Context) -> RunRecord:
    bench = data if command == "bench" else data.get("bench") or {}
    source = bench.get("rows") or []
    rows = [bench_row(r) for r in source]
    summary = {**(bench.get("run") or {}), "provenance": data.get("provenance")}
    gpus = [r["device_name"] for r in source if r.get("device") == "gpu" and r.get("device_name")]
    run = _run(command, ctx, rows, summary, gpus)
    run.flags.extend(_bench_flags(summary, rows))
    if "predicted_latency" in data:  # compare --bench --latency predicted: the predictions too
        run.rows.extend(predicted_rows(data["predicted_latency"]))
    return run


def _sweep_run(command: str, data: Mapping[str, Any], ctx: Context) -> RunRecord:
    """sweep --bench: each configuration's neck, eager, timed side by side; the rest of its setup
    is the command's (the sweep's rows carry only what varies)."""
    from fpnprof.backends.registry import resolve_backend
    from fpnprof.bench.allocator import DEFAULT_ALLOCATOR
    from fpnprof.bench.spec import effective_threads
    from fpnprof.model.config import RESNET18_CHANNELS

    p = ctx.params
    device = str(p.get("device") or "cpu")
    backend = resolve_backend(str(p.get("backend") or "auto"), device)
    typed = p.get("in_channels")
    in_channels = [int(c) for c in str(typed).split(",")] if p.get("backbone") == "none" and typed else list(RESNET18_CHANNELS)
    framework = installed_framework(backend)
    rows = []
    for r in data.get("rows") or []:
        config = {k: r.get(k) for k in ("neck", "variant", "levels", "min_level", "channels", "cells", "size")}
        config |= {"batch": p.get("batch", 2), "stem": p.get("stem", "tutorial"), "backbone": p.get("backbone", "resnet18")}
        config |= {"in_channels": in_channels, "dtype": "fp32"}
        ms, half = r.get("latency_ms"), r.get("latency_ci95_half_pct")
        flags = [f"failed: {r['error']}"] if r.get("error") else [] if ms is not None else ["not timed"]
        rows.append(
            RowRecord(
                kind="measured",
                **_neck_fields(config, r.get("neck")),
                part="neck",
                engine="eager",
                backend=backend,
                device=device,
                threads=effective_threads(int(p.get("threads") or 0)),
                allocator=DEFAULT_ALLOCATOR,
                dtype="fp32",
                framework=framework,
                estimate=ms,
                # the sweep keeps the interval's half-width only: the same width, centred
                low=None if ms is None or half is None else ms * (1 - half / 100),
                high=None if ms is None or half is None else ms * (1 + half / 100),
                flags=flags,
                extra={k: r[k] for k in ("latency_ci95_half_pct", "params", "macs", "flops", "pareto", "error") if k in r},
            )
        )
    return _run(command, ctx, rows, {"seconds": data.get("seconds")}, [])


def _peak_run(command: str, data: Mapping[str, Any], ctx: Context) -> RunRecord:
    peak = data.get("peak") or {}
    common: dict[str, Any] = {
        "part": None,
        "engine": None,
        "backend": peak.get("backend"),
        "device": peak.get("device"),
        "threads": peak.get("threads"),
        "dtype": peak.get("dtype"),
        "framework": peak.get("framework"),
        "extra": {k: peak[k] for k in ("device_name", "ridge") if k in peak},
    }
    rows = [
        RowRecord(kind="peak", unit="GFLOP/s", label="matmul peak", estimate=peak.get("matmul_gflops"), **common),
        RowRecord(kind="peak", unit="GB/s", label="copy peak", estimate=peak.get("copy_gbytes_per_s"), **common),
    ]
    gpus = [peak["device_name"]] if peak.get("device") == "gpu" and peak.get("device_name") else []
    return _run(command, ctx, rows, {"raw": data.get("raw")}, gpus)


def _model_setup(model: Mapping[str, Any]) -> dict[str, Any]:
    fp = model.get("fingerprint") or {}
    framework = " ".join(str(x) for x in (fp.get("framework"), fp.get("framework_version")) if x)
    return {
        "engine": fp.get("engine"),
        "backend": fp.get("backend"),
        "device": fp.get("device"),
        "threads": fp.get("threads"),
        "allocator": fp.get("allocator"),
        "framework": framework or None,
    }


def predicted_rows(data: Mapping[str, Any]) -> list[RowRecord]:
    """The latency model's predictions (``predict``, ``--latency predicted``)."""
    model = data.get("model") or {}
    setup = _model_setup(model)
    about = {"model_path": model.get("path"), "model_sha256": model.get("sha256"), "model_created": model.get("created")}
    rows = []
    for n in data.get("necks") or []:
        config = n.get("config") or {}
        rows.append(
            RowRecord(
                kind="predicted",
                **_neck_fields(config, n.get("label")),
                part=n.get("part"),
                dtype=config.get("dtype"),
                **setup,
                estimate=n.get("predicted_ms"),
                low=n.get("predicted_low_ms"),
                high=n.get("predicted_high_ms"),
                flags=["extrapolated"] if n.get("extrapolated") else [],
                extra={
                    **about,
                    "by_level_ms": n.get("predicted_by_level_ms"),
                    "extrapolated_by": n.get("extrapolated_by"),
                    "interval_widened_by": n.get("interval_widened_by"),
                },
            )
        )
    return rows


def _predict_run(command: str, data: Mapping[str, Any], ctx: Context) -> RunRecord:
    fp = (data.get("model") or {}).get("fingerprint") or {}
    run = _run(command, ctx, predicted_rows(data), {"model": data.get("model")}, [fp["gpu"]] if fp.get("gpu") else [])
    if data.get("warning"):
        run.flags.append(str(data["warning"]))
    return run


def _validate_run(command: str, data: Mapping[str, Any], ctx: Context) -> RunRecord:
    """calibrate --validate: each held-out neck as measured, its prediction beside it; --shifted:
    bench's time of each, with its interval."""
    model = data.get("model") or {}
    setup = _model_setup(model)
    known = data.get("neck_files") or {}
    shifted = data.get("kind") == "shifted validation"
    rows = []
    for n in data.get("necks") or []:
        config = n["config"] if shifted else {k: n[k] for k in CONFIG_KEYS if k in n} | {"dtype": n.get("dtype", "fp32")}
        predicted = {k: n.get(k) for k in ("predicted_ms", "predicted_low_ms", "predicted_high_ms", "low_ms", "high_ms")}
        if shifted:
            low, high = _interval(n.get("bench_ci95_ms"))
            ms, flags = n.get("bench_ms"), ["extrapolated"] if n.get("extrapolated") else []
            if n.get("bench_error"):
                flags.append(f"failed: {n['bench_error']}")
            extra = {**predicted, "error": n.get("error"), "inside_interval": n.get("inside_interval"), "why": n.get("why")}
        else:
            low = high = None
            ms, flags = n.get("measured_ms"), []
            extra = {**predicted, "measured_halves_ms": n.get("measured_halves_ms")}
        rows.append(
            RowRecord(
                kind="measured",
                **_neck_fields(config, n.get("label"), known),
                part="neck",
                dtype=config.get("dtype"),
                **setup,
                estimate=ms,
                low=low,
                high=high,
                flags=flags,
                extra={k: v for k, v in extra.items() if v is not None},
            )
        )
    summary = {k: v for k, v in data.items() if k not in ("necks", "neck_files", "schema_version")}
    fp = model.get("fingerprint") or {}
    run = _run(command, ctx, rows, summary, [fp["gpu"]] if fp.get("gpu") else [])
    if shifted:
        run.summary["shifted"] = True
    return run


def _run(command: str, ctx: Context, rows: list[RowRecord], summary: dict[str, Any], gpus: Iterable[str]) -> RunRecord:
    info = machine_info(gpus)
    return RunRecord(
        command=command,
        argv=ctx.argv,
        at=ctx.at,
        machine=machine_key(info),
        machine_info=info,
        versions=versions(r.framework for r in rows if r.framework),
        summary=summary,
        flags=[],
        rows=rows,
    )


_LAYOUTS: dict[str, Callable[[str, Mapping[str, Any], Context], RunRecord]] = {
    "bench": _bench_run,
    "compare": _bench_run,
    "sweep": _sweep_run,
    "peak": _peak_run,
    "predict": _predict_run,
    "validate": _validate_run,
}


def run_record(command: str, data: Mapping[str, Any], ctx: Context) -> RunRecord:
    """The run ``command`` (one of :data:`COMMANDS`) reported as ``data``."""
    return _LAYOUTS[command](command, data, ctx)
