"""Where the time goes: per-node times aggregated per level and per op, against measured peaks.

Framework-free. Each node's *bytes moved* is the analytic minimum traffic of the op: its input
tensors read once, its output written once and its weights (parameters and BN statistics, shared
ones too) read once. *Arithmetic intensity* is FLOPs per byte moved. Against measured peaks
(matmul GFLOP/s, copy GB/s) a group is compute-bound when its intensity is at or above the ridge
point (peak FLOP/s / peak B/s), else memory-bound; its "% of peak" is achieved GFLOP/s over the
matmul peak when compute-bound, achieved GB/s over the copy peak when memory-bound.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

from fpnprof.cost.ops import node_cost
from fpnprof.cost.rules import numel
from fpnprof.model.graph import Graph, Op, Part


@dataclass(frozen=True)
class Peaks:
    """Measured on the spot: matmul GFLOP/s and copy GB/s (read + write)."""

    gflops: float
    gbytes_per_s: float

    @property
    def ridge(self) -> float:
        """FLOPs per byte above which a kernel can be compute-bound."""
        return self.gflops / self.gbytes_per_s


@dataclass(frozen=True)
class NodeWork:
    id: str
    op: str
    group_level: str  # "P3", "backbone", ...
    flops: int
    bytes: int


@dataclass(frozen=True)
class BreakdownRow:
    name: str
    nodes: int
    ms: float
    share: float  # of the whole forward's median
    flops: int
    bytes: int
    gflops_per_s: float
    intensity: float  # FLOPs per byte
    bound: str  # "compute" | "memory" | "-" (overhead row)
    peak_share: float | None  # of the matmul peak (compute-bound) or copy peak (memory-bound)

    def to_json(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class Breakdown:
    """Per level and per op; shares are of the instrumented pass (per-node timers on), whose
    level rows plus the overhead row add up to it. ``forward_ms`` is the plain forward's median."""

    forward_ms: float
    instrumented_ms: float
    node_sum_ms: float
    by_level: list[BreakdownRow]
    by_op: list[BreakdownRow]
    overhead: BreakdownRow

    @property
    def coverage(self) -> float:
        """Per-node sum over the whole forward's median."""
        return self.node_sum_ms / self.forward_ms

    def to_json(self) -> dict[str, object]:
        return {
            "forward_ms": self.forward_ms,
            "instrumented_ms": self.instrumented_ms,
            "node_sum_ms": self.node_sum_ms,
            "coverage": self.coverage,
            "by_level": [r.to_json() for r in self.by_level],
            "by_op": [r.to_json() for r in self.by_op],
            "overhead": self.overhead.to_json(),
        }


def node_work(graph: Graph, dtype_bytes: int) -> list[NodeWork]:
    """Every computing node's FLOPs and minimum bytes moved (inputs + output + weights)."""
    shapes: dict[str, tuple[int, int, int, int]] = {}
    out = []
    for node in graph:
        cost = node_cost(node, [shapes[i] for i in node.inputs])
        shapes[node.id] = cost.shape
        if node.op is Op.INPUT:
            continue
        moved = sum(numel(shapes[i]) for i in node.inputs) + numel(cost.shape) + cost.params + cost.buffers
        group = "backbone" if node.part is Part.BACKBONE else f"P{node.level}"
        out.append(NodeWork(node.id, node.op.value, group, cost.flops, moved * dtype_bytes))
    return out


def mean_times(passes: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Per node, the mean of its times over several timed passes. Means, not medians: they add up,
    so the nodes' sum never exceeds the mean pass that holds them and the overhead row is >= 0."""
    collected: dict[str, list[float]] = defaultdict(list)
    for times in passes:
        for node_id, ms in times.items():
            collected[node_id].append(ms)
    return {k: statistics.fmean(v) for k, v in collected.items()}


def _row(name: str, work: Sequence[NodeWork], ms: float, whole_ms: float, peaks: Peaks | None) -> BreakdownRow:
    flops = sum(w.flops for w in work)
    moved = sum(w.bytes for w in work)
    gflops = flops / ms / 1e6 if ms > 0 else 0.0
    intensity = flops / moved if moved else 0.0
    bound, share = "-", None
    if peaks is not None:
        if intensity >= peaks.ridge:
            bound, share = "compute", gflops / peaks.gflops
        else:
            bound, share = "memory", (moved / ms / 1e6 if ms > 0 else 0.0) / peaks.gbytes_per_s
    return BreakdownRow(name, len(work), ms, ms / whole_ms, flops, moved, gflops, intensity, bound, share)


def _group_key(name: str) -> tuple[int, int | str]:
    """P2 < P3 < ... < backbone; op names alphabetically."""
    if name.startswith("P") and name[1:].isdigit():
        return (0, int(name[1:]))
    return (1, name)


def aggregate(
    work: Sequence[NodeWork],
    node_ms: Mapping[str, float],
    forward_ms: float,
    instrumented_ms: float | None = None,
    peaks: Peaks | None = None,
) -> Breakdown:
    """Group node times per level and per op; what the nodes do not explain is the overhead row.

    Levels sorted bottom-up (backbone last); ops by time, largest first. The level rows plus the
    overhead row add up to the instrumented pass (``instrumented_ms``, default ``forward_ms``).
    """
    whole = forward_ms if instrumented_ms is None else instrumented_ms
    missing = [w.id for w in work if w.id not in node_ms]
    if missing:
        raise ValueError(f"no time for nodes {missing[:3]}")
    by_level: dict[str, list[NodeWork]] = defaultdict(list)
    by_op: dict[str, list[NodeWork]] = defaultdict(list)
    for w in work:
        by_level[w.group_level].append(w)
        by_op[w.op].append(w)

    def rows(groups: dict[str, list[NodeWork]]) -> list[BreakdownRow]:
        return [_row(k, g, sum(node_ms[w.id] for w in g), whole, peaks) for k, g in groups.items()]

    node_sum = sum(node_ms[w.id] for w in work)
    rest = whole - node_sum
    overhead = BreakdownRow("overhead", 0, rest, rest / whole, 0, 0, 0.0, 0.0, "-", None)
    return Breakdown(
        forward_ms=forward_ms,
        instrumented_ms=whole,
        node_sum_ms=node_sum,
        by_level=sorted(rows(by_level), key=lambda r: _group_key(r.name)),
        by_op=sorted(rows(by_op), key=lambda r: -r.ms),
        overhead=overhead,
    )
