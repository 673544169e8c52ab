"""Each op's text in diagrams: what a reader needs to tell two nodes of one op apart."""

from __future__ import annotations

from collections.abc import Callable

from fpnprof.errors import GraphError
from fpnprof.model.graph import Node, Op


def _conv(node: Node) -> str:
    a = node.attrs
    kind = "depthwise " if a["groups"] > 1 else ""
    return f"{kind}conv {a['kernel']}x{a['kernel']}/s{a['stride']} {a['in_channels']}->{a['out_channels']}"


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
}


def label(node: Node) -> str:
    """The node's op as diagrams print it."""
    make = LABELS.get(node.op)
    if make is None:
        raise GraphError(f"op {node.op!r} has no label in fpnprof.model.labels.LABELS")
    return make(node)
