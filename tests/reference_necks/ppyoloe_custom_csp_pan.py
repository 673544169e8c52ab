"""PaddleDetection's ``CustomCSPPAN`` (PP-YOLOE's neck, inference forward), re-implemented in plain Paddle.

Source: PaddlePaddle/PaddleDetection at commit 666f597fd00d3157e84dd9fb2dd3f40bf9918ebc (2024-10-18):
- ``ppdet/modeling/necks/custom_pan.py`` (``SPP``, ``CSPStage``, ``CustomCSPPAN``);
- ``ppdet/modeling/backbones/cspresnet.py`` (``ConvBNLayer``, ``RepVggBlock`` in its training form
  conv1 3x3 + conv2 1x1, ``BasicBlock``);
- ``ppdet/modeling/ops.py`` (``get_act_fn``: 'swish' -> ``F.swish``);
- PP-YOLOE-s settings: ``configs/ppyoloe/_base_/ppyoloe_crn.yml`` (out_channels [768, 384, 192], stage_num 1,
  block_num 3, act swish, spp true) and ``configs/ppyoloe/ppyoloe_crn_s_300e_coco.yml`` (width_mult 0.50,
  depth_mult 0.33).
Left out: DropBlock (off in PP-YOLOE), the transformer encoder (``use_trans``, off), the deploy form of
RepVggBlock and the training-only L2Decay(0) attributes of the BN parameters.

Outputs are in ``pan_feats[::-1]`` order: the top (stride-32) level first, as PPYOLOEHead's fpn_strides
[32, 16, 8] expect.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import paddle
import paddle.nn.functional as F
from paddle import nn

Act = Callable[[Any], Any]


def get_act_fn(act: str | None) -> Act:
    """ppdet's activation lookup for the names used here: None -> identity, others from paddle.nn.functional."""
    if not act:
        return lambda x: x
    if act == "silu":
        return lambda x: F.silu(x)
    fn = getattr(F, act)
    return lambda x: fn(x)


