"""Levels of imported ops: an SE block's global pool (a 1x1 output) stays at the level it pools, even
where some level of the pyramid is itself 1x1; in torch and in Paddle."""

from __future__ import annotations

from typing import Any

import pytest

SIDES = {3: (4, 4), 4: (2, 2), 5: (1, 1)}  # C5 is 1x1: a pooled 1x1 must not be read as P5
CHANNELS = {3: 8, 4: 8, 5: 8}


def test_torch_se_block_stays_at_its_level() -> None:
    torch = pytest.importorskip("torch")
    from torch import nn

    from fpnprof.backends.torch_import import import_torch_module

    class SE(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Conv2d(8, 8, 1)

        def forward(self, feats: list[Any]) -> list[Any]:
            p3, p4, p5 = feats
            return [p3 * torch.sigmoid(self.fc(self.pool(p3))), torch.relu(p4), torch.relu(p5)]

    neck = import_torch_module(SE(), in_channels=CHANNELS, sides=SIDES, batch=1, name="se")
    se = {op.op.value: op.level for op in neck.ops if op.op.value != "relu"}
    assert se == {"adaptive_avgpool": 3, "conv": 3, "sigmoid": 3, "mul": 3}
    assert sorted(op.level for op in neck.ops if op.op.value == "relu") == [4, 5]


def test_paddle_se_block_stays_at_its_level() -> None:
    paddle = pytest.importorskip("paddle")
    from paddle import nn

    from fpnprof.backends.paddle_import import import_paddle_layer

    class SE(nn.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.pool = nn.AdaptiveAvgPool2D(1)
            self.fc = nn.Conv2D(8, 8, 1)

        def forward(self, feats):  # type: ignore[no-untyped-def]
            p3, p4, p5 = feats
            return [
                p3 * paddle.nn.functional.sigmoid(self.fc(self.pool(p3))),
                paddle.nn.functional.relu(p4),
                paddle.nn.functional.relu(p5),
            ]

    neck = import_paddle_layer(SE(), in_channels=CHANNELS, sides=SIDES, batch=1, name="se")
    se = {op.op.value: op.level for op in neck.ops if op.op.value != "relu"}
    assert se == {"adaptive_avgpool": 3, "conv": 3, "sigmoid": 3, "mul": 3}
    assert sorted(op.level for op in neck.ops if op.op.value == "relu") == [4, 5]
