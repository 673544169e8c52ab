"""Which aten ops the torch lowering of each node emits that fvcore does not count.

fvcore skips ``aten::relu``, ``aten::cat`` and ``aten::select`` silently (its ignore list) and
reports the others here as "unsupported" with their occurrence count. Pure data: no torch import.
"""

from __future__ import annotations

from collections import Counter

from fpnprof.backends.common import symmetric_padding
from fpnprof.graph import Graph, Node, Op


def node_unsupported(node: Node) -> Counter[str]:
    """The unsupported aten ops fvcore should report for one node of the torch lowering."""
    n = len(node.inputs)
    if node.op is Op.ADD:
        return Counter({"aten::add": n - 1})
    if node.op is Op.SWISH:
        return Counter({"aten::silu": 1})
    if node.op is Op.MAXPOOL:
        padded = symmetric_padding(node) is None  # asymmetric padding lowers to F.pad + max_pool2d
        return Counter({"aten::max_pool2d": 1, **({"aten::pad": 1} if padded else {})})
    if node.op is Op.ADAPTIVE_MAXPOOL:
        return Counter({"aten::adaptive_max_pool2d": 1})
    if node.op is Op.FUSION:
        # relu(w) ignored; w.sum(); + eps; w / s; x_i * w[i] (n); out + ... (n - 1)
        return Counter({"aten::sum": 1, "aten::add": 1 + (n - 1), "aten::div": 1, "aten::mul": n})
    return Counter()


def expected_unsupported(graph: Graph) -> Counter[str]:
    total: Counter[str] = Counter()
    for node in graph:
        total.update(node_unsupported(node))
    return +total
