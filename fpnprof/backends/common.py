"""Framework-free pieces both lowerings use."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fpnprof.backends.primitives import NodeHook
from fpnprof.model.graph import Graph, Node, Op
from fpnprof.model.shapes import pad_value, symmetric_padding

#: Environment variable naming the folder where workers share deployment exports (set by the parent).
EXPORT_CACHE = "FPNPROF_EXPORT_CACHE"
#: Peak-kernel sizes per device: an n x n matmul, and a copy of this many bytes.
PEAK_SIZES = {"cpu": (1024, 64 * 2**20), "gpu": (8192, 2**30)}
#: The drift probe's smaller kernels (it compares the machine with itself before and after a worker's
#: rounds, so it need not reach the peak; made and run in every worker, it must be cheap).
PROBE_SIZES = {"cpu": (512, 16 * 2**20), "gpu": (4096, 2**28)}


def add_all(*xs: Any) -> Any:
    """x0 + x1 + ... with the framework's own ``+`` (one add op per extra operand)."""
    out = xs[0]
    for x in xs[1:]:
        out = out + x
    return out


class ExecutionPlan:
    """What a lowered model runs, framework-free: one step per non-input node, in graph order.

    Both backends' model classes hold one and call :meth:`run` with their own module table
    (``ModuleDict``/``LayerDict``); only the op factories and framework glue differ.
    """

    def __init__(self, graph: Graph) -> None:
        self.input_ids = [n.id for n in graph.inputs]
        self.output_ids = graph.result_ids()
        self.steps = [(n.id, n.module_name, n.inputs) for n in graph if n.op is not Op.INPUT]

    def run(self, modules: Any, inputs: Sequence[Any], timer: NodeHook | None = None) -> dict[str, Any]:
        """Every node's output by id; ``timer.start``/``timer.stop`` around every node when given."""
        values: dict[str, Any] = {}
        for index, node_id in enumerate(self.input_ids):  # no zip: Paddle's dy2static rewrites it
            values[node_id] = inputs[index]
        for node_id, module, sources in self.steps:
            if timer is not None:
                timer.start(node_id)
            values[node_id] = modules[module](*[values[i] for i in sources])
            if timer is not None:
                timer.stop(node_id)
        return values


def build_modules(graph: Graph, lower: Mapping[Op, Callable[[Node], Any]], shared: Sequence[str], table: Any) -> None:
    """Fill ``table`` (a framework's module dict) with one module per non-input node; a node that
    shares weights gets its owner's tensors named in ``shared``."""
    for node in graph:
        if node.op is Op.INPUT:
            continue
        module = lower[node.op](node)
        if node.shares is not None:
            owner = table[graph[node.shares].module_name]
            for name in shared:
                if getattr(owner, name, None) is not None:
                    setattr(module, name, getattr(owner, name))
        table[node.module_name] = module


def weighted_sum(xs: Sequence[Any], w: Any) -> Any:
    """x0 * w[0] + x1 * w[1] + ... with the framework's own operators (fusion's last step)."""
    out = xs[0] * w[0]
    for i in range(1, len(xs)):
        out = out + xs[i] * w[i]
    return out


def function_module(base: type) -> Any:
    """A module class of the framework whose module base class is ``base``, running a function: a
    parameter-free node as its own named module (``nn.Module`` or ``nn.Layer``)."""

    class FunctionModule(base):  # type: ignore[misc]
        def __init__(self, fn: Callable[..., Any]) -> None:
            super().__init__()
            self.fn = fn

        def forward(self, *xs: Any) -> Any:
            return self.fn(*xs)

    return FunctionModule


def conv_transpose_args(node: Node) -> tuple[tuple[int, int, int], dict[str, Any]]:
    """A transposed conv node's (in, out, kernel) and its stride, padding, output padding and groups,
    as both frameworks' transposed convs take them (the bias switch is each backend's)."""
    a = node.attrs
    return (a["in_channels"], a["out_channels"], a["kernel"]), {
        "stride": a["stride"],
        "padding": a["padding"],
        "output_padding": a.get("output_padding", 0),
        "groups": a.get("groups", 1),
    }


def pad_sides(node: Node) -> tuple[int, int, int, int]:
    """A pad node's (top, bottom, left, right) as both frameworks' ``F.pad`` take it on NCHW:
    (left, right, top, bottom)."""
    top, bottom, left, right = node.attrs["padding"]
    return (int(left), int(right), int(top), int(bottom))


def conv_args(node: Node) -> tuple[tuple[int, int, int], dict[str, Any]]:
    """A conv node's (in, out, kernel) and its stride, padding and groups, as both frameworks'
    Conv2d take them (the bias switch is spelled differently and is added by each backend)."""
    a = node.attrs
    return (a["in_channels"], a["out_channels"], a["kernel"]), {
        "stride": a["stride"],
        "padding": a["padding"],
        "groups": a["groups"],
    }


@dataclass(frozen=True)
class PoolPlan:
    """How a max-pool node lowers: a native pool with ``native_padding`` where its padding is one
    that native pools take (:func:`~fpnprof.model.shapes.symmetric_padding`), else an explicit pad of
    ``pad`` (left, right, top, bottom; as both frameworks' ``F.pad`` take it) with ``value`` first:
    -inf for TensorFlow's SAME, 0 for mmcv's resize."""

    kernel: int
    stride: int
    native_padding: int | None
    pad: tuple[int, int, int, int]
    value: float


def pool_plan(node: Node) -> PoolPlan:
    top, bottom, left, right = node.attrs["padding"]
    a = node.attrs
    return PoolPlan(a["kernel"], a["stride"], symmetric_padding(node), (left, right, top, bottom), pad_value(node))


class GraphRunner:
    """Mixed into each backend's model class (with the framework's module base): holds the graph,
    its modules in the framework's module dict, and the shared :class:`ExecutionPlan`."""

    graph: Graph
    nodes: Any
    plan: ExecutionPlan

    def setup(self, graph: Graph, table: Any, lower: Mapping[Op, Callable[[Node], Any]], shared: Sequence[str]) -> None:
        self.graph = graph
        self.nodes = table
        build_modules(graph, lower, shared, self.nodes)
        self.plan = ExecutionPlan(graph)

    def run(self, inputs: Sequence[Any], timer: NodeHook | None = None) -> dict[str, Any]:
        """Every node's output by id (:meth:`ExecutionPlan.run`)."""
        return self.plan.run(self.nodes, inputs, timer)
