"""Predicted latency of a graph from a fitted model: per kernel, per level, in all, with an interval.

A kernel's share is its class fit's time (corrected by the class's trees, where it has them) scaled
by the executor's ``scale`` plus the executor's
``per_kernel`` cost; the total adds the executor's ``base``, so kernel rows and level rows add up to
it. The interval is the total times the model's band on measured / predicted, the band that held the
stated share of the calibration necks (each predicted by a model fitted without it), widened where the
graph goes past the ranges the model was fitted on (:mod:`fpnprof.latency.domain`): such a
prediction is marked extrapolated, each level and kernel too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from fpnprof.errors import ConfigError
from fpnprof.latency.domain import beyond, widening
from fpnprof.latency.fit import ClassFit
from fpnprof.latency.kernels import Kernel, graph_kernels
from fpnprof.latency.model import LatencyModel
from fpnprof.latency.trees import Trees, features
from fpnprof.model.graph import Graph, Part


@dataclass(frozen=True)
class KernelPrediction:
    kernel: Kernel
    level: str  # "P3", "backbone"
    ms: float
    #: doublings past its class's fitted ranges (0: inside)
    past: float = 0.0


@dataclass(frozen=True)
class Prediction:
    """Predicted milliseconds, never a measurement: kernels, levels, the executor's base, the total
    and its interval; how far it goes past the model's domain, and the factor the interval was
    widened by for it."""

    kernels: list[KernelPrediction]
    base_ms: float
    low_ms: float
    high_ms: float
    #: doublings past the calibration necks' ranges (0: inside)
    neck_past: float = 0.0
    #: one line on each way it leaves the domain (none: inside)
    reasons: tuple[str, ...] = ()
    widened: float = 1.0

    @property
    def extrapolated(self) -> bool:
        return self.neck_past > 0 or any(k.past > 0 for k in self.kernels)

    def extrapolated_levels(self) -> dict[str, bool]:
        """Per level, whether any of its kernels is past its class's ranges."""
        out: dict[str, bool] = {}
        for k in self.kernels:
            out[k.level] = out.get(k.level, False) or k.past > 0
        return out

    @property
    def total_ms(self) -> float:
        return self.base_ms + sum(k.ms for k in self.kernels)

    def by_level(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for k in self.kernels:
            out[k.level] = out.get(k.level, 0.0) + k.ms
        return out


def _no_fit_advice(cls: str) -> str:
    """Recalibrating helps only where this fpnprof's calibration times the class at all."""
    from fpnprof.latency.sampling import drawn_classes

    if cls in drawn_classes():
        return "recalibrate with this fpnprof"
    return "fpnprof's calibration does not time these kernels yet, so no latency model can price this graph"


def kernel_times(classes: Mapping[str, ClassFit], trees: Mapping[str, Trees], kernels: Sequence[Kernel]) -> list[float]:
    """Each kernel's time as its class's line gives it, times its class's trees' correction where the
    class has trees (no executor terms)."""
    out = []
    for k in kernels:
        fit = classes.get(k.cls)
        if fit is None:
            raise ConfigError(f"the latency model has no fit for {k.cls} kernels (node {k.nodes[0]}): {_no_fit_advice(k.cls)}")
        out.append(fit.ms(k.flops, k.bytes, k.rows))
    by_class: dict[str, list[int]] = {}
    for i, k in enumerate(kernels):
        if k.cls in trees:
            by_class.setdefault(k.cls, []).append(i)
    for cls, index in by_class.items():
        x = np.asarray([features(kernels[i].dims, kernels[i].flops, kernels[i].bytes) for i in index])
        for i, log_factor in zip(index, trees[cls].predict(x), strict=True):
            out[i] *= math.exp(log_factor)
    return out


def predict_graph(model: LatencyModel, graph: Graph, dtype_bytes: int = 4, part: Part | None = None) -> Prediction:
    """The graph's predicted latency; with ``part``, that part's nodes alone (the neck's nodes of a
    whole model's graph are priced as the neck alone would be)."""
    engine = str(model.fingerprint["engine"])
    ex = model.executor
    rows = []
    kernels = graph_kernels(graph, engine, dtype_bytes, part)
    past = beyond(model.domain, kernels)
    for k, ms, d in zip(kernels, kernel_times(model.classes, model.trees, kernels), past.kernels, strict=True):
        node = graph[k.nodes[0]]
        level = "backbone" if node.part is Part.BACKBONE else f"P{node.level}"
        rows.append(KernelPrediction(k, level, ex.scale * ms + ex.per_kernel_ms, d))
    total = ex.base_ms + sum(r.ms for r in rows)
    low, high = model.band
    wider = widening(model.domain, [r.ms for r in rows], past)
    return Prediction(rows, ex.base_ms, total * low / wider, total * high * wider, past.neck, past.reasons, wider)
