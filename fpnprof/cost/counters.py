"""What the popular FLOP counters report for a neck, predicted from its graph without a framework.

Each counter means something else by "FLOPs". Its rule per op is written here, read from its own
source and checked against it (``fpnprof conventions --measure``; ``tests/test_counters.py`` runs
every installed counter on every shipped neck, ``tests/test_new_op_counters.py`` on one node of
every op). A rule follows fpnprof's torch lowering (which ops are modules, which are functional
calls), since module-hooking counters see only the former. In that lowering GroupNorm, leaky ReLU,
hard swish, sigmoid, transposed conv and adaptive average pool are modules (``nn.GroupNorm``, ...;
a hard sigmoid too where its slope is torch's 1/6, else a clamp of tensor operators); bilinear
resize is ``F.interpolate``, pad ``F.pad``, a channel slice indexing, and add, sub, mul and div
tensor operators (+, -, *, /), broadcast or not:

* **fvcore** (FlopCountAnalysis): one per multiply-accumulate of a traced aten op it has a handle
  for; conv without its bias, transposed conv N * prod(weight) * prod(input spatial), BatchNorm 2
  and GroupNorm 5 per element, nearest upsample 1 and bilinear 4 per output element, adaptive average
  pool 1 per input element; adds, sub, mul, div, pads, slices, concat, activations, pools: 0.
* **FlopCounterMode** (torch.utils.flop_counter): 2 per MAC of the ops it has formulas for: here
  only convolutions and transposed ones (bias not counted).
* **thop** (ultralytics-thop ``profile``): module hooks. Conv and transposed conv: MACs (bias not
  counted); BatchNorm and GroupNorm (affine): 4 per element; adaptive average pool: the pooled
  windows' inputs (exact adaptive windows) + 1 per output element; ReLU, leaky ReLU, max pools: 0;
  SiLU, hard swish, hard sigmoid, sigmoid (no rule) and anything functional (adds, products,
  resizes, pads, slices, fusions): 0.
* **ptflops, pytorch backend**: module hooks plus patched ``torch.nn.functional`` calls. Conv and
  transposed conv: MACs + 1 per output element for a bias; BatchNorm and GroupNorm 2 per element;
  nn.ReLU, nn.MaxPool2d, nn.AdaptiveMaxPool2d and nn.AdaptiveAvgPool2d 2 per input element (the
  module hook and the patched functional call inside it both count); nn.LeakyReLU 1 per element
  (``F.leaky_relu`` is not patched); SiLU 1 per element (only ``F.silu`` is patched); hard swish,
  hard sigmoid, sigmoid: 0; a max pool fpnprof pads explicitly 1 per element of the padded input;
  ``F.interpolate`` (nearest or bilinear) 1 per output element; ``F.adaptive_avg_pool2d`` 1 per
  input element; ``F.pad``, slicing and tensor operators (+, -, *, /): 0.
* **ptflops, aten backend**: aten convolutions (transposed too) only: MACs + 1 per output element
  for a bias.
* **DeepSpeed's flops profiler** (``get_model_profile``; calflops copies its approach): patched
  ``torch.nn.functional`` calls, no module hooks, no tensor operators. FLOPs: conv and transposed
  conv 2 per MAC + 1 per output element for a bias; BatchNorm (eval, affine) 2 and GroupNorm
  (affine) 5 per element; ReLU, leaky ReLU, SiLU 1 per element; hard swish, hard sigmoid, sigmoid
  (not patched): 0; a max pool 1 per element of the tensor ``F.max_pool2d`` gets (the padded one
  where fpnprof pads explicitly; a native pool's own padding not counted), adaptive pools 1 per
  input element; ``F.interpolate`` with a size (nearest or bilinear): the product of the size alone
  (batch and channels left out); ``F.pad``, slicing: 0. MACs: convolutions (transposed too) only,
  bias not counted.
* **paddle.flops** (``paddle.hapi.dynamic_flops``): hooks on the leaf layers of fpnprof's *Paddle*
  lowering, by exact type. Conv2D: MACs + 1 per output element for a bias; Conv2DTranspose the
  same rule, which walks its *output*: N * out * H_out * W_out * (in/groups * k * k + bias);
  BatchNorm2D (eval) 2 per element; LeakyReLU 1 per element; AdaptiveAvgPool2D (prod(input side //
  output side) + 1) per output element (floor division: not the true windows); ReLU, Swish,
  GroupNorm, hard swish, hard sigmoid, sigmoid, max pools, and every function layer (adds,
  products, resizes, pads, slices, fusions, attention): 0. It crashes with numpy >= 2.4 (``int()``
  of its one-element count buffers), so the ``[counters]`` extra pins numpy below 2.4.

Versions: the rules are those of the versions in :data:`COUNTERS`; the ``[counters]`` extra pins
thop and ptflops; DeepSpeed is an sdist that must build against the installed torch, so it is
installed apart: ``pip install --no-build-isolation deepspeed==0.19.8`` (README).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from fpnprof.cost.ops import node_cost
from fpnprof.cost.results import NodeRow
from fpnprof.cost.rules import adaptive_window_sum
from fpnprof.model.graph import Graph, Node, Op, Part, Shape
from fpnprof.model.shapes import numel, symmetric_padding

#: A counter's count for one node, given its input shapes (the node carries its output shape).
CountRule = Callable[[Node, Sequence[Shape]], int]


def conv_macs(node: Node, shapes: Sequence[Shape]) -> int:
    a = node.attrs
    return numel(node.shape) * int(a["in_channels"] // a["groups"]) * int(a["kernel"]) ** 2


def conv_bias(node: Node, shapes: Sequence[Shape]) -> int:
    """One per output element when the conv has a bias (ptflops and DeepSpeed add it)."""
    return numel(node.shape) if node.attrs["bias"] else 0


def conv_macs_and_bias(node: Node, shapes: Sequence[Shape]) -> int:
    return conv_macs(node, shapes) + conv_bias(node, shapes)


def conv_transpose_macs(node: Node, shapes: Sequence[Shape]) -> int:
    """N * prod(input spatial) * in * out/groups * k * k: each input pixel through the whole weight."""
    a = node.attrs
    return numel(shapes[0]) * int(a["out_channels"] // a.get("groups", 1)) * int(a["kernel"]) ** 2


def conv_transpose_bias(node: Node, shapes: Sequence[Shape]) -> int:
    return numel(node.shape) if node.attrs["bias"] else 0


def conv_transpose_macs_and_bias(node: Node, shapes: Sequence[Shape]) -> int:
    return conv_transpose_macs(node, shapes) + conv_transpose_bias(node, shapes)


def paddle_conv_transpose(node: Node, shapes: Sequence[Shape]) -> int:
    """paddle.flops' conv rule on a Conv2DTranspose: output elements x (in/groups x k x k + bias)."""
    a = node.attrs
    per_output = int(a["in_channels"] // a.get("groups", 1)) * int(a["kernel"]) ** 2 + (1 if a["bias"] else 0)
    return numel(node.shape) * per_output


def thop_adaptive_avgpool(node: Node, shapes: Sequence[Shape]) -> int:
    """thop: one add per input in each (exact, adaptive) window + one division per output element."""
    (_, _, h, w), (n, c, ho, wo) = shapes[0], node.shape
    return n * c * adaptive_window_sum(h, ho) * adaptive_window_sum(w, wo) + numel(node.shape)


def paddle_adaptive_avgpool(node: Node, shapes: Sequence[Shape]) -> int:
    """paddle.flops: (prod(input side // output side) + 1) per output element."""
    (_, _, h, w), (_, _, ho, wo) = shapes[0], node.shape
    return ((h // ho) * (w // wo) + 1) * numel(node.shape)


def per_output(k: int) -> CountRule:
    return lambda node, shapes: k * numel(node.shape)


def per_input(k: int) -> CountRule:
    return lambda node, shapes: k * numel(shapes[0])


def padded_input(node: Node, shapes: Sequence[Shape]) -> int:
    """Elements of a max pool's input after the lowering's explicit ``F.pad`` (none for a native pool)."""
    n, c, h, w = shapes[0]
    top, bottom, left, right = (int(p) for p in node.attrs["padding"])
    return n * c * (h + top + bottom) * (w + left + right)


def maxpool_input(native: int) -> CountRule:
    """A counter that counts the elements ``F.max_pool2d`` receives: where fpnprof pads explicitly, the
    padded tensor once (a functional call); a native ``nn.MaxPool2d`` (its padding is the pool's own)
    ``native`` times its input (ptflops: 2, its module hook and the patched call inside it; DeepSpeed: 1)."""

    def rule(node: Node, shapes: Sequence[Shape]) -> int:
        return native * numel(shapes[0]) if symmetric_padding(node) is not None else padded_input(node, shapes)

    return rule


def fvcore_rule(node: Node, shapes: Sequence[Shape]) -> int:
    """fvcore's count is fpnprof's MACs convention (``fpnprof.cost.rules``), proven equal op by op."""
    return node_cost(node, shapes).macs


@dataclass(frozen=True)
class CounterSpec:
    """One counter: how to name it, which version its rules are for, what its number means, and its
    count per op (an op it has no rule for counts 0)."""

    key: str
    name: str
    short: str
    package: str
    version: str
    unit: str
    meaning: str
    rules: Mapping[Op, CountRule] = field(default_factory=dict)
    #: the backend whose lowering the counter runs on (its module structure is what hooks see)
    lowering: str = "torch"

    def node_count(self, node: Node, shapes: Sequence[Shape]) -> int:
        rule = self.rules.get(node.op)
        return rule(node, shapes) if rule is not None else 0


COUNTERS: dict[str, CounterSpec] = {
    c.key: c
    for c in (
        CounterSpec(
            "fvcore",
            "fvcore FlopCountAnalysis",
            "fvcore",
            "fvcore",
            "0.1.5.post20221221",
            "MACs",
            "multiply-accumulates of the aten ops it knows; adds, pools, activations 0",
            {op: fvcore_rule for op in Op},
        ),
        CounterSpec(
            "flopcounter",
            "torch FlopCounterMode",
            "FCM",
            "torch",
            "2.13.0",
            "FLOPs",
            "2 per MAC of matmul-like ops (here convs, no bias); all else 0",
            {
                Op.CONV: lambda node, shapes: 2 * conv_macs(node, shapes),
                Op.CONV_TRANSPOSE: lambda node, shapes: 2 * conv_transpose_macs(node, shapes),
            },
        ),
        CounterSpec(
            "thop",
            "thop profile",
            "thop",
            "ultralytics-thop",
            "2.2.3",
            "MACs",
            "module hooks: conv MACs, BatchNorm 4 per element; functional ops unseen",
            {
                Op.CONV: conv_macs,
                Op.BATCHNORM: per_output(4),
                Op.GROUPNORM: per_output(4),
                Op.CONV_TRANSPOSE: conv_transpose_macs,
                Op.ADAPTIVE_AVGPOOL: thop_adaptive_avgpool,
            },
        ),
        CounterSpec(
            "ptflops",
            "ptflops (pytorch)",
            "ptflops",
            "ptflops",
            "0.7.5",
            "MACs",
            "module hooks and some functionals: conv MACs + bias, BN, activations, pools",
            {
                Op.CONV: conv_macs_and_bias,
                Op.BATCHNORM: per_output(2),
                Op.RELU: per_output(2),
                Op.SWISH: per_output(1),
                Op.UPSAMPLE: per_output(1),
                Op.MAXPOOL: maxpool_input(2),
                Op.ADAPTIVE_MAXPOOL: per_input(2),
                Op.ATTENTION: per_input(1),
                Op.GROUPNORM: per_output(2),
                Op.LEAKY_RELU: per_output(1),
                Op.RESIZE_BILINEAR: per_output(1),
                Op.CONV_TRANSPOSE: conv_transpose_macs_and_bias,
                Op.ADAPTIVE_AVGPOOL: per_input(2),
            },
        ),
        CounterSpec(
            "ptflops-aten",
            "ptflops (aten)",
            "aten",
            "ptflops",
            "0.7.5",
            "MACs",
            "aten convolutions only: MACs + bias",
            {Op.CONV: conv_macs_and_bias, Op.CONV_TRANSPOSE: conv_transpose_macs_and_bias},
        ),
        CounterSpec(
            "deepspeed",
            "DeepSpeed flops profiler",
            "DS",
            "deepspeed",
            "0.19.8",
            "FLOPs",
            "patched functionals: conv 2/MAC + bias, BN, activations, pools; upsample H*W only",
            {
                Op.CONV: lambda node, shapes: 2 * conv_macs(node, shapes) + conv_bias(node, shapes),
                Op.BATCHNORM: per_output(2),
                Op.RELU: per_output(1),
                Op.SWISH: per_output(1),
                Op.UPSAMPLE: lambda node, shapes: node.shape[2] * node.shape[3],
                Op.MAXPOOL: maxpool_input(1),
                Op.ADAPTIVE_MAXPOOL: per_input(1),
                Op.ATTENTION: per_input(1),
                Op.GROUPNORM: per_output(5),
                Op.LEAKY_RELU: per_output(1),
                Op.RESIZE_BILINEAR: lambda node, shapes: node.shape[2] * node.shape[3],
                Op.CONV_TRANSPOSE: lambda node, shapes: 2 * conv_transpose_macs(node, shapes) + conv_transpose_bias(node, shapes),
                Op.ADAPTIVE_AVGPOOL: per_input(1),
            },
        ),
        CounterSpec(
            "deepspeed-macs",
            "DeepSpeed flops profiler (MACs)",
            "DS MACs",
            "deepspeed",
            "0.19.8",
            "MACs",
            "its MACs: convolutions only, no bias",
            {Op.CONV: conv_macs, Op.CONV_TRANSPOSE: conv_transpose_macs},
        ),
        CounterSpec(
            "paddle-flops",
            "paddle.flops",
            "paddle",
            "paddlepaddle",
            "3.3.1",
            "MACs",
            "Paddle layer hooks: conv MACs + bias, BatchNorm 2 per element; functional ops unseen",
            {
                Op.CONV: conv_macs_and_bias,
                Op.BATCHNORM: per_output(2),
                Op.LEAKY_RELU: per_input(1),
                Op.CONV_TRANSPOSE: paddle_conv_transpose,
                Op.ADAPTIVE_AVGPOOL: paddle_adaptive_avgpool,
            },
            lowering="paddle",
        ),
    )
}


@dataclass(frozen=True)
class Prediction:
    """A counter's predicted count for a graph: in all, per neck level, and per op kind."""

    counter: CounterSpec
    total: int
    by_level: dict[int, int]
    by_op: dict[str, int]


def predict(graph: Graph, counter: CounterSpec) -> Prediction:
    """The counter's count over every node of ``graph`` (levels: the neck's nodes by level)."""
    total = 0
    by_level: dict[int, int] = {}
    by_op: dict[str, int] = {}
    for node in graph:
        if node.op is Op.INPUT:
            continue
        count = counter.node_count(node, [graph[i].shape for i in node.inputs])
        total += count
        by_op[node.op.value] = by_op.get(node.op.value, 0) + count
        if node.part is Part.NECK:
            by_level[node.level] = by_level.get(node.level, 0) + count
    return Prediction(counter, total, by_level, by_op)


def fpnprof_flops_by_op(rows: Sequence[NodeRow]) -> dict[str, int]:
    """fpnprof's own FLOPs per op kind over the priced nodes (``Profile.nodes``, every part), to set
    each counter's convention against."""
    out: dict[str, int] = {}
    for row in rows:
        if row.op != Op.INPUT.value:
            out[row.op] = out.get(row.op, 0) + row.totals.flops
    return out
