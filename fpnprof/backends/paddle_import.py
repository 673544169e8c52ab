"""``fpnprof import`` for Paddle: a neck in code (an ``nn.Layer``) read into a :class:`GraphNeck`, and proven.

:func:`import_paddle_layer` traces the layer (:mod:`~fpnprof.backends.paddle_import_trace`) and maps its
program's ops through the table (:mod:`~fpnprof.backends.paddle_import_map`). :func:`prove` builds the
neck's graph, lowers it with fpnprof's Paddle backend, copies the source's weights across op by op
(:mod:`~fpnprof.backends.paddle_import_weights`), runs both in float64 on the same random inputs and
compares every output (and, where one differs, every op's value, to name the first that does),
and the trainable parameter counts. Paddle has no independent MAC counter: MACs are not compared.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import paddle
from paddle import nn

from fpnprof.backends import paddle_backend
from fpnprof.backends.paddle_import_map import Layout, Mapped, map_trace
from fpnprof.backends.paddle_import_trace import Dtype, flatten, legacy_ir, takes_list, trace
from fpnprof.backends.paddle_import_weights import copy_weights
from fpnprof.cost.analysis import node_rows
from fpnprof.errors import ImportRefused
from fpnprof.model.graph import Graph, Shape
from fpnprof.model.graphneck import GraphNeck, settle_levels
from fpnprof.model.graphneck_build import PREFIX, standalone_graph

__all__ = ["Proof", "copy_weights", "import_and_prove", "import_paddle_layer", "prove"]

#: The proof's bound on every output's relative error, by the dtype it ran in.
TOLERANCE = {"float64": 1e-6, "float32": 1e-5}


def layout(layer: nn.Layer) -> Layout:
    """The layer's leaf sublayers and the parameters that are their layer's only one."""
    layers = [("", layer), *layer.named_sublayers()]
    leaves = frozenset(path for path, sub in layers[1:] if not sub.sublayers())
    sole = set()
    for path, sub in layers:
        own = [name for name, _ in sub.named_parameters(include_sublayers=False)]
        if len(own) == 1:
            sole.add(f"{path}.{own[0]}" if path else own[0])
    return Layout(leaves, frozenset(sole))


def _shapes(in_channels: Mapping[int, int], sides: Mapping[int, tuple[int, int]], batch: int) -> dict[int, Shape]:
    if sorted(in_channels) != sorted(sides):
        raise ImportRefused(f"in-channels for levels {sorted(in_channels)} but sides for {sorted(sides)}")
    return {level: (batch, in_channels[level], *sides[level]) for level in sorted(in_channels)}


def _map(layer: nn.Layer, shapes: Mapping[int, Shape], dtype: Dtype = "float32") -> tuple[Mapped, bool, Any]:
    as_list = takes_list(layer, len(shapes))
    traced = trace(layer, [shapes[level] for level in sorted(shapes)], as_list=as_list, dtype=dtype)
    sides = {level: (s[2], s[3]) for level, s in shapes.items()}
    return map_trace(traced, sides, layout(layer)), as_list, traced


def import_paddle_layer(
    layer: nn.Layer, *, in_channels: dict[int, int], sides: dict[int, tuple[int, int]], batch: int, name: str
) -> GraphNeck:
    """The neck ``layer`` computes, fed one map per level (``in_channels`` wide, ``sides`` high and wide)."""
    mapped, _, _ = _map(layer, _shapes(in_channels, sides, batch))
    return settle_levels(
        GraphNeck(name=name, in_channels=dict(sorted(in_channels.items())), ops=mapped.ops, outputs=mapped.outputs)
    )


@dataclass(frozen=True)
class Proof:
    """What the proof saw: each output level's relative error (max |a - b| / max |source|), the
    trainable parameter counts, fpnprof's MACs, and on failure the first output level and the first
    op (graph order) whose value differs."""

    dtype: str
    tolerance: float
    errors: dict[int, float]
    source_params: int
    fpnprof_params: int
    fpnprof_macs: int
    source_macs: int | None = None
    first_bad_output: int | None = None
    first_bad_node: str | None = None
    node_error: float | None = None

    @property
    def ok(self) -> bool:
        return self.first_bad_output is None and self.source_params == self.fpnprof_params

    def line(self) -> str:
        """One line, worded as the torch import's proof: the numbers compared and, on a difference,
        where values first differ (Paddle has no MAC counter to compare with)."""
        worst = max(self.errors.values(), default=0.0)
        numbers = (
            f"{len(self.errors)} outputs, max relative error {worst:.1e} ({self.dtype}), "
            f"params {self.source_params:,} vs {self.fpnprof_params:,}"
        )
        if self.ok:
            return numbers
        if self.first_bad_output is None:
            return f"{numbers}; the parameter counts differ (a parameter the graph does not hold)"
        at = f", first at op {self.first_bad_node} (relative error {self.node_error:.1e})" if self.first_bad_node else ""
        return f"{numbers}; P{self.first_bad_output} differs first{at}"


@contextlib.contextmanager
def in_dtype(layer: nn.Layer, dtype: Dtype) -> Iterator[None]:
    """``layer`` in eval mode with its parameters in ``dtype`` for the block; its modes and dtype after.
    (A float32 value survives the round trip through float64 exactly.)"""
    modes = {id(sub): sub.training for sub in [layer, *layer.sublayers()]}
    before: Any = next((str(p.dtype).removeprefix("paddle.") for p in layer.parameters()), dtype)
    layer.eval()
    layer.to(dtype=dtype)
    try:
        yield
    finally:
        layer.to(dtype=before)
        for sub in [layer, *layer.sublayers()]:
            sub.training = modes[id(sub)]


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:
        return float("inf")
    scale = max(float(np.abs(b).max(initial=0.0)), 1e-30)
    return float(np.abs(a - b).max(initial=0.0)) / scale


def _inputs(shapes: Mapping[int, Shape], seed: int, dtype: str) -> dict[int, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {level: rng.standard_normal(shapes[level]).astype(dtype) for level in sorted(shapes)}


def _run_source(layer: nn.Layer, arrays: list[np.ndarray], as_list: bool) -> list[np.ndarray]:
    tensors = [paddle.to_tensor(a) for a in arrays]
    with paddle.no_grad():
        out = layer(tensors) if as_list else layer(*tensors)
    return [t.numpy() for t in flatten(out)]


def trainable(layer: nn.Layer) -> int:
    """Trainable parameters (Paddle lists BN's running statistics as parameters that stop gradients)."""
    return sum(int(np.prod(p.shape)) for p in layer.parameters() if not p.stop_gradient)


def prove(
    source: nn.Layer, neck: GraphNeck, input_shapes: Mapping[int, Shape], *, seed: int = 0, dtype: Dtype = "float64"
) -> Proof:
    """Run ``neck`` (lowered by fpnprof's Paddle backend, with ``source``'s weights) beside ``source``."""
    graph = standalone_graph(neck, input_shapes)
    rows = node_rows(graph)
    lowered = paddle_backend.lower(graph)
    copy_weights(source, lowered, neck)
    lowered.to(dtype=dtype)
    arrays = _inputs(input_shapes, seed, dtype)
    as_list = takes_list(source, len(input_shapes))
    with in_dtype(source, dtype):
        theirs = _run_source(source, list(arrays.values()), as_list)
    with paddle.no_grad():
        values = lowered.run([paddle.to_tensor(a) for a in arrays.values()])
    levels = sorted(neck.outputs)
    if len(theirs) != len(levels):
        raise ImportRefused(f"the source returned {len(theirs)} outputs, the import read {len(levels)}")
    # the source's outputs by level: tallest first = lowest level, in its own order where heights tie
    # (PP-YOLOE's CustomCSPPAN returns its top level first)
    ordered = sorted(theirs, key=lambda a: -a.shape[2])
    errors = {level: _relative(values[graph.outputs[level]].numpy(), a) for level, a in zip(levels, ordered, strict=True)}
    tol = TOLERANCE[dtype]
    bad = [level for level in sorted(errors) if not errors[level] < tol]
    proof = Proof(
        dtype=dtype,
        tolerance=tol,
        errors=dict(sorted(errors.items())),
        source_params=trainable(source),
        fpnprof_params=sum(r.totals.params for r in rows),
        fpnprof_macs=sum(r.totals.macs for r in rows),
        first_bad_output=bad[0] if bad else None,
    )
    if not bad:
        return proof
    with in_dtype(source, dtype):
        node, err = _first_bad_node(source, graph, input_shapes, arrays, {k: v.numpy() for k, v in values.items()}, dtype, tol)
    return Proof(**{**proof.__dict__, "first_bad_node": node, "node_error": err})


def _first_bad_node(
    src: nn.Layer,
    graph: Graph,
    shapes: Mapping[int, Shape],
    arrays: Mapping[int, np.ndarray],
    ours: Mapping[str, np.ndarray],
    dtype: Dtype,
    tol: float,
) -> tuple[str | None, float | None]:
    """The first op in graph order whose value differs from the traced program's (run op by op)."""
    mapped, _, traced = _map(src, shapes, dtype)
    theirs = source_values(src, traced, mapped, arrays)
    for node in graph:
        name = node.id.removeprefix(PREFIX)
        if name in theirs:
            err = _relative(ours[node.id], theirs[name])
            if not err < tol:
                return name, err
    return None, None


def source_values(src: nn.Layer, traced: Any, mapped: Mapped, arrays: Mapping[int, np.ndarray]) -> dict[str, np.ndarray]:
    """Every mapped op's value in the source's own traced program (Paddle's executor, the source's weights)."""
    params = dict(src.named_parameters())
    names = list(mapped.variables)
    with legacy_ir():
        paddle.enable_static()
        try:
            static: Any = paddle.static  # Scope is not in its typed exports
            scope = static.Scope()
            place = paddle.CPUPlace()
            for var, name in traced.params.items():
                scope.var(var).get_tensor().set(params[name].numpy(), place)
            with paddle.static.scope_guard(scope):
                feed = dict(zip(traced.inputs, arrays.values(), strict=True))
                fetched = paddle.static.Executor(place).run(
                    traced.program, feed=feed, fetch_list=[mapped.variables[n] for n in names]
                )
        finally:
            paddle.disable_static()
    return {n: np.asarray(v) for n, v in zip(names, fetched, strict=True)}


def import_and_prove(layer: nn.Layer, shapes: Mapping[int, Shape], name: str) -> tuple[GraphNeck, bool, str]:
    """``fpnprof import``'s call: the neck, whether the proof held, and its one line."""
    first = shapes[min(shapes)]
    neck = import_paddle_layer(
        layer,
        in_channels={level: s[1] for level, s in shapes.items()},
        sides={level: (s[2], s[3]) for level, s in shapes.items()},
        batch=first[0],
        name=name,
    )
    proof = prove(layer, neck, shapes)
    return neck, proof.ok, proof.line()
