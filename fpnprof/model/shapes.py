"""Shape rules: one pure function per :class:`~fpnprof.model.graph.Op` giving a node's output shape.

A rule checks its inputs (arity, channels, equal shapes) and raises :class:`GraphError` on a
graph that cannot run. :class:`~fpnprof.model.builder.GraphBuilder` stores every output shape on
its node, so nothing above the model infers a shape again. Nothing here imports a framework.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from fpnprof.errors import GraphError
from fpnprof.model.graph import Node, Op, Shape

ShapeRule = Callable[[Node, Sequence[Shape]], Shape]


def numel(shape: Shape) -> int:
    return math.prod(shape)


def conv_out(size: int, kernel: int, stride: int, pad_before: int, pad_after: int) -> int:
    return (size + pad_before + pad_after - kernel) // stride + 1


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's SAME padding (before, after) for one spatial dimension."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def symmetric_padding(node: Node) -> int | None:
    """A max pool's padding if a native pool takes it (all four sides equal, padded with -inf as native
    pools pad, or not padded at all), else None: the lowering pads explicitly first, with the node's
    ``pad_value`` (-inf unless it says 0, as mmcv's merge-cell resize pads)."""
    top, bottom, left, right = node.attrs["padding"]
    if not top == bottom == left == right or (top and node.attrs.get("pad_value") is not None):
        return None
    return int(top)


def pad_value(node: Node) -> float:
    return float(node.attrs.get("pad_value", float("-inf")))


#: torch's fixed hard sigmoid, clip(x / 6 + 0.5, 0, 1).
TORCH_HARDSIGMOID = (1 / 6, 0.5)


def hardsigmoid_terms(node: Node) -> tuple[float, float]:
    """A hard sigmoid's (slope, offset), torch's when the node names none."""
    return float(node.attrs.get("slope", TORCH_HARDSIGMOID[0])), float(node.attrs.get("offset", TORCH_HARDSIGMOID[1]))


def is_torch_hardsigmoid(node: Node) -> bool:
    """Whether ``nn.Hardsigmoid`` (fixed at 1/6, 0.5) computes this hard sigmoid: its slope is 1/6 to
    Paddle's rounding (its default, 0.1666667) and its offset 0.5. Other slopes lower functionally."""
    slope, offset = hardsigmoid_terms(node)
    return math.isclose(slope, TORCH_HARDSIGMOID[0], rel_tol=1e-6) and offset == TORCH_HARDSIGMOID[1]


def one_input(node: Node, shapes: Sequence[Shape]) -> Shape:
    if len(shapes) != 1:
        raise GraphError(f"{node.id}: {node.op.value} takes one input, got {len(shapes)}")
    return shapes[0]


def same_shapes(node: Node, shapes: Sequence[Shape]) -> Shape:
    if len(shapes) < 2 or any(s != shapes[0] for s in shapes):
        raise GraphError(f"{node.id}: {node.op.value} needs equal input shapes, got {list(shapes)}")
    return shapes[0]


def broadcast(node: Node, shapes: Sequence[Shape]) -> Shape:
    """Two NCHW shapes broadcast by numpy's rules (each dimension equal, or 1 in one of them)."""
    if len(shapes) != 2:
        raise GraphError(f"{node.id}: {node.op.value} takes two inputs, got {len(shapes)}")
    a, b = shapes
    if any(x != y and 1 not in (x, y) for x, y in zip(a, b, strict=True)):
        raise GraphError(f"{node.id}: {node.op.value} needs equal input shapes or two that broadcast, got {[a, b]}")
    n, c, h, w = (max(x, y) for x, y in zip(a, b, strict=True))
    return (n, c, h, w)


def _add(node: Node, shapes: Sequence[Shape]) -> Shape:
    """Equal shapes; two inputs may broadcast."""
    return broadcast(node, shapes) if len(shapes) == 2 else same_shapes(node, shapes)


def _input(node: Node, shapes: Sequence[Shape]) -> Shape:
    n, c, h, w = node.attrs["shape"]
    return (n, c, h, w)


def _check_conv_channels(node: Node, c: int) -> None:
    a = node.attrs
    name = node.op.value
    if a["out_channels"] < 1:
        raise GraphError(f"{node.id}: {name} with {a['out_channels']} output channels (a width too small for this block)")
    if c != a["in_channels"]:
        raise GraphError(f"{node.id}: {name} expects {a['in_channels']} input channels, got {c}")
    groups = a.get("groups", 1)
    if groups < 1 or a["in_channels"] % groups or a["out_channels"] % groups:
        raise GraphError(
            f"{node.id}: {name} groups={groups} must divide its {a['in_channels']} input and {a['out_channels']} output channels"
        )


def _conv(node: Node, shapes: Sequence[Shape]) -> Shape:
    n, c, h, w = one_input(node, shapes)
    a = node.attrs
    _check_conv_channels(node, c)
    k, s, p = a["kernel"], a["stride"], a["padding"]
    ho, wo = conv_out(h, k, s, p, p), conv_out(w, k, s, p, p)
    if ho < 1 or wo < 1:
        raise GraphError(f"{node.id}: conv output would be {ho}x{wo}")
    return (n, a["out_channels"], ho, wo)


def _batchnorm(node: Node, shapes: Sequence[Shape]) -> Shape:
    shape = one_input(node, shapes)
    if shape[1] != node.attrs["channels"]:
        raise GraphError(f"{node.id}: {node.op.value} expects {node.attrs['channels']} channels, got {shape[1]}")
    return shape


def _concat(node: Node, shapes: Sequence[Shape]) -> Shape:
    if len(shapes) < 2:
        raise GraphError(f"{node.id}: concat needs two or more inputs")
    n, _, h, w = shapes[0]
    if any((s[0], s[2], s[3]) != (n, h, w) for s in shapes):
        raise GraphError(f"{node.id}: concat needs equal batch and spatial sizes, got {list(shapes)}")
    return (n, sum(s[1] for s in shapes), h, w)


def _resized(node: Node, shapes: Sequence[Shape]) -> Shape:
    n, c, _, _ = one_input(node, shapes)
    h, w = node.attrs["size"]
    if h < 1 or w < 1:
        raise GraphError(f"{node.id}: {node.op.value} to {h}x{w}")
    return (n, c, h, w)


def _maxpool(node: Node, shapes: Sequence[Shape]) -> Shape:
    n, c, h, w = one_input(node, shapes)
    k, s = node.attrs["kernel"], node.attrs["stride"]
    pt, pb, pl, pr = node.attrs["padding"]  # (top, bottom, left, right)
    return (n, c, conv_out(h, k, s, pt, pb), conv_out(w, k, s, pl, pr))


def _fusion(node: Node, shapes: Sequence[Shape]) -> Shape:
    shape = same_shapes(node, shapes)
    if node.attrs["arity"] != len(shapes):
        raise GraphError(f"{node.id}: fusion built for {node.attrs['arity']} inputs, got {len(shapes)}")
    return shape


def _groupnorm(node: Node, shapes: Sequence[Shape]) -> Shape:
    shape = _batchnorm(node, shapes)
    groups = node.attrs["groups"]
    if groups < 1 or shape[1] % groups:
        raise GraphError(f"{node.id}: groupnorm's {groups} groups do not divide its {shape[1]} channels")
    return shape


def _conv_transpose(node: Node, shapes: Sequence[Shape]) -> Shape:
    """(size - 1) * stride - 2 * padding + kernel + output_padding per side (torch's and Paddle's)."""
    n, c, h, w = one_input(node, shapes)
    a = node.attrs
    missing = [key for key in ("in_channels", "out_channels", "kernel", "stride", "padding", "bias") if key not in a]
    if missing:
        raise GraphError(f"{node.id}: conv_transpose needs attribute(s) {missing} (output_padding and groups default to 0, 1)")
    _check_conv_channels(node, c)
    k, s, p, op = a["kernel"], a["stride"], a["padding"], a.get("output_padding", 0)
    if not 0 <= op < s:
        raise GraphError(f"{node.id}: conv_transpose output_padding {op} must be below its stride {s}")
    ho, wo = ((size - 1) * s - 2 * p + k + op for size in (h, w))
    if ho < 1 or wo < 1:
        raise GraphError(f"{node.id}: conv_transpose output would be {ho}x{wo}")
    return (n, a["out_channels"], ho, wo)


def _pad(node: Node, shapes: Sequence[Shape]) -> Shape:
    n, c, h, w = one_input(node, shapes)
    top, bottom, left, right = node.attrs["padding"]
    if min(top, bottom, left, right) < 0:
        raise GraphError(f"{node.id}: pad takes non-negative padding, got {tuple(node.attrs['padding'])}")
    return (n, c, h + top + bottom, w + left + right)


def _channel_slice(node: Node, shapes: Sequence[Shape]) -> Shape:
    n, c, h, w = one_input(node, shapes)
    start, stop = node.attrs["start"], node.attrs["stop"]
    if not 0 <= start < stop <= c:
        raise GraphError(f"{node.id}: channel slice [{start}, {stop}) of {c} channels")
    return (n, stop - start, h, w)


def _attention(node: Node, shapes: Sequence[Shape]) -> Shape:
    shape = same_shapes(node, shapes)
    if len(shapes) != 2:
        raise GraphError(f"{node.id}: global attention takes two inputs, got {len(shapes)}")
    return shape


SHAPE_RULES: dict[Op, ShapeRule] = {
    Op.INPUT: _input,
    Op.CONV: _conv,
    Op.BATCHNORM: _batchnorm,
    Op.RELU: one_input,
    Op.SWISH: one_input,
    Op.ADD: _add,
    Op.CONCAT: _concat,
    Op.UPSAMPLE: _resized,
    Op.MAXPOOL: _maxpool,
    Op.ADAPTIVE_MAXPOOL: _resized,
    Op.FUSION: _fusion,
    Op.SOFTMAX_FUSION: _fusion,
    Op.ATTENTION: _attention,
    Op.GROUPNORM: _groupnorm,
    Op.LEAKY_RELU: one_input,
    Op.HARDSWISH: one_input,
    Op.HARDSIGMOID: one_input,
    Op.SIGMOID: one_input,
    Op.RESIZE_BILINEAR: _resized,
    Op.CONV_TRANSPOSE: _conv_transpose,
    Op.ADAPTIVE_AVGPOOL: _resized,
    Op.MUL: broadcast,
    Op.SUB: broadcast,
    Op.DIV: broadcast,
    Op.PAD: _pad,
    Op.CHANNEL_SLICE: _channel_slice,
}


def output_shape(node: Node, input_shapes: Sequence[Shape]) -> Shape:
    """The node's output shape; an op without a rule is an error, never a guess."""
    rule = SHAPE_RULES.get(node.op)
    if rule is None:
        raise GraphError(f"op {node.op!r} has no shape rule in fpnprof.model.shapes.SHAPE_RULES")
    return rule(node, input_shapes)
