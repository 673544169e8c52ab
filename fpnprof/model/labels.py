"""Each op's text in diagrams: what a reader needs to tell two nodes of one op apart."""

from __future__ import annotations

from collections.abc import Callable

from fpnprof.errors import GraphError
from fpnprof.model.graph import Node, Op
from fpnprof.model.shapes import hardsigmoid_terms, is_torch_hardsigmoid


def _grouping(node: Node) -> str:
    """The grouping's word: depthwise where every input channel is its own group, else grouped (g=G)."""
    groups, channels = node.attrs.get("groups", 1), node.attrs["in_channels"]
    if groups == 1:
        return ""
    return "depthwise " if groups == channels else f"grouped (g={groups}) "


def _conv(node: Node) -> str:
    a = node.attrs
    return f"{_grouping(node)}conv {a['kernel']}x{a['kernel']}/s{a['stride']} {a['in_channels']}->{a['out_channels']}"


def _conv_transpose(node: Node) -> str:
    a = node.attrs
    k = a["kernel"]
    return f"{_grouping(node)}conv_transpose {k}x{k}/s{a['stride']} {a['in_channels']}->{a['out_channels']}"


def _size(node: Node) -> str:
    h, w = node.attrs["size"]
    return f"{h}x{w}"


def _hardsigmoid(node: Node) -> str:
    slope, offset = hardsigmoid_terms(node)
    return "hardsigmoid" if is_torch_hardsigmoid(node) else f"hardsigmoid (slope {slope:g}, offset {offset:g})"


def _pad(node: Node) -> str:
    top, bottom, left, right = node.attrs["padding"]
    value = float(node.attrs.get("value", 0.0))
    return f"pad t{top} b{bottom} l{left} r{right}" + (f" with {value:g}" if value else "")


def _named(text: str) -> Callable[[Node], str]:
    return lambda node: text


LABELS: dict[Op, Callable[[Node], str]] = {
    Op.INPUT: lambda node: "input " + "x".join(str(d) for d in node.attrs["shape"]),
    Op.CONV: _conv,
    Op.BATCHNORM: _named("batchnorm"),
    Op.RELU: _named("relu"),
    Op.SWISH: _named("swish"),
    Op.ADD: lambda node: f"add fusion ({len(node.inputs)} inputs)",
    Op.CONCAT: lambda node: f"concat fusion ({len(node.inputs)} inputs)",
    Op.UPSAMPLE: _named("upsample_nearest"),
    Op.MAXPOOL: lambda node: f"maxpool {node.attrs['kernel']}x{node.attrs['kernel']}/s{node.attrs['stride']}",
    Op.ADAPTIVE_MAXPOOL: _named("adaptive_maxpool"),
    Op.FUSION: lambda node: f"weighted fusion ({node.attrs['arity']} inputs)",
    Op.SOFTMAX_FUSION: lambda node: f"softmax fusion ({node.attrs['arity']} inputs)",
    Op.ATTENTION: _named("global-pooling attention"),
    Op.GROUPNORM: lambda node: f"groupnorm ({node.attrs['groups']} groups)",
    Op.LEAKY_RELU: lambda node: f"leaky_relu ({float(node.attrs.get('negative_slope', 0.01)):g})",
    Op.HARDSWISH: _named("hardswish"),
    Op.HARDSIGMOID: _hardsigmoid,
    Op.SIGMOID: _named("sigmoid"),
    Op.RESIZE_BILINEAR: lambda node: (
        "resize_bilinear to " + _size(node) + (" (align_corners)" if node.attrs.get("align_corners") else "")
    ),
    Op.CONV_TRANSPOSE: _conv_transpose,
    Op.ADAPTIVE_AVGPOOL: lambda node: "adaptive_avgpool to " + _size(node),
    Op.MUL: _named("mul"),
    Op.SUB: _named("sub"),
    Op.DIV: _named("div"),
    Op.PAD: _pad,
    Op.CHANNEL_SLICE: lambda node: f"channel_slice [{node.attrs['start']}:{node.attrs['stop']}]",
}


def label(node: Node) -> str:
    """The node's op as diagrams print it."""
    make = LABELS.get(node.op)
    if make is None:
        raise GraphError(f"op {node.op!r} has no label in fpnprof.model.labels.LABELS")
    return make(node)
