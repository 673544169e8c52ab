"""Peak live activations on small graphs worked out by hand (fp32, 4 bytes per element).

x is 1x1x4x4 = 64 B. A tensor lives from the step that makes it until its last reader has run;
the graph's input lives from the start and its result until the end.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from fpnprof.cost.analysis import node_rows, peak_live_bytes
from fpnprof.model.builder import GraphBuilder
from fpnprof.model.graph import Graph

X = 64  # bytes of the 1x1x4x4 input and of every 4x4 map below


def _graph(body: Callable[[GraphBuilder, str], str]) -> Graph:
    b = GraphBuilder()
    x = b.input("x", (1, 1, 4, 4))
    b.graph.outputs = {2: body(b, x)}
    return b.graph


def chain(b: GraphBuilder, x: str) -> str:
    # x -> a -> b -> c: at most one tensor and the one being made are live
    return b.relu(b.relu(b.relu(x, "a"), "b"), "c")


def fork(b: GraphBuilder, x: str) -> str:
    # a and b both read x; x dies after b; while c is made, a, b and c are live
    return b.sum((b.relu(x, "a"), b.relu(x, "b")), "c")


def skip(b: GraphBuilder, x: str) -> str:
    # x feeds a and, later, the add: x, a and b are live while b is made
    a = b.relu(x, "a")
    return b.sum((b.relu(a, "b"), x), "c")


def skip_over_a_big_map(b: GraphBuilder, x: str) -> str:
    # u = 8x8 upsample (256 B); p = pool back to 4x4: x, u and p live at once = 64 + 256 + 64
    u = b.upsample(x, (8, 8), "u")
    p = b.adaptive_maxpool(u, (4, 4), "p")
    return b.sum((p, x), "s")


@pytest.mark.parametrize(
    ("body", "peak"),
    [(chain, 2 * X), (fork, 3 * X), (skip, 3 * X), (skip_over_a_big_map, X + 4 * X + X)],
    ids=["chain", "fork", "skip", "skip-over-big-map"],
)
def test_peak_live_bytes_by_hand(body: Callable[[GraphBuilder, str], str], peak: int) -> None:
    graph = _graph(body)
    assert peak_live_bytes(graph, node_rows(graph)) == peak


def test_an_unread_node_is_kept_as_a_result() -> None:
    # d reads x but nobody reads d: the model returns it, so it lives to the end beside c
    def body(b: GraphBuilder, x: str) -> str:
        b.relu(x, "d")
        return chain(b, x)

    graph = _graph(body)
    # step d: x + d; step a: x + d + a (x dies); step b: d + a + b; step c: d + b + c
    assert peak_live_bytes(graph, node_rows(graph)) == 3 * X
