"""BiFPN (Tan et al. 2020), as the seed builds it and as EfficientDet builds it.

``tutorial`` (the seed's), one cell over inputs X3..X7 (the seed calls C2 "P3")::

    block1 (top-down)                         block2 (bottom-up)
    T7 = X7                                                       -> pool -> cat(., T7) -> node -> O7
    T6 = cat(node(cat(up(X7), X6)), X6)   768 wide at 256/512     -> pool -> cat(., T6) -> node -> O6
    T5 = cat(node(cat(up(N6), X5)), X5)                           -> pool -> cat(., T5) -> node -> O5
    T4 = cat(node(cat(up(N5), X4)), X4)                           -> pool -> cat(., T4) -> node -> O4
    T3 = cat(up(N4), X3)                      (identity, no node)  ----------------------> node -> O3

``node`` = the seed's "separable" conv: a full 3x3 conv (no groups, with bias), a 1x1 conv, BN,
Swish. Fusion is by concatenation; ``pool`` is an adaptive max pool to exactly half of the
previous pooled side, counted from the largest map, so every level must be exactly size/2^k.

``paper`` (google/automl efficientdet ``fpn_configs.bifpn_config``), per cell, levels 3..7::

    top-down:  td6 = f(P6, P7)  td5 = f(P5, td6)  td4 = f(P4, td5)  td3 = f(P3, td4) -> out3
    bottom-up: bu4 = f(P4, td4, td3)  bu5 = f(P5, td5, bu4)  bu6 = f(P6, td6, bu5)  bu7 = f(P7, bu6)

``f`` = fast normalised fusion relu(w_i)/(sum relu(w) + 1e-4) with weights initialised to 1,
then Swish, depthwise 3x3 (groups=C, no bias), pointwise 1x1 (bias), BN. An input edge whose
channels differ from C gets its own 1x1 conv + BN; nearest upsample to go up, 3x3/s2 SAME max
pool to go down. P6 = 1x1 conv + BN (if channels differ) + max pool of C5; P7 = max pool of P6.
"""

from __future__ import annotations

from fpnprof.errors import ConfigError
from fpnprof.model.builder import GraphBuilder
from fpnprof.model.config import NeckConfig
from fpnprof.model.necks.common import NeckSpec, at_level, by_variant, seed_extra_inputs

PAPER_BN_EPS = 1e-3  # EfficientDet's batch_norm_epsilon


def _seed_node(b: GraphBuilder, x: str, channels: int) -> str:
    h = b.conv(x, b.channels(x), 3, "node.conv3x3")
    h = b.bn(b.conv(h, channels, 1, "node.conv1x1"), "node.bn")
    return b.swish(h, "node.swish")


