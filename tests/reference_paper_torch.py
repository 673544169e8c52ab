"""The papers' necks as plain torch modules, written from the reference implementations' structure
(detectron2/mmdet FPN, mmdet PAFPN, google/automl EfficientDet BiFPN), not from fpnprof.

- FPN: 1x1 lateral and 3x3 output convs (with bias, no norm); the top-down path adds the upsampled
  *merged* map of the level above (cumulative); extra levels are max pool k1/s2 of the output below.
- PAFPN (mmdet): that FPN's outputs, then ``inter[i+1] += conv3x3/s2(inter[i])`` bottom-up (one conv
  per level), output convs on every level above the lowest; extras as in FPN.
- BiFPN (EfficientDet): per cell, the node list of ``fpn_configs.bifpn_config`` as offsets into a
  flat list of feature maps; every input edge is resampled on its own (1x1 conv + BN when its
  channels differ, nearest upsample up, 3x3/s2 SAME max pool down), fused by fast normalised fusion,
  then Swish, depthwise 3x3 (no bias), pointwise 1x1 (bias), BN (eps 1e-3). Extra levels: the top
  input resampled to C channels and max pooled (SAME), then pooled again.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

EFFDET_BN_EPS = 1e-3
FUSION_EPS = 1e-4


def key(node_id: str) -> str:
    return node_id.replace(".", "__")


class Keyed(nn.Module):
    """A module whose weighted submodules are registered in one dict under explicit keys."""

    def __init__(self) -> None:
        super().__init__()
        self.nodes = nn.ModuleDict()

    def own(self, node_id: str, module: nn.Module) -> nn.Module:
        self.nodes[key(node_id)] = module
        return module


def same_max_pool(x: torch.Tensor) -> torch.Tensor:
    """TensorFlow's max_pool2d(kernel 3, stride 2, padding='SAME'): out = ceil(in / 2), -inf padding
    split with the extra row/column at the bottom/right."""
    pads = []
    for size in (x.shape[3], x.shape[2]):  # F.pad takes the last dimension first
        total = max((math.ceil(size / 2) - 1) * 2 + 3 - size, 0)
        pads += [total // 2, total - total // 2]
    return F.max_pool2d(F.pad(x, pads, value=float("-inf")), 3, 2)


def extra_by_pooling(outs: list[torch.Tensor], levels: int) -> list[torch.Tensor]:
    while len(outs) < levels:
        outs.append(F.max_pool2d(outs[-1], 1, stride=2))
    return outs


class PaperFPN(Keyed):
    def __init__(self, levels: list[int], in_channels: list[int], c: int) -> None:
        super().__init__()
        self.levels = levels
        used = levels[: len(in_channels)]
        self.lateral = nn.ModuleList(
            [self.own(f"neck.fpn.p{lv}.lateral", nn.Conv2d(ci, c, 1)) for lv, ci in zip(used, in_channels, strict=True)]
        )
        self.fpn_out = nn.ModuleList([self.own(f"neck.fpn.p{lv}.output", nn.Conv2d(c, c, 3, padding=1)) for lv in used])

    def merged(self, x: list[torch.Tensor]) -> list[torch.Tensor]:
        laterals = [conv(f) for conv, f in zip(self.lateral, x, strict=True)]
        for i in range(len(laterals) - 1, 0, -1):
            laterals[i - 1] = laterals[i - 1] + F.interpolate(laterals[i], size=laterals[i - 1].shape[2:], mode="nearest")
        return [conv(m) for conv, m in zip(self.fpn_out, laterals, strict=True)]

    def forward(self, x: list[torch.Tensor]) -> list[torch.Tensor]:
        return extra_by_pooling(self.merged(x), len(self.levels))


class PaperPAFPN(PaperFPN):
    def __init__(self, levels: list[int], in_channels: list[int], c: int) -> None:
        super().__init__(levels, in_channels, c)
        used = levels[: len(in_channels)]
        self.downsample = nn.ModuleList([self.own(f"neck.pan.n{lv}.downsample", nn.Conv2d(c, c, 3, 2, 1)) for lv in used[1:]])
        self.pafpn_out = nn.ModuleList([self.own(f"neck.pan.n{lv}.output", nn.Conv2d(c, c, 3, padding=1)) for lv in used[1:]])

    def forward(self, x: list[torch.Tensor]) -> list[torch.Tensor]:
        inter = self.merged(x)
        for i in range(len(inter) - 1):
            inter[i + 1] = inter[i + 1] + self.downsample[i](inter[i])
        outs = [inter[0]] + [conv(t) for conv, t in zip(self.pafpn_out, inter[1:], strict=True)]
        return extra_by_pooling(outs, len(self.levels))


def bifpn_config(min_level: int, max_level: int) -> list[tuple[int, list[int]]]:
    """EfficientDet's node list: (feature level, offsets into [P_min..P_max, node0, node1, ...])."""
    ids = {lv: [lv - min_level] for lv in range(min_level, max_level + 1)}
    count = max_level - min_level + 1
    nodes = []
    for lv in range(max_level - 1, min_level - 1, -1):  # top-down
        nodes.append((lv, [ids[lv][-1], ids[lv + 1][-1]]))
        ids[lv].append(count)
        count += 1
    for lv in range(min_level + 1, max_level + 1):  # bottom-up
        nodes.append((lv, [*ids[lv], ids[lv - 1][-1]]))
        ids[lv].append(count)
        count += 1
    return nodes


