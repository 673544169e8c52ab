"""Lower a graph to a ``paddle.nn.Layer``: one sublayer per node, one generic executor."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import paddle
import paddle.nn.functional as F
from paddle import nn

from fpnprof.cost import same_padding
from fpnprof.graph import Graph, Node, Op

NAME = "paddle"


class _Fn(nn.Layer):
    """A parameter-free node as its own named sublayer."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, *xs: Any) -> Any:
        return self.fn(*xs)


class _SameMaxPool(nn.Layer):
    """TensorFlow SAME max pool: pad with -inf (asymmetric), then pool."""

    def __init__(self, kernel: int, stride: int) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x: Any) -> Any:
        h, w = x.shape[2], x.shape[3]
        (top, bottom), (left, right) = same_padding(h, self.kernel, self.stride), same_padding(w, self.kernel, self.stride)
        x = F.pad(x, [left, right, top, bottom], mode="constant", value=float("-inf"))
        return F.max_pool2d(x, self.kernel, self.stride)


class _Fusion(nn.Layer):
    """Fast normalised fusion: relu(w_i) / (sum relu(w) + eps), weights initialised to 1."""

    def __init__(self, arity: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = self.create_parameter([arity], default_initializer=nn.initializer.Constant(1.0))

    def forward(self, *xs: Any) -> Any:
        w = F.relu(self.weight)
        w = w / (w.sum() + self.eps)
        out = xs[0] * w[0]
        for i in range(1, len(xs)):
            out = out + xs[i] * w[i]
        return out


def _conv(node: Node) -> nn.Layer:
    a = node.attrs
    return nn.Conv2D(
        a["in_channels"], a["out_channels"], a["kernel"], stride=a["stride"], padding=a["padding"],
        groups=a["groups"], bias_attr=None if a["bias"] else False,
    )


def _add(*xs: Any) -> Any:
    out = xs[0]
    for x in xs[1:]:
        out = out + x
    return out


#: One layer factory per op.
LOWER: dict[Op, Callable[[Node], nn.Layer]] = {
    Op.CONV: _conv,
    Op.BATCHNORM: lambda n: nn.BatchNorm2D(n.attrs["channels"], epsilon=n.attrs["eps"]),
    Op.RELU: lambda n: nn.ReLU(),
    Op.SWISH: lambda n: nn.Swish(),
    Op.ADD: lambda n: _Fn(_add),
    Op.CONCAT: lambda n: _Fn(lambda *xs: paddle.concat(list(xs), axis=1)),
    Op.UPSAMPLE: lambda n: _Fn(lambda x, s=tuple(n.attrs["size"]): F.interpolate(x, size=list(s), mode="nearest")),
    Op.MAXPOOL: lambda n: (
        _SameMaxPool(n.attrs["kernel"], n.attrs["stride"])
        if n.attrs["padding"] == "same"
        else nn.MaxPool2D(n.attrs["kernel"], n.attrs["stride"], padding=n.attrs["padding"])
    ),
    Op.ADAPTIVE_MAXPOOL: lambda n: nn.AdaptiveMaxPool2D(list(n.attrs["size"])),
    Op.FUSION: lambda n: _Fusion(n.attrs["arity"], n.attrs["eps"]),
}

_SHARED_PARAMS = ("weight", "bias", "_mean", "_variance")


class GraphLayer(nn.Layer):
    """Runs a graph: inputs in graph order in, outputs (bottom level first) out."""

    def __init__(self, graph: Graph) -> None:
        super().__init__()
        self.graph = graph
        self.nodes = nn.LayerDict()
        for node in graph:
            if node.op is Op.INPUT:
                continue
            layer = LOWER[node.op](node)
            if node.shares is not None:
                owner = self.nodes[self.graph[node.shares].module_name]
                for name in _SHARED_PARAMS:
                    if getattr(owner, name, None) is not None:
                        setattr(layer, name, getattr(owner, name))
            self.nodes[node.module_name] = layer
        self._input_ids = [n.id for n in graph.inputs]
        self._output_ids = list(graph.outputs.values())

    def run(self, inputs: Sequence[Any]) -> dict[str, Any]:
        """Every node's output tensor, by node id."""
        values: dict[str, Any] = dict(zip(self._input_ids, inputs, strict=True))
        for node in self.graph:
            if node.op is not Op.INPUT:
                values[node.id] = self.nodes[node.module_name](*[values[i] for i in node.inputs])
        return values

    def forward(self, *inputs: Any) -> list[Any]:
        values = self.run(inputs)
        return [values[i] for i in self._output_ids]


def lower(graph: Graph) -> GraphLayer:
    model = GraphLayer(graph)
    model.eval()
    return model


def random_inputs(graph: Graph, seed: int = 0) -> list[Any]:
    rng = np.random.default_rng(seed)
    return [paddle.to_tensor(rng.standard_normal(n.attrs["shape"]).astype("float32")) for n in graph.inputs]


def node_shapes(model: GraphLayer, inputs: Sequence[Any]) -> dict[str, tuple[int, ...]]:
    """Run eagerly without gradients and return the real shape of every node's output."""
    with paddle.no_grad():
        values = model.run(inputs)
    return {k: tuple(int(d) for d in v.shape) for k, v in values.items()}


def count_parameters(model: nn.Layer) -> tuple[int, int]:
    """(trainable parameters, BN statistics) as Paddle holds them (shared ones once)."""
    trainable = buffers = 0
    for p in model.parameters():
        size = int(np.prod(p.shape))
        if p.stop_gradient:
            buffers += size
        else:
            trainable += size
    return trainable, buffers


def version() -> str:
    return str(paddle.__version__)
