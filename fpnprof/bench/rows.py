"""The typed records a bench produces, and how a row is made from its workers' replies.

Rows are JSON records by nature (they go out as ``--format json``), so they are ``TypedDict``s:
mypy checks every key, and the JSON keys are the fields, with no conversion layer to keep in step.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

from fpnprof.bench.breakdown import aggregate, mean_times, node_work
from fpnprof.bench.describe import summarize
from fpnprof.bench.estimate import Estimate, median_estimate, round_logs
from fpnprof.bench.groups import Group
from fpnprof.bench.peaks import as_peaks, drift
from fpnprof.bench.protocol import CandidateReply, WorkerReply
from fpnprof.bench.spec import BenchSpec
from fpnprof.cost.results import Profile
from fpnprof.model.parts import part_graph
from fpnprof.model.setups import setup, variant_text


class BenchRow(TypedDict, total=False):
    """One measured (or failed) row. The first block is always there; the rest once it has run."""

    neck: str
    variant: str
    part: str
    backend: str
    device: str
    engine: str
    allocator: str
    dtype: str
    batch: int
    size: int
    mode: str
    isolated_why: str | None
    macs: int
    flops: int
    params: int
    error: str | None
    group: int
    config: dict[str, Any]
    levels_text: str
    channels: int
    cells: int | None
    flags: list[str]
    noisy: str | None
    # measured: the two-stage estimate (fpnprof.bench.estimate) and descriptive statistics
    workers: int
    rounds: int
    runs: int
    median_ms: float
    ci95_ms: list[float] | None
    ci95_half_pct: float | None
    ci_reason: str | None
    between_worker_share: float | None
    worker_medians_ms: list[float]
    iqr_ms: float
    p90_ms: float
    min_ms: float
    mean_ms: float
    images_per_s: float
    gflops_per_s: float
    matmul_peak_gflops: float | None
    copy_peak_gbytes_per_s: float | None
    peak_share: float | None
    probe_drift: list[float]
    other_load: float | None
    other_load_workers: list[float]
    worker_seconds: list[float]
    gpu_other_processes: list[int] | None
    peak_mem_bytes: int
    peak_mem_kind: str
    threads: int
    device_name: str
    framework: str
    math_mode: dict[str, Any]
    rounds_ms: list[list[list[float]]]
    breakdown: dict[str, Any]
    # against the baseline row (fpnprof.bench.ratios)
    baseline: str
    ratio: float
    ratio_ci95: list[float] | None
    ratio_half_pct: float | None
    ratio_paired: bool
    ratio_workers: int
    is_baseline: bool
    ratio_between_worker_share: float | None
    resolved: bool
    # glibc's default allocator over the same row held steady (fpnprof.bench.ratios)
    allocator_ratio: float
    allocator_ratio_ci95: list[float] | None


@dataclass(frozen=True)
class Measured:
    """One row's share of its group's worker replies."""

    replies: Sequence[WorkerReply]
    position: int  # the row's index within its group

    @property
    def candidates(self) -> list[CandidateReply]:
        return [r.candidates[self.position] for r in self.replies]

    @property
    def error(self) -> str | None:
        return next((c.error for c in self.candidates if c.error), None)

    @property
    def per_worker(self) -> list[list[list[float]]]:
        return [c.rounds for c in self.candidates if c.rounds]


def estimate_of(m: Measured) -> Estimate | None:
    """The row's median estimate, or None when it has no rounds."""
    return median_estimate(m.per_worker) if m.error is None and m.per_worker else None


def identity(spec: BenchSpec, profile: Profile, group: Group, index: int) -> BenchRow:
    """What a row is, before (or without) any measurement."""
    cfg, totals = spec.config, profile.model_total
    return {
        "neck": spec.label or cfg.neck,
        "variant": variant_text(cfg),
        "part": spec.part,
        "backend": spec.backend,
        "device": spec.device,
        "engine": spec.engine,
        "allocator": spec.allocator,
        "dtype": cfg.dtype,
        "batch": cfg.batch,
        "size": cfg.size,
        "mode": "paired" if group.paired else "isolated",
        "isolated_why": group.why,
        "macs": totals.macs,
        "flops": totals.flops,
        "params": totals.params,
        "error": None,
        "group": index,
        "config": cfg.as_dict(),
        **setup(cfg),  # type: ignore[typeddict-item]
        "flags": [],
        "noisy": None,
    }


