"""PaddleDetection's PicoDet neck ``CSPPAN`` (inference forward), re-implemented in plain Paddle.

Source: PaddlePaddle/PaddleDetection at commit 666f597fd00d3157e84dd9fb2dd3f40bf9918ebc (2024-10-18),
``ppdet/modeling/necks/csp_pan.py`` (``ConvBNLayer``, ``DPModule``, ``DarknetBottleneck``, ``CSPLayer``,
``Channel_T``, ``CSPPAN``). PicoDet-S settings: the legacy configs that still use CSPPAN,
``configs/picodet/legacy_model/_base_/picodet_esnet.yml`` (use_depthwise True, num_csp_blocks 1,
num_features 4; act left at CSPPAN's default 'hard_swish') with ``configs/picodet/legacy_model/picodet_s_320_coco.yml``
(out_channels 96). The current PicoDet-S configs (``configs/picodet/picodet_s_*_lcnet.yml``) use ``LCPAN`` instead.

Kept as the original: kernel_size 5 in every depthwise conv, ``upsample`` = nearest x2, the extra top level
``first_top_conv(C5') + second_top_conv(P5_out)`` (both depthwise-separable 5x5/s2), and a tuple as the result.
Changed: the original appends to its mutable default ``spatial_scales`` list on every construction; here a copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import paddle
import paddle.nn.functional as F
from paddle import ParamAttr, nn


def _act_name(act: str | None) -> str | None:
    return "hardswish" if act == "hard_swish" else act


class ConvBNLayer(nn.Layer):
    """Conv2D (no bias, 'same' padding) -> BatchNorm2D -> activation by name from paddle.nn.functional."""

    def __init__(
        self,
        in_channel: int = 96,
        out_channel: int = 96,
        kernel_size: int = 3,
        stride: int = 1,
        groups: int = 1,
        act: str | None = "leaky_relu",
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2D(
            in_channels=in_channel,
            out_channels=out_channel,
            kernel_size=kernel_size,
            groups=groups,
            padding=(kernel_size - 1) // 2,
            stride=stride,
            weight_attr=ParamAttr(initializer=nn.initializer.KaimingUniform()),
            bias_attr=False,
        )
        self.bn = nn.BatchNorm2D(out_channel)
        self.act = _act_name(act)

    def forward(self, x: Any) -> Any:
        x = self.bn(self.conv(x))
        if self.act:
            x = getattr(F, self.act)(x)
        return x


class DPModule(nn.Layer):
    """Depthwise conv-BN-act then pointwise conv-BN(-act)."""

    def __init__(
        self,
        in_channel: int = 96,
        out_channel: int = 96,
        kernel_size: int = 3,
        stride: int = 1,
        act: str | None = "leaky_relu",
        use_act_in_out: bool = True,
    ) -> None:
        super().__init__()
        init = ParamAttr(initializer=nn.initializer.KaimingUniform())
        self.use_act_in_out = use_act_in_out
        self.dwconv = nn.Conv2D(
            in_channels=in_channel,
            out_channels=out_channel,
            kernel_size=kernel_size,
            groups=out_channel,
            padding=(kernel_size - 1) // 2,
            stride=stride,
            weight_attr=init,
            bias_attr=False,
        )
        self.bn1 = nn.BatchNorm2D(out_channel)
        self.pwconv = nn.Conv2D(
            in_channels=out_channel,
            out_channels=out_channel,
            kernel_size=1,
            groups=1,
            padding=0,
            weight_attr=init,
            bias_attr=False,
        )
        self.bn2 = nn.BatchNorm2D(out_channel)
        self.act = _act_name(act)

    def forward(self, x: Any) -> Any:
        x = self.bn1(self.dwconv(x))
        if self.act:
            x = getattr(F, self.act)(x)
        x = self.bn2(self.pwconv(x))
        if self.use_act_in_out and self.act:
            x = getattr(F, self.act)(x)
        return x


class DarknetBottleneck(nn.Layer):
    """1x1 ConvBN then a kxk conv (DPModule when depthwise), with identity when asked and shapes allow."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        expansion: float = 0.5,
        add_identity: bool = True,
        use_depthwise: bool = False,
        act: str | None = "leaky_relu",
    ) -> None:
        super().__init__()
        hidden_channels = int(out_channels * expansion)
        conv_func = DPModule if use_depthwise else ConvBNLayer
        self.conv1 = ConvBNLayer(in_channel=in_channels, out_channel=hidden_channels, kernel_size=1, act=act)
        self.conv2 = conv_func(in_channel=hidden_channels, out_channel=out_channels, kernel_size=kernel_size, stride=1, act=act)
        self.add_identity = add_identity and in_channels == out_channels

    def forward(self, x: Any) -> Any:
        out = self.conv2(self.conv1(x))
        return out + x if self.add_identity else out


