"""The typed records a bench produces. They are JSON records by nature (they come back from
worker processes and go out as ``--format json``), so they are ``TypedDict``s: mypy checks every
key, and the JSON keys are the fields, with no conversion layer to keep in step."""

from __future__ import annotations

from typing import Any, TypedDict


class Ratio(TypedDict):
    """A row's median over its baseline's, with the 95% CI; paired when timed in the same rounds."""

    ratio: float
    ratio_ci95: list[float]
    ratio_paired: bool


class BenchRow(TypedDict, total=False):
    """One measured (or failed) row. The first block is always there; the rest once it has run."""

    neck: str
    variant: str
    part: str
    backend: str
    device: str
    engine: str
    dtype: str
    batch: int
    size: int
    mode: str
    isolated_why: str | None
    processes: int
    macs: int
    flops: int
    params: int
    error: str | None
    group: int
    # measured
    median_ms: float
    ci95_ms: list[float]
    ci95_half_pct: float
    iqr_ms: float
    p90_ms: float
    min_ms: float
    mean_ms: float
    runs: int
    rounds: int
    process_medians_ms: list[float]
    noisy: str | None
    images_per_s: float
    gflops_per_s: float
    matmul_peak_gflops: float | None
    copy_peak_gbytes_per_s: float | None
    peak_share: float | None
    probe_drift: list[float]
    peak_mem_bytes: int
    peak_mem_kind: str
    threads: int
    device_name: str
    framework: str
    math_mode: dict[str, Any]
    rounds_ms: list[list[float]]
    breakdown: dict[str, Any]
    # against the baseline row (attach_ratios)
    baseline: str
    ratio: float
    ratio_ci95: list[float]
    ratio_paired: bool
