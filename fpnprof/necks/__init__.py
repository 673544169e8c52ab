"""Neck builders: ``NECKS`` maps a name to a builder; :func:`build_graph` makes the whole model."""

from __future__ import annotations

import difflib

from fpnprof.backbone import build_backbone
from fpnprof.builder import GraphBuilder
from fpnprof.config import NeckConfig
from fpnprof.errors import ConfigError, GraphError
from fpnprof.graph import Graph, Part
from fpnprof.necks import bifpn, fpn, pafpn
from fpnprof.necks.common import NeckBuilder, require_side

NECKS: dict[str, NeckBuilder] = {"fpn": fpn.build, "pafpn": pafpn.build, "bifpn": bifpn.build}


def check_neck_name(name: str) -> str:
    """Return ``name`` if it is a known neck; otherwise raise with the closest suggestion."""
    if name in NECKS:
        return name
    close = difflib.get_close_matches(name.lower(), list(NECKS), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ConfigError(f"unknown neck {name!r}{hint} (known: {', '.join(NECKS)})")


def build_graph(cfg: NeckConfig) -> Graph:
    """Backbone plus neck as one validated graph, with its features and outputs named by level."""
    builder = GraphBuilder()
    features = build_backbone(builder, cfg)
    for level in range(cfg.min_level, cfg.top_input_level + 1):
        require_side(cfg, level, builder.hw(features[level])[0])
    builder.part = Part.NECK
    try:
        outputs = NECKS[check_neck_name(cfg.neck)](builder, cfg, features)
    except GraphError as exc:
        raise ConfigError(
            f"{cfg.neck} ({cfg.variant}) cannot take --size {cfg.size} with --levels {cfg.levels} and the {cfg.stem} stem: {exc}"
        ) from None
    graph = builder.graph
    graph.features = {lvl: features[lvl] for lvl in range(cfg.min_level, cfg.top_input_level + 1)}
    graph.outputs = dict(sorted(outputs.items()))
    graph.validate()
    expected = list(range(cfg.min_level, cfg.max_level + 1))
    if list(graph.outputs) != expected:
        raise ConfigError(f"{cfg.neck} built levels {list(graph.outputs)}, expected {expected}")
    return graph
