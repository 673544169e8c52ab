"""The seed tutorial's three necks as plain Paddle layers, written from the tutorial, not from fpnprof.

Two faults of the seed are fixed: sublayers live in ``LayerList``/``LayerDict`` (the seed's Python
lists left them unregistered), and BiFPN's second half is built once in ``__init__`` (the seed made
it inside ``forward``). Everything else follows the seed, generalised to any number of levels:

- missing top levels are the seed's ``C_to_P``: an adaptive max pool of the level below to half its
  side (rounded down), with the same channels;
- FPN: a 1x1 lateral and a 3x3 output conv per level; each level adds the *upsampled lateral* of the
  level above (not the merged sum);
- PAFPN: that FPN, then a 1x1 on the lowest output, and for every level above a concat of the FPN
  output with one shared 3x3/s2 conv + BN applied to the previous 1x1 output, a 1x1 (2C -> C) and a
  3x3 output conv;
- BiFPN: cells of block1 (top-down, concat fusion, skip concats) and block2 (bottom-up through
  adaptive max pools to exact halves of the largest map), with the seed's full-3x3 "separable" node.

Every weighted sublayer is stored under a key (the graph's node id with dots as ``__``), so the test
can give both models the same weights; the keys name layers, they do not wire anything.
"""

from __future__ import annotations

from typing import Any

import paddle
import paddle.nn.functional as F
from paddle import nn


def key(node_id: str) -> str:
    return node_id.replace(".", "__")


class Keyed(nn.Layer):
    """A layer whose weighted sublayers are registered in one dict under explicit keys."""

    def __init__(self) -> None:
        super().__init__()
        self.nodes = nn.LayerDict()

    def own(self, node_id: str, layer: nn.Layer) -> nn.Layer:
        self.nodes[key(node_id)] = layer
        return layer


