"""Computation on parameters alone, read symbolically, and BiFPN's fusions recognised in it.

BiFPN's fast normalised fusion, as written in code, normalises its learned weights before it weighs
the feature maps: ``w = relu(p); w = w / (sum(w) + eps); out = w[0] * x0 + w[1] * x1 + ...`` (and
``softmax(p)`` for the softmax form). The importer records what ops compute on parameters as
expressions (:data:`Expr`), each weighed feature map as a :class:`Term`, their sum as :class:`Terms`,
and :func:`fusion_of` folds a complete sum into ``Op.FUSION`` (arity, eps) or ``Op.SOFTMAX_FUSION``
(arity) when the weights are exactly that; anything else computed from parameters is refused.
Nothing here imports Paddle.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fpnprof.backends.paddle_import_table import Unsupported, VarShape, f32
from fpnprof.model.graph import Op

#: A value computed from parameters alone: ("param", name, size), ("relu", e), ("softmax", e),
#: ("item", e, i), ("add", e, e), ("plus", e, constant), ("div", e, e), ("sum", e), or ("other", op type).
Expr = tuple[Any, ...]


@dataclass(frozen=True)
class Weights:
    """A variable computed from parameters alone."""

    expr: Expr
    shape: VarShape


@dataclass(frozen=True)
class Const:
    """A constant the program made (an epsilon); None where it is not a scalar."""

    value: float | None


@dataclass(frozen=True)
class Term:
    """A feature map (its op's name and shape) times weight ``index`` of the normalised weights ``norm``."""

    ref: str
    shape: tuple[int, int, int, int]
    norm: Expr
    index: int


@dataclass(frozen=True)
class Terms:
    """A sum of weighed feature maps, not yet known to be a fusion."""

    terms: tuple[Term, ...]


def describe(expr: Expr) -> str:
    """A short text of an expression for a refusal (``relu(fuse.weight)[0]``)."""
    head = expr[0]
    if head == "param":
        return str(expr[1])
    if head in ("relu", "softmax", "sum"):
        return f"{head}({describe(expr[1])})"
    if head == "item":
        return f"{describe(expr[1])}[{expr[2]}]"
    if head in ("add", "div"):
        return f"({describe(expr[1])} {'+' if head == 'add' else '/'} {describe(expr[2])})"
    if head == "plus":
        return f"({describe(expr[1])} + {expr[2]})"
    return f"<{expr[1]}>"


def parameter_op(op_type: str, attrs: Mapping[str, Any], args: list[Weights | Const], out: VarShape) -> Weights:
    """What ``op_type`` computes on parameter-only ``args``, as an expression (``other`` where it is
    none the fusions use: refused only if a feature map then reads it)."""
    exprs = [a.expr if isinstance(a, Weights) else ("const", a.value) for a in args]
    other = Weights(("other", op_type), out)
    if op_type in ("unsqueeze2", "squeeze2", "reshape2", "assign"):
        return Weights(exprs[0], out)
    if op_type == "relu":
        return Weights(("relu", exprs[0]), out)
    if op_type == "softmax":
        return Weights(("softmax", exprs[0]), out) if len(args[0].shape if isinstance(args[0], Weights) else ()) == 1 else other
    if op_type == "slice":
        starts, ends, axes = list(attrs["starts"]), list(attrs["ends"]), list(attrs["axes"])
        if axes == [0] and ends[0] == starts[0] + 1 and starts[0] >= 0:
            return Weights(("item", exprs[0], int(starts[0])), out)
        return other
    if op_type in ("reduce_sum", "sum") and len(args) == 1:
        return Weights(("sum", exprs[0]), out)
    if op_type == "sum":
        total = exprs[0]
        for e in exprs[1:]:
            total = ("add", total, e)
        return Weights(total, out)
    if op_type == "scale":
        scale, bias = f32(attrs.get("scale", 1.0)), f32(attrs.get("bias", 0.0))
        if scale != 1.0:
            return other
        return Weights(("plus", exprs[0], bias) if bias else exprs[0], out)
    if op_type == "elementwise_add":
        consts = [e[1] for e in exprs if e[0] == "const"]
        if len(consts) == 1 and consts[0] is not None:
            kept = next(e for e in exprs if e[0] != "const")
            return Weights(("plus", kept, f32(consts[0])), out)
        return Weights(("add", exprs[0], exprs[1]), out) if not consts else other
    if op_type == "elementwise_div" and all(e[0] != "const" for e in exprs):
        return Weights(("div", exprs[0], exprs[1]), out)
    return other


def _leaves(expr: Expr) -> list[Expr]:
    if expr[0] == "add":
        return _leaves(expr[1]) + _leaves(expr[2])
    return [expr]


def _sums_all(total: Expr, of: Expr, size: int) -> bool:
    """Whether ``total`` is the sum of every element of ``of`` (reduce_sum, or w[0] + w[1] + ...)."""
    if total == ("sum", of):
        return True
    leaves = _leaves(total)
    return sorted(leaf[2] for leaf in leaves if leaf[:2] == ("item", of)) == list(range(size)) and len(leaves) == size


def fusion_of(terms: Terms) -> tuple[Op, str, dict[str, Any], list[str]]:
    """(op, weight parameter, attrs, inputs in weight order) of a complete fusion; Unsupported otherwise."""
    norms = {t.norm for t in terms.terms}
    if len(norms) != 1:
        raise Unsupported("a sum of feature maps weighed by different parameter vectors (not one fusion)")
    norm = norms.pop()
    order = sorted(terms.terms, key=lambda t: t.index)
    if len({t.shape for t in order}) != 1:
        raise Unsupported("a weighted sum of feature maps of different shapes")
    n = len(order)
    attrs: dict[str, Any]
    indices = [t.index for t in order]
    if norm[0] == "softmax" and norm[1][0] == "param":
        param = norm[1]
        op, attrs = Op.SOFTMAX_FUSION, {"arity": n}
    else:
        param, eps = _fast_fusion(norm)
        op, attrs = Op.FUSION, {"arity": n, "eps": eps}
    if param[2] != n or indices != list(range(n)):
        raise Unsupported(f"a weighted sum of {n} feature maps by weights {indices} of {param[1]} ({param[2]} values)")
    return op, str(param[1]), attrs, [t.ref for t in order]


def _fast_fusion(norm: Expr) -> tuple[Expr, float]:
    """The parameter and epsilon of relu(p) / (sum(relu(p)) + eps); Unsupported for anything else."""
    if norm[0] == "div" and norm[1][0] == "relu" and norm[1][1][0] == "param" and norm[2][0] == "plus":
        relu, (_, total, eps) = norm[1], norm[2]
        param = relu[1]
        if _sums_all(total, relu, param[2]):
            return param, float(eps)
    raise Unsupported(
        f"feature maps weighed by {describe(norm)}: computation on parameters that is not a fast normalised "
        "fusion relu(w) / (sum(relu(w)) + eps) or softmax(w)"
    )
