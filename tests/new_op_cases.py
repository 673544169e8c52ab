"""One-node graphs of the ops real necks use (GroupNorm, activations, resizes, transposed convs,
pools, broadcast arithmetic, pads, channel slices, grouped convs, SPP pools), each with the numbers
worked out by hand from its shapes (not by fpnprof's rules): output shape, parameters, fvcore's
MACs and fpnprof's FLOPs. Shared by ``test_new_ops.py`` and ``test_new_op_counters.py``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fpnprof.model.builder import GraphBuilder
from fpnprof.model.graph import Graph, Op, Shape

X: Shape = (2, 8, 6, 5)  # 480 elements


@dataclass(frozen=True)
class Case:
    """One op on input shapes with its attributes, and what it must cost, worked out by hand."""

    op: Op
    inputs: tuple[Shape, ...]
    attrs: dict[str, Any]
    shape: Shape
    params: int
    macs: int
    flops: int
    #: the aten ops fvcore reports unsupported for this node's torch lowering
    aten: dict[str, int] = field(default_factory=dict)


CONV_T = dict(in_channels=8, out_channels=12, kernel=3, stride=2, padding=1, output_padding=1, groups=4, bias=True)

CASES: dict[str, Case] = {
    # params 2 * 8; MACs 5 * 480 (fvcore's affine norm); FLOPs 8 * 480 + 5 per (sample, group) = 5 * 2 * 4
    "groupnorm": Case(Op.GROUPNORM, (X,), dict(channels=8, groups=4, eps=1e-5), X, 16, 2400, 3880),
    "leaky_relu": Case(Op.LEAKY_RELU, (X,), dict(negative_slope=0.1), X, 0, 0, 960, {"aten::leaky_relu": 1}),
    "hardswish": Case(Op.HARDSWISH, (X,), {}, X, 0, 0, 2400, {"aten::hardswish": 1}),
    "hardsigmoid": Case(Op.HARDSIGMOID, (X,), dict(slope=1 / 6, offset=0.5), X, 0, 0, 1920, {"aten::hardsigmoid": 1}),
    # Paddle's own default slope rounds 1/6: still torch's nn.Hardsigmoid
    "hardsigmoid_paddle": Case(Op.HARDSIGMOID, (X,), dict(slope=0.1666667, offset=0.5), X, 0, 0, 1920, {"aten::hardsigmoid": 1}),
    "hardsigmoid_0.2": Case(Op.HARDSIGMOID, (X,), dict(slope=0.2, offset=0.5), X, 0, 0, 1920, {"aten::mul": 1, "aten::add": 1}),
    "sigmoid": Case(Op.SIGMOID, (X,), {}, X, 0, 0, 1440, {"aten::sigmoid": 1}),
    # 2*8*11*9 = 1584 outputs: 4 MACs, 7 FLOPs each
    "bilinear": Case(Op.RESIZE_BILINEAR, (X,), dict(size=(11, 9), align_corners=False), (2, 8, 11, 9), 0, 6336, 11088),
    "bilinear_corners": Case(Op.RESIZE_BILINEAR, (X,), dict(size=(12, 10), align_corners=True), (2, 8, 12, 10), 0, 7680, 13440),
    # out (6-1)*2 - 2 + 3 + 1 = 12 by (5-1)*2 - 2 + 3 + 1 = 10; weight 8 x 12/4 x 3 x 3 = 216 (+ 12 bias);
    # MACs 2 * 6 * 5 (input pixels) * 216; FLOPs 2 x that + 2*12*12*10 bias adds
    "conv_transpose": Case(Op.CONV_TRANSPOSE, (X,), CONV_T, (2, 12, 12, 10), 228, 12960, 28800),
    # 2x2/s2 without bias: weight 8 x 4 x 2 x 2 = 128, MACs 2 * 30 * 128
    "conv_transpose_2x2": Case(
        Op.CONV_TRANSPOSE,
        (X,),
        dict(in_channels=8, out_channels=4, kernel=2, stride=2, padding=0, output_padding=0, groups=1, bias=False),
        (2, 4, 12, 10),
        128,
        7680,
        15360,
    ),
    # 6 -> 4 rows: windows 2,2,2,2 (sum 8); 5 -> 3 columns: windows 2,3,2 (sum 7): FLOPs 16 * 8 * 7
    "adaptive_avgpool": Case(Op.ADAPTIVE_AVGPOOL, (X,), dict(size=(4, 3)), (2, 8, 4, 3), 0, 480, 896),
    "global_avgpool": Case(Op.ADAPTIVE_AVGPOOL, (X,), dict(size=(1, 1)), (2, 8, 1, 1), 0, 480, 480),
    "mul": Case(Op.MUL, (X, (2, 8, 1, 1)), {}, X, 0, 0, 480, {"aten::mul": 1}),
    "sub": Case(Op.SUB, ((1, 8, 6, 5), (2, 1, 6, 1)), {}, X, 0, 0, 480, {"aten::sub": 1}),
    "div": Case(Op.DIV, (X, (1, 8, 1, 5)), {}, X, 0, 0, 480, {"aten::div": 1}),
    "add_broadcast": Case(Op.ADD, ((2, 8, 1, 1), X), {}, X, 0, 0, 480, {"aten::add": 1}),
    "pad": Case(Op.PAD, (X,), dict(padding=(1, 2, 0, 3), value=0.0), (2, 8, 9, 8), 0, 0, 0, {"aten::pad": 1}),
    "pad_value": Case(Op.PAD, (X,), dict(padding=(2, 0, 1, 1), value=-1.5), (2, 8, 8, 7), 0, 0, 0, {"aten::pad": 1}),
    "channel_slice": Case(Op.CHANNEL_SLICE, (X,), dict(start=2, stop=7), (2, 5, 6, 5), 0, 0, 0),
    # groups=4, not depthwise: weight 12 x 8/4 x 3 x 3 = 216 (+ 12 bias) over 2*6*5 output pixels
    "grouped_conv": Case(
        Op.CONV,
        (X,),
        dict(in_channels=8, out_channels=12, kernel=3, stride=1, padding=1, groups=4, bias=True),
        (2, 12, 6, 5),
        228,
        12960,
        26640,
    ),
    # SPP / SPPF pools: stride 1, padding k // 2 keeps the size; k*k - 1 comparisons per output
    "spp_pool5": Case(Op.MAXPOOL, (X,), dict(kernel=5, stride=1, padding=(2,) * 4), X, 0, 0, 24 * 480, {"aten::max_pool2d": 1}),
    "spp_pool9": Case(Op.MAXPOOL, (X,), dict(kernel=9, stride=1, padding=(4,) * 4), X, 0, 0, 80 * 480, {"aten::max_pool2d": 1}),
    "spp_pool13": Case(
        Op.MAXPOOL, (X,), dict(kernel=13, stride=1, padding=(6,) * 4), X, 0, 0, 168 * 480, {"aten::max_pool2d": 1}
    ),
}


def one_op(case: Case) -> Graph:
    """The case's node ``n`` reading graph inputs ``x0``, ``x1``, ...; it is the graph's output."""
    b = GraphBuilder()
    xs = tuple(b.input(f"x{i}", shape) for i, shape in enumerate(case.inputs))
    b.graph.outputs = {0: b.add(case.op, xs, "n", **case.attrs)}
    return b.graph
