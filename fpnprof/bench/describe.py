"""Descriptive statistics of one row's runs (median, spread, tail) for tables and JSON."""

from __future__ import annotations

import statistics
from dataclasses import dataclass


@dataclass(frozen=True)
class Stats:
    median_ms: float
    iqr_ms: float
    p90_ms: float
    min_ms: float
    mean_ms: float
    runs: int


def summarize(samples: list[float]) -> Stats:
    """Quartiles and p90 interpolate linearly between runs (numpy's default, ``inclusive`` here)."""
    if not samples:
        raise ValueError("no samples")
    cuts = statistics.quantiles(samples, n=100, method="inclusive") if len(samples) > 1 else [samples[0]] * 99
    return Stats(
        median_ms=statistics.median(samples),
        iqr_ms=cuts[74] - cuts[24],
        p90_ms=cuts[89],
        min_ms=min(samples),
        mean_ms=statistics.fmean(samples),
        runs=len(samples),
    )
