"""Where the time goes: per-node times aggregated per level and per op, against measured peaks.

Framework-free. Each node's *bytes moved* is the analytic minimum traffic of the op: its input
tensors read once, its output written once and its weights (parameters and BN statistics, shared
ones too) read once. *Arithmetic intensity* is FLOPs per byte moved. Against measured peaks
(matmul GFLOP/s, copy GB/s) a group is compute-bound when its intensity is at or above the ridge
point (peak FLOP/s / peak B/s), else memory-bound; its "% of peak" is achieved GFLOP/s over the
matmul peak when compute-bound, achieved GB/s over the copy peak when memory-bound.

Far below both roofs, a group is *overhead-bound*: the fixed cost of its ops (each op kind timed on
a tiny tensor, :mod:`fpnprof.bench.overhead`) explains more of its time than its FLOPs at the
matmul peak or its bytes at the copy peak do. The bound is whichever of the three predicts the
most time.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from fpnprof.cost.ops import node_cost
from fpnprof.model.graph import Graph, Op, Part
from fpnprof.model.shapes import numel

#: The node sum should be within this band of the forward; outside it the breakdown is flagged.
COVERAGE_BAND = (0.85, 1.15)
#: A node class is flagged below this share of its roof (matmul or copy peak, measured beside it): the
#: roofs themselves move by up to 1.6x within minutes (:mod:`fpnprof.bench.peaks`), and even eager Paddle's
#: convs reach 15% of the matmul roof (Paddle Inference's 80%; benchmarks/RESULTS.md), so a class ten times
#: below its roof has a slow kernel, not a slow machine ...
FAR_BELOW_ROOF = 0.10
#: ... if it takes at least this share of the pass (less would not change the pass even if made free).
FLAG_SHARE = 0.05
#: A drift probe that moved more than this while measuring makes every % of a roof that uncertain.
DRIFT_LIMIT = 0.10


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
    bound: str  # "compute" | "memory" | "overhead" | "-" (the unexplained-time row)
    peak_share: float | None  # of the matmul peak (compute-bound) or copy peak (memory-bound)
    fixed_ms: float | None = None  # the nodes' fixed costs (tiny-op times), when measured

    def to_json(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class Breakdown:
    """Per level and per op; shares are of the instrumented pass (per-node timers on), whose
    level rows plus the between-nodes row add up to it. ``forward_ms`` is the plain forward's mean over
    the rounds the instrumented passes ran beside."""

    forward_ms: float
    instrumented_ms: float
    node_sum_ms: float
    by_level: list[BreakdownRow]
    by_op: list[BreakdownRow]
    between: BreakdownRow  # the pass's time outside every node: the executor and the timers

    @property
    def coverage(self) -> float:
        """Per-node sum over the plain forward of the same rounds."""
        return self.node_sum_ms / self.forward_ms

    @property
    def coverage_ok(self) -> bool:
        low, high = COVERAGE_BAND
        return low <= self.coverage <= high

    def to_json(self) -> dict[str, object]:
        return {
            "forward_ms": self.forward_ms,
            "instrumented_ms": self.instrumented_ms,
            "node_sum_ms": self.node_sum_ms,
            "coverage": self.coverage,
            "coverage_ok": self.coverage_ok,
            "by_level": [r.to_json() for r in self.by_level],
            "by_op": [r.to_json() for r in self.by_op],
            "between_nodes": self.between.to_json(),
        }


def node_work(graph: Graph, dtype_bytes: int, part: Part | None = None) -> list[NodeWork]:
    """Every computing node's (of ``part`` only, if given) FLOPs and minimum bytes moved (inputs +
    output + weights)."""
    out = []
    for node in graph:
        if node.op is Op.INPUT or (part is not None and node.part is not part):
            continue
        inputs = [graph[i].shape for i in node.inputs]
        cost = node_cost(node, inputs)
        moved = sum(numel(s) for s in inputs) + numel(node.shape) + cost.params + cost.buffers
        group = "backbone" if node.part is Part.BACKBONE else f"P{node.level}"
        out.append(NodeWork(node.id, node.op.value, group, cost.flops, moved * dtype_bytes))
    return out


def mean_times(passes: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Per node, the mean of its times over several timed passes. Means, not medians: they add up,
    so the nodes' sum never exceeds the mean pass that holds them and the between-nodes row is >= 0."""
    collected: dict[str, list[float]] = defaultdict(list)
    for times in passes:
        for node_id, ms in times.items():
            collected[node_id].append(ms)
    return {k: statistics.fmean(v) for k, v in collected.items()}


