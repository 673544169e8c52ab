"""The op registry: everything fpnprof knows about an op, in one :class:`OpSpec` per :class:`Op`.

A new op is an ``Op`` member, a shape rule (:mod:`fpnprof.model.shapes`) and a label
(:mod:`fpnprof.model.labels`), an ``OpSpec`` here (cost rule, how fvcore treats it, the unsupported
aten ops its torch lowering emits), and one lowering in each backend's ``LOWER`` table.
``tests/test_graph_and_cost.py`` fails if any of these is missing.
Nothing here imports a framework.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fpnprof.cost import rules as cost
from fpnprof.cost.rules import Cost, Rule
from fpnprof.errors import GraphError
from fpnprof.model.graph import Node, Op, Shape
from fpnprof.model.shapes import is_torch_hardsigmoid, symmetric_padding

#: How fvcore's FlopCountAnalysis treats an op: counted, ignored (silently 0) or unsupported (0, reported).
FVCORE_TREATMENTS = ("counted", "ignored", "unsupported")


@dataclass(frozen=True)
class OpSpec:
    """One op: ``cost`` gives its params/buffers/MACs/FLOPs; ``fvcore`` is its treatment there;
    ``unsupported_aten`` the ops fvcore reports as unsupported for one node of the torch lowering."""

    cost: Rule
    fvcore: str
    unsupported_aten: Callable[[Node], Counter[str]]
    several_aten_ops: bool = False

    @property
    def fvcore_note(self) -> str:
        plural = "s" if self.several_aten_ops else ""
        return {"counted": "counted", "ignored": f"0 (ignored op{plural})", "unsupported": f"0 (unsupported op{plural})"}[
            self.fvcore
        ]


def _none(node: Node) -> Counter[str]:
    return Counter()


def _aten(*names: str) -> Callable[[Node], Counter[str]]:
    return lambda node: Counter(names)


def _add_aten(node: Node) -> Counter[str]:
    return Counter({"aten::add": len(node.inputs) - 1})


def _maxpool_aten(node: Node) -> Counter[str]:
    padded = symmetric_padding(node) is None  # asymmetric padding lowers to F.pad + max_pool2d
    return Counter({"aten::max_pool2d": 1, **({"aten::pad": 1} if padded else {})})


def _fusion_aten(node: Node) -> Counter[str]:
    n = len(node.inputs)  # relu(w) ignored; w.sum(); + eps; w / s; x_i * w[i] (n); out + ... (n - 1)
    return Counter({"aten::sum": 1, "aten::add": 1 + (n - 1), "aten::div": 1, "aten::mul": n})


def _hardsigmoid_aten(node: Node) -> Counter[str]:
    """``nn.Hardsigmoid`` (torch's slope and offset), else ``clamp(x * slope + offset, 0, 1)`` (clamp ignored)."""
    return Counter({"aten::hardsigmoid": 1} if is_torch_hardsigmoid(node) else {"aten::mul": 1, "aten::add": 1})


OPS: dict[Op, OpSpec] = {
    Op.INPUT: OpSpec(cost.free, "counted", _none),
    Op.CONV: OpSpec(cost.conv_cost, "counted", _none),
    Op.BATCHNORM: OpSpec(cost.batchnorm_cost, "counted", _none),
    Op.RELU: OpSpec(cost.elementwise_cost(1), "ignored", _none),
    Op.SWISH: OpSpec(cost.elementwise_cost(4), "unsupported", _aten("aten::silu")),
    Op.ADD: OpSpec(cost.add_cost, "unsupported", _add_aten),
    Op.CONCAT: OpSpec(cost.free, "ignored", _none),
    Op.UPSAMPLE: OpSpec(cost.upsample_cost, "counted", _none),
    Op.MAXPOOL: OpSpec(cost.maxpool_cost, "unsupported", _maxpool_aten),
    Op.ADAPTIVE_MAXPOOL: OpSpec(cost.adaptive_maxpool_cost, "unsupported", _aten("aten::adaptive_max_pool2d")),
    # weights: n relu, n - 1 sums, 1 epsilon add, n divisions
    Op.FUSION: OpSpec(cost.fusion_cost(lambda n: 3 * n), "unsupported", _fusion_aten, several_aten_ops=True),
    # weights: n exp, n - 1 sums, n divisions
    Op.SOFTMAX_FUSION: OpSpec(
        cost.fusion_cost(lambda n: 3 * n - 1),
        "unsupported",
        lambda node: Counter({"aten::softmax": 1, "aten::mul": len(node.inputs), "aten::add": len(node.inputs) - 1}),
        several_aten_ops=True,
    ),
    Op.ATTENTION: OpSpec(
        cost.attention_cost,
        "counted",  # its adaptive_avg_pool2d; the sigmoid, multiply and add are reported unsupported
        _aten("aten::sigmoid", "aten::mul", "aten::add"),
        several_aten_ops=True,
    ),
    Op.GROUPNORM: OpSpec(cost.groupnorm_cost, "counted", _none),
    Op.LEAKY_RELU: OpSpec(cost.elementwise_cost(2), "unsupported", _aten("aten::leaky_relu")),
    Op.HARDSWISH: OpSpec(cost.elementwise_cost(5), "unsupported", _aten("aten::hardswish")),
    Op.HARDSIGMOID: OpSpec(cost.elementwise_cost(4), "unsupported", _hardsigmoid_aten),
    Op.SIGMOID: OpSpec(cost.elementwise_cost(3), "unsupported", _aten("aten::sigmoid")),
    Op.RESIZE_BILINEAR: OpSpec(cost.bilinear_cost, "counted", _none),
    Op.CONV_TRANSPOSE: OpSpec(cost.conv_transpose_cost, "counted", _none),
    Op.ADAPTIVE_AVGPOOL: OpSpec(cost.adaptive_avgpool_cost, "counted", _none),
    Op.MUL: OpSpec(cost.elementwise_cost(1), "unsupported", _aten("aten::mul")),
    Op.SUB: OpSpec(cost.elementwise_cost(1), "unsupported", _aten("aten::sub")),
    Op.DIV: OpSpec(cost.elementwise_cost(1), "unsupported", _aten("aten::div")),
    Op.PAD: OpSpec(cost.free, "unsupported", _aten("aten::pad")),  # F.pad traces as aten::pad, not constant_pad_nd
    Op.CHANNEL_SLICE: OpSpec(cost.free, "ignored", _none),  # aten::slice
}


def op_spec(op: Op) -> OpSpec:
    """The op's spec; an op without one is an error, never a silent zero."""
    spec = OPS.get(op)
    if spec is None:
        raise GraphError(f"op {op!r} is not registered in fpnprof.cost.ops.OPS")
    return spec


def node_cost(node: Node, input_shapes: Sequence[Shape]) -> Cost:
    """Price one node (its output shape is on it) given its input shapes."""
    return op_spec(node.op).cost(node, input_shapes)


def fvcore_note(op_name: str) -> str:
    """fvcore's treatment of an op, by its value (e.g. ``"conv"``), for reports."""
    return op_spec(Op(op_name)).fvcore_note
