"""Build a :class:`~fpnprof.model.graphneck.GraphNeck` (a neck as a flat list of ops) into a graph.

Over a backbone (``build_graph_neck``, what every command does with an imported neck file) or over
bare level inputs (``standalone_graph``, what the import's proof runs). A resize written
``size = "level"`` takes the side its level has in this build, so an imported neck builds at any
``--size``; every other attribute is the module's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fpnprof.errors import ConfigError, GraphError
from fpnprof.model.builder import GraphBuilder
from fpnprof.model.config import NeckConfig
from fpnprof.model.graph import Graph, Part, Shape
from fpnprof.model.graphneck import RESIZE_OPS, GraphNeck, GraphOp, input_level

#: Node ids of an imported neck's ops start with this (``neck.lateral_convs.0.conv``).
PREFIX = "neck."


def _attrs(op: GraphOp, sides: Mapping[int, tuple[int, int]], x_shape: Shape) -> dict[str, Any]:
    """The op's attributes for this build: a resize's ``size`` resolved; lists as tuples."""
    attrs: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in op.attrs.items()}
    if op.op in RESIZE_OPS:
        scale = attrs.pop("scale", None)
        if attrs.get("size") == "level":
            if op.level not in sides:
                raise GraphError(f"{op.name}: resizes to level {op.level}, which no earlier op makes")
            attrs["size"] = sides[op.level]
        elif scale is not None and "size" not in attrs:
            factor = float(scale)
            attrs["size"] = (int(x_shape[2] * factor), int(x_shape[3] * factor))
    return attrs


def add_ops(b: GraphBuilder, neck: GraphNeck, features: Mapping[int, str]) -> dict[int, str]:
    """Add the neck's ops to ``b`` reading ``features`` (level -> node id); return outputs by level."""
    ids: dict[str, str] = {}
    sides = {level: b.hw(node) for level, node in features.items()}
    for op in neck.ops:
        inputs = []
        for ref in op.inputs:
            level = input_level(ref)
            if level is not None:
                if level not in features:
                    raise GraphError(f"{op.name}: reads C{level}, which this build does not feed the neck")
                inputs.append(features[level])
            else:
                inputs.append(ids[ref])
        b.level, b.prefix = op.level, PREFIX
        attrs = _attrs(op, sides, b.shape(inputs[0]) if inputs else (0, 0, 0, 0))
        shares = PREFIX + op.shares if op.shares else None
        ids[op.name] = b.add(op.op, tuple(inputs), op.name, shares=shares, **attrs)
        sides.setdefault(op.level, b.hw(ids[op.name]))
    outputs = {}
    for level, ref in neck.outputs.items():
        read = input_level(ref)
        outputs[level] = features[read] if read is not None else ids[ref]
    return outputs


def check_channels(neck: GraphNeck, channels: Mapping[int, int]) -> None:
    """Refuse features whose widths are not the ones the neck was imported for."""
    wrong = {lvl: c for lvl, c in channels.items() if lvl in neck.in_channels and neck.in_channels[lvl] != c}
    if not wrong:
        return
    levels = sorted(neck.in_channels)
    want = ",".join(str(neck.in_channels[lvl]) for lvl in levels)
    got = ",".join(str(channels.get(lvl, "?")) for lvl in levels)
    widths = ",".join(str(neck.in_channels.get(lvl, 64)) for lvl in range(2, levels[-1] + 1))
    raise ConfigError(
        f"{neck.name} takes C{levels[0]}..C{levels[-1]} of {want} channels, these features have {got}: its widths are "
        f"its module's; give --backbone none --in-channels {widths} (C2 first), or import it again for these"
    )


def build_graph_neck(neck: GraphNeck, b: GraphBuilder, cfg: NeckConfig, features: dict[int, str]) -> dict[int, str]:
    """A :data:`~fpnprof.model.necks.common.NeckBuilder` for an imported neck."""
    missing = [lvl for lvl in neck.in_channels if lvl not in features]
    if missing:
        raise ConfigError(f"{neck.name} reads C{missing[0]}, which --min-level {cfg.min_level} and --levels do not feed it")
    check_channels(neck, {lvl: b.channels(node) for lvl, node in features.items()})
    return add_ops(b, neck, features)


def standalone_graph(neck: GraphNeck, input_shapes: Mapping[int, Shape]) -> Graph:
    """The neck over bare inputs C<level> of ``input_shapes`` (level -> NCHW), outputs set, validated."""
    b = GraphBuilder()
    b.part = Part.INPUT
    features = {}
    for level in sorted(input_shapes):
        b.level = level
        features[level] = b.input(f"C{level}", input_shapes[level])
    check_channels(neck, {lvl: s[1] for lvl, s in input_shapes.items()})
    b.part = Part.NECK
    outputs = add_ops(b, neck, features)
    graph = b.graph
    graph.features = dict(features)
    graph.outputs = dict(sorted(outputs.items()))
    graph.validate()
    return graph
