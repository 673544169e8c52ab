"""YOLOv8's neck (layers 10-21 of its head), re-implemented in plain torch.

Sources, ultralytics/ultralytics:
- ``ultralytics/cfg/models/v8/yolov8.yaml`` at commit 8571ad540162963a48126223399c348e22947c34 (head layers
  10-21; scale s = [depth 0.33, width 0.50, max_channels 1024]);
- ``ultralytics/nn/modules/block.py`` at 44cbec186bba355472aed81d99a789e056256a7d (``C2f``: forward by
  ``chunk(2, 1)``; ``Bottleneck``);
- ``ultralytics/nn/modules/conv.py`` at c1c106e59e4af600d4e615cd71a9fde8ac52e24c (``Conv``: conv without bias,
  BatchNorm2d, SiLU; ``Concat``; ``autopad``);
- ``ultralytics/nn/tasks.py`` at 88f0cebcfa965084d2899dfcdb22afffa29ea953 (``parse_model``: channels
  ``make_divisible(min(c, max_channels) * width, 8)``, repeats ``max(round(n * depth), 1)``) and
  ``initialize_weights`` in ``ultralytics/utils/torch_utils.py`` (every BatchNorm2d: eps=1e-3, momentum=0.03).

The layers keep their ``DetectionModel`` paths (``model.12.cv1.conv``, ...): they sit in ``self.model``
under their yaml indices. With a YOLOv8s backbone (P3-P5 = 128, 256, 512) the widths are
12: C2f 512*0.5 = 256, 15: C2f 128, 16: Conv 128, 18: C2f 256, 19: Conv 256, 21: C2f 512; every C2f has
n = round(3 * 0.33) = 1 bottleneck, and the neck's C2f keep their default ``shortcut=False``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

YOLOV8S_WIDTHS = (256, 128, 128, 256, 256, 512)


def autopad(k: int, p: int | None = None, d: int = 1) -> int:
    """'Same' padding for an odd kernel (ultralytics' autopad, integer kernels only)."""
    if d > 1:
        k = d * (k - 1) + 1
    return k // 2 if p is None else p


class Conv(nn.Module):
    """Conv2d (no bias) -> BatchNorm2d -> SiLU."""

    def __init__(self, c1: int, c2: int, k: int = 1, s: int = 1, p: int | None = None, g: int = 1, d: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, autopad(k, p, d), groups=g, dilation=d, bias=False)
        self.bn = nn.BatchNorm2d(c2, eps=1e-3, momentum=0.03)
        self.act = nn.SiLU()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.bn(self.conv(x)))  # type: ignore[no-any-return]


class Bottleneck(nn.Module):
    """Two convs (k[0], k[1]) with an optional residual when shapes allow."""

    def __init__(self, c1: int, c2: int, shortcut: bool = True, g: int = 1, k: tuple[int, int] = (3, 3), e: float = 0.5) -> None:
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, k[0], 1)
        self.cv2 = Conv(c_, c2, k[1], 1, g=g)
        self.add = shortcut and c1 == c2

    def forward(self, x: Tensor) -> Tensor:
        return x + self.cv2(self.cv1(x)) if self.add else self.cv2(self.cv1(x))  # type: ignore[no-any-return]


class C2f(nn.Module):
    """CSP bottleneck with 2 convs: cv1 splits into two halves (chunk), n bottlenecks chain on the last piece."""

    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = False, g: int = 1, e: float = 0.5) -> None:
        super().__init__()
        self.c = int(c2 * e)
        self.cv1 = Conv(c1, 2 * self.c, 1, 1)
        self.cv2 = Conv((2 + n) * self.c, c2, 1)
        self.m = nn.ModuleList(Bottleneck(self.c, self.c, shortcut, g, k=(3, 3), e=1.0) for _ in range(n))

    def forward(self, x: Tensor) -> Tensor:
        y = list(self.cv1(x).chunk(2, 1))
        y.extend(m(y[-1]) for m in self.m)
        return self.cv2(torch.cat(y, 1))  # type: ignore[no-any-return]


class Concat(nn.Module):
    """Concatenate a list of tensors along one dimension."""

    def __init__(self, dimension: int = 1) -> None:
        super().__init__()
        self.d = dimension

    def forward(self, x: list[Tensor]) -> Tensor:
        return torch.cat(x, self.d)


class YOLOv8PAN(nn.Module):
    """yolov8.yaml's head layers 10-21 (the PAN), fed with backbone P3, P4 and P5 (P5 = layer 9, SPPF's output).

    ``widths`` are the output channels of layers 12, 15, 16, 18, 19 and 21, after the scale's width rule.
    """

    def __init__(self, in_channels: Sequence[int] = (128, 256, 512), widths: Sequence[int] = YOLOV8S_WIDTHS, n: int = 1) -> None:
        super().__init__()
        c3, c4, c5 = in_channels
        w12, w15, w16, w18, w19, w21 = widths
        self.model = nn.ModuleDict(
            {
                "10": nn.Upsample(None, 2, "nearest"),
                "11": Concat(1),  # cat backbone P4
                "12": C2f(c5 + c4, w12, n),
                "13": nn.Upsample(None, 2, "nearest"),
                "14": Concat(1),  # cat backbone P3
                "15": C2f(w12 + c3, w15, n),  # P3/8 out
                "16": Conv(w15, w16, 3, 2),
                "17": Concat(1),  # cat head P4
                "18": C2f(w16 + w12, w18, n),  # P4/16 out
                "19": Conv(w18, w19, 3, 2),
                "20": Concat(1),  # cat head P5
                "21": C2f(w19 + c5, w21, n),  # P5/32 out
            }
        )

    def forward(self, feats: Sequence[Tensor]) -> list[Tensor]:
        p3, p4, p5 = feats
        m = self.model
        x12 = m["12"](m["11"]([m["10"](p5), p4]))
        x15 = m["15"](m["14"]([m["13"](x12), p3]))
        x18 = m["18"](m["17"]([m["16"](x15), x12]))
        x21 = m["21"](m["20"]([m["19"](x18), p5]))
        return [x15, x18, x21]
