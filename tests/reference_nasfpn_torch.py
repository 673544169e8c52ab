"""Independent plain-PyTorch reference of the NAS-FPN neck (Ghiasi et al. 2019), used as a test oracle.

It follows mmdet's ``mmdet/models/necks/nas_fpn.py`` (class NASFPN, built with a BatchNorm ``norm_cfg``) and mmcv's
``mmcv/ops/merge_cells.py`` (BaseMergeCell._resize, SumCell, GlobalPoolingCell), with mmcv's ConvModule conventions
(``bias='auto'`` drops the conv bias before a norm; merge cells use ``bias=True`` and the order act -> conv -> norm).
Only torch is used at run time. Every Conv2d / BatchNorm2d lives in ``self.nodes`` under a stable key so a test can
load the same weights into another implementation and compare outputs. BatchNorm is meant to be used in eval mode.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# One NAS-FPN stage: (cell name, level it writes, whether it ends with ReLU -> conv3x3 -> BN), in execution order.
CELLS: tuple[tuple[str, int, bool], ...] = (
    ("gp_64_4", 4, True),
    ("sum_44_4", 4, True),
    ("sum_43_3", 3, True),
    ("sum_34_4", 4, True),
    ("gp_43_5", 5, False),
    ("sum_55_5", 5, True),
    ("gp_54_7", 7, False),
    ("sum_77_7", 7, True),
    ("gp_75_6", 6, True),
)
_CELL_INFO: dict[str, tuple[int, bool]] = {name: (level, conv) for name, level, conv in CELLS}


def spatial_size(x: torch.Tensor) -> tuple[int, int]:
    """(height, width) of an NCHW tensor."""
    return int(x.shape[-2]), int(x.shape[-1])


def resize_to(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bring ``x`` to ``size`` the way mmcv's BaseMergeCell._resize does (nearest up, zero-pad + max-pool down).

    The "smaller" test is a lexicographic comparison of the (h, w) tuples, exactly as mmcv compares torch.Size objects.
    """
    current = spatial_size(x)
    if current == size:
        return x
    if current < size:
        return F.interpolate(x, size=size, mode="nearest")
    h, w = current
    target_h, target_w = size
    if h % target_h != 0 or w % target_w != 0:
        pad_h = -(-h // target_h) * target_h - h  # ceil to a multiple of the target, minus the current size
        pad_w = -(-w // target_w) * target_w - w
        left, top = pad_w // 2, pad_h // 2
        x = F.pad(x, (left, pad_w - left, top, pad_h - top), mode="constant", value=0.0)
    kernel = (int(x.shape[-2]) // target_h, int(x.shape[-1]) // target_w)
    return F.max_pool2d(x, kernel_size=kernel, stride=kernel)


class NasFpnReference(nn.Module):
    """NAS-FPN neck: inputs C3, C4, C5 -> outputs P3..P7, ``stack_times`` repeated merge-cell stages."""

    def __init__(self, in_channels: list[int], out_channels: int, stack_times: int) -> None:
        super().__init__()
        if len(in_channels) != 3:
            raise ValueError(f"NAS-FPN reference expects three input widths (C3, C4, C5), got {in_channels}")
        self.stack_times = stack_times
        self.nodes = nn.ModuleDict()
        width = out_channels
        for level, c_in in zip((3, 4, 5), in_channels, strict=True):
            self.nodes[f"neck__input__p{level}__0_conv1x1"] = nn.Conv2d(c_in, width, kernel_size=1, bias=False)
            self.nodes[f"neck__input__p{level}__1_bn"] = nn.BatchNorm2d(width, eps=1e-5)
        for level in (6, 7):
            self.nodes[f"neck__extra__p{level}__0_conv1x1"] = nn.Conv2d(width, width, kernel_size=1, bias=False)
            self.nodes[f"neck__extra__p{level}__1_bn"] = nn.BatchNorm2d(width, eps=1e-5)
        for stage in range(stack_times):
            for name, level, with_out_conv in CELLS:
                if with_out_conv:
                    prefix = f"neck__cell{stage}__{name}_p{level}"
                    self.nodes[f"{prefix}__1_conv3x3"] = nn.Conv2d(width, width, kernel_size=3, padding=1, bias=True)
                    self.nodes[f"{prefix}__2_bn"] = nn.BatchNorm2d(width, eps=1e-5)

    def _node(self, key: str, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.nodes[key](x)
        return out

    def _cell(self, stage: int, name: str, x1: torch.Tensor, x2: torch.Tensor, out_size: tuple[int, int]) -> torch.Tensor:
        """One merge cell: resize both inputs, combine (sum or global-pooling attention), optional ReLU-conv-BN."""
        a = resize_to(x1, out_size)
        b = resize_to(x2, out_size)
        # GlobalPoolingCell: x2 + sigmoid(avgpool(x2)) * x1, with x2 already resized to out_size; SumCell: x1 + x2.
        merged = b + torch.sigmoid(F.adaptive_avg_pool2d(b, 1)) * a if name.startswith("gp_") else a + b
        level, with_out_conv = _CELL_INFO[name]
        if not with_out_conv:
            return merged
        prefix = f"neck__cell{stage}__{name}_p{level}"
        merged = self._node(f"{prefix}__1_conv3x3", F.relu(merged))
        return self._node(f"{prefix}__2_bn", merged)

    def forward(self, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        if len(inputs) != 3:
            raise ValueError(f"expected three inputs (C3, C4, C5), got {len(inputs)}")
        feats = []
        for level, c in zip((3, 4, 5), inputs, strict=True):
            feats.append(self._node(f"neck__input__p{level}__1_bn", self._node(f"neck__input__p{level}__0_conv1x1", c)))
        for level in (6, 7):  # each extra level is built from the previous last level
            y = self._node(f"neck__extra__p{level}__0_conv1x1", feats[-1])
            y = self._node(f"neck__extra__p{level}__1_bn", y)
            feats.append(F.max_pool2d(y, kernel_size=2, stride=2))
        p3, p4, p5, p6, p7 = feats
        for i in range(self.stack_times):
            p4_1 = self._cell(i, "gp_64_4", p6, p4, spatial_size(p4))
            p4_2 = self._cell(i, "sum_44_4", p4_1, p4, spatial_size(p4))
            p3 = self._cell(i, "sum_43_3", p4_2, p3, spatial_size(p3))
            p4 = self._cell(i, "sum_34_4", p3, p4_2, spatial_size(p4))
            p5_tmp = self._cell(i, "gp_43_5", p4, p3, spatial_size(p5))
            p5 = self._cell(i, "sum_55_5", p5, p5_tmp, spatial_size(p5))
            p7_tmp = self._cell(i, "gp_54_7", p5, p4_2, spatial_size(p7))
            p7 = self._cell(i, "sum_77_7", p7, p7_tmp, spatial_size(p7))
            p6 = self._cell(i, "gp_75_6", p7, p5, spatial_size(p6))
        return [p3, p4, p5, p6, p7]
