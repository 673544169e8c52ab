"""The fixed cost of an op on this machine and engine: each op kind run on a tiny tensor, where its
time is all dispatch and bookkeeping. A breakdown group whose nodes' fixed costs explain more of its
time than either roof does is overhead-bound."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable

from fpnprof.model.builder import GraphBuilder
from fpnprof.model.graph import Graph, Op

#: Tiny passes timed; each op's fixed cost is the median of its times over them.
TINY_PASSES = 25
TINY_SHAPE = (1, 4, 4, 4)


def tiny_op_graph(ops: Iterable[Op]) -> Graph:
    """One node of every op kind in ``ops``, each on a 1x4x4x4 tensor (two for the fusions)."""
    b = GraphBuilder()
    x, y = b.input("x", TINY_SHAPE), b.input("y", TINY_SHAPE)
    make: dict[Op, Callable[[], str]] = {
        Op.CONV: lambda: b.conv(x, 4, 1, "conv"),
        Op.BATCHNORM: lambda: b.bn(x, "batchnorm"),
        Op.RELU: lambda: b.relu(x, "relu"),
        Op.SWISH: lambda: b.swish(x, "swish"),
        Op.ADD: lambda: b.sum((x, y), "add"),
        Op.CONCAT: lambda: b.concat((x, y), "concat"),
        Op.UPSAMPLE: lambda: b.upsample(x, (8, 8), "upsample"),
        Op.MAXPOOL: lambda: b.maxpool(x, 3, 2, "maxpool", same=True),
        Op.ADAPTIVE_MAXPOOL: lambda: b.adaptive_maxpool(x, (2, 2), "adaptive_maxpool"),
        Op.FUSION: lambda: b.fusion((x, y), "fusion"),
        Op.SOFTMAX_FUSION: lambda: b.softmax_fusion((x, y), "softmax_fusion"),
        Op.ATTENTION: lambda: b.attention(x, y, "attention"),
        Op.GROUPNORM: lambda: b.add(Op.GROUPNORM, (x,), "groupnorm", channels=4, groups=2, eps=1e-5),
        Op.LEAKY_RELU: lambda: b.add(Op.LEAKY_RELU, (x,), "leaky_relu", negative_slope=0.1),
        Op.HARDSWISH: lambda: b.add(Op.HARDSWISH, (x,), "hardswish"),
        Op.HARDSIGMOID: lambda: b.add(Op.HARDSIGMOID, (x,), "hardsigmoid", slope=1 / 6, offset=0.5),
        Op.SIGMOID: lambda: b.add(Op.SIGMOID, (x,), "sigmoid"),
        Op.RESIZE_BILINEAR: lambda: b.add(Op.RESIZE_BILINEAR, (x,), "resize_bilinear", size=(8, 8), align_corners=False),
        Op.CONV_TRANSPOSE: lambda: b.add(
            Op.CONV_TRANSPOSE,
            (x,),
            "conv_transpose",
            in_channels=4,
            out_channels=4,
            kernel=2,
            stride=2,
            padding=0,
            output_padding=0,
            groups=1,
            bias=True,
        ),
        Op.ADAPTIVE_AVGPOOL: lambda: b.add(Op.ADAPTIVE_AVGPOOL, (x,), "adaptive_avgpool", size=(1, 1)),
        Op.MUL: lambda: b.add(Op.MUL, (x, y), "mul"),
        Op.SUB: lambda: b.add(Op.SUB, (x, y), "sub"),
        Op.DIV: lambda: b.add(Op.DIV, (x, y), "div"),
        Op.PAD: lambda: b.add(Op.PAD, (x,), "pad", padding=(1, 1, 1, 1), value=0.0),
        Op.CHANNEL_SLICE: lambda: b.add(Op.CHANNEL_SLICE, (x,), "channel_slice", start=0, stop=2),
    }
    for op in sorted(set(ops) - {Op.INPUT}, key=lambda o: o.value):
        make[op]()
    return b.graph


def op_overhead_ms(graph: Graph, timed_pass: Callable[[], dict[str, float]], passes: int = TINY_PASSES) -> dict[str, float]:
    """Median milliseconds of each tiny node over ``passes`` instrumented passes, by op value."""
    runs = [timed_pass() for _ in range(passes)]
    return {graph[node_id].op.value: statistics.median(r[node_id] for r in runs) for node_id in runs[0]}
