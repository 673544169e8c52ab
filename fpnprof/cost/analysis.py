"""Price a whole graph: per node, per level, per part, and the peak of live activations."""

from __future__ import annotations

from collections import defaultdict

from fpnprof.cost.ops import node_cost
from fpnprof.cost.results import LevelRow, NodeRow, OpRow, Profile, Totals
from fpnprof.model.config import NeckConfig
from fpnprof.model.graph import Graph, Op, Part
from fpnprof.model.necks import build_graph
from fpnprof.model.shapes import numel


def node_rows(graph: Graph, dtype_bytes: int = 4) -> list[NodeRow]:
    """Every node's numbers, with shared weights counted once (at their first use)."""
    rows = []
    for node in graph:
        cost = node_cost(node, [graph[i].shape for i in node.inputs])
        owned = node.shares is None
        totals = Totals(
            params=cost.params if owned else 0,
            buffers=cost.buffers if owned else 0,
            macs=cost.macs,
            flops=cost.flops,
            bytes=numel(node.shape) * dtype_bytes,
        )
        rows.append(NodeRow(node.id, node.op.value, node.level, node.part.value, node.shape, totals, node.shares))
    return rows


def live_bytes(graph: Graph, rows: list[NodeRow]) -> list[int]:
    """Live activation bytes at each step of one forward pass in graph order (a node's output counted
    with its inputs, before any of them is freed).

    A tensor lives from the node that makes it until its last reader has run; the graph's
    inputs live from the start and its results (``Graph.result_ids``) until the end.
    """
    size = {row.id: row.totals.bytes for row in rows}
    last_use: dict[str, int] = {}
    for step, node in enumerate(graph):
        for src in node.inputs:
            last_use[src] = step
    keep = set(graph.result_ids())
    live = sum(size[n.id] for n in graph.inputs)
    out = []
    for step, node in enumerate(graph):
        if node.op is not Op.INPUT:
            live += size[node.id]
        out.append(live)
        dead = {src for src in node.inputs if last_use[src] == step}
        if node.id not in last_use:
            dead.add(node.id)
        live -= sum(size[n] for n in dead - keep)
    return out


def peak_live_bytes(graph: Graph, rows: list[NodeRow], part: Part | None = None) -> int:
    """Peak of live activation bytes over one forward pass in graph order (:func:`live_bytes`); with
    ``part``, only while that part's nodes run (the tensors they read from other parts included)."""
    steps = [live for node, live in zip(graph, live_bytes(graph, rows), strict=True) if part is None or node.part is part]
    return max(steps, default=0)


def _sum(rows: list[NodeRow]) -> Totals:
    total = Totals()
    for row in rows:
        total = total + row.totals
    return total


def profile_graph(cfg: NeckConfig, graph: Graph) -> Profile:
    rows = node_rows(graph, cfg.dtype_bytes)
    by_id = {row.id: row for row in rows}
    neck = [r for r in rows if r.part == Part.NECK.value]
    per_level: dict[int, list[NodeRow]] = defaultdict(list)
    for row in neck:
        per_level[row.level].append(row)
    levels = [
        LevelRow(
            level=level,
            stride=cfg.stride(level),
            input_shape=by_id[graph.features[level]].shape if level in graph.features else None,
            output_shape=by_id[out].shape,
            totals=_sum(per_level[level]),
        )
        for level, out in graph.outputs.items()
    ]
    ops: dict[str, list[NodeRow]] = defaultdict(list)
    for row in neck:
        ops[row.op].append(row)
    by_op = [
        OpRow(op, len(group), sum(r.totals.macs for r in group), sum(r.totals.flops for r in group))
        for op, group in sorted(ops.items(), key=lambda kv: -sum(r.totals.flops for r in kv[1]))
    ]
    return Profile(
        config=cfg,
        levels=levels,
        neck_total=_sum(neck),
        backbone_total=_sum([r for r in rows if r.part == Part.BACKBONE.value]),
        peak_bytes=peak_live_bytes(graph, rows),
        neck_peak_bytes=peak_live_bytes(graph, rows, Part.NECK),
        nodes=rows,
        by_op=by_op,
    )


def profile(cfg: NeckConfig) -> Profile:
    """Build the graph for ``cfg`` and price it."""
    return profile_graph(cfg, build_graph(cfg))
