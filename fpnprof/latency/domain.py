"""Where a latency model was fitted, and how far a prediction goes past it.

Per kernel class, the ranges of the samples its line was fitted on (batch, input and output
channels, output height and width, groups, FLOPs, bytes moved); per model, the ranges of the
calibration necks (FLOPs, bytes their kernels move, kernels). A kernel outside its class's ranges,
or a neck outside the necks', is *extrapolated*, by the doublings (log2) past the range it leaves
furthest.

An extrapolated prediction's interval is widened: each kernel past its class's ranges may cost
(1 + :data:`WIDEN`) times more, or less, per doubling past them (weighted by its share of the
kernels' time), and the whole neck as much per doubling past the calibration necks, whichever is
wider. No calibration can measure that rate (it times nothing past its ranges): it is an
assumption, held by a test to a simulated machine whose convs cost 10% more per FLOP each doubling
past the largest calibration timed (``tests/test_latency_domain.py``); a machine that slows faster
than that past its calibration leaves the widened interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from fpnprof.latency.kernels import Kernel

#: What a kernel class's domain holds, per kernel.
KERNEL_RANGES = ("batch", "in_channels", "out_channels", "height", "width", "groups", "flops", "bytes")
#: What the calibration necks' domain holds, per neck.
NECK_RANGES = ("flops", "bytes", "kernels")
#: How much more (or less) a kernel may cost per doubling past its class's ranges.
WIDEN = 0.10

Ranges = dict[str, tuple[float, float]]


class Measured(Protocol):
    """A timed kernel sample (:class:`fpnprof.latency.assemble.Sample`)."""

    @property
    def cls(self) -> str: ...
    @property
    def flops(self) -> int: ...
    @property
    def bytes(self) -> int: ...
    @property
    def dims(self) -> tuple[int, ...]: ...
    @property
    def groups(self) -> int: ...


def kernel_values(dims: Sequence[int], groups: int, flops: float, nbytes: float) -> tuple[float, ...]:
    """:data:`KERNEL_RANGES` of a kernel (``dims``: :attr:`fpnprof.latency.kernels.Kernel.dims`)."""
    n, ci, _, _, co, ho, wo, _ = dims
    return (n, ci, co, ho, wo, groups, flops, nbytes)


def neck_values(kernels: Sequence[Kernel]) -> tuple[float, ...]:
    """:data:`NECK_RANGES` of a neck's kernels."""
    return (sum(k.flops for k in kernels), sum(k.bytes for k in kernels), len(kernels))


def _ranges(rows: Sequence[Sequence[float]], names: Sequence[str]) -> Ranges:
    return {name: (float(min(col)), float(max(col))) for name, col in zip(names, zip(*rows, strict=True), strict=True)}


def _checked(data: Any, names: Sequence[str], what: str) -> Ranges:
    if not isinstance(data, dict) or set(data) != set(names):
        raise ValueError(f"the domain of {what} has the wrong fields")
    out = {}
    for name, pair in data.items():
        ok = isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, int | float) and math.isfinite(x) for x in pair)
        if not ok or not 0 <= pair[0] <= pair[1]:
            raise ValueError(f"the domain of {what}: {name} must be two numbers, low <= high")
        out[name] = (float(pair[0]), float(pair[1]))
    return out


@dataclass(frozen=True)
class Domain:
    """The ranges a model was fitted on (a class with none is never marked), and the widening rate."""

    classes: dict[str, Ranges] = field(default_factory=dict)
    necks: Ranges = field(default_factory=dict)
    widen: float = WIDEN

    def to_json(self) -> dict[str, Any]:
        return {
            "kernel_classes": {c: {k: list(v) for k, v in r.items()} for c, r in sorted(self.classes.items())},
            "necks": {k: list(v) for k, v in self.necks.items()},
            "widen_per_doubling": self.widen,
        }

    @classmethod
    def from_json(cls, data: Any) -> Domain:
        """Checked: every range two finite numbers, low <= high; ValueError says what is wrong."""
        if not isinstance(data, dict) or set(data) != {"kernel_classes", "necks", "widen_per_doubling"}:
            raise ValueError("the domain has the wrong fields")
        widen = data["widen_per_doubling"]
        if not isinstance(widen, int | float) or not 0 <= widen < 10:
            raise ValueError("the domain's widen_per_doubling must be a number in 0..10")
        classes = data["kernel_classes"]
        if not isinstance(classes, dict):
            raise ValueError("the domain's kernel_classes must be a table")
        return cls(
            {c: _checked(r, KERNEL_RANGES, c) for c, r in classes.items()},
            _checked(data["necks"], NECK_RANGES, "the calibration necks"),
            float(widen),
        )