def c_to_p(features: list[Any], extra_levels: int) -> list[Any]:
    """The seed's C_to_P, repeated: append pooled halves of the top feature."""
    out = list(features)
    for _ in range(extra_levels):
        h, w = out[-1].shape[2:]
        out.append(F.adaptive_max_pool2d(out[-1], (h // 2, w // 2)))
    return out


class SeedFPN(Keyed):
    def __init__(self, levels: list[int], in_channels: list[int], c: int) -> None:
        super().__init__()
        self.inner = nn.LayerList(
            [self.own(f"neck.fpn.p{lv}.lateral", nn.Conv2D(ci, c, 1)) for lv, ci in zip(levels, in_channels, strict=True)]
        )
        self.out = nn.LayerList([self.own(f"neck.fpn.p{lv}.output", nn.Conv2D(c, c, 3, padding=1)) for lv in levels])

    def forward(self, x: list[Any]) -> list[Any]:
        heads = []  # top level first, as the seed collects them
        inner = self.inner[-1](x[-1])
        heads.append(self.out[-1](inner))
        for i in range(len(x) - 2, -1, -1):
            above = inner
            inner = self.inner[i](x[i])
            heads.append(self.out[i](F.interpolate(above, size=inner.shape[2:]) + inner))
        return heads[::-1]


class SeedPAFPN(Keyed):
    def __init__(self, levels: list[int], in_channels: list[int], c: int) -> None:
        super().__init__()
        self.fpn = SeedFPN(levels, in_channels, c)
        for k, layer in self.fpn.nodes.items():
            self.nodes[k] = layer
        second = levels[1]
        self.down_conv = self.own(f"neck.pan.n{second}.bottom_up.conv", nn.Conv2D(c, c, 3, 2, 1))
        self.down_bn = self.own(f"neck.pan.n{second}.bottom_up.bn", nn.BatchNorm2D(c))
        self.inner = nn.LayerList(
            [self.own(f"neck.pan.n{lv}.inner", nn.Conv2D(c if i == 0 else 2 * c, c, 1)) for i, lv in enumerate(levels)]
        )
        self.out = nn.LayerList([self.own(f"neck.pan.n{lv}.output", nn.Conv2D(c, c, 3, padding=1)) for lv in levels])

    def forward(self, x: list[Any]) -> list[Any]:
        p = self.fpn(x)  # bottom first
        inner = self.inner[0](p[0])
        outs = [self.out[0](inner)]
        for i in range(1, len(p)):
            down = self.down_bn(self.down_conv(inner))
            inner = self.inner[i](paddle.concat([p[i], down], axis=1))
            outs.append(self.out[i](inner))
        return outs


class SeedNode(nn.Layer):
    """The seed's Sepconv_BN_Swish: a full 3x3 conv (no groups), a 1x1 conv, BN, Swish."""

    def __init__(self, owner: Keyed, prefix: str, cin: int, cout: int) -> None:
        super().__init__()
        self.conv3 = owner.own(f"{prefix}.conv3x3", nn.Conv2D(cin, cin, 3, padding=1))
        self.conv1 = owner.own(f"{prefix}.conv1x1", nn.Conv2D(cin, cout, 1))
        self.bn = owner.own(f"{prefix}.bn", nn.BatchNorm2D(cout))

    def forward(self, x: Any) -> Any:
        return F.swish(self.bn(self.conv1(self.conv3(x))))


class SeedBiFPNCell(nn.Layer):
    def __init__(self, owner: Keyed, cell: int, levels: list[int], chans: list[int], c: int) -> None:
        super().__init__()
        n = len(levels)
        # block1: nodes for every level but the top and the bottom, top-down
        self.block1 = nn.LayerList()
        widths = [chans[-1]]  # block1 output widths, top first
        for i in range(n - 2):
            cin = chans[-1] + chans[-2] if i == 0 else c + chans[-2 - i]
            self.block1.append(SeedNode(owner, f"neck.cell{cell}.block1.p{levels[-2 - i]}.node", cin, c))
            widths.append(c + chans[-2 - i])
        widths.append((c if n > 2 else chans[-1]) + chans[0])
        # block2: one node per level, bottom-up
        self.block2 = nn.LayerList()
        for i in range(n):
            cin = widths[-1] if i == 0 else widths[-1 - i] + c
            self.block2.append(SeedNode(owner, f"neck.cell{cell}.block2.p{levels[i]}.node", cin, c))

    def forward(self, x: list[Any]) -> list[Any]:
        heads = [x[-1]]  # block1's outputs, top first
        node = x[-1]
        for i in range(len(x) - 1):
            cat = paddle.concat([F.interpolate(node, size=x[-2 - i].shape[2:]), x[-2 - i]], axis=1)
            if i < len(x) - 2:
                node = self.block1[i](cat)
                heads.append(paddle.concat([node, x[-2 - i]], axis=1))
            else:
                heads.append(cat)
        side = max(int(h.shape[2]) for h in heads)
        current = self.block2[0](heads[-1])
        outs = [current]
        for i in range(len(heads) - 1):
            side //= 2
            down = F.adaptive_max_pool2d(current, side)
            current = self.block2[1 + i](paddle.concat([down, heads[-2 - i]], axis=1))
            outs.append(current)
        return outs


class SeedBiFPN(Keyed):
    def __init__(self, levels: list[int], in_channels: list[int], c: int, cells: int) -> None:
        super().__init__()
        self.cells = nn.LayerList(
            [SeedBiFPNCell(self, k, levels, list(in_channels) if k == 0 else [c] * len(levels), c) for k in range(cells)]
        )

    def forward(self, x: list[Any]) -> list[Any]:
        for cell in self.cells:
            x = cell(x)
        return x


class SeedNeck(nn.Layer):
    """The seed's extra inputs (C_to_P) followed by one of its necks."""

    def __init__(self, neck: str, min_level: int, max_level: int, in_channels: list[int], c: int, cells: int) -> None:
        super().__init__()
        levels = list(range(min_level, max_level + 1))
        self.extra = len(levels) - len(in_channels)
        chans = list(in_channels) + [in_channels[-1]] * self.extra
        if neck == "fpn":
            self.neck: Keyed = SeedFPN(levels, chans, c)
        elif neck == "pafpn":
            self.neck = SeedPAFPN(levels, chans, c)
        else:
            self.neck = SeedBiFPN(levels, chans, c, cells)
        self.nodes = self.neck.nodes

    def forward(self, features: list[Any]) -> list[Any]:
        return list(self.neck(c_to_p(features, self.extra)))
