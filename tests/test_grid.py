"""Every neck x variant x levels x stem at small sizes, two widths: analytic == Paddle == torch == fvcore."""

from __future__ import annotations

import itertools

import pytest
from frameworks import Built, build, check_paddle, check_torch_counts, paddle_torch_errors

from fpnprof.cost.results import Totals
from fpnprof.model.config import NeckConfig

SIZES = {"tutorial": 32, "imagenet": 128}
CONFIGS = [
    NeckConfig(
        neck=neck,
        variant=variant,
        levels=levels,
        min_level=min_level,
        stem=stem,
        size=SIZES[stem],
        channels=channels,
        batch=1,
        cells=2,
    )
    for neck, variant, (levels, min_level), stem, channels in itertools.product(
        ("fpn", "pafpn", "bifpn"), ("tutorial", "paper"), ((3, 2), (5, 2), (4, 3)), ("tutorial", "imagenet"), (8, 24)
    )
]
# The default suite keeps the tutorial stem at width 8 (18 configs); the rest runs with -m slow.
GRID = [
    pytest.param(
        c,
        id=f"{c.neck}-{c.variant}-L{c.levels}m{c.min_level}-{c.stem}-C{c.channels}",
        marks=[] if (c.stem, c.channels) == ("tutorial", 8) else [pytest.mark.slow],
    )
    for c in CONFIGS
]


@pytest.fixture(params=GRID)
def built(request: pytest.FixtureRequest) -> Built:
    return build(request.param)


def test_one_level_row_per_output(built: Built) -> None:
    # (that the level rows add up is checked against torch's parameters in test_properties.py)
    p = built.profile
    assert [r.level for r in p.levels] == list(range(built.cfg.min_level, built.cfg.max_level + 1))
    assert all(r.output_shape[1] == built.cfg.channels for r in p.levels)


def test_paddle_matches_analytic(built: Built) -> None:
    check_paddle(built)


def test_torch_and_fvcore_match_analytic(built: Built) -> None:
    check_torch_counts(built)


def test_paddle_and_torch_outputs_agree(built: Built) -> None:
    errors = paddle_torch_errors(built)
    assert len(errors) == built.cfg.levels
    assert max(errors) < 1e-4


def test_backbone_none_neck_alone() -> None:
    cfg = NeckConfig(
        neck="bifpn",
        variant="paper",
        backbone="none",
        in_channels=(256, 512, 1024, 2048),
        min_level=3,
        levels=5,
        channels=16,
        cells=1,
        batch=1,
        size=64,
        stem="imagenet",
    )
    b = build(cfg)
    assert b.profile.backbone_total == Totals()
    assert [n.attrs["shape"] for n in b.graph.inputs] == [(1, 512, 8, 8), (1, 1024, 4, 4), (1, 2048, 2, 2)]
    check_paddle(b)
    check_torch_counts(b)
    assert max(paddle_torch_errors(b)) < 1e-4
