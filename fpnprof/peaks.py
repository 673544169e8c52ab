"""The machine's peaks, measured on the spot in the framework that runs the bench.

A large matmul gives the arithmetic peak (GFLOP/s, 2*n^3 FLOPs) at the bench's threads and dtype;
a large tensor copy gives the memory bandwidth (GB/s, counting the bytes read plus those written).
Each is the median of a few runs after a warm-up, timed with the backend's synchronising timer.
The same pair, measured before and after a bench, is its drift probe.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fpnprof.breakdown import Peaks

PEAK_RUNS = 7
PROBE_RUNS = 5
WARMUP = 2


@dataclass
class PeakKernels:
    """What a backend supplies: the two kernels, their work, and a timer that syncs the device."""

    matmul: Callable[[], Any]
    matmul_flops: int
    copy: Callable[[], Any]
    copy_bytes: int  # read + written
    time_ms: Callable[[Callable[[], Any]], float]
    info: dict[str, Any] = field(default_factory=dict)


def _median_ms(fn: Callable[[], Any], time_ms: Callable[[Callable[[], Any]], float], runs: int) -> float:
    for _ in range(WARMUP):
        time_ms(fn)
    return statistics.median(time_ms(fn) for _ in range(runs))


def measure_peaks(kernels: PeakKernels, runs: int = PEAK_RUNS) -> dict[str, Any]:
    matmul_ms = _median_ms(kernels.matmul, kernels.time_ms, runs)
    copy_ms = _median_ms(kernels.copy, kernels.time_ms, runs)
    return {
        "matmul_gflops": kernels.matmul_flops / matmul_ms / 1e6,
        "copy_gbytes_per_s": kernels.copy_bytes / copy_ms / 1e6,
        "matmul_ms": matmul_ms,
        "copy_ms": copy_ms,
        "runs": runs,
        **kernels.info,
    }


def as_peaks(measured: dict[str, Any]) -> Peaks:
    return Peaks(measured["matmul_gflops"], measured["copy_gbytes_per_s"])


def drift(before: dict[str, Any], after: dict[str, Any]) -> float:
    """Relative change of the matmul probe's time from before to after a measurement (+ = slower)."""
    return float(after["matmul_ms"] / before["matmul_ms"] - 1)
