"""mmdetection's ``FPN`` neck (inference forward), re-implemented in plain torch.

Source: open-mmlab/mmdetection, ``mmdet/models/necks/fpn.py`` at commit 6f7d0edaac14dabcec0bb18ae4f08d7bd6fc2166
(the 2.x form: ``add_extra_convs`` as bool or one of 'on_input' / 'on_lateral' / 'on_output'), with the part of
open-mmlab/mmcv ``mmcv/cnn/bricks/conv_module.py`` (commit 013f784b725d78ced95291f73e0c99e073ba3c43) it uses:
``ConvModule`` = ``conv`` (bias when there is no norm) [+ ``bn``] [+ ``activate`` (ReLU)].
RetinaNet's neck follows configs/_base_/models/retinanet_r50_fpn.py (``add_extra_convs='on_input'``,
``num_outs=5``; ``start_level=1`` there because ResNet-50 also hands over C2).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

EXTRA_SOURCES = ("on_input", "on_lateral", "on_output")


class ConvModule(nn.Module):
    """mmcv's conv/norm/act block, order ('conv', 'norm', 'act'); bias='auto' means bias only without a norm."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        with_norm: bool = False,
        with_activation: bool = False,
    ) -> None:
        super().__init__()
        self.with_norm = with_norm
        self.with_activation = with_activation
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=not with_norm)
        if with_norm:
            self.bn = nn.BatchNorm2d(out_channels)  # build_norm_layer names a 'BN' layer 'bn'
        if with_activation:
            self.activate = nn.ReLU(inplace=False)  # FPN builds its ConvModules with inplace=False

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)
        if self.with_norm:
            x = self.bn(x)
        if self.with_activation:
            x = self.activate(x)
        return x


class FPN(nn.Module):
    """Feature Pyramid Network: 1x1 laterals, nearest top-down sums, 3x3 outputs, optional extra levels."""

    def __init__(
        self,
        in_channels: Sequence[int],
        out_channels: int,
        num_outs: int,
        start_level: int = 0,
        end_level: int = -1,
        add_extra_convs: bool | str = False,
        relu_before_extra_convs: bool = False,
        no_norm_on_lateral: bool = False,
        with_norm: bool = False,
        with_activation: bool = False,
    ) -> None:
        super().__init__()
        self.in_channels = list(in_channels)
        self.out_channels = out_channels
        self.num_ins = len(self.in_channels)
        self.num_outs = num_outs
        self.relu_before_extra_convs = relu_before_extra_convs
        if end_level == -1:
            self.backbone_end_level = self.num_ins
            assert num_outs >= self.num_ins - start_level
        else:
            self.backbone_end_level = end_level
            assert end_level <= self.num_ins
            assert num_outs == end_level - start_level
        self.start_level = start_level
        self.end_level = end_level
        if isinstance(add_extra_convs, str):
            assert add_extra_convs in EXTRA_SOURCES, add_extra_convs
        elif add_extra_convs:
            add_extra_convs = "on_input"
        self.add_extra_convs: bool | str = add_extra_convs

        self.lateral_convs = nn.ModuleList()
        self.fpn_convs = nn.ModuleList()
        for i in range(start_level, self.backbone_end_level):
            lateral_norm = with_norm and not no_norm_on_lateral
            self.lateral_convs.append(
                ConvModule(self.in_channels[i], out_channels, 1, with_norm=lateral_norm, with_activation=with_activation)
            )
            self.fpn_convs.append(
                ConvModule(out_channels, out_channels, 3, padding=1, with_norm=with_norm, with_activation=with_activation)
            )

        extra_levels = num_outs - self.backbone_end_level + start_level
        if self.add_extra_convs and extra_levels >= 1:
            for i in range(extra_levels):
                on_input = i == 0 and self.add_extra_convs == "on_input"
                source_channels = self.in_channels[self.backbone_end_level - 1] if on_input else out_channels
                self.fpn_convs.append(
                    ConvModule(
                        source_channels,
                        out_channels,
                        3,
                        stride=2,
                        padding=1,
                        with_norm=with_norm,
                        with_activation=with_activation,
                    )
                )

    def forward(self, inputs: Sequence[Tensor]) -> tuple[Tensor, ...]:
        assert len(inputs) == len(self.in_channels)
        laterals = [lateral_conv(inputs[i + self.start_level]) for i, lateral_conv in enumerate(self.lateral_convs)]

        used_backbone_levels = len(laterals)
        for i in range(used_backbone_levels - 1, 0, -1):  # upsample_cfg=dict(mode='nearest'): to the lower map's size
            prev_shape = laterals[i - 1].shape[2:]
            laterals[i - 1] += F.interpolate(laterals[i], size=prev_shape, mode="nearest")

        outs = [self.fpn_convs[i](laterals[i]) for i in range(used_backbone_levels)]
        if self.num_outs > len(outs):
            if not self.add_extra_convs:  # Faster R-CNN style: subsample the top output
                for _ in range(self.num_outs - used_backbone_levels):
                    outs.append(F.max_pool2d(outs[-1], 1, stride=2))
            else:
                if self.add_extra_convs == "on_input":
                    extra_source = inputs[self.backbone_end_level - 1]
                elif self.add_extra_convs == "on_lateral":
                    extra_source = laterals[-1]
                else:
                    extra_source = outs[-1]
                outs.append(self.fpn_convs[used_backbone_levels](extra_source))
                for i in range(used_backbone_levels + 1, self.num_outs):
                    if self.relu_before_extra_convs:
                        outs.append(self.fpn_convs[i](F.relu(outs[-1])))
                    else:
                        outs.append(self.fpn_convs[i](outs[-1]))
        return tuple(outs)


def retinanet_fpn(in_channels: Sequence[int] = (128, 256, 512), out_channels: int = 256) -> FPN:
    """RetinaNet's neck on C3-C5 inputs: P3-P5 from the laterals, P6 from C5 and P7 from P6 by 3x3/s2 convs."""
    return FPN(in_channels, out_channels, num_outs=5, start_level=0, add_extra_convs="on_input")
