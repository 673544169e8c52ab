"""Structural equality of two graphs, whatever their node names: each node's signature hashes its
op, attributes, level and part with its inputs' signatures (in slot order) and the signature of
the node whose weights it shares, so equal output signatures mean equal computations."""

from __future__ import annotations

import hashlib
from collections import Counter

from fpnprof.model.graph import Graph


def signatures(graph: Graph) -> dict[str, str]:
    sig: dict[str, str] = {}
    for node in graph:  # topological order: inputs first
        attrs = sorted((k, repr(v)) for k, v in node.attrs.items())
        shared = sig[node.shares] if node.shares else ""
        text = repr((node.op.value, attrs, node.level, node.part.value, [sig[i] for i in node.inputs], shared))
        sig[node.id] = hashlib.sha256(text.encode()).hexdigest()
    return sig


def structure_differences(a: Graph, b: Graph) -> list[str]:
    """What differs between two graphs' structures (empty when they compute the same thing)."""
    sa, sb = signatures(a), signatures(b)
    problems = []
    if len(a) != len(b):
        problems.append(f"{len(a)} nodes != {len(b)} nodes")
    if Counter(sa.values()) != Counter(sb.values()):
        only_a = Counter(sa.values()) - Counter(sb.values())
        names = [n for n, s in sa.items() if s in only_a][:3]
        problems.append(f"nodes without a counterpart, e.g. {names}")
    if sorted(a.outputs) != sorted(b.outputs):
        problems.append(f"output levels {sorted(a.outputs)} != {sorted(b.outputs)}")
    for level in sorted(set(a.outputs) & set(b.outputs)):
        if sa[a.outputs[level]] != sb[b.outputs[level]]:
            problems.append(f"P{level} computed differently")
    if sorted(sa[f] for f in a.features.values()) != sorted(sb[f] for f in b.features.values()):
        problems.append("the features fed to the neck differ")
    return problems
