"""The neck as data: ops, nodes and a validated graph.

Nothing here imports a deep-learning framework. A :class:`Graph` is an ordered
list of :class:`Node` objects in topological order; backends lower it and the
cost model (``fpnprof.cost``) prices it. Every node carries its output shape
(:mod:`fpnprof.model.shapes` infers it as the graph is built).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from fpnprof.errors import GraphError

#: An NCHW tensor shape.
Shape = tuple[int, int, int, int]


class Op(str, enum.Enum):
    """Every operation a graph may contain; each has a cost rule and a lowering per backend."""

    INPUT = "input"
    CONV = "conv"
    BATCHNORM = "batchnorm"
    RELU = "relu"
    SWISH = "swish"
    ADD = "add"
    CONCAT = "concat"
    UPSAMPLE = "upsample_nearest"
    MAXPOOL = "maxpool"
    ADAPTIVE_MAXPOOL = "adaptive_maxpool"
    FUSION = "weighted_fusion"
    ATTENTION = "global_attention"
    SOFTMAX_FUSION = "softmax_fusion"
    # Ops real necks use (imported from code). Attributes, by op:
    GROUPNORM = "groupnorm"  # channels, groups, eps
    LEAKY_RELU = "leaky_relu"  # negative_slope
    HARDSWISH = "hardswish"  # x * relu6(x + 3) / 6
    HARDSIGMOID = "hardsigmoid"  # slope, offset: clip(slope * x + offset, 0, 1) (torch: 1/6, 0.5)
    SIGMOID = "sigmoid"
    RESIZE_BILINEAR = "resize_bilinear"  # size (h, w), align_corners
    CONV_TRANSPOSE = "conv_transpose"  # in_channels, out_channels, kernel, stride, padding, output_padding, groups, bias
    ADAPTIVE_AVGPOOL = "adaptive_avgpool"  # size (h, w): (1, 1) is a global average pool (SE/ESE attention)
    MUL = "mul"  # two inputs, NCHW broadcasting (x * sigmoid(pooled) scales per channel)
    SUB = "sub"  # two inputs, NCHW broadcasting
    DIV = "div"  # two inputs, NCHW broadcasting
    PAD = "pad"  # padding (top, bottom, left, right), value (0.0: zero padding)
    CHANNEL_SLICE = "channel_slice"  # start, stop: channels [start, stop) of the input (chunk / split)


class Part(str, enum.Enum):
    """Which part of the model a node belongs to."""

    INPUT = "input"
    BACKBONE = "backbone"
    NECK = "neck"


#: Ops whose weights another node may share (same op, same weight attributes).
WEIGHTED_OPS = frozenset({Op.CONV, Op.BATCHNORM, Op.FUSION, Op.SOFTMAX_FUSION, Op.GROUPNORM, Op.CONV_TRANSPOSE})


@dataclass(frozen=True)
class Node:
    """One operation.

    ``id`` is a unique dotted path (``neck.cell0.td_p4.fuse``); ``level`` is the pyramid level of
    the node's output resolution; ``shares`` names the node whose weights this one reuses;
    ``shape`` is its output shape (set by the builder).
    """

    id: str
    op: Op
    inputs: tuple[str, ...]
    attrs: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    level: int = 0
    name: str = ""
    part: Part = Part.NECK
    shares: str | None = None
    shape: Shape = (0, 0, 0, 0)

    @property
    def module_name(self) -> str:
        """The identifier this node's module gets in a lowered framework model."""
        return self.id.replace(".", "__")