class CSPLayer(nn.Layer):
    """Cross Stage Partial layer: short 1x1 and main 1x1 + bottlenecks, concat (main, short), final 1x1."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        expand_ratio: float = 0.5,
        num_blocks: int = 1,
        add_identity: bool = True,
        use_depthwise: bool = False,
        act: str | None = "leaky_relu",
    ) -> None:
        super().__init__()
        mid_channels = int(out_channels * expand_ratio)
        self.main_conv = ConvBNLayer(in_channels, mid_channels, 1, act=act)
        self.short_conv = ConvBNLayer(in_channels, mid_channels, 1, act=act)
        self.final_conv = ConvBNLayer(2 * mid_channels, out_channels, 1, act=act)
        self.blocks = nn.Sequential(
            *[
                DarknetBottleneck(mid_channels, mid_channels, kernel_size, 1.0, add_identity, use_depthwise, act=act)
                for _ in range(num_blocks)
            ]
        )

    def forward(self, x: Any) -> Any:
        x_short = self.short_conv(x)
        x_main = self.blocks(self.main_conv(x))
        return self.final_conv(paddle.concat((x_main, x_short), axis=1))


class Channel_T(nn.Layer):  # the original's name
    """One 1x1 ConvBN per input level, to a common width."""

    def __init__(
        self, in_channels: Sequence[int] = (116, 232, 464), out_channels: int = 96, act: str | None = "leaky_relu"
    ) -> None:
        super().__init__()
        self.convs = nn.LayerList()
        for c in in_channels:
            self.convs.append(ConvBNLayer(c, out_channels, 1, act=act))

    def forward(self, x: Sequence[Any]) -> list[Any]:
        return [self.convs[i](x[i]) for i in range(len(x))]


class CSPPAN(nn.Layer):
    """Path Aggregation Network with CSP layers; with num_features=4 an extra stride-2 level on top."""

    def __init__(
        self,
        in_channels: Sequence[int],
        out_channels: int,
        kernel_size: int = 5,
        num_features: int = 3,
        num_csp_blocks: int = 1,
        use_depthwise: bool = True,
        act: str | None = "hard_swish",
        spatial_scales: Sequence[float] = (0.125, 0.0625, 0.03125),
    ) -> None:
        super().__init__()
        self.conv_t = Channel_T(in_channels, out_channels, act=act)
        widths = [out_channels] * len(spatial_scales)
        self.in_channels = widths
        self.out_channels = out_channels
        self.spatial_scales = list(spatial_scales)
        self.num_features = num_features
        conv_func = DPModule if use_depthwise else ConvBNLayer

        if num_features == 4:
            self.first_top_conv = conv_func(widths[0], widths[0], kernel_size, stride=2, act=act)
            self.second_top_conv = conv_func(widths[0], widths[0], kernel_size, stride=2, act=act)
            self.spatial_scales.append(self.spatial_scales[-1] / 2)

        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.top_down_blocks = nn.LayerList()
        for idx in range(len(widths) - 1, 0, -1):
            self.top_down_blocks.append(
                CSPLayer(
                    widths[idx - 1] * 2,
                    widths[idx - 1],
                    kernel_size=kernel_size,
                    num_blocks=num_csp_blocks,
                    add_identity=False,
                    use_depthwise=use_depthwise,
                    act=act,
                )
            )

        self.downsamples = nn.LayerList()
        self.bottom_up_blocks = nn.LayerList()
        for idx in range(len(widths) - 1):
            self.downsamples.append(conv_func(widths[idx], widths[idx], kernel_size=kernel_size, stride=2, act=act))
            self.bottom_up_blocks.append(
                CSPLayer(
                    widths[idx] * 2,
                    widths[idx + 1],
                    kernel_size=kernel_size,
                    num_blocks=num_csp_blocks,
                    add_identity=False,
                    use_depthwise=use_depthwise,
                    act=act,
                )
            )

    def forward(self, inputs: Sequence[Any]) -> tuple[Any, ...]:
        assert len(inputs) == len(self.in_channels)
        inputs = self.conv_t(inputs)

        inner_outs = [inputs[-1]]
        for idx in range(len(self.in_channels) - 1, 0, -1):
            feat_heigh = inner_outs[0]
            feat_low = inputs[idx - 1]
            upsample_feat = self.upsample(feat_heigh)
            inner_out = self.top_down_blocks[len(self.in_channels) - 1 - idx](paddle.concat([upsample_feat, feat_low], 1))
            inner_outs.insert(0, inner_out)

        outs = [inner_outs[0]]
        for idx in range(len(self.in_channels) - 1):
            feat_low = outs[-1]
            feat_height = inner_outs[idx + 1]
            downsample_feat = self.downsamples[idx](feat_low)
            out = self.bottom_up_blocks[idx](paddle.concat([downsample_feat, feat_height], 1))
            outs.append(out)

        if self.num_features == 4:
            top_features = self.first_top_conv(inputs[-1])
            top_features = top_features + self.second_top_conv(outs[-1])
            outs.append(top_features)
        return tuple(outs)


def picodet_s_pan(in_channels: Sequence[int] = (128, 256, 512)) -> CSPPAN:
    """PicoDet-S' CSPPAN: 96 channels, depthwise 5x5, one CSP block, 4 outputs (strides 8-64), hard_swish."""
    return CSPPAN(in_channels, 96, kernel_size=5, num_features=4, num_csp_blocks=1, use_depthwise=True, act="hard_swish")
