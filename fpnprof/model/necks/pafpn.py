"""Path Aggregation FPN (Liu et al. 2018): an FPN, then a bottom-up path.

``tutorial`` (the seed's)::

    P2 (FPN out) -> 1x1 -> I2 ---------------------------------------> 3x3 -> N2
                           | shared 3x3/s2 conv + BN (one set of weights for every level)
    P3 (FPN out) ----- concat(P3, down(I2)) -> 1x1 (2C->C) -> I3 -----> 3x3 -> N3
                                                              | shared down
    P4 (FPN out) ----- concat(P4, down(I3)) -> 1x1 -> I4 -------------> 3x3 -> N4

The bottom-up conv is applied to each level's 1x1 output, not its 3x3 output.

``paper`` (mmdet PAFPN)::

    P2..P5 = paper FPN outputs (3x3 convs)
    N2 = P2;  N(i+1) = P(i+1) + conv3x3/s2(N(i))   (one conv per level)
    outputs: N2, then conv3x3(N(i)) for every level above the lowest; extra levels = max pool
    k1/s2 of the final top output.
"""

from __future__ import annotations

from fpnprof.model.builder import GraphBuilder
from fpnprof.model.config import NeckConfig
from fpnprof.model.necks.common import NeckSpec, at_level, by_variant, maxpool_extra_outputs, seed_extra_inputs
from fpnprof.model.necks.fpn import top_down


def _tutorial(b: GraphBuilder, cfg: NeckConfig, features: dict[int, str]) -> dict[int, str]:
    c = cfg.channels
    fpn_out = top_down(b, c, seed_extra_inputs(b, cfg, features), cumulative=False)
    levels = sorted(fpn_out)
    outputs: dict[int, str] = {}
    shared_conv = shared_bn = None
    inner = ""
    for level in levels:
        at_level(b, level, f"neck.pan.n{level}.")
        if level == levels[0]:
            inner = b.conv(fpn_out[level], c, 1, "inner")
        else:
            down = b.conv(inner, c, 3, "bottom_up.conv", stride=2, shares=shared_conv)
            shared_conv = shared_conv or down
            down_bn = b.bn(down, "bottom_up.bn", shares=shared_bn)
            shared_bn = shared_bn or down_bn
            cat = b.concat((fpn_out[level], down_bn), "concat")
            inner = b.conv(cat, c, 1, "inner")
        outputs[level] = b.conv(inner, c, 3, "output")
    return outputs


def _paper(b: GraphBuilder, cfg: NeckConfig, features: dict[int, str]) -> dict[int, str]:
    c = cfg.channels
    feats = {lvl: features[lvl] for lvl in range(cfg.min_level, cfg.top_input_level + 1)}
    fpn_out = top_down(b, c, feats, cumulative=True)
    levels = sorted(fpn_out)
    outputs = {levels[0]: fpn_out[levels[0]]}
    n_prev = fpn_out[levels[0]]
    for level in levels[1:]:
        at_level(b, level, f"neck.pan.n{level}.")
        down = b.conv(n_prev, c, 3, "downsample", stride=2)
        n_prev = b.sum((fpn_out[level], down), "add")
        outputs[level] = b.conv(n_prev, c, 3, "output")
    maxpool_extra_outputs(b, cfg, outputs, cfg.top_input_level)
    return outputs


SPEC = NeckSpec(
    "pafpn",
    by_variant(_tutorial, _paper),
    default_levels=4,
    description="Path Aggregation FPN (Liu et al. 2018): an FPN, then a bottom-up path",
    repeats=False,
)
