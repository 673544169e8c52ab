"""Draw a graph's topology as Mermaid or Graphviz DOT: nodes grouped by level, one edge per input."""

from __future__ import annotations

from collections import defaultdict

from fpnprof.model.graph import Graph, Node
from fpnprof.model.labels import label

DRAW_FORMATS = ("mermaid", "dot")


def node_label(node: Node) -> str:
    """The op and its key attributes, under the node's id (without the part prefix)."""
    short = node.id.split(".", 1)[-1]
    detail = label(node)
    if node.shares:
        detail += " (shared weights)"
    return f"{short}\\n{detail}"


def _groups(graph: Graph) -> dict[int, list[Node]]:
    groups: dict[int, list[Node]] = defaultdict(list)
    for node in graph:
        groups[node.level].append(node)
    return dict(sorted(groups.items()))


def to_mermaid(graph: Graph) -> str:
    ids = {node_id: f"n{i}" for i, node_id in enumerate(graph.nodes)}
    lines = ["flowchart BT"]
    for level, nodes in _groups(graph).items():
        lines.append(f'  subgraph L{level}["level {level}"]')
        for node in nodes:
            label = node_label(node).replace('"', "'").replace("\\n", "<br/>")
            lines.append(f'    {ids[node.id]}["{label}"]')
        lines.append("  end")
    lines.extend(f"  {ids[src]} --> {ids[dst]}" for src, dst in graph.edges())
    return "\n".join(lines) + "\n"


def to_dot(graph: Graph) -> str:
    ids = {node_id: f"n{i}" for i, node_id in enumerate(graph.nodes)}
    lines = ["digraph neck {", "  rankdir=BT;", '  node [shape=box, fontname="Helvetica", fontsize=10];']
    for level, nodes in _groups(graph).items():
        lines.append(f"  subgraph cluster_L{level} {{")
        lines.append(f'    label="level {level}";')
        for node in nodes:
            label = node_label(node).replace('"', "'")
            lines.append(f'    {ids[node.id]} [label="{label}"];')
        lines.append("  }")
    lines.extend(f"  {ids[src]} -> {ids[dst]};" for src, dst in graph.edges())
    lines.append("}")
    return "\n".join(lines) + "\n"


def draw(graph: Graph, fmt: str) -> str:
    return to_mermaid(graph) if fmt == "mermaid" else to_dot(graph)
