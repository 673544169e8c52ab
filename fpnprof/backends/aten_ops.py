"""Which aten ops the torch lowering of a graph emits that fvcore reports as unsupported.

fvcore skips ``aten::relu``, ``aten::cat`` and ``aten::select`` silently (its ignore list) and
reports the others with their occurrence count; each op's share is in :mod:`fpnprof.cost.ops`.
Pure data: no torch import.
"""

from __future__ import annotations

from collections import Counter

from fpnprof.cost.ops import op_spec
from fpnprof.model.graph import Graph


def expected_unsupported(graph: Graph) -> Counter[str]:
    total: Counter[str] = Counter()
    for node in graph:
        total.update(op_spec(node.op).unsupported_aten(node))
    return +total
