"""Find BiFPN's weighted fusions written in code in a traced graph, to fold each into one op.

Fast normalised fusion: ``w = relu(p); w = w / (w.sum() + eps)``, then ``w[0] * x0 + w[1] * x1 + ...``
(Op.FUSION); softmax fusion: ``w = softmax(p, 0)`` and the same sum (Op.SOFTMAX_FUSION). Exactly
these forms are folded: every weight used once, by one multiply, the products summed by a tree of adds
that reads nothing else. Any other computation on parameters alone is left for the importer to refuse.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import fx

from fpnprof.model.graph import Op

_RELU = ("aten.relu.default", "aten.relu_.default")
_SUM = ("aten.sum.default", "aten.sum.dim_IntList")
_SOFTMAX = ("aten.softmax.int", "aten._softmax.default")
_ADD = ("aten.add.Tensor",)
_MUL = ("aten.mul.Tensor",)


def key(node: object) -> str:
    """A node's ATen overload name (``aten.add.Tensor``), or '' for anything else."""
    return str(node.target) if isinstance(node, fx.Node) and node.op == "call_function" else ""


def args(node: object) -> tuple[Any, ...]:
    """A node's positional arguments (none for anything that is not a node)."""
    return tuple(node.args) if isinstance(node, fx.Node) else ()


@dataclass(frozen=True)
class FusionMatch:
    """One fusion: its op, the parameter placeholder, epsilon (fast fusion), the data nodes in weight
    order, the node whose value is the fused sum, and every node folded into it."""

    op: Op
    parameter: fx.Node
    eps: float | None
    inputs: tuple[fx.Node, ...]
    root: fx.Node
    folded: frozenset[fx.Node]


def _plain_add(node: object) -> bool:
    return key(node) in _ADD and len(args(node)) == 2 and not (isinstance(node, fx.Node) and node.kwargs)


def _weights(node: fx.Node, is_parameter: Callable[[object], bool]) -> tuple[Op, fx.Node, float | None] | None:
    """(op, parameter, eps) when ``node`` is a normalised weight vector of one of the two forms."""
    if key(node) in _SOFTMAX and is_parameter(args(node)[0]) and args(node)[1] in (0, -1):
        return Op.SOFTMAX_FUSION, args(node)[0], None
    if key(node) != "aten.div.Tensor" or len(args(node)) != 2:
        return None
    relu, total = args(node)
    if key(relu) not in _RELU or not is_parameter(args(relu)[0]) or not _plain_add(total):
        return None
    summed, eps = args(total)
    if key(summed) not in _SUM or args(summed)[0] is not relu or not isinstance(eps, float | int):
        return None
    if key(summed) == "aten.sum.dim_IntList" and (list(args(summed)[1]) not in ([0], [-1]) or args(summed)[2:3] == (True,)):
        return None
    return Op.FUSION, args(relu)[0], float(eps)


def _leaves(add: fx.Node, products: set[fx.Node]) -> list[fx.Node] | None:
    """The products an add tree sums (operands that are adds read only there are opened), or None
    when it reads anything else (a constant 0, as ``sum()`` starts from, is allowed)."""
    out: list[fx.Node] = []
    for operand in args(add)[:2]:
        if operand in products:
            out.append(operand)
        elif _plain_add(operand) and len(operand.users) == 1:
            inner = _leaves(operand, products)
            if inner is None:
                return None
            out += inner
        elif not (isinstance(operand, int | float) and operand == 0):
            return None
    return out


def _tree_nodes(add: fx.Node, products: set[fx.Node]) -> set[fx.Node]:
    nodes = {add}
    for operand in args(add)[:2]:
        if isinstance(operand, fx.Node) and operand not in products:
            nodes |= _tree_nodes(operand, products)
    return nodes


def _match(
    weights: fx.Node, op: Op, parameter: fx.Node, eps: float | None, is_data: Callable[[object], bool]
) -> FusionMatch | None:
    arity = int(parameter.meta["val"].shape[0]) if parameter.meta["val"].dim() == 1 else 0
    picks = list(weights.users)
    if arity < 2 or len(picks) != arity:
        return None
    by_index: dict[int, fx.Node] = {}
    for pick in picks:
        if key(pick) != "aten.select.int" or args(pick)[1] != 0 or len(pick.users) != 1:
            return None
        by_index[int(args(pick)[2]) % arity] = pick
    if sorted(by_index) != list(range(arity)):
        return None
    products: dict[fx.Node, fx.Node] = {}  # product -> data
    for i in range(arity):
        (mul,) = by_index[i].users
        if key(mul) not in _MUL or len(mul.users) != 1:
            return None
        a, b = args(mul)[:2]
        other = b if a is by_index[i] else a
        if not is_data(other):
            return None
        products[mul] = other
    root = next(iter(next(iter(products)).users))
    for _ in range(4 * arity):
        if not _plain_add(root):
            return None
        leaves = _leaves(root, set(products))
        if leaves is not None and sorted(map(str, leaves)) == sorted(map(str, products)):
            folded = {weights, *by_index.values(), *products, *_tree_nodes(root, set(products))} - {root}
            inputs = tuple(products[next(iter(by_index[i].users))] for i in range(arity))
            return FusionMatch(op, parameter, eps, inputs, root, frozenset(folded))
        if len(root.users) != 1:
            return None
        root = next(iter(root.users))
    return None


def find_fusions(
    graph: fx.Graph, is_parameter: Callable[[object], bool], is_data: Callable[[object], bool]
) -> dict[fx.Node, FusionMatch]:
    """Every fusion in ``graph``, by the node whose value is the fused sum."""
    found: dict[fx.Node, FusionMatch] = {}
    for node in graph.nodes:
        weights = _weights(node, is_parameter)
        if weights is not None:
            match = _match(node, *weights, is_data)
            if match is not None:
                found[match.root] = match
    return found