def _check_exact_halves(b: GraphBuilder, cfg: NeckConfig, feats: dict[int, str]) -> None:
    levels = sorted(feats)
    side = b.hw(feats[levels[0]])[0]
    sides = [b.hw(feats[lvl])[0] for lvl in levels]
    if sides != [side // 2**k for k in range(len(levels))]:
        raise ConfigError(
            f"the tutorial bifpn pools to exact halves of its largest map, but --size {cfg.size} gives "
            f"sides {sides}; use a size divisible by 2^{len(levels) - 1} (e.g. 64)"
        )


def _seed_cell(b: GraphBuilder, cell: int, x: dict[int, str], channels: int) -> dict[int, str]:
    levels = sorted(x)
    bottom, top = levels[0], levels[-1]
    block1 = {top: x[top]}
    current = x[top]
    for level in reversed(levels[:-1]):
        at_level(b, level, f"neck.cell{cell}.block1.p{level}.")
        cat = b.concat((b.upsample(current, b.hw(x[level]), "upsample"), x[level]), "concat")
        if level == bottom:
            block1[level] = current = cat
        else:
            current = _seed_node(b, cat, channels)
            block1[level] = b.concat((current, x[level]), "skip_concat")
    max_h, max_w = b.hw(block1[bottom])
    at_level(b, bottom, f"neck.cell{cell}.block2.p{bottom}.")
    outputs = {bottom: _seed_node(b, block1[bottom], channels)}
    for k, level in enumerate(levels[1:], start=1):
        at_level(b, level, f"neck.cell{cell}.block2.p{level}.")
        down = b.adaptive_maxpool(outputs[level - 1], (max_h // 2**k, max_w // 2**k), "pool")
        outputs[level] = _seed_node(b, b.concat((down, block1[level]), "concat"), channels)
    return outputs


def _tutorial(b: GraphBuilder, cfg: NeckConfig, features: dict[int, str]) -> dict[int, str]:
    feats = seed_extra_inputs(b, cfg, features)
    _check_exact_halves(b, cfg, feats)
    for cell in range(cfg.cells):
        feats = _seed_cell(b, cell, feats, cfg.channels)
    return feats


def _fuse_node(b: GraphBuilder, prefix: str, level: int, inputs: list[str], target: tuple[int, int], c: int) -> str:
    """One BiFPN node: resample every input edge to ``level``, fuse, then Swish + separable conv + BN."""
    edges = []
    for k, src in enumerate(inputs):
        at_level(b, level, f"{prefix}.edge{k}.")
        x = src
        if b.channels(x) != c:
            x = b.bn(b.conv(x, c, 1, "conv"), "bn", eps=PAPER_BN_EPS)
        src_level = b.graph[src].level
        if src_level > level:
            x = b.upsample(x, target, "upsample")
        elif src_level < level:
            x = b.maxpool(x, 3, 2, "pool", same=True)
        edges.append(x)
    at_level(b, level, f"{prefix}.")
    x = b.swish(b.fusion(tuple(edges), "fuse"), "swish")
    x = b.conv(x, c, 3, "depthwise", groups=c, bias=False)
    return b.bn(b.conv(x, c, 1, "pointwise"), "bn", eps=PAPER_BN_EPS)


def paper_cell_topology(min_level: int, max_level: int) -> list[tuple[str, int, list[tuple[int, int]]]]:
    """EfficientDet's node list for one cell: (name, level, inputs as (level, index in that level's history))."""
    history = {lvl: 1 for lvl in range(min_level, max_level + 1)}  # nodes so far at each level
    nodes = []
    for level in range(max_level - 1, min_level - 1, -1):
        nodes.append((f"td_p{level}", level, [(level, history[level] - 1), (level + 1, history[level + 1] - 1)]))
        history[level] += 1
    for level in range(min_level + 1, max_level + 1):
        same = [(level, i) for i in range(history[level])]
        nodes.append((f"bu_p{level}", level, [*same, (level - 1, history[level - 1] - 1)]))
        history[level] += 1
    return nodes


def _paper_cell(b: GraphBuilder, cell: int, feats: dict[int, str], c: int) -> dict[int, str]:
    levels = sorted(feats)
    history = {lvl: [feats[lvl]] for lvl in levels}
    for name, level, refs in paper_cell_topology(levels[0], levels[-1]):
        inputs = [history[lvl][i] for lvl, i in refs]
        history[level].append(_fuse_node(b, f"neck.cell{cell}.{name}", level, inputs, b.hw(feats[level]), c))
    return {lvl: ids[-1] for lvl, ids in history.items()}


def _paper(b: GraphBuilder, cfg: NeckConfig, features: dict[int, str]) -> dict[int, str]:
    c = cfg.channels
    feats = {lvl: features[lvl] for lvl in range(cfg.min_level, cfg.top_input_level + 1)}
    for level in range(cfg.top_input_level + 1, cfg.max_level + 1):
        at_level(b, level, f"neck.extra.p{level}.")
        src = feats[level - 1]
        if b.channels(src) != c:
            src = b.bn(b.conv(src, c, 1, "conv"), "bn", eps=PAPER_BN_EPS)
        feats[level] = b.maxpool(src, 3, 2, "pool", same=True)
    for cell in range(cfg.cells):
        feats = _paper_cell(b, cell, feats, c)
    return feats


SPEC = NeckSpec(
    "bifpn",
    by_variant(_tutorial, _paper),
    default_levels=5,
    description="BiFPN (Tan et al. 2020): repeated top-down and bottom-up cells with fusion",
    # the paper's form defaults to EfficientDet-D0's neck, as bifpn-paper.toml does
    variant_defaults={"paper": {"channels": 64, "min_level": 3, "levels": 5, "cells": 3}},
)
