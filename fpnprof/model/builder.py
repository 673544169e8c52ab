"""A small helper that appends nodes to a graph, storing each node's output shape on it."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType
from typing import Any

from fpnprof.errors import GraphError
from fpnprof.model.graph import Graph, Node, Op, Part, Shape
from fpnprof.model.shapes import output_shape, same_padding


class GraphBuilder:
    """Appends nodes under a name prefix, at a level, in a part; knows every node's output shape.

    Builders use it like a tiny layer library: ``b.conv(x, 256, 3)`` returns the new node's id.
    """

    def __init__(self, graph: Graph | None = None) -> None:
        self.graph = graph if graph is not None else Graph()
        self.part = Part.NECK
        self.prefix = ""
        self.level = 0

    def add(self, op: Op, inputs: tuple[str, ...], name: str, *, shares: str | None = None, **attrs: Any) -> str:
        node = Node(
            id=f"{self.prefix}{name}",
            op=op,
            inputs=inputs,
            attrs=MappingProxyType(attrs),
            level=self.level,
            name=name.rsplit(".", 1)[-1],
            part=self.part,
            shares=shares,
        )
        missing = [i for i in inputs if i not in self.graph.nodes]
        if not missing:  # else Graph.add names the missing input
            node = replace(node, shape=output_shape(node, [self.graph[i].shape for i in inputs]))
        return self.graph.add(node).id

    def shape(self, node_id: str) -> Shape:
        return self.graph[node_id].shape

    def channels(self, node_id: str) -> int:
        return self.shape(node_id)[1]

    def hw(self, node_id: str) -> tuple[int, int]:
        _, _, h, w = self.shape(node_id)
        return h, w

    # Layer helpers -------------------------------------------------------------------------
    def input(self, name: str, shape: Shape) -> str:
        return self.add(Op.INPUT, (), name, shape=shape)

    def conv(
        self,
        x: str,
        out_channels: int,
        kernel: int,
        name: str,
        *,
        stride: int = 1,
        padding: int | None = None,
        groups: int = 1,
        bias: bool = True,
        shares: str | None = None,
    ) -> str:
        return self.add(
            Op.CONV,
            (x,),
            name,
            shares=shares,
            in_channels=self.channels(x),
            out_channels=out_channels,
            kernel=kernel,
            stride=stride,
            padding=kernel // 2 if padding is None else padding,
            groups=groups,
            bias=bias,
        )

    def bn(self, x: str, name: str, *, eps: float = 1e-5, shares: str | None = None) -> str:
        return self.add(Op.BATCHNORM, (x,), name, shares=shares, channels=self.channels(x), eps=eps)

    def relu(self, x: str, name: str) -> str:
        return self.add(Op.RELU, (x,), name)

    def swish(self, x: str, name: str) -> str:
        return self.add(Op.SWISH, (x,), name)

    def sum(self, xs: tuple[str, ...], name: str) -> str:
        return self.add(Op.ADD, xs, name)

    def concat(self, xs: tuple[str, ...], name: str) -> str:
        return self.add(Op.CONCAT, xs, name)

    def upsample(self, x: str, size: tuple[int, int], name: str) -> str:
        return self.add(Op.UPSAMPLE, (x,), name, size=size)

    def maxpool(self, x: str, kernel: int, stride: int, name: str, *, padding: int = 0, same: bool = False) -> str:
        """Max pool with symmetric ``padding``, or TensorFlow SAME padding (resolved here, per side)."""
        if same:
            h, w = self.hw(x)
            pads = (*same_padding(h, kernel, stride), *same_padding(w, kernel, stride))
            return self.add(Op.MAXPOOL, (x,), name, kernel=kernel, stride=stride, padding=pads)
        return self.add(Op.MAXPOOL, (x,), name, kernel=kernel, stride=stride, padding=(padding,) * 4)

    def resize_pool(self, x: str, size: tuple[int, int], name: str) -> str:
        """mmcv's merge-cell resize downwards (``BaseMergeCell._resize``): zero-pad the input up to a
        multiple of the target size (split as evenly as it goes, the extra row/column bottom/right),
        then max pool with kernel = stride = the real size ratio."""
        h, w = self.hw(x)
        th, tw = size
        pad_h, pad_w = -(-h // th) * th - h, -(-w // tw) * tw - w
        kh, kw = (h + pad_h) // th, (w + pad_w) // tw
        if kh != kw:
            raise GraphError(f"{self.prefix}{name}: a resize from {h}x{w} to {th}x{tw} needs a square pool")
        pads = (pad_h // 2, pad_h - pad_h // 2, pad_w // 2, pad_w - pad_w // 2)
        return self.add(Op.MAXPOOL, (x,), name, kernel=kh, stride=kh, padding=pads, pad_value=0.0)

    def adaptive_maxpool(self, x: str, size: tuple[int, int], name: str) -> str:
        return self.add(Op.ADAPTIVE_MAXPOOL, (x,), name, size=size)

    def fusion(self, xs: tuple[str, ...], name: str, *, eps: float = 1e-4) -> str:
        return self.add(Op.FUSION, xs, name, arity=len(xs), eps=eps)

    def attention(self, x1: str, x2: str, name: str) -> str:
        """NAS-FPN's global-pooling attention: x2 + sigmoid(global average of x2) * x1."""
        return self.add(Op.ATTENTION, (x1, x2), name)

    def softmax_fusion(self, xs: tuple[str, ...], name: str) -> str:
        """EfficientDet's softmax fusion: sum_i x_i * softmax(w)_i, weights initialised to 1."""
        return self.add(Op.SOFTMAX_FUSION, xs, name, arity=len(xs))
