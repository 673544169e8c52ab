"""Feature Pyramid Network (Lin et al. 2017).

``tutorial`` (the seed's)::

    C5 -> 1x1 lateral L5 ----------------------------> 3x3 -> P5
              |  upsample (nearest)
    C4 -> 1x1 lateral L4 -- + ----------------------> 3x3 -> P4
              |  upsample L4 (the lateral, not the sum: not cumulative)
    C3 -> 1x1 lateral L3 -- + ----------------------> 3x3 -> P3

Each level adds the upsampled 1x1 lateral of the level above, not that level's merged sum.
Extra levels: the seed's C_to_P inputs (adaptive max pool of the top input).

``paper`` (detectron2, torchvision, mmdet)::

    C5 -> 1x1 -> M5 ---------------------> 3x3 -> P5 -> maxpool k1/s2 -> P6 ...
                 | upsample
    C4 -> 1x1 -> + -> M4 ----------------> 3x3 -> P4
                      | upsample M4 (cumulative)
    C3 -> 1x1 -> ------ + -> M3 ---------> 3x3 -> P3

No norm, no activation; every conv has a bias.
"""

from __future__ import annotations

from fpnprof.model.builder import GraphBuilder
from fpnprof.model.config import NeckConfig
from fpnprof.model.necks.common import NeckSpec, at_level, maxpool_extra_outputs, seed_extra_inputs


def top_down(b: GraphBuilder, channels: int, feats: dict[int, str], cumulative: bool) -> dict[int, str]:
    """Laterals, top-down merge and 3x3 output convs over ``feats``; returns the P outputs."""
    levels = sorted(feats)
    laterals: dict[int, str] = {}
    merged: dict[int, str] = {}
    outputs: dict[int, str] = {}
    for level in reversed(levels):
        at_level(b, level, f"neck.fpn.p{level}.")
        laterals[level] = b.conv(feats[level], channels, 1, "lateral")
        merged[level] = laterals[level]
        if level != levels[-1]:
            above = merged[level + 1] if cumulative else laterals[level + 1]
            up = b.upsample(above, b.hw(laterals[level]), "upsample")
            merged[level] = b.sum((up, laterals[level]), "add")
        outputs[level] = b.conv(merged[level], channels, 3, "output")
    return dict(sorted(outputs.items()))


def build(b: GraphBuilder, cfg: NeckConfig, features: dict[int, str]) -> dict[int, str]:
    if cfg.variant == "tutorial":
        return top_down(b, cfg.channels, seed_extra_inputs(b, cfg, features), cumulative=False)
    feats = {lvl: features[lvl] for lvl in range(cfg.min_level, cfg.top_input_level + 1)}
    outputs = top_down(b, cfg.channels, feats, cumulative=True)
    maxpool_extra_outputs(b, cfg, outputs, cfg.top_input_level)
    return outputs


SPEC = NeckSpec(
    "fpn",
    build,
    default_levels=4,
    description="Feature Pyramid Network (Lin et al. 2017): lateral 1x1s, a top-down path, 3x3 outputs",
    repeats=False,
)
