"""What the latency model prices: a graph cut into the kernels an engine runs, each with a class and
its work (FLOPs, bytes moved).

An eager engine runs every node as its own kernel. An engine that fuses (Paddle Inference,
torch.compile) folds a BatchNorm into the conv before it and runs an activation in the conv's
epilogue, as nn-Meter's kernel detection finds on mobile runtimes: a conv with the BatchNorm and the
activation that follow it (each the sole reader of the one before) is one kernel of the conv's class,
the followers adding no work. The rules are data (:data:`FUSION_RULES`), checked on a simulated
machine with a known answer (tests).
"""

from __future__ import annotations

from dataclasses import dataclass

from fpnprof.bench.breakdown import node_work
from fpnprof.model.graph import Graph, Node, Op, Part

#: Activations a fusing engine runs in a conv's epilogue.
EPILOGUE_ACTIVATIONS = frozenset({Op.RELU, Op.SWISH})


@dataclass(frozen=True)
class FusionRule:
    """A conv absorbs the ops that follow it in this order, each the sole reader of the previous
    (an op missing from the chain is skipped: conv+activation fuses too)."""

    name: str
    chain: tuple[frozenset[Op], ...]


CONV_BN_ACT = FusionRule("conv+bn+act", (frozenset({Op.BATCHNORM}), EPILOGUE_ACTIVATIONS))
#: Engine -> the fusion rules it applies; an engine not listed runs every node alone.
FUSION_RULES: dict[str, tuple[FusionRule, ...]] = {"inference": (CONV_BN_ACT,), "compile": (CONV_BN_ACT,)}


def kernel_class(node: Node) -> str:
    """The class a node's kernel is priced by: convs by kernel size and grouping, others by op."""
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


def _absorbed(graph: Graph, conv: Node, rules: tuple[FusionRule, ...], readers: dict[str, list[str]]) -> list[str]:
    for rule in rules:
        taken: list[str] = []
        tail = conv.id
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
    A fused kernel keeps the conv's work (the folded BatchNorm and the epilogue add none)."""
    rules = FUSION_RULES.get(engine, ())
    work = {w.id: w for w in node_work(graph, dtype_bytes, part)}
    readers = graph.consumers()
    absorbed: set[str] = set()
    out = []
    for node in graph:
        if node.op is Op.INPUT or node.id in absorbed or (part is not None and node.part is not part):
            continue
        taken = _absorbed(graph, node, rules, readers) if node.op is Op.CONV and rules else []
        absorbed.update(taken)
        w = work[node.id]
        out.append(Kernel((node.id, *taken), kernel_class(node), w.flops, w.bytes))
    return out
