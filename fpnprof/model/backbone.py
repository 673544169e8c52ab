"""ResNet18 as a graph, with the seed's stem or the ImageNet stem, or bare inputs.

``tutorial`` stem (the seed's): 3x3/s1 conv, BN, ReLU, no max pool, and bias on the 1x1
downsample convs, so a 64x64 image gives C2 at 64x64. ``imagenet`` stem (paddle.vision's
resnet18 trunk): 7x7/s2 conv, BN, ReLU, 3x3/s2 max pool, no conv biases.
"""

from __future__ import annotations

from fpnprof.model.builder import GraphBuilder
from fpnprof.model.config import RESNET18_CHANNELS, NeckConfig
from fpnprof.model.graph import Part

BLOCKS_PER_STAGE = 2


def _basic_block(b: GraphBuilder, x: str, out_channels: int, stride: int, name: str, downsample_bias: bool) -> str:
    h = b.conv(x, out_channels, 3, f"{name}.conv1", stride=stride, bias=False)
    h = b.relu(b.bn(h, f"{name}.bn1"), f"{name}.relu1")
    h = b.bn(b.conv(h, out_channels, 3, f"{name}.conv2", bias=False), f"{name}.bn2")
    identity = x
    if stride != 1 or b.channels(x) != out_channels:
        identity = b.conv(x, out_channels, 1, f"{name}.downsample.conv", stride=stride, bias=downsample_bias)
        identity = b.bn(identity, f"{name}.downsample.bn")
    return b.relu(b.sum((h, identity), f"{name}.add"), f"{name}.relu2")


def spatial_sizes(cfg: NeckConfig, top_level: int) -> dict[int, int]:
    """Side length of C2..C<top_level> for the configured stem (3x3/s2/p1 halves round up)."""
    return level_sides(cfg.size, cfg.stem, top_level)


def level_sides(size: int, stem: str, top_level: int) -> dict[int, int]:
    """Side length of C2..C<top_level> of a ``size`` image through ``stem`` (what ``shapes`` prints)."""
    side = size if stem == "tutorial" else ceil_half(ceil_half(size))
    sizes = {}
    for level in range(2, top_level + 1):
        sizes[level] = side
        side = ceil_half(side)
    return sizes


def ceil_half(side: int) -> int:
    """Output side of a stride-2 conv or pool with 'half' padding: ceil(side / 2)."""
    return -(-side // 2)


def build_backbone(b: GraphBuilder, cfg: NeckConfig) -> dict[int, str]:
    """Add the backbone to ``b``; return node ids of the features C2.. (all stages)."""
    if cfg.backbone == "none":
        return _bare_inputs(b, cfg)
    b.part, b.prefix = Part.INPUT, ""
    b.level = 0
    x = b.input("image", (cfg.batch, 3, cfg.size, cfg.size))
    b.part, b.prefix = Part.BACKBONE, "backbone."
    tutorial = cfg.stem == "tutorial"
    b.level = 2 if tutorial else 1
    kernel, stride = (3, 1) if tutorial else (7, 2)
    x = b.conv(x, 64, kernel, "stem.conv", stride=stride, bias=False)
    x = b.relu(b.bn(x, "stem.bn"), "stem.relu")
    if not tutorial:
        b.level = 2
        x = b.maxpool(x, 3, 2, "stem.maxpool", padding=1)
    features = {}
    for stage, width in enumerate(RESNET18_CHANNELS):
        b.level = stage + 2
        for block in range(BLOCKS_PER_STAGE):
            stride = 2 if stage > 0 and block == 0 else 1
            x = _basic_block(b, x, width, stride, f"layer{stage + 1}.{block}", downsample_bias=tutorial)
        features[stage + 2] = x
    return features


def _bare_inputs(b: GraphBuilder, cfg: NeckConfig) -> dict[int, str]:
    b.part, b.prefix = Part.INPUT, ""
    sizes = spatial_sizes(cfg, cfg.top_input_level)
    features = {}
    for level in range(cfg.min_level, cfg.top_input_level + 1):
        b.level = level
        side = sizes[level]
        features[level] = b.input(f"C{level}", (cfg.batch, cfg.in_channels[level - 2], side, side))
    return features
