"""What the latency model prices: a graph cut into the kernels an engine runs, each with a class and
its work (FLOPs, bytes moved).

An eager engine runs every node as its own kernel. An engine that fuses runs some chains as one
kernel, as nn-Meter's kernel detection finds on mobile runtimes. The rules are data
(:data:`FUSION_RULES`). Paddle Inference's (paddle 3.3, oneDNN on CPU) were read from the optimized
program it saves after its IR passes, pattern by pattern, and a test holds them to that program on
every shipped neck (``tests/test_engine_fusion.py``):

- a conv without a bias absorbs the BatchNorm and the activation after it (``fused_conv2d``);
- a conv or transposed conv with a bias runs it as an add of its own (``conv2d`` or
  ``conv2d_transpose`` + ``elementwise_add``), which absorbs an activation right after the conv; a
  BatchNorm after such a conv stays a kernel of its own. The two ops are one kernel here (class
  ``<conv>+bias``): Paddle's profiler, which times Paddle Inference's ops, gives both to the conv's
  node (:mod:`fpnprof.backends.paddle_profile`);
- a transposed conv without a bias absorbs the BatchNorm after it (``conv2d_transpose_bias``), not
  an activation;
- an add, a weighted or softmax fusion and the global-pooling attention (each ending in an add), a
  mul and a sub absorb the activation after them (``fused_elementwise_add``, ``_mul``, ``_sub``); a
  div absorbs none;
- a BatchNorm absorbs a ReLU after it (no other activation); a GroupNorm absorbs nothing.

The activations absorbed are ReLU, Swish, leaky ReLU, hard swish, sigmoid and hard sigmoid (each
checked after a bias-free conv + BatchNorm, a conv with a bias, an add, a mul and a sub).

torch.compile's rule (conv + BatchNorm + activation as one kernel) is the textbook one, not yet
checked against its generated code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fpnprof.bench.breakdown import node_work
from fpnprof.model.graph import Graph, Node, Op, Part
from fpnprof.model.shapes import symmetric_padding

#: Activations a fusing engine runs in the epilogue of the kernel before them.
EPILOGUE_ACTIVATIONS = frozenset({Op.RELU, Op.SWISH, Op.LEAKY_RELU, Op.HARDSWISH, Op.SIGMOID, Op.HARDSIGMOID})
#: Ops that hold a conv weight (and a ``bias`` switch).
CONV_OPS = frozenset({Op.CONV, Op.CONV_TRANSPOSE})
#: Appended to a conv's class when it has a bias: Paddle (eager and Inference) runs the bias as an
#: add op of its own, torch inside the conv; in Paddle's eager necks 1x1 convs with a bias took
#: 1.30x, and without one 0.69x, what one line over both gave (RESULTS.md).
WITH_BIAS = "+bias"


@dataclass(frozen=True)
class FusionRule:
    """A node of a ``heads`` op absorbs the ops that follow it in this order, each the sole reader of
    the previous (an op missing from the chain is skipped: conv+activation fuses too). ``bias``: a
    conv head only with (True) or without (False) a bias; None: either."""

    name: str
    heads: frozenset[Op]
    chain: tuple[frozenset[Op], ...]
    bias: bool | None = None

    def applies(self, node: Node) -> bool:
        return node.op in self.heads and (self.bias is None or bool(node.attrs.get("bias")) is self.bias)


_CONV = frozenset({Op.CONV})
_BN = frozenset({Op.BATCHNORM})
CONV_BN_ACT = FusionRule("conv+bn+act", _CONV, (_BN, EPILOGUE_ACTIVATIONS))
PADDLE_CONV_BN_ACT = FusionRule("conv(no bias)+bn+act", _CONV, (_BN, EPILOGUE_ACTIVATIONS), bias=False)
PADDLE_BIAS_ACT = FusionRule("conv bias add+act", CONV_OPS, (EPILOGUE_ACTIVATIONS,), bias=True)
PADDLE_CONVT_BN = FusionRule("conv_transpose(no bias)+bn", frozenset({Op.CONV_TRANSPOSE}), (_BN,), bias=False)
#: Elementwise heads whose activation Paddle Inference fuses, by the fused op's name.
_FUSED_ELEMENTWISE = {
    Op.ADD: "fused_elementwise_add",
    Op.FUSION: "fused_elementwise_add",
    Op.SOFTMAX_FUSION: "fused_elementwise_add",
    Op.ATTENTION: "fused_elementwise_add",
    Op.MUL: "fused_elementwise_mul",
    Op.SUB: "fused_elementwise_sub",
}
PADDLE_ADD_ACT = FusionRule("add+act", frozenset(_FUSED_ELEMENTWISE), (EPILOGUE_ACTIVATIONS,))
PADDLE_BN_RELU = FusionRule("bn+relu", _BN, (frozenset({Op.RELU}),))

#: Engine -> the fusion rules it applies; an engine not listed runs every node alone.
FUSION_RULES: dict[str, tuple[FusionRule, ...]] = {
    "inference": (PADDLE_CONV_BN_ACT, PADDLE_BIAS_ACT, PADDLE_CONVT_BN, PADDLE_ADD_ACT, PADDLE_BN_RELU),
    "compile": (CONV_BN_ACT,),
}


def kernel_class(node: Node) -> str:
    """The class a node's kernel is priced by: convs by kernel size and grouping, max pools by whether
    an explicit pad op comes first (asymmetric or zero padding: TensorFlow's SAME), others (transposed
    convs, every elementwise op, resizes, norms) by op."""
    if node.op is Op.MAXPOOL:
        return "maxpool" if symmetric_padding(node) is not None else "maxpool_padded"
    if node.op is not Op.CONV:
        return str(node.op.value)
    a = node.attrs
    if a["groups"] == 1:
        return f"conv{a['kernel']}x{a['kernel']}"
    return "conv_depthwise" if a["groups"] == a["in_channels"] == a["out_channels"] else "conv_grouped"


@dataclass(frozen=True)
class Kernel:
    """One kernel the engine runs: the nodes it covers (the first names it), its class and work."""

    nodes: tuple[str, ...]
    cls: str
    flops: int
    bytes: int
    #: the head's shapes: batch, input channels (summed over inputs), input height and width, output
    #: channels, height and width, and how many inputs it reads
    dims: tuple[int, ...] = ()
    #: a conv's groups (1 for every other op)
    groups: int = 1

    @property
    def rows(self) -> int:
        """Rows its output has (batch x channels x height): an NCHW kernel's inner loop runs along one."""
        return rows_of(self.dims)