class Resample(nn.Module):
    """automl's ResampleFeatureMap: 1x1 conv + BN if channels differ, then pool or upsample."""

    def __init__(self, owner: Keyed, prefix: str, cin: int, c: int) -> None:
        super().__init__()
        self.project = cin != c
        if self.project:
            self.conv = owner.own(f"{prefix}.conv", nn.Conv2d(cin, c, 1))
            self.bn = owner.own(f"{prefix}.bn", nn.BatchNorm2d(c, eps=EFFDET_BN_EPS))

    def forward(self, x: torch.Tensor, target: tuple[int, int], direction: int) -> torch.Tensor:
        if self.project:
            x = self.bn(self.conv(x))
        if direction > 0:  # coming from a finer level
            return same_max_pool(x)
        if direction < 0:
            return F.interpolate(x, size=target, mode="nearest")
        return x


class FNode(nn.Module):
    def __init__(self, owner: Keyed, prefix: str, in_channels: list[int], c: int) -> None:
        super().__init__()
        self.resample = nn.ModuleList([Resample(owner, f"{prefix}.edge{k}", ci, c) for k, ci in enumerate(in_channels)])
        self.fusion = owner.own(f"{prefix}.fuse", FastFusion(len(in_channels)))
        self.depthwise = owner.own(f"{prefix}.depthwise", nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False))
        self.pointwise = owner.own(f"{prefix}.pointwise", nn.Conv2d(c, c, 1))
        self.bn = owner.own(f"{prefix}.bn", nn.BatchNorm2d(c, eps=EFFDET_BN_EPS))

    def forward(self, xs: list[torch.Tensor], directions: list[int], target: tuple[int, int]) -> torch.Tensor:
        fused = self.fusion([r(x, target, d) for r, x, d in zip(self.resample, xs, directions, strict=True)])
        out: torch.Tensor = self.bn(self.pointwise(self.depthwise(fused * torch.sigmoid(fused))))
        return out


class FastFusion(nn.Module):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        w = F.relu(self.weight)
        return sum(w[i] * x for i, x in enumerate(xs)) / (w.sum() + FUSION_EPS)


class EfficientDetBiFPN(Keyed):
    def __init__(self, levels: list[int], in_channels: list[int], c: int, cells: int) -> None:
        super().__init__()
        self.min_level, self.max_level = levels[0], levels[-1]
        n_in = len(in_channels)
        self.extra = nn.ModuleList()
        cin = in_channels[-1]
        for lv in levels[n_in:]:
            self.extra.append(Resample(self, f"neck.extra.p{lv}", cin, c))
            cin = c
        self.config = bifpn_config(self.min_level, self.max_level)
        self.cells = nn.ModuleList()
        for cell in range(cells):
            widths = (list(in_channels) + [c] * (len(levels) - n_in)) if cell == 0 else [c] * len(levels)
            nodes = nn.ModuleList()
            n_top_down = self.max_level - self.min_level
            for j, (lv, offsets) in enumerate(self.config):
                name = f"td_p{lv}" if j < n_top_down else f"bu_p{lv}"
                nodes.append(FNode(self, f"neck.cell{cell}.{name}", [widths[o] if o < len(widths) else c for o in offsets], c))
            self.cells.append(nodes)

    def forward(self, x: list[torch.Tensor]) -> list[torch.Tensor]:
        feats = list(x)
        for resample in self.extra:
            feats.append(resample(feats[-1], (0, 0), 1))
        levels = list(range(self.min_level, self.max_level + 1))
        for nodes in self.cells:
            assert isinstance(nodes, nn.ModuleList)
            flat = list(feats)
            flat_level = list(levels)
            for node, (lv, offsets) in zip(nodes, self.config, strict=True):
                target = tuple(feats[lv - self.min_level].shape[2:])
                flat.append(node([flat[o] for o in offsets], [lv - flat_level[o] for o in offsets], target))
                flat_level.append(lv)
            feats = [next(f for f, fl in zip(reversed(flat), reversed(flat_level), strict=True) if fl == lv) for lv in levels]
        return feats


def paper_neck(neck: str, min_level: int, max_level: int, in_channels: list[int], c: int, cells: int) -> Keyed:
    levels = list(range(min_level, max_level + 1))
    chans = list(in_channels)[: len(levels)]
    if neck == "fpn":
        return PaperFPN(levels, chans, c)
    if neck == "pafpn":
        return PaperPAFPN(levels, chans, c)
    return EfficientDetBiFPN(levels, chans, c, cells)


def run(model: Any, features: list[torch.Tensor]) -> list[torch.Tensor]:
    with torch.no_grad():
        return list(model(features))