def domain_of(samples: Sequence[Measured], necks: Sequence[Sequence[Kernel]]) -> Domain:
    """The ranges of each class's samples (those with shapes) and of the calibration necks."""
    by_class: dict[str, list[tuple[float, ...]]] = {}
    for s in samples:
        if s.dims:
            by_class.setdefault(s.cls, []).append(kernel_values(s.dims, s.groups, s.flops, s.bytes))
    rows = [neck_values(kernels) for kernels in necks]
    return Domain({c: _ranges(v, KERNEL_RANGES) for c, v in sorted(by_class.items())}, _ranges(rows, NECK_RANGES) if rows else {})


@dataclass(frozen=True)
class Beyond:
    """How far a graph's kernels go past their classes' ranges (doublings, 0 inside; one per kernel),
    how far the whole goes past the calibration necks', and one line on each that does."""

    kernels: list[float]
    neck: float
    reasons: tuple[str, ...]


def _doublings(values: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Per value, the doublings past its [low, high] (0 inside); everything taken as at least 1."""
    v = np.maximum(values, 1.0)
    past = np.maximum(np.log2(np.maximum(low, 1.0) / v), np.log2(v / np.maximum(high, 1.0)))
    out: np.ndarray = np.maximum(past, 0.0)
    return out


def _si(value: float, unit: str) -> str:
    """``value`` with an SI prefix: 950 FLOPs, 18.5 kFLOPs, 3.2 GFLOPs."""
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:.3g} {prefix}{unit}"
    return f"{value:.0f} {unit}"


def _number(name: str, value: float) -> str:
    if name == "flops":
        return _si(value, "FLOPs")
    if name == "bytes":
        return _si(value, "B") + " moved"
    return f"{value:,.0f}"


def _reason(what: str, name: str, value: float, low: float, high: float, fitted: str) -> str:
    """'conv3x3 out channels 384, fitted on 16 to 320'; 'in all: 122 GFLOPs, calibration necks 38.6 MFLOPs to 298 MFLOPs'."""
    label = "" if name in ("flops", "bytes") else f" {name.replace('_', ' ')}"
    return f"{what}{label} {_number(name, value)}, {fitted} {_number(name, low)} to {_number(name, high)}"


def beyond(domain: Domain, kernels: Sequence[Kernel]) -> Beyond:
    """Where ``kernels`` (one graph's) leave ``domain``."""
    reasons = []
    neck = 0.0
    if domain.necks and kernels:
        values = np.asarray(neck_values(kernels), dtype=float)
        low, high = (np.asarray([domain.necks[n][i] for n in NECK_RANGES]) for i in (0, 1))
        past = _doublings(values, low, high)
        neck = float(past.max())
        if neck > 0:
            i = int(past.argmax())
            reasons.append(_reason("in all:", NECK_RANGES[i], values[i], low[i], high[i], "calibration necks"))
    if not kernels:
        return Beyond([], neck, tuple(reasons))
    lows = {c: [r[n][0] for n in KERNEL_RANGES] for c, r in domain.classes.items()}
    highs = {c: [r[n][1] for n in KERNEL_RANGES] for c, r in domain.classes.items()}
    unbounded = [float(np.finfo(float).max)] * len(KERNEL_RANGES)  # a class with no ranges: never past them
    low = np.asarray([lows.get(k.cls, [1.0] * len(KERNEL_RANGES)) for k in kernels])
    high = np.asarray([highs.get(k.cls, unbounded) for k in kernels])
    values = np.asarray([kernel_values(k.dims, k.groups, k.flops, k.bytes) for k in kernels], dtype=float)
    past = _doublings(values, low, high)
    per_kernel = past.max(axis=1)
    out = int((per_kernel > 0).sum())
    if out:
        i = int(per_kernel.argmax())
        j = int(past[i].argmax())
        furthest = _reason(kernels[i].cls, KERNEL_RANGES[j], values[i, j], low[i, j], high[i, j], "fitted on")
        reasons.append(f"{out} of {len(kernels)} kernels past their class's ranges, furthest {furthest}")
    return Beyond([float(d) for d in per_kernel], neck, tuple(reasons))


def widening(domain: Domain, kernel_ms: Sequence[float], past: Beyond) -> float:
    """The factor an interval is widened by each way (1: inside): the kernels' time-weighted
    (1 + widen) ** doublings, or (1 + widen) ** the neck's doublings, whichever is larger."""
    rate = 1 + domain.widen
    ms = np.asarray(kernel_ms, dtype=float)
    total = float(ms.sum())
    kernels = float((ms * rate ** np.asarray(past.kernels, dtype=float)).sum() / total) if total > 0 else 1.0
    return max(kernels, float(rate**past.neck), 1.0)
