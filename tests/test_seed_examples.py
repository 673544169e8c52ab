"""The seed tutorial's five examples: golden shapes from its printed output, and params/MACs equal to
an independent count written from the seed's code (tests/seed_reference.py)."""

from __future__ import annotations

import pytest
import seed_reference as ref

from fpnprof.cost.analysis import profile_graph
from fpnprof.cost.results import Profile
from fpnprof.model.config import NeckConfig
from fpnprof.model.necks import build_graph

SEED_SIDES = [64, 32, 16, 8]
SEED_IN = [64, 128, 256, 512]

# What the seed prints for its three BiFPN examples, per cell: block1 outputs (top level first).
SEED_BIFPN_BLOCK1 = {
    (5, 3): [[(512, 4), (768, 8), (512, 16), (384, 32), (320, 64)]] + [[(256, 4), (512, 8), (512, 16), (512, 32), (512, 64)]] * 2,
    (4, 5): [[(512, 8), (512, 16), (384, 32), (320, 64)]] + [[(256, 8), (512, 16), (512, 32), (512, 64)]] * 4,
    (6, 5): [[(512, 2), (768, 4), (768, 8), (512, 16), (384, 32), (320, 64)]]
    + [[(256, 2), (512, 4), (512, 8), (512, 16), (512, 32), (512, 64)]] * 4,
}


def _seed(neck: str, levels: int, cells: int = 3) -> tuple[NeckConfig, dict[str, tuple[int, ...]], Profile]:
    cfg = NeckConfig(neck=neck, levels=levels, cells=cells)
    graph = build_graph(cfg)
    p = profile_graph(cfg, graph)
    return cfg, {n.id: n.shape for n in p.nodes}, p


def test_backbone_shapes_and_params() -> None:
    _, shapes, p = _seed("fpn", 4)
    assert [shapes[f"backbone.layer{i}.1.relu2"] for i in range(1, 5)] == [
        (2, 64, 64, 64),
        (2, 128, 32, 32),
        (2, 256, 16, 16),
        (2, 512, 8, 8),
    ]
    # torchvision's resnet18 has 11,689,512 params; minus fc (513,000), minus the 7x7 stem conv
    # (9,408), plus the seed's 3x3 stem conv (1,728) and its three 1x1 downsample biases (896).
    assert p.backbone_total.params == 11_689_512 - 513_000 - 9_408 + 1_728 + 896 == 11_169_728
    reference = ref.resnet18_tutorial()
    assert (p.backbone_total.params, p.backbone_total.macs) == (reference.params, reference.macs)


def test_fpn_example() -> None:
    _, _, p = _seed("fpn", 4)
    # the seed prints [2,256,8,8] [2,256,16,16] [2,256,32,32] [2,256,64,64]
    assert [r.output_shape for r in reversed(p.levels)] == [(2, 256, s, s) for s in (8, 16, 32, 64)]
    reference = ref.fpn(SEED_IN, SEED_SIDES)
    assert (p.neck_total.params, p.neck_total.macs) == (reference.params, reference.macs) == (2_607_104, 6_671_695_872)


def test_pafpn_example() -> None:
    _, shapes, p = _seed("pafpn", 4)
    # the seed prints its FPN's outputs top-down, then N2..N5 bottom-up, all 256 wide
    assert [shapes[f"neck.fpn.p{lvl}.output"] for lvl in (5, 4, 3, 2)] == [(2, 256, s, s) for s in (8, 16, 32, 64)]
    assert [r.output_shape for r in p.levels] == [(2, 256, s, s) for s in (64, 32, 16, 8)]
    reference = ref.pafpn(SEED_IN, SEED_SIDES)
    assert (p.neck_total.params, p.neck_total.macs) == (reference.params, reference.macs)
    assert p.neck_total.buffers == 2 * 256  # one BN, shared by every level


@pytest.mark.parametrize(("levels", "cells"), [(5, 3), (4, 5), (6, 5)])
def test_bifpn_examples(levels: int, cells: int) -> None:
    cfg, shapes, p = _seed("bifpn", levels, cells)
    lo, hi = cfg.min_level, cfg.max_level
    for cell, printed in enumerate(SEED_BIFPN_BLOCK1[(levels, cells)]):
        got = []
        for lvl in range(hi, lo - 1, -1):
            if lvl == hi:
                node = f"neck.cell{cell - 1}.block2.p{hi}.node.swish" if cell else None
                shape = shapes[node] if node else shapes[f"neck.extra.c_to_p{hi}" if hi > 5 else "backbone.layer4.1.relu2"]
            elif lvl == lo:
                shape = shapes[f"neck.cell{cell}.block1.p{lvl}.concat"]
            else:
                shape = shapes[f"neck.cell{cell}.block1.p{lvl}.skip_concat"]
            got.append((shape[1], shape[2]))
        assert got == printed, f"cell {cell}"
        # block2 prints 256-wide maps bottom-up: 64, 32, ... down to the top side
        sides = [64 // 2**k for k in range(levels)]
        assert [shapes[f"neck.cell{cell}.block2.p{lvl}.node.swish"] for lvl in range(lo, hi + 1)] == [
            (2, 256, s, s) for s in sides
        ]
    sides = [64 // 2**k for k in range(levels)]
    in_channels = (SEED_IN + [512] * levels)[:levels]
    reference, widths = ref.bifpn(in_channels, sides, cells)
    assert [[w for w, _ in cell] for cell in SEED_BIFPN_BLOCK1[(levels, cells)]] == widths
    assert (p.neck_total.params, p.neck_total.macs) == (reference.params, reference.macs)
    # the seed's inner widths (e.g. 768) show up as concat nodes in the per-node detail
    assert any(n.op == "concat" and n.shape[1] == 768 for n in p.nodes)
