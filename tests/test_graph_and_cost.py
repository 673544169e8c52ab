"""Graph validation and the cost rules on hand-checked cases."""

from __future__ import annotations

import importlib
from types import MappingProxyType

import pytest

from fpnprof.backends import BACKENDS
from fpnprof.cost.ops import FVCORE_TREATMENTS, OPS, node_cost
from fpnprof.cost.rules import adaptive_window_sum, adaptive_windows
from fpnprof.errors import GraphError
from fpnprof.model.builder import GraphBuilder
from fpnprof.model.graph import Graph, Node, Op
from fpnprof.model.labels import LABELS
from fpnprof.model.necks.bifpn import paper_cell_topology
from fpnprof.model.shapes import SHAPE_RULES, same_padding


def test_every_op_is_registered_with_every_part() -> None:
    """An op lacking its shape rule, label, spec (cost rule, fvcore treatment, aten list) or a lowering
    in any backend fails here."""
    assert set(OPS) == set(SHAPE_RULES) == set(LABELS) == set(Op)
    for op, spec in OPS.items():
        assert callable(spec.cost) and callable(spec.unsupported_aten), op
        assert spec.fvcore in FVCORE_TREATMENTS, op
    for name in BACKENDS:
        lowering = importlib.import_module(BACKENDS[name].module).LOWER
        assert set(lowering) == set(Op) - {Op.INPUT}, name


def test_unknown_input_and_duplicates_are_refused() -> None:
    g = Graph()
    g.add(Node("x", Op.INPUT, (), MappingProxyType({"shape": (1, 3, 4, 4)})))
    with pytest.raises(GraphError, match="undefined input"):
        g.add(Node("y", Op.RELU, ("nope",)))
    with pytest.raises(GraphError, match="duplicate"):
        g.add(Node("x", Op.INPUT, ()))


def test_weight_sharing_must_match() -> None:
    b = GraphBuilder()
    x = b.input("x", (1, 8, 8, 8))
    owner = b.conv(x, 8, 3, "a")
    b.conv(x, 8, 3, "b", shares=owner)
    with pytest.raises(GraphError, match="cannot share"):
        b.conv(x, 8, 1, "c", shares=owner)
    with pytest.raises(GraphError, match="unknown node"):
        b.conv(x, 8, 3, "d", shares="missing")


def test_noncontiguous_levels_refused() -> None:
    b = GraphBuilder()
    x = b.input("x", (1, 8, 8, 8))
    b.graph.outputs = {2: x, 4: x}
    with pytest.raises(GraphError, match="contiguous"):
        b.graph.validate()


def test_shape_mismatch_is_a_graph_error() -> None:
    b = GraphBuilder()
    x = b.input("x", (1, 8, 8, 8))
    y = b.input("y", (1, 8, 4, 4))
    with pytest.raises(GraphError, match="equal input shapes"):
        b.sum((x, y), "add")


def test_conv_cost_by_hand() -> None:
    b = GraphBuilder()
    x = b.input("x", (2, 16, 10, 10))
    conv = b.graph[b.conv(x, 32, 3, "c", stride=2)]
    cost = node_cost(conv, [(2, 16, 10, 10)])
    assert conv.shape == (2, 32, 5, 5)
    assert cost.params == 32 * 16 * 9 + 32
    assert cost.macs == 2 * 32 * 16 * 9 * 25
    assert cost.flops == 2 * cost.macs + 2 * 32 * 25
    dw = b.graph[b.conv(x, 16, 3, "dw", groups=16, bias=False)]
    assert node_cost(dw, [(2, 16, 10, 10)]).macs == 2 * 16 * 1 * 9 * 100


def test_same_padding_and_adaptive_windows() -> None:
    assert same_padding(8, 3, 2) == (0, 1)
    assert same_padding(7, 3, 2) == (1, 1)
    assert adaptive_windows(8, 4) == [2, 2, 2, 2]
    assert adaptive_windows(7, 3) == [3, 3, 3]
    for size in range(1, 80):
        for out in range(1, size + 1):
            assert adaptive_window_sum(size, out) == sum(adaptive_windows(size, out)), (size, out)
    b = GraphBuilder()
    x = b.input("x", (1, 4, 7, 7))
    pool = b.graph[b.maxpool(x, 3, 2, "p", same=True)]
    cost = node_cost(pool, [(1, 4, 7, 7)])
    assert pool.shape == (1, 4, 4, 4) and cost.flops == 8 * 64 and cost.macs == 0


def test_fusion_cost() -> None:
    b = GraphBuilder()
    xs = tuple(b.input(f"x{i}", (1, 4, 2, 2)) for i in range(3))
    cost = node_cost(b.graph[b.fusion(xs, "f")], [(1, 4, 2, 2)] * 3)
    assert cost.params == 3 and cost.macs == 0 and cost.flops == 5 * 16 + 9


def test_efficientdet_topology() -> None:
    # google/automl fpn_configs.bifpn_config(3, 7): 4 top-down nodes of 2 inputs, 4 bottom-up of 3 (top: 2)
    nodes = paper_cell_topology(3, 7)
    assert [(name, len(refs)) for name, _, refs in nodes] == [
        ("td_p6", 2),
        ("td_p5", 2),
        ("td_p4", 2),
        ("td_p3", 2),
        ("bu_p4", 3),
        ("bu_p5", 3),
        ("bu_p6", 3),
        ("bu_p7", 2),
    ]
    assert nodes[4][2] == [(4, 0), (4, 1), (3, 1)]  # P4 input, td4, td3 (the final P3)
    assert nodes[-1][2] == [(7, 0), (6, 2)]  # P7 input, bu6


def test_a_conv_without_output_channels_is_refused() -> None:
    """A block whose width rounds down to 0 (YOLOv5's C3 halves its width) must not build a 0-channel
    conv: the analytic numbers would print and every framework would crash on it."""
    b = GraphBuilder()
    x = b.input("x", (1, 8, 8, 8))
    with pytest.raises(GraphError, match="0 output channels"):
        b.conv(x, 0, 1, "c")
