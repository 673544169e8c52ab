"""Fitting the latency model: per kernel class a roofline-shaped line, per engine the executor's cost.

A kernel of class ``k`` doing ``f`` FLOPs, moving ``b`` bytes and writing ``r`` rows (batch x
channels x height of its output: NCHW kernels vectorise along a row, and pay for each) takes

    t = fixed_k + f / rate_k + b / bandwidth_k + r * per_row_k     (milliseconds; every term >= 0)

fitted by non-negative least squares, on milliseconds (the long kernels, which make most of a neck's
time, set the line) or on relative error (every sample alike): calibration keeps the weighting whose
cross-fitted necks come closest (:data:`LINE_WEIGHTS`; torch's lines alone put 62% of held-out necks
within ±10% on milliseconds, 57% on relative error; Paddle's eager kernels, trees on top, the other
way round: RESULTS.md). A forward pass of ``n`` kernels then takes

    T = base + n * per_kernel + scale * sum(t)

where ``base`` and ``per_kernel`` are the executor's own costs and ``scale`` what running in a whole
graph (warm caches, the allocator's state) does to the kernels' isolated times: fitted on relative
error over whole necks timed during calibration, which also give the prediction interval
(:mod:`fpnprof.latency.model`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import nnls

from fpnprof.errors import ConfigError


@dataclass(frozen=True)
class ClassFit:
    """One kernel class: fixed ms, ms per GFLOP, ms per GB, ms per million output rows; and how well
    it fits its samples."""

    fixed_ms: float
    ms_per_gflop: float
    ms_per_gbyte: float
    samples: int
    #: median and 90th percentile of |predicted / measured - 1| over its samples
    median_error: float
    p90_error: float
    ms_per_mrow: float = 0.0

    def ms(self, flops: float, nbytes: float, rows: float = 0.0) -> float:
        return (
            self.fixed_ms + self.ms_per_gflop * flops * 1e-9 + self.ms_per_gbyte * nbytes * 1e-9 + self.ms_per_mrow * rows * 1e-6
        )


def _work(flops: float, nbytes: float, rows: float) -> tuple[float, ...]:
    """A sample's columns in its class's line: a constant, GFLOPs, GB, million rows."""
    return (1.0, flops * 1e-9, nbytes * 1e-9, rows * 1e-6)


def _relative_errors(predicted: np.ndarray, measured: np.ndarray) -> np.ndarray:
    errors: np.ndarray = np.abs(predicted / measured - 1.0)
    return errors


#: How a class's line weighs its samples: ``ms``, by their milliseconds (least squares on time);
#: ``relative``, alike (least squares on relative error).
LINE_WEIGHTS = ("ms", "relative")


def fit_class(
    flops: Sequence[float], nbytes: Sequence[float], rows: Sequence[float], ms: Sequence[float], weights: str = "ms"
) -> ClassFit:
    """Non-negative least squares over one class's samples (at least 3), weighted as ``weights``
    (one of :data:`LINE_WEIGHTS`) says."""
    t = np.asarray(ms, dtype=float)
    if len(t) < 3 or not np.all(t > 0):
        raise ConfigError("a kernel class needs at least 3 samples with positive times to fit")
    if weights not in LINE_WEIGHTS:
        raise ValueError(f"unknown line weights {weights!r}")
    design = np.asarray([_work(f, b, r) for f, b, r in zip(flops, nbytes, rows, strict=True)], dtype=float)
    scale = 1.0 / t if weights == "relative" else np.ones_like(t)
    coef, _ = nnls(design * scale[:, None], t * scale)
    errors = _relative_errors(design @ coef, t)
    return _class_fit(coef, len(t), errors)


def _class_fit(coef: np.ndarray, samples: int, errors: np.ndarray) -> ClassFit:
    fixed, per_gflop, per_gbyte, per_mrow = (float(x) for x in coef)
    return ClassFit(fixed, per_gflop, per_gbyte, samples, float(np.median(errors)), float(np.quantile(errors, 0.9)), per_mrow)


@dataclass(frozen=True)
class ExecutorFit:
    """``T = base + n * per_kernel + scale * sum(t)`` over the calibration necks."""

    base_ms: float
    per_kernel_ms: float
    scale: float

    def total(self, kernels: int, kernel_ms: float) -> float:
        return self.base_ms + kernels * self.per_kernel_ms + self.scale * kernel_ms


def fit_executor(kernels: Sequence[int], kernel_ms: Sequence[float], measured_ms: Sequence[float]) -> ExecutorFit:
    """Non-negative least squares on relative error over whole necks (at least 3)."""
    t = np.asarray(measured_ms, dtype=float)
    if len(t) < 3:
        raise ConfigError("the executor fit needs at least 3 necks")
    design = np.column_stack([np.ones_like(t), np.asarray(kernels, float), np.asarray(kernel_ms, float)])
    coef, _ = nnls(design / t[:, None], np.ones_like(t))
    return ExecutorFit(float(coef[0]), float(coef[1]), float(coef[2]))


def neck_band(per_neck: Sequence[Sequence[float]], coverage: float) -> tuple[float, float]:
    """Split-conformal bounds on measured / predicted with each calibration neck's ratios (one per
    process that timed it): a neck is the exchangeable unit, not a process's ratio (one neck's
    processes agree more with each other than with other necks). With ``n`` necks, the k-th smallest
    of the necks' lowest ratios and the k-th largest of their highest bound a new neck's ratio with
    probability >= 1 - 2k / (n + 1); k is the largest that keeps that at or above ``coverage``.
    Fewer necks than the coverage needs: ConfigError."""
    n = len(per_neck)
    k = math.floor((1 - coverage) * (n + 1) / 2 + 1e-9)
    if k < 1:
        raise ConfigError(f"{n} calibration necks cannot bound a {coverage:.0%} interval (need {necks_needed(coverage)})")
    return sorted(min(r) for r in per_neck)[k - 1], sorted(max(r) for r in per_neck)[n - k]


def necks_needed(coverage: float) -> int:
    """The fewest calibration necks :func:`neck_band` bounds a ``coverage`` interval with (19 for 90%)."""
    return math.ceil(2 / (1 - coverage) - 1e-9) - 1
