"""Analytic cost rules: one pure function per :class:`~fpnprof.model.graph.Op`.

Conventions (stated once, used everywhere):

* **params**: trainable parameters as torch counts them (conv weight and bias, BN gamma and beta,
  fusion weights). **buffers**: BN running mean and variance, 2C per BN.
* **MACs** follow fvcore's ``FlopCountAnalysis`` exactly: conv = N * prod(weight shape) *
  prod(output spatial) with the bias ignored; BatchNorm in eval = 2 per element (1 without
  affine); nearest upsample = 1 per output element; adaptive average pool (global-pooling
  attention's) = 1 per input element; add, mul, div, concat, sigmoid, activations and max pools
  = 0 (fvcore ignores or skips them).
* **FLOPs** count arithmetic: conv = 2 x MACs + 1 per output element for a bias; BN (eval) = 2 per
  element; add = 1 per element per extra operand; weighted fusion = n multiplies and n-1 adds per
  element plus 3n scalar ops to normalise its weights (n relu, n-1 sums, 1 epsilon add, n
  divisions); softmax fusion = the same per element plus 3n - 1 scalar ops for its weights (n exp,
  n-1 sums, n divisions); global-pooling attention x2 + sigmoid(mean_hw(x2)) * x1 = 2 per element (multiply,
  add) + 1 per element to pool + 3 per pooled value (sigmoid); ReLU = 1 and Swish = 4 per
  element; max pool = (window - 1) comparisons per output element (padding included, adaptive
  windows exact); nearest upsample, concat and pad = 0.

Counting never formats. Which rule prices which op is in :mod:`fpnprof.cost.ops`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fpnprof.errors import GraphError
from fpnprof.model.graph import Node

Shape = tuple[int, int, int, int]


@dataclass(frozen=True)
class Cost:
    """What one node produces and costs, before weight sharing is applied."""

    shape: Shape
    params: int = 0
    buffers: int = 0
    macs: int = 0
    flops: int = 0


Rule = Callable[[Node, Sequence[Shape]], Cost]


def numel(shape: Shape) -> int:
    return math.prod(shape)


def _one_input(node: Node, shapes: Sequence[Shape]) -> Shape:
    if len(shapes) != 1:
        raise GraphError(f"{node.id}: {node.op.value} takes one input, got {len(shapes)}")
    return shapes[0]


def _same_shapes(node: Node, shapes: Sequence[Shape]) -> Shape:
    if len(shapes) < 2 or any(s != shapes[0] for s in shapes):
        raise GraphError(f"{node.id}: {node.op.value} needs equal input shapes, got {list(shapes)}")
    return shapes[0]


def conv_out(size: int, kernel: int, stride: int, pad_before: int, pad_after: int) -> int:
    return (size + pad_before + pad_after - kernel) // stride + 1


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's SAME padding (before, after) for one spatial dimension."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def input_cost(node: Node, shapes: Sequence[Shape]) -> Cost:
    n, c, h, w = node.attrs["shape"]
    return Cost(shape=(n, c, h, w))


def conv_cost(node: Node, shapes: Sequence[Shape]) -> Cost:
    n, c, h, w = _one_input(node, shapes)
    a = node.attrs
    cin, cout, k, s, p, g = a["in_channels"], a["out_channels"], a["kernel"], a["stride"], a["padding"], a["groups"]
    if c != cin:
        raise GraphError(f"{node.id}: conv expects {cin} input channels, got {c}")
    ho, wo = conv_out(h, k, s, p, p), conv_out(w, k, s, p, p)
    if ho < 1 or wo < 1:
        raise GraphError(f"{node.id}: conv output would be {ho}x{wo}")
    weight = cout * (cin // g) * k * k
    out = (n, cout, ho, wo)
    macs = n * weight * ho * wo
    bias = cout if a["bias"] else 0
    return Cost(out, params=weight + bias, macs=macs, flops=2 * macs + (numel(out) if bias else 0))


def batchnorm_cost(node: Node, shapes: Sequence[Shape]) -> Cost:
    shape = _one_input(node, shapes)
    c = node.attrs["channels"]
    if shape[1] != c:
        raise GraphError(f"{node.id}: batchnorm expects {c} channels, got {shape[1]}")
    return Cost(shape, params=2 * c, buffers=2 * c, macs=2 * numel(shape), flops=2 * numel(shape))


def elementwise_cost(flops_per_element: int) -> Rule:
    def rule(node: Node, shapes: Sequence[Shape]) -> Cost:
        shape = _one_input(node, shapes)
        return Cost(shape, flops=flops_per_element * numel(shape))

    return rule


def add_cost(node: Node, shapes: Sequence[Shape]) -> Cost:
    shape = _same_shapes(node, shapes)
    return Cost(shape, flops=(len(shapes) - 1) * numel(shape))


def concat_cost(node: Node, shapes: Sequence[Shape]) -> Cost:
    if len(shapes) < 2:
        raise GraphError(f"{node.id}: concat needs two or more inputs")
    n, _, h, w = shapes[0]
    if any((s[0], s[2], s[3]) != (n, h, w) for s in shapes):
        raise GraphError(f"{node.id}: concat needs equal batch and spatial sizes, got {list(shapes)}")
    return Cost((n, sum(s[1] for s in shapes), h, w))


def upsample_cost(node: Node, shapes: Sequence[Shape]) -> Cost:
    n, c, _, _ = _one_input(node, shapes)
    h, w = node.attrs["size"]
    out = (n, c, h, w)
    return Cost(out, macs=numel(out))


def maxpool_cost(node: Node, shapes: Sequence[Shape]) -> Cost:
    n, c, h, w = _one_input(node, shapes)
    k, s = node.attrs["kernel"], node.attrs["stride"]
    pt, pb, pl, pr = node.attrs["padding"]  # (top, bottom, left, right)
    out = (n, c, conv_out(h, k, s, pt, pb), conv_out(w, k, s, pl, pr))
    return Cost(out, flops=(k * k - 1) * numel(out))


def adaptive_windows(size: int, out: int) -> list[int]:
    """Window lengths of an adaptive pool (start = floor(i*size/out), end = ceil((i+1)*size/out))."""
    return [-(-((i + 1) * size) // out) - (i * size) // out for i in range(out)]


def adaptive_window_sum(size: int, out: int) -> int:
    """``sum(adaptive_windows(size, out))`` in closed form: size + out - gcd(size, out).

    sum(ceil((i+1)s/o)) - sum(floor(is/o)) over i < o: each ceil is its floor plus one unless o
    divides (i+1)s, which happens gcd(s, o) times; the floors telescope to s. So the analytic time
    never grows with the input side."""
    return size + out - math.gcd(size, out)


def adaptive_maxpool_cost(node: Node, shapes: Sequence[Shape]) -> Cost:
    n, c, h, w = _one_input(node, shapes)
    ho, wo = node.attrs["size"]
    if ho < 1 or wo < 1:
        raise GraphError(f"{node.id}: adaptive pool to {ho}x{wo}")
    window_sum = adaptive_window_sum(h, ho) * adaptive_window_sum(w, wo)  # the windows are a product grid
    return Cost((n, c, ho, wo), flops=n * c * (window_sum - ho * wo))


def fusion_cost(node: Node, shapes: Sequence[Shape]) -> Cost:
    shape = _same_shapes(node, shapes)
    k = len(shapes)
    if node.attrs["arity"] != k:
        raise GraphError(f"{node.id}: fusion built for {node.attrs['arity']} inputs, got {k}")
    return Cost(shape, params=k, flops=(2 * k - 1) * numel(shape) + 3 * k)


def softmax_fusion_cost(node: Node, shapes: Sequence[Shape]) -> Cost:
    shape = _same_shapes(node, shapes)
    k = len(shapes)
    if node.attrs["arity"] != k:
        raise GraphError(f"{node.id}: fusion built for {node.attrs['arity']} inputs, got {k}")
    return Cost(shape, params=k, flops=(2 * k - 1) * numel(shape) + 3 * k - 1)


def attention_cost(node: Node, shapes: Sequence[Shape]) -> Cost:
    """NAS-FPN's global-pooling cell: ``x2 + sigmoid(global_avg_pool(x2)) * x1`` (mmdet's form;
    TensorFlow's TPU implementation pools with a max)."""
    shape = _same_shapes(node, shapes)
    if len(shapes) != 2:
        raise GraphError(f"{node.id}: global attention takes two inputs, got {len(shapes)}")
    n, c, _, _ = shape
    return Cost(shape, macs=numel(shape), flops=3 * numel(shape) + 3 * n * c)


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