class ConvBNLayer(nn.Layer):
    """Conv2D (no bias) -> BatchNorm2D -> activation."""

    def __init__(
        self,
        ch_in: int,
        ch_out: int,
        filter_size: int = 3,
        stride: int = 1,
        groups: int = 1,
        padding: int = 0,
        act: str | None = None,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2D(ch_in, ch_out, filter_size, stride=stride, padding=padding, groups=groups, bias_attr=False)
        self.bn = nn.BatchNorm2D(ch_out)
        self.act = get_act_fn(act)

    def forward(self, x: Any) -> Any:
        return self.act(self.bn(self.conv(x)))


class RepVggBlock(nn.Layer):
    """Training form: act(conv-bn 3x3 + [alpha *] conv-bn 1x1)."""

    def __init__(self, ch_in: int, ch_out: int, act: str | None = "relu", alpha: bool = False) -> None:
        super().__init__()
        self.ch_in = ch_in
        self.ch_out = ch_out
        self.conv1 = ConvBNLayer(ch_in, ch_out, 3, stride=1, padding=1, act=None)
        self.conv2 = ConvBNLayer(ch_in, ch_out, 1, stride=1, padding=0, act=None)
        self.act = get_act_fn(act)
        self.alpha = self.create_parameter(shape=[1], default_initializer=nn.initializer.Constant(1.0)) if alpha else None

    def forward(self, x: Any) -> Any:
        y = self.conv1(x) + self.alpha * self.conv2(x) if self.alpha is not None else self.conv1(x) + self.conv2(x)
        return self.act(y)


class BasicBlock(nn.Layer):
    """ConvBN 3x3 then RepVggBlock, with an optional residual."""

    def __init__(self, ch_in: int, ch_out: int, act: str | None = "relu", shortcut: bool = True, use_alpha: bool = False) -> None:
        super().__init__()
        assert ch_in == ch_out
        self.conv1 = ConvBNLayer(ch_in, ch_out, 3, stride=1, padding=1, act=act)
        self.conv2 = RepVggBlock(ch_out, ch_out, act=act, alpha=use_alpha)
        self.shortcut = shortcut

    def forward(self, x: Any) -> Any:
        y = self.conv2(self.conv1(x))
        return paddle.add(x, y) if self.shortcut else y


class SPP(nn.Layer):
    """Concat of the input with stride-1 max pools ('pool0'..), then a ConvBN."""

    def __init__(self, ch_in: int, ch_out: int, k: int, pool_size: Sequence[int], act: str | None = "swish") -> None:
        super().__init__()
        self.pool: list[Any] = []
        for i, size in enumerate(pool_size):
            pool = self.add_sublayer(f"pool{i}", nn.MaxPool2D(kernel_size=size, stride=1, padding=size // 2, ceil_mode=False))
            self.pool.append(pool)
        self.conv = ConvBNLayer(ch_in, ch_out, k, padding=k // 2, act=act)

    def forward(self, x: Any) -> Any:
        outs = [x]
        for pool in self.pool:
            outs.append(pool(x))
        return self.conv(paddle.concat(outs, axis=1))


class CSPStage(nn.Layer):
    """Two 1x1 branches; n BasicBlocks (+ SPP after the middle one) on the second; concat; 1x1."""

    def __init__(
        self, ch_in: int, ch_out: int, n: int, act: str | None = "swish", spp: bool = False, use_alpha: bool = False
    ) -> None:
        super().__init__()
        ch_mid = int(ch_out // 2)
        self.conv1 = ConvBNLayer(ch_in, ch_mid, 1, act=act)
        self.conv2 = ConvBNLayer(ch_in, ch_mid, 1, act=act)
        self.convs = nn.Sequential()
        next_ch_in = ch_mid
        for i in range(n):
            self.convs.add_sublayer(str(i), BasicBlock(next_ch_in, ch_mid, act=act, shortcut=False, use_alpha=use_alpha))
            if i == (n - 1) // 2 and spp:
                self.convs.add_sublayer("spp", SPP(ch_mid * 4, ch_mid, 1, [5, 9, 13], act=act))
            next_ch_in = ch_mid
        self.conv3 = ConvBNLayer(ch_mid * 2, ch_out, 1, act=act)

    def forward(self, x: Any) -> Any:
        y1 = self.conv1(x)
        y2 = self.convs(self.conv2(x))
        return self.conv3(paddle.concat([y1, y2], axis=1))


class CustomCSPPAN(nn.Layer):
    """Top-down FPN of CSPStages with 1x1 routes and nearest x2 upsampling, then a bottom-up PAN of 3x3/s2 routes."""

    def __init__(
        self,
        in_channels: Sequence[int] = (256, 512, 1024),
        out_channels: Sequence[int] = (1024, 512, 256),
        act: str | None = "leaky",
        stage_num: int = 1,
        block_num: int = 3,
        drop_block: bool = False,
        spp: bool = False,
        width_mult: float = 1.0,
        depth_mult: float = 1.0,
        use_alpha: bool = False,
        use_trans: bool = False,
    ) -> None:
        super().__init__()
        if drop_block or use_trans:
            raise NotImplementedError("DropBlock and the transformer encoder are not re-implemented")
        out_channels = [max(round(c * width_mult), 1) for c in out_channels]
        block_num = max(round(block_num * depth_mult), 1)
        self.num_blocks = len(in_channels)
        self._out_channels = out_channels
        in_channels = list(in_channels)[::-1]

        fpn_stages = []
        fpn_routes = []
        ch_pre = 0
        for i, (ch_in, ch_out) in enumerate(zip(in_channels, out_channels, strict=True)):
            if i > 0:
                ch_in += ch_pre // 2
            stage = nn.Sequential()
            for j in range(stage_num):
                stage.add_sublayer(
                    str(j),
                    CSPStage(ch_in if j == 0 else ch_out, ch_out, block_num, act=act, spp=(spp and i == 0), use_alpha=use_alpha),
                )
            fpn_stages.append(stage)
            if i < self.num_blocks - 1:
                fpn_routes.append(ConvBNLayer(ch_in=ch_out, ch_out=ch_out // 2, filter_size=1, stride=1, padding=0, act=act))
            ch_pre = ch_out
        self.fpn_stages = nn.LayerList(fpn_stages)
        self.fpn_routes = nn.LayerList(fpn_routes)

        pan_stages = []
        pan_routes = []
        for i in reversed(range(self.num_blocks - 1)):
            pan_routes.append(
                ConvBNLayer(ch_in=out_channels[i + 1], ch_out=out_channels[i + 1], filter_size=3, stride=2, padding=1, act=act)
            )
            ch_in = out_channels[i] + out_channels[i + 1]
            ch_out = out_channels[i]
            stage = nn.Sequential()
            for j in range(stage_num):
                stage.add_sublayer(
                    str(j), CSPStage(ch_in if j == 0 else ch_out, ch_out, block_num, act=act, spp=False, use_alpha=use_alpha)
                )
            pan_stages.append(stage)
        self.pan_stages = nn.LayerList(pan_stages[::-1])
        self.pan_routes = nn.LayerList(pan_routes[::-1])

    def forward(self, blocks: Sequence[Any], for_mot: bool = False) -> list[Any]:
        blocks = list(blocks)[::-1]
        fpn_feats = []
        route: Any = None
        for i, block in enumerate(blocks):
            if i > 0:
                block = paddle.concat([route, block], axis=1)
            route = self.fpn_stages[i](block)
            fpn_feats.append(route)
            if i < self.num_blocks - 1:
                route = self.fpn_routes[i](route)
                route = F.interpolate(route, scale_factor=2.0, data_format="NCHW")

        pan_feats = [fpn_feats[-1]]
        route = fpn_feats[-1]
        for i in reversed(range(self.num_blocks - 1)):
            block = fpn_feats[i]
            route = self.pan_routes[i](route)
            block = paddle.concat([route, block], axis=1)
            route = self.pan_stages[i](block)
            pan_feats.append(route)
        return pan_feats[::-1]


def ppyoloe_s_pan(in_channels: Sequence[int] = (128, 256, 512)) -> CustomCSPPAN:
    """PP-YOLOE-s' neck (CSPResNet-s hands over 128, 256, 512 channels at strides 8, 16, 32)."""
    return CustomCSPPAN(
        in_channels,
        out_channels=(768, 384, 192),
        act="swish",
        stage_num=1,
        block_num=3,
        spp=True,
        width_mult=0.50,
        depth_mult=0.33,
    )