def rows_of(dims: tuple[int, ...]) -> int:
    """Batch x output channels x output height of :attr:`Kernel.dims` (0 where none are known)."""
    return dims[0] * dims[4] * dims[5] if dims else 0


def head_dims(graph: Graph, node: Node) -> tuple[int, ...]:
    """:attr:`Kernel.dims` of a kernel headed by ``node``."""
    inputs = [graph[i].shape for i in node.inputs]
    n, _, h, w = inputs[0]
    return (n, sum(s[1] for s in inputs), h, w, *node.shape[1:], len(inputs))


def _absorbed(graph: Graph, head: Node, rules: tuple[FusionRule, ...], readers: dict[str, list[str]]) -> list[str]:
    for rule in rules:
        if not rule.applies(head):
            continue
        taken: list[str] = []
        tail = head.id
        for allowed in rule.chain:
            users = readers[tail]
            if len(users) == 1 and graph[users[0]].op in allowed:
                tail = users[0]
                taken.append(tail)
        if taken:
            return taken
    return []


def graph_kernels(graph: Graph, engine: str, dtype_bytes: int = 4, part: Part | None = None) -> list[Kernel]:
    """The graph's computing nodes (of ``part`` only, if given) as the engine's kernels, in graph order.
    A fused kernel keeps its head's work (what it absorbs adds none)."""
    rules = FUSION_RULES.get(engine, ())
    work = {w.id: w for w in node_work(graph, dtype_bytes, part)}
    readers = graph.consumers()
    absorbed: set[str] = set()
    out = []
    for node in graph:
        if node.op is Op.INPUT or node.id in absorbed or (part is not None and node.part is not part):
            continue
        taken = _absorbed(graph, node, rules, readers) if rules else []
        absorbed.update(taken)
        w = work[node.id]
        cls = kernel_class(node) + (WITH_BIAS if node.op in CONV_OPS and node.attrs.get("bias") else "")
        groups = int(node.attrs.get("groups", 1)) if node.op in CONV_OPS else 1
        out.append(Kernel((node.id, *taken), cls, w.flops, w.bytes, head_dims(graph, node), groups))
    return out


