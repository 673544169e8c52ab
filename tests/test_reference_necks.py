"""Every neck x variant against a reference written without fpnprof's graph code, at 3-6 levels.

The tutorial forms are checked against the seed's modules in Paddle, the paper forms against
detectron2/mmdet/EfficientDet-style modules in torch; sizes are odd wherever the neck allows.
The miswiring tests show that these checks see wiring that shapes, params and MACs cannot.
"""

from __future__ import annotations

import pytest
from reference_check import reference_errors, rewire
from reference_paper_torch import bifpn_config

from fpnprof.model.config import NeckConfig
from fpnprof.model.graph import Graph, Op
from fpnprof.model.necks import build_graph

TOLERANCE = 1e-5


def neck_config(neck: str, variant: str, levels: int, min_level: int = 2, **kw: object) -> NeckConfig:
    # The seed's necks need exact halves where they pool: its BiFPN everywhere, its PAFPN once the
    # neck makes levels of its own (the pooled and the strided-conv sides must then agree).
    exact = variant == "tutorial" and (neck == "bifpn" or (neck == "pafpn" and min_level + levels - 1 > 5))
    size = 96 if exact else 37
    args: dict[object, object] = dict(
        neck=neck,
        variant=variant,
        levels=levels,
        min_level=min_level,
        backbone="none",
        in_channels=(24, 40, 16, 56),
        channels=16,
        cells=2,
        batch=1,
        size=size,
        stem="tutorial",
    )
    args.update(kw)
    return NeckConfig(**args)  # type: ignore[arg-type]


CASES = [
    neck_config(neck, variant, levels)
    for neck in ("fpn", "pafpn", "bifpn")
    for variant in ("tutorial", "paper")
    for levels in (3, 4, 5, 6)
] + [
    neck_config("fpn", "paper", 5, min_level=3, stem="imagenet", size=75),
    neck_config("pafpn", "tutorial", 4, min_level=3, size=29),
    neck_config("bifpn", "paper", 5, min_level=3, stem="imagenet", size=101, cells=3),
    neck_config("bifpn", "tutorial", 5, min_level=3, size=96, cells=1),
]
IDS = [f"{c.neck}-{c.variant}-L{c.levels}m{c.min_level}-s{c.size}" for c in CASES]


@pytest.mark.parametrize("cfg", CASES, ids=IDS)
def test_matches_reference(cfg: NeckConfig) -> None:
    errors = reference_errors(cfg)
    assert len(errors) == cfg.levels
    assert max(errors) < TOLERANCE, errors


# --- The checks above must be able to fail: three miswirings that keep shapes, params and MACs.


def fpn_made_cumulative(graph: Graph) -> int:
    """Tutorial FPN: upsample the level above's merged sum instead of its lateral."""
    changed = 0
    for node in list(graph):
        if node.op is Op.UPSAMPLE and node.id.startswith("neck.fpn."):
            above = graph[node.inputs[0]]
            merged = above.id.replace(".lateral", ".add")
            if merged in graph.nodes:
                rewire(graph, node.id, (merged,))
                changed += 1
    return changed


def pafpn_bottom_up_from_output(graph: Graph) -> int:
    """Tutorial PAFPN: feed the shared bottom-up conv from the 3x3 output instead of the 1x1."""
    changed = 0
    for node in list(graph):
        if node.id.endswith(".bottom_up.conv"):
            rewire(graph, node.id, (node.inputs[0].replace(".inner", ".output"),))
            changed += 1
    return changed


def bifpn_concat_swapped(graph: Graph) -> int:
    """Tutorial BiFPN: swap the order of block1's concatenations."""
    changed = 0
    for node in list(graph):
        if node.op is Op.CONCAT and ".block1." in node.id:
            rewire(graph, node.id, tuple(reversed(node.inputs)))
            changed += 1
    return changed


MISWIRINGS = [
    ("fpn", fpn_made_cumulative),
    ("pafpn", pafpn_bottom_up_from_output),
    ("bifpn", bifpn_concat_swapped),
]


@pytest.mark.parametrize(("neck", "miswire"), MISWIRINGS, ids=[m.__name__ for _, m in MISWIRINGS])
def test_reference_check_catches_miswiring(neck: str, miswire: object) -> None:
    cfg = neck_config(neck, "tutorial", 4)
    graph = build_graph(cfg)
    assert miswire(graph) > 0  # type: ignore[operator]
    assert max(reference_errors(cfg, graph)) > 1e-2


# --- EfficientDet's node list, pinned from google/automl efficientdet/keras fpn_configs.bifpn_config(3, 7).

EFFICIENTDET_P3_P7 = [
    (6, [3, 4]),
    (5, [2, 5]),
    (4, [1, 6]),
    (3, [0, 7]),
    (4, [1, 7, 8]),
    (5, [2, 6, 9]),
    (6, [3, 5, 10]),
    (7, [4, 11]),
]


def test_reference_bifpn_config_is_efficientdets() -> None:
    assert bifpn_config(3, 7) == EFFICIENTDET_P3_P7


def test_graph_bifpn_cell_is_efficientdets_node_list() -> None:
    """Every one of the 8 nodes' inputs, read off the built graph (not the topology helper)."""
    cfg = NeckConfig(neck="bifpn", variant="paper", levels=5, min_level=3, backbone="none", channels=8, cells=2, size=64)
    graph = build_graph(cfg)
    outputs = [graph.features[3], graph.features[4], graph.features[5], "neck.extra.p6.pool", "neck.extra.p7.pool"]
    for cell in range(cfg.cells):
        flat = list(outputs)
        names = [f"td_p{lv}" for lv in (6, 5, 4, 3)] + [f"bu_p{lv}" for lv in (4, 5, 6, 7)]
        for name, (level, offsets) in zip(names, EFFICIENTDET_P3_P7, strict=True):
            fuse = graph[f"neck.cell{cell}.{name}.fuse"]
            assert fuse.level == level
            sources = [_edge_source(graph, e) for e in fuse.inputs]
            assert sources == [flat[o] for o in offsets], name
            flat.append(f"neck.cell{cell}.{name}.bn")
        outputs = [f"neck.cell{cell}.{_last_name(lv)}.bn" for lv in range(3, 8)]


def _last_name(level: int) -> str:
    return "td_p3" if level == 3 else f"bu_p{level}"


def _edge_source(graph: Graph, node_id: str) -> str:
    """Follow an edge's resampling (1x1 conv, BN, upsample, pool) back to the map it reads."""
    node = graph[node_id]
    while ".edge" in node.id:
        node = graph[node.inputs[0]]
    return node.id