def _breakdown(spec: BenchSpec, m: Measured, peaks: Any, overhead: dict[str, float]) -> dict[str, Any] | None:
    """Per-node times from the passes interleaved with the rounds, against the same rounds' forwards."""
    passes = [p for c in m.candidates for p in c.node_passes]
    if not passes:
        return None
    forwards = [statistics.median(r) for c in m.candidates for r, _ in zip(c.rounds, c.node_passes, strict=False)]
    pass_ms = [t for c in m.candidates for t in c.pass_ms]
    work = node_work(part_graph(spec.config, spec.part), spec.config.dtype_bytes)
    b = aggregate(work, mean_times(passes), statistics.fmean(forwards), statistics.fmean(pass_ms), peaks, overhead)
    return b.to_json()


def make_row(
    spec: BenchSpec, m: Measured, profile: Profile, group: Group, index: int, peak: dict[str, Any] | None = None
) -> BenchRow:
    """One result row: the two-stage estimate and its interval, descriptive statistics, the machine's
    load, the analytic costs of the part timed, and its GFLOP/s against ``peak``."""
    row = identity(spec, profile, group, index)
    row["error"] = m.error
    estimate = estimate_of(m)
    if estimate is None:
        return row
    cfg, totals = spec.config, profile.model_total
    per_worker = m.per_worker
    stats = summarize([t for w in per_worker for r in w for t in r])
    half = estimate.half_width
    peaks = as_peaks(peak) if peak else None
    gflops = totals.flops / estimate.value / 1e6
    loads = [r.load.other_share for r in m.replies if r.load is not None]
    first = next(c for c in m.candidates if c.rounds)
    row.update(
        {
            "workers": estimate.workers,
            "rounds": sum(len(w) for w in per_worker),
            "runs": stats.runs,
            "median_ms": estimate.value,
            "ci95_ms": None if estimate.low is None or estimate.high is None else [estimate.low, estimate.high],
            "ci95_half_pct": None if half is None else 100 * half,
            "ci_reason": estimate.reason,
            "between_worker_share": estimate.between_share,
            "worker_medians_ms": [math.exp(statistics.median(round_logs(w))) for w in per_worker],
            "iqr_ms": stats.iqr_ms,
            "p90_ms": stats.p90_ms,
            "min_ms": stats.min_ms,
            "mean_ms": stats.mean_ms,
            "images_per_s": cfg.batch * 1e3 / estimate.value,
            "gflops_per_s": gflops,
            "matmul_peak_gflops": peaks.gflops if peaks else None,
            "copy_peak_gbytes_per_s": peaks.gbytes_per_s if peaks else None,
            "peak_share": gflops / peaks.gflops if peaks else None,
            "probe_drift": [drift(r.probe_before, r.probe_after) for r in m.replies if r.probe_before and r.probe_after],
            "other_load": statistics.fmean(loads) if loads else None,
            "other_load_workers": loads,
            "worker_seconds": [r.wall_s for r in m.replies if r.wall_s is not None],
            "gpu_other_processes": _gpu_others(m.replies) if spec.device == "gpu" else None,
            "peak_mem_bytes": max(c.peak_mem_bytes for c in m.candidates),
            "peak_mem_kind": first.peak_mem_kind,
            "threads": first.info["threads"],
            "device_name": first.info["device_name"],
            "framework": first.info["framework"],
            "math_mode": first.info["math_mode"],
            "rounds_ms": per_worker,
        }
    )
    overhead = next((r.op_overhead_ms for r in m.replies if r.op_overhead_ms), {})
    breakdown = _breakdown(spec, m, peaks, overhead)
    if breakdown is not None:
        row["breakdown"] = breakdown
    return row


def _gpu_others(replies: Sequence[WorkerReply]) -> list[int] | None:
    """Other processes the driver listed on the GPU while this row's workers ran (None: it cannot tell)."""
    if any(r.gpu_others is None for r in replies):
        return None
    return sorted({pid for r in replies for pid in r.gpu_others or []})
