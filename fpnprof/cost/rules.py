"""Analytic cost rules: one pure function per :class:`~fpnprof.model.graph.Op`.

Conventions (stated once, used everywhere):

* **params**: trainable parameters as torch counts them (conv and transposed-conv weight and bias, BN
  and GroupNorm gamma and beta, fusion weights). **buffers**: BN running mean and variance, 2C per
  BN; GroupNorm keeps none (it normalises by the statistics of the tensor it is given).
* **MACs** follow fvcore's ``FlopCountAnalysis`` exactly: conv = N * prod(weight shape) *
  prod(output spatial) with the bias ignored; transposed conv = N * prod(weight shape) * prod(*input*
  spatial), bias ignored (its weight is in x out/groups x k x k); BatchNorm in eval = 2 per element
  (1 without affine); GroupNorm = 5 per element (fvcore's estimate for an affine norm); nearest
  upsample = 1 and bilinear resize = 4 per output element; adaptive average pool (and global-pooling
  attention's) = 1 per input element; add, sub, mul, div, pad, channel slices, concat, sigmoid,
  activations and max pools = 0 (fvcore ignores or skips them).
* **FLOPs** count arithmetic: conv and transposed conv = 2 x MACs + 1 per output element for a bias;
  BN (eval) = 2 per element; GroupNorm = 8 per element (mean: 1 add; variance: subtract, square, add;
  normalise: subtract, multiply; affine: multiply, add) + 5 per sample and group (2 divisions for the
  mean and variance, epsilon add, square root, reciprocal); add = 1 per element per extra operand and
  sub, mul, div = 1 per output element (broadcast inputs too); weighted fusion = n multiplies and n-1
  adds per element plus 3n scalar ops to normalise its weights (n relu, n-1 sums, 1 epsilon add, n
  divisions); softmax fusion = the same per element plus 3n - 1 scalar ops for its weights (n exp,
  n-1 sums, n divisions); global-pooling attention x2 + sigmoid(mean_hw(x2)) * x1 = 2 per element
  (multiply, add) + 1 per element to pool + 3 per pooled value (sigmoid); ReLU = 1, leaky ReLU = 2
  (multiply, max), sigmoid = 3 (exp, add, divide), hard sigmoid clip(slope x + offset, 0, 1) = 4
  (multiply, add, two comparisons), hard swish x * relu6(x + 3) / 6 = 5 (add, two comparisons,
  multiply, divide), Swish = 4 per element (sigmoid + multiply); bilinear resize = 7 per output
  element (4 weighted taps: 4 multiplies, 3 adds; the weights depend on the position alone);
  adaptive average pool = each window's size per output value (window - 1 adds, 1 division; adaptive
  windows exact); max pool = (window - 1) comparisons per output element (padding included,
  adaptive windows exact); nearest upsample, concat, pad and channel slices = 0.

Counting never formats, and never infers a shape: each node carries its output shape
(:mod:`fpnprof.model.shapes`). Which rule prices which op is in :mod:`fpnprof.cost.ops`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fpnprof.model.graph import Node, Shape
from fpnprof.model.shapes import numel


@dataclass(frozen=True)
class Cost:
    """What one node costs, before weight sharing is applied."""

    params: int = 0
    buffers: int = 0
    macs: int = 0
    flops: int = 0


#: A cost rule: the node (its attributes and output shape) and its input shapes give its cost.
Rule = Callable[[Node, Sequence[Shape]], Cost]


def free(node: Node, shapes: Sequence[Shape]) -> Cost:
    """Inputs, concatenation: no parameters and no arithmetic."""
    return Cost()


def conv_cost(node: Node, shapes: Sequence[Shape]) -> Cost:
    a = node.attrs
    weight = a["out_channels"] * (a["in_channels"] // a["groups"]) * a["kernel"] ** 2
    n, _, ho, wo = node.shape
    macs = n * weight * ho * wo
    bias = a["out_channels"] if a["bias"] else 0
    return Cost(params=weight + bias, macs=macs, flops=2 * macs + (numel(node.shape) if bias else 0))


def batchnorm_cost(node: Node, shapes: Sequence[Shape]) -> Cost:
    c = node.attrs["channels"]
    return Cost(params=2 * c, buffers=2 * c, macs=2 * numel(node.shape), flops=2 * numel(node.shape))


def elementwise_cost(flops_per_element: int) -> Rule:
    def rule(node: Node, shapes: Sequence[Shape]) -> Cost:
        return Cost(flops=flops_per_element * numel(node.shape))

    return rule


def add_cost(node: Node, shapes: Sequence[Shape]) -> Cost:
    return Cost(flops=(len(shapes) - 1) * numel(node.shape))


def upsample_cost(node: Node, shapes: Sequence[Shape]) -> Cost:
    return Cost(macs=numel(node.shape))


def maxpool_cost(node: Node, shapes: Sequence[Shape]) -> Cost:
    return Cost(flops=(node.attrs["kernel"] ** 2 - 1) * numel(node.shape))


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
    (_, _, h, w), (n, c, ho, wo) = shapes[0], node.shape
    window_sum = adaptive_window_sum(h, ho) * adaptive_window_sum(w, wo)  # the windows are a product grid
    return Cost(flops=n * c * (window_sum - ho * wo))


def fusion_cost(weight_ops: Callable[[int], int]) -> Rule:
    """A fusion of k same-shape inputs with k learned weights: k multiplies and k - 1 adds per element,
    plus ``weight_ops(k)`` scalar ops to normalise the weights."""

    def rule(node: Node, shapes: Sequence[Shape]) -> Cost:
        k = len(shapes)
        return Cost(params=k, flops=(2 * k - 1) * numel(node.shape) + weight_ops(k))

    return rule


def attention_cost(node: Node, shapes: Sequence[Shape]) -> Cost:
    """NAS-FPN's global-pooling cell: ``x2 + sigmoid(global_avg_pool(x2)) * x1`` (mmdet's form;
    TensorFlow's TPU implementation pools with a max)."""
    n, c, _, _ = node.shape
    return Cost(macs=numel(node.shape), flops=3 * numel(node.shape) + 3 * n * c)


def groupnorm_cost(node: Node, shapes: Sequence[Shape]) -> Cost:
    """GroupNorm (affine): normalised by each sample's and group's own statistics, no buffers."""
    c, n = node.attrs["channels"], node.shape[0]
    size = numel(node.shape)
    return Cost(params=2 * c, macs=5 * size, flops=8 * size + 5 * n * node.attrs["groups"])


def bilinear_cost(node: Node, shapes: Sequence[Shape]) -> Cost:
    return Cost(macs=4 * numel(node.shape), flops=7 * numel(node.shape))


def conv_transpose_cost(node: Node, shapes: Sequence[Shape]) -> Cost:
    """A transposed conv scatters every input pixel through its in x out/groups x k x k weight."""
    a = node.attrs
    weight = a["in_channels"] * (a["out_channels"] // a.get("groups", 1)) * a["kernel"] ** 2
    n, _, h, w = shapes[0]
    macs = n * h * w * weight
    bias = a["out_channels"] if a["bias"] else 0
    return Cost(params=weight + bias, macs=macs, flops=2 * macs + (numel(node.shape) if bias else 0))


def adaptive_avgpool_cost(node: Node, shapes: Sequence[Shape]) -> Cost:
    (_, _, h, w), (n, c, ho, wo) = shapes[0], node.shape
    return Cost(macs=numel(shapes[0]), flops=n * c * adaptive_window_sum(h, ho) * adaptive_window_sum(w, wo))