@dataclass
class Graph:
    """Nodes in topological order plus the named pyramid features.

    ``features`` maps a level to the node that feeds the neck at that level (a backbone output
    C<level>, or a level the neck makes itself); ``outputs`` maps a level to the neck's output P<level>.
    """

    nodes: dict[str, Node] = field(default_factory=dict)
    features: dict[int, str] = field(default_factory=dict)
    outputs: dict[int, str] = field(default_factory=dict)

    def add(self, node: Node) -> Node:
        if node.id in self.nodes:
            raise GraphError(f"duplicate node id {node.id!r}")
        missing = [i for i in node.inputs if i not in self.nodes]
        if missing:
            raise GraphError(f"node {node.id!r} uses undefined input(s) {missing}")
        if node.shares is not None:
            self._check_share(node)
        self.nodes[node.id] = node
        return node

    def _check_share(self, node: Node) -> None:
        owner = self.nodes.get(node.shares or "")
        if owner is None:
            raise GraphError(f"node {node.id!r} shares weights of unknown node {node.shares!r}")
        if owner.shares is not None:
            raise GraphError(f"node {node.id!r} must share with the owner {owner.shares!r}")
        if node.op not in WEIGHTED_OPS or owner.op != node.op or dict(owner.attrs) != dict(node.attrs):
            raise GraphError(f"node {node.id!r} cannot share weights with {owner.id!r}")

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes.values())

    def __len__(self) -> int:
        return len(self.nodes)

    def __getitem__(self, node_id: str) -> Node:
        return self.nodes[node_id]

    @property
    def inputs(self) -> list[Node]:
        return [n for n in self if n.op is Op.INPUT]

    def consumers(self) -> dict[str, list[str]]:
        """For each node id, the ids of the nodes that read it, in graph order."""
        users: dict[str, list[str]] = {n: [] for n in self.nodes}
        for node in self:
            for src in node.inputs:
                users[src].append(node.id)
        return users

    def result_ids(self) -> list[str]:
        """What a lowered model returns: the neck outputs (bottom level first), then any node nobody
        reads (e.g. ResNet18's C5 when the neck stops at P4), so the whole trunk really runs."""
        users = self.consumers()
        outputs = list(self.outputs.values())
        dangling = [n for n, readers in users.items() if not readers and n not in outputs and self[n].op is not Op.INPUT]
        return outputs + dangling

    def canonical_order(self) -> list[str]:
        """Node ids in one topological order fixed by the structure alone (never by names or by the
        order a builder or neck file added nodes): the inputs first, then a depth-first post-order from
        results nobody reads (a backbone stage above the neck's top input, run before the neck as a
        backbone would be), then from the neck's outputs, top level first (an output read straight from
        another output after the rest); each node's inputs in slot order (a weight-sharing node's
        owner before it). Graph-equal necks so run the same op sequence."""
        order = [n.id for n in self.inputs]
        done = set(order)
        outputs = [self.outputs[level] for level in sorted(self.outputs, reverse=True)]
        # an output made from another output (an extra level pooled from the top one) comes after the rest
        from_outputs = {o for o in outputs if set(self.nodes[o].inputs) & set(outputs)}
        outputs = [o for o in outputs if o not in from_outputs] + [o for o in outputs if o in from_outputs]
        roots = [r for r in self.result_ids() if r not in outputs] + outputs
        roots += [n.id for n in self]  # anything else (nothing, in a validated neck)
        for root in roots:
            stack = [(root, False)]
            while stack:
                node_id, expanded = stack.pop()
                if node_id in done:
                    continue
                if expanded:
                    done.add(node_id)
                    order.append(node_id)
                    continue
                stack.append((node_id, True))
                node = self.nodes[node_id]
                before = [*node.inputs, *([node.shares] if node.shares else [])]
                stack += [(src, False) for src in reversed(before) if src not in done]
        return order

    def reorder(self, order: list[str]) -> None:
        """Store the nodes in ``order`` (a permutation that keeps every input before its reader)."""
        if sorted(order) != sorted(self.nodes):
            raise GraphError("a reordering must list every node once")
        position = {node_id: i for i, node_id in enumerate(order)}
        for node in self:
            if any(position[src] > position[node.id] for src in node.inputs):
                raise GraphError(f"node {node.id!r} would run before its inputs")
        self.nodes = {node_id: self.nodes[node_id] for node_id in order}

    def validate(self) -> None:
        """Check output levels are contiguous and every output and feature exists."""
        for kind, table in (("output", self.outputs), ("feature", self.features)):
            for level, node_id in table.items():
                if node_id not in self.nodes:
                    raise GraphError(f"{kind} P{level} points at unknown node {node_id!r}")
        levels = sorted(self.outputs)
        if levels and levels != list(range(levels[0], levels[-1] + 1)):
            raise GraphError(f"output levels are not contiguous: {levels}")

    def edges(self) -> Iterator[tuple[str, str]]:
        """Every (source, destination) input edge, one per input slot."""
        for node in self:
            for src in node.inputs:
                yield src, node.id
