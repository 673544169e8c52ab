"""The machine's peaks, measured on the spot in the framework that runs the bench.

A large matmul gives the arithmetic peak (GFLOP/s, 2*n^3 FLOPs) at the bench's threads and dtype;
a large tensor copy gives the memory bandwidth (GB/s, counting the bytes read plus those written).
Both are timed with the backend's synchronising timer after a warm-up. A peak is the *fastest* of
PEAK_RUNS runs: on a shared machine noise only ever slows a kernel, and the median of a few runs
moved between 83 and 133 GFLOP/s for the same matmul within minutes. The drift probe (the plain
kernels just before and after a bench's rounds) takes the median of PROBE_RUNS runs instead: it is
meant to see the machine's state.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from fpnprof.backends.primitives import PeakKernels
from fpnprof.bench.breakdown import Peaks
from fpnprof.bench.timers import timer_for

PEAK_RUNS = 15
PROBE_RUNS = 3
WARMUP = 1


def _time_ms(fn: Callable[[], object], time_ms: Callable[[Callable[[], object]], float], runs: int, fastest: bool) -> float:
    for _ in range(WARMUP):
        time_ms(fn)
    times = [time_ms(fn) for _ in range(runs)]
    return min(times) if fastest else statistics.median(times)


def measure_peaks(kernels: PeakKernels, runs: int = PEAK_RUNS, *, fastest: bool = True) -> dict[str, Any]:
    """Matmul GFLOP/s and copy GB/s from the fastest run (a peak) or the median run (a probe)."""
    time_ms = timer_for(kernels.clock).time
    matmul_ms = _time_ms(kernels.matmul, time_ms, runs, fastest)
    copy_ms = _time_ms(kernels.copy, time_ms, runs, fastest)
    return {
        "matmul_gflops": kernels.matmul_flops / matmul_ms / 1e6,
        "copy_gbytes_per_s": kernels.copy_bytes / copy_ms / 1e6,
        "matmul_ms": matmul_ms,
        "copy_ms": copy_ms,
        "runs": runs,
        "statistic": "fastest" if fastest else "median",
        **kernels.info,
    }


def as_peaks(measured: dict[str, Any]) -> Peaks:
    return Peaks(measured["matmul_gflops"], measured["copy_gbytes_per_s"])


def drift(before: dict[str, Any], after: dict[str, Any]) -> float:
    """Relative change of the matmul probe's time from before to after a measurement (+ = slower)."""
    return float(after["matmul_ms"] / before["matmul_ms"] - 1)