def kernel_ms(kernel: Kernel, node_ms: Mapping[str, float]) -> float:
    """A kernel's time from per-node times: its nodes' summed (an engine's profiler puts a fused
    kernel's time on one of them)."""
    return sum(node_ms.get(n, 0.0) for n in kernel.nodes)


#: Ops a kernel of its own keeps in Paddle Inference's program, by its op name there (not sigmoid:
#: the global-pooling attention runs one inside it).
_PADDLE_OP_NAMES = {
    Op.BATCHNORM: "batch_norm",
    Op.RELU: "relu",
    Op.SWISH: "swish",
    Op.LEAKY_RELU: "leaky_relu",
    Op.HARDSWISH: "hard_swish",
    Op.HARDSIGMOID: "hard_sigmoid",
}
#: What a head that absorbed something runs as, beside the elementwise ones.
_FUSED_CONVS = {Op.CONV: "fused_conv2d", Op.CONV_TRANSPOSE: "conv2d_transpose_bias"}


def fusion_signature(graph: Graph, engine: str) -> dict[str, int]:
    """What the engine's optimized program must hold if it fuses as :data:`FUSION_RULES` say, in
    Paddle Inference's op names: convs that absorbed a BatchNorm or an activation (``fused_conv2d``),
    transposed convs that absorbed a BatchNorm (``conv2d_transpose_bias``), adds, muls and subs that
    absorbed an activation (``fused_elementwise_*``; a conv's bias add too), and the BatchNorms and
    activations left (sigmoid aside)."""
    names = ("fused_conv2d", "conv2d_transpose_bias", *dict.fromkeys(_FUSED_ELEMENTWISE.values()), *_PADDLE_OP_NAMES.values())
    sig = dict.fromkeys(names, 0)
    for k in graph_kernels(graph, engine):
        head, absorbs = graph[k.nodes[0]], len(k.nodes) > 1
        if head.op in CONV_OPS and head.attrs.get("bias"):  # a bias runs as an add
            sig["fused_elementwise_add"] += absorbs
        elif head.op in _FUSED_CONVS:
            sig[_FUSED_CONVS[head.op]] += absorbs
        elif head.op in _FUSED_ELEMENTWISE:
            sig[_FUSED_ELEMENTWISE[head.op]] += absorbs
        elif head.op in _PADDLE_OP_NAMES:
            sig[_PADDLE_OP_NAMES[head.op]] += 1
    return sig


def fusion_mismatches(graph: Graph, engine: str, ops: dict[str, int]) -> list[str]:
    """Where the engine's optimized program (``ops``: op type -> count) disagrees with the rules:
    one ``op: rules say N, the engine runs M`` line per op of :func:`fusion_signature`."""
    return [
        f"{op}: the rules say {n}, the engine runs {ops.get(op, 0)}"
        for op, n in fusion_signature(graph, engine).items()
        if ops.get(op, 0) != n
    ]
