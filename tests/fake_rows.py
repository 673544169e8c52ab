"""A measured bench row with fixed numbers, for tests of what is made of rows (tables, ratios)."""

from __future__ import annotations

from typing import Any, cast

from fpnprof.bench.rows import BenchRow
from fpnprof.bench.runner import BenchRun, Measurement
from fpnprof.model.config import NeckConfig
from fpnprof.model.necks import NECKS
from fpnprof.model.setups import setup


def fake_row(neck: str, median: float, **overrides: Any) -> BenchRow:
    cfg = NeckConfig(neck=neck if neck in NECKS else "fpn", variant="paper", batch=2, size=64)
    row: dict[str, Any] = {
        "config": cfg.as_dict(),
        **setup(cfg),
        "neck": neck,
        "variant": "paper",
        "part": "neck",
        "backend": "paddle",
        "device": "cpu",
        "engine": "inference",
        "dtype": "fp32",
        "batch": 2,
        "size": 64,
        "mode": "paired",
        "isolated_why": None,
        "error": None,
        "group": 0,
        "flags": [],
        "noisy": None,
        "workers": 6,
        "rounds": 30,
        "runs": 123,
        "median_ms": median,
        "ci95_ms": [median * 0.97, median * 1.03],
        "ci95_half_pct": 3.0,
        "ci_reason": None,
        "between_worker_share": 0.2,
        "worker_medians_ms": [median] * 6,
        "p90_ms": median * 1.1,
        "images_per_s": 2e3 / median,
        "gflops_per_s": 141.123,
        "peak_share": 1.06,
        "peak_mem_bytes": 123_456_789,
        "peak_mem_kind": "cpu rss growth",
        "threads": 2,
        "device_name": "cpu",
        "framework": "paddle 3.3.1",
        "math_mode": {"onednn": True},
        "matmul_peak_gflops": 133.0,
        "copy_peak_gbytes_per_s": 17.0,
        "probe_drift": [0.01],
        "other_load": 0.01,
        "other_load_workers": [0.01] * 6,
        "resolved": True,
    }
    row.update(overrides)
    if "batch" in overrides:
        row["images_per_s"] = row["batch"] * 1e3 / median
    return cast(BenchRow, row)


def fake_bench_run(rows: list[BenchRow], seconds: float = 42.0, measurement: Measurement | None = None) -> BenchRun:
    return BenchRun(rows, seconds, 6, measurement or Measurement())