def _row(
    name: str, work: Sequence[NodeWork], ms: float, whole_ms: float, peaks: Peaks | None, overhead: Mapping[str, float]
) -> BreakdownRow:
    flops = sum(w.flops for w in work)
    moved = sum(w.bytes for w in work)
    gflops = flops / ms / 1e6 if ms > 0 else 0.0
    intensity = flops / moved if moved else 0.0
    fixed = sum(overhead.get(w.op, 0.0) for w in work) if overhead else None
    bound, share = "-", None
    if peaks is not None:
        # the time each limit alone would take; the largest is the bound
        limits = {"compute": flops / peaks.gflops / 1e6, "memory": moved / peaks.gbytes_per_s / 1e6, "overhead": fixed or 0.0}
        bound = max(limits, key=limits.__getitem__)
        if bound == "compute":
            share = gflops / peaks.gflops
        elif bound == "memory":
            share = (moved / ms / 1e6 if ms > 0 else 0.0) / peaks.gbytes_per_s
    return BreakdownRow(name, len(work), ms, ms / whole_ms, flops, moved, gflops, intensity, bound, share, fixed)


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
    overhead: Mapping[str, float] | None = None,
) -> Breakdown:
    """Group node times per level and per op; what the nodes do not explain is the between-nodes row.

    Levels sorted bottom-up (backbone last); ops by time, largest first. The level rows plus the
    between-nodes row add up to the instrumented pass (``instrumented_ms``, default ``forward_ms``).
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
        return [_row(k, g, sum(node_ms[w.id] for w in g), whole, peaks, overhead or {}) for k, g in groups.items()]

    node_sum = sum(node_ms[w.id] for w in work)
    rest = whole - node_sum
    between = BreakdownRow("between nodes", 0, rest, rest / whole, 0, 0, 0.0, 0.0, "-", None)
    return Breakdown(
        forward_ms=forward_ms,
        instrumented_ms=whole,
        node_sum_ms=node_sum,
        by_level=sorted(rows(by_level), key=lambda r: _group_key(r.name)),
        by_op=sorted(rows(by_op), key=lambda r: -r.ms),
        between=between,
    )


def breakdown_flags(breakdown: Mapping[str, Any], drifts: Sequence[float]) -> list[str]:
    """Why a breakdown needs a second look: a node class far below its roof that takes a real share of
    the pass (:data:`FAR_BELOW_ROOF`, :data:`FLAG_SHARE`), and a drift probe that moved more than
    :data:`DRIFT_LIMIT` while measuring (``drifts``: the row's probe drifts, + = slower)."""
    out = []
    for r in breakdown["by_op"]:
        roof = r["peak_share"]
        if roof is not None and roof < FAR_BELOW_ROOF and r["share"] >= FLAG_SHARE:
            kind = "matmul" if r["bound"] == "compute" else "copy"
            at = f"{roof:.1%} of its {kind} roof (under {FAR_BELOW_ROOF:.0%})"
            out.append(f"{r['name']} takes {r['share']:.0%} of the pass at {at}")
    worst = max(drifts, key=abs, default=0.0)
    if abs(worst) > DRIFT_LIMIT:
        out.append(f"drift probe moved {worst:+.1%} while measuring (over ±{DRIFT_LIMIT:.0%}): % roof is that uncertain")
    return out
