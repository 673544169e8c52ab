"""The parts of the model one can time or draw on their own: the neck, the backbone, or the whole."""

from __future__ import annotations

import functools
from dataclasses import replace

from fpnprof.model.config import RESNET18_CHANNELS, NeckConfig
from fpnprof.model.graph import Graph, Op, Part

PARTS = ("neck", "backbone", "total")


@functools.lru_cache(maxsize=32)
def part_graph(cfg: NeckConfig, part: str) -> Graph:
    """The graph to time for one part: the whole model, the backbone alone, or the neck alone
    (fed with features of the backbone's shapes). Built once per process and configuration: callers
    read it, never change it."""
    from fpnprof.model.necks import build_graph

    if part == "neck" and cfg.backbone == "resnet18":
        return build_graph(replace(cfg, backbone="none", in_channels=RESNET18_CHANNELS))
    graph = build_graph(cfg)
    if part != "backbone":
        return graph
    trunk = Graph()
    for node in graph:
        if node.part in (Part.INPUT, Part.BACKBONE):
            trunk.add(node)
    last = [n.id for n in trunk if n.op is not Op.INPUT][-1]
    trunk.outputs = {5: last}
    return trunk
