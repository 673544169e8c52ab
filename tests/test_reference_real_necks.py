"""The four reference necks in tests/reference_necks/ (mmdet FPN, YOLOv8 PAN, PP-YOLOE CustomCSPPAN, PicoDet CSPPAN).

Each is built at its factory defaults on C3-C5 = (128, 256, 512) channels at sides 32, 16, 8 and checked for
output count and shapes, a parameter count worked out by hand from the original architecture, submodule paths
as the originals name them, running-stat BatchNorm (eval) and determinism; the Paddle ones also through
``paddle.jit.to_static``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
import torch

os.environ.setdefault("FLAGS_enable_pir_api", "0")  # before paddle is imported anywhere in this module

IN_CHANNELS = (128, 256, 512)
SIDES = (32, 16, 8)


def conv(c_in: int, c_out: int, k: int, groups: int = 1, bias: bool = False) -> int:
    """Weights (and bias) of one Conv2d."""
    return c_out * (c_in // groups) * k * k + (c_out if bias else 0)


def conv_bn(c_in: int, c_out: int, k: int, groups: int = 1) -> int:
    """A bias-free conv followed by BatchNorm's trainable weight and bias."""
    return conv(c_in, c_out, k, groups) + 2 * c_out


# ----------------------------------------------------------------------------------------------- torch


def torch_inputs(batch: int = 1) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return [torch.randn(batch, c, s, s, generator=g) for c, s in zip(IN_CHANNELS, SIDES, strict=True)]


def torch_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def check_torch_eval(module: torch.nn.Module) -> list[torch.Tensor]:
    """Run twice on the same input (identical results) and on a batch of two (item 0 unchanged: running stats)."""
    module.eval()
    x = torch_inputs()
    with torch.no_grad():
        first = list(module(x))
        second = list(module([t.clone() for t in x]))
        other = torch_inputs()  # same seed: equal to x
        paired = list(module([torch.cat([a, torch.randn_like(a)]) for a in other]))
    for a, b, c in zip(first, second, paired, strict=True):
        assert torch.equal(a, b)
        torch.testing.assert_close(c[:1], a, rtol=1e-4, atol=1e-5)
    return first


def test_mmdet_retinanet_fpn() -> None:
    from reference_necks.mmdet_fpn import retinanet_fpn

    neck = retinanet_fpn()
    outs = check_torch_eval(neck)
    assert [tuple(o.shape) for o in outs] == [(1, 256, s, s) for s in (32, 16, 8, 4, 2)]  # P3..P7
    c = 256
    expected = (
        sum(conv(ci, c, 1, bias=True) for ci in IN_CHANNELS)  # lateral_convs.0-2: 1x1 with bias (no norm)
        + 3 * conv(c, c, 3, bias=True)  # fpn_convs.0-2: 3x3
        + conv(512, c, 3, bias=True)  # fpn_convs.3: P6 = 3x3/s2 on C5 ('on_input')
        + conv(c, c, 3, bias=True)  # fpn_convs.4: P7 = 3x3/s2 on P6
    )
    assert torch_params(neck) == expected
    names = dict(neck.named_modules())
    assert {"lateral_convs.0.conv", "lateral_convs.2.conv", "fpn_convs.3.conv", "fpn_convs.4.conv"} <= names.keys()
    assert "fpn_convs.5" not in names
    assert names["fpn_convs.3.conv"].in_channels == 512
    with torch.no_grad():
        assert isinstance(neck(torch_inputs()), tuple)  # as mmdet returns


def test_mmdet_fpn_extra_sources_and_maxpool() -> None:
    from reference_necks.mmdet_fpn import FPN

    on_output = FPN(list(IN_CHANNELS), 64, num_outs=5, add_extra_convs="on_output", relu_before_extra_convs=True).eval()
    assert dict(on_output.named_modules())["fpn_convs.3.conv"].in_channels == 64
    pooled = FPN(list(IN_CHANNELS), 64, num_outs=5).eval()  # no extra convs: max-pool subsampling of the top output
    with torch.no_grad():
        outs = pooled(torch_inputs())
    assert [o.shape[-1] for o in outs] == [32, 16, 8, 4, 2]
    assert torch.equal(outs[3], outs[2][:, :, ::2, ::2])
    assert len(pooled.fpn_convs) == 3


def c2f(c_in: int, c_out: int, n: int = 1) -> int:
    """ultralytics C2f: cv1 1x1 to 2c, n bottlenecks of two 3x3 convs at c, cv2 1x1 from (2+n)c."""
    c = c_out // 2
    return conv_bn(c_in, 2 * c, 1) + conv_bn((2 + n) * c, c_out, 1) + n * 2 * conv_bn(c, c, 3)


def test_yolov8s_pan() -> None:
    from reference_necks.yolov8_pan import YOLOv8PAN

    neck = YOLOv8PAN()
    outs = check_torch_eval(neck)
    assert [tuple(o.shape) for o in outs] == [(1, 128, 32, 32), (1, 256, 16, 16), (1, 512, 8, 8)]
    # YOLOv8s widths: yaml channels x 0.50 (max 1024), rounded to multiples of 8; repeats round(3 x 0.33) = 1
    expected = (
        c2f(512 + 256, 256)  # 12: C2f(upsampled P5 ++ P4)
        + c2f(256 + 128, 128)  # 15: C2f(upsampled 12 ++ P3) -> P3 out
        + conv_bn(128, 128, 3)  # 16: Conv 3x3/s2
        + c2f(128 + 256, 256)  # 18: C2f(16 ++ 12) -> P4 out
        + conv_bn(256, 256, 3)  # 19: Conv 3x3/s2
        + c2f(256 + 512, 512)  # 21: C2f(19 ++ P5) -> P5 out
    )
    assert torch_params(neck) == expected
    names = dict(neck.named_modules())
    assert {"model.10", "model.11", "model.12.cv1.conv", "model.12.m.0.cv2.bn", "model.21.cv2.act"} <= names.keys()
    assert "model.12.m.1" not in names
    bn = names["model.16.bn"]
    assert isinstance(bn, torch.nn.BatchNorm2d) and (bn.eps, bn.momentum) == (1e-3, 0.03)
    assert not any(getattr(m, "add", False) for m in neck.modules())  # shortcut=False in the neck's C2f


def test_yolov8_pan_repeats() -> None:
    from reference_necks.yolov8_pan import YOLOv8PAN

    two = YOLOv8PAN(n=2)
    assert torch_params(two) - torch_params(YOLOv8PAN()) == sum(
        conv(c // 2, c, 1) + 2 * conv_bn(c // 2, c // 2, 3)  # c/2 more inputs to cv2, one more bottleneck
        for c in (256, 128, 256, 512)
    )


# ----------------------------------------------------------------------------------------------- paddle


@pytest.fixture(scope="module")
def paddle_mod() -> Any:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    return pytest.importorskip("paddle")


def paddle_inputs(paddle: Any, batch: int = 1) -> list[Any]:
    rng = np.random.default_rng(0)
    return [
        paddle.to_tensor(rng.standard_normal((batch, c, s, s)).astype("float32")) for c, s in zip(IN_CHANNELS, SIDES, strict=True)
    ]


def paddle_trainable(layer: Any) -> int:
    return sum(int(np.prod(p.shape)) for p in layer.parameters() if not p.stop_gradient)


def check_paddle_eval(paddle: Any, layer: Any) -> list[Any]:
    """Twice the same output; item 0 of a batch of two equals the single run (BN on running stats)."""
    layer.eval()
    x = paddle_inputs(paddle)
    first = [o.numpy() for o in layer(x)]
    second = [o.numpy() for o in layer([paddle.assign(t) for t in x])]
    noise = np.random.default_rng(1)
    paired = layer([paddle.concat([t, paddle.to_tensor(noise.standard_normal(t.shape).astype("float32"))]) for t in x])
    for a, b, c in zip(first, second, paired, strict=True):
        assert np.array_equal(a, b)
        np.testing.assert_allclose(c.numpy()[:1], a, rtol=1e-4, atol=1e-5)
    return first


def check_to_static(paddle: Any, build: Callable[[], Any], eager: Sequence[np.ndarray]) -> None:
    """``paddle.jit.to_static`` with one InputSpec per level converts the whole forward and gives the same outputs."""
    from paddle.static import InputSpec

    paddle.seed(0)
    layer = build()
    layer.eval()
    specs = [
        InputSpec([1, c, s, s], "float32", name=f"c{i + 3}") for i, (c, s) in enumerate(zip(IN_CHANNELS, SIDES, strict=True))
    ]
    static = paddle.jit.to_static(layer, input_spec=[specs], full_graph=True)
    outs = [o.numpy() for o in static(paddle_inputs(paddle))]
    assert [o.shape for o in outs] == [e.shape for e in eager]
    for o, e in zip(outs, eager, strict=True):
        np.testing.assert_allclose(o, e, rtol=1e-4, atol=1e-4)


def csp_stage(c_in: int, c_out: int, spp: bool) -> int:
    """ppdet CSPStage with one BasicBlock (ConvBN 3x3 + RepVgg 3x3||1x1) and, at the top level, SPP's 1x1 on 4 x mid."""
    mid = c_out // 2
    return (
        2 * conv_bn(c_in, mid, 1)  # conv1, conv2
        + conv_bn(mid, mid, 3)  # convs.0.conv1
        + conv_bn(mid, mid, 3)  # convs.0.conv2.conv1 (RepVgg 3x3)
        + conv_bn(mid, mid, 1)  # convs.0.conv2.conv2 (RepVgg 1x1)
        + (conv_bn(4 * mid, mid, 1) if spp else 0)  # convs.spp.conv
        + conv_bn(2 * mid, c_out, 1)  # conv3
    )


def test_ppyoloe_s_custom_csp_pan(paddle_mod: Any) -> None:
    from reference_necks.ppyoloe_custom_csp_pan import ppyoloe_s_pan

    paddle = paddle_mod
    paddle.seed(0)
    neck = ppyoloe_s_pan()
    outs = check_paddle_eval(paddle, neck)
    # out_channels [768, 384, 192] x 0.50 = [384, 192, 96], listed from the top level down; block_num round(3 x 0.33) = 1
    assert [o.shape for o in outs] == [(1, 384, 8, 8), (1, 192, 16, 16), (1, 96, 32, 32)]
    expected = (
        csp_stage(512, 384, spp=True)  # fpn_stages.0 on C5
        + conv_bn(384, 192, 1)  # fpn_routes.0
        + csp_stage(256 + 192, 192, spp=False)  # fpn_stages.1 on C4 ++ upsampled route
        + conv_bn(192, 96, 1)  # fpn_routes.1
        + csp_stage(128 + 96, 96, spp=False)  # fpn_stages.2 on C3 ++ upsampled route
        + conv_bn(96, 96, 3)  # pan_routes.1: 3x3/s2
        + csp_stage(96 + 192, 192, spp=False)  # pan_stages.1
        + conv_bn(192, 192, 3)  # pan_routes.0: 3x3/s2
        + csp_stage(192 + 384, 384, spp=False)  # pan_stages.0
    )
    assert paddle_trainable(neck) == expected
    names = {n for n, _ in neck.named_sublayers()}
    assert {
        "fpn_stages.0.0.convs.spp.pool2",
        "fpn_stages.0.0.convs.spp.conv.conv",
        "pan_routes.1.conv",
        "fpn_stages.2.0.convs.0.conv2.conv2.bn",
    } <= names
    assert "fpn_stages.1.0.convs.spp" not in names and "fpn_stages.0.0.convs.1" not in names
    check_to_static(paddle, ppyoloe_s_pan, outs)


def csp_layer(c_in: int, c_out: int, k: int) -> int:
    """ppdet CSPLayer (expand 0.5, one depthwise DarknetBottleneck without identity)."""
    mid = c_out // 2
    return 2 * conv_bn(c_in, mid, 1) + conv_bn(2 * mid, c_out, 1) + conv_bn(mid, mid, 1) + dp_module(mid, k)


def dp_module(c: int, k: int) -> int:
    """Depthwise kxk conv + BN, pointwise 1x1 + BN."""
    return conv_bn(c, c, k, groups=c) + conv_bn(c, c, 1)


def test_picodet_s_csp_pan(paddle_mod: Any) -> None:
    from reference_necks.picodet_csp_pan import picodet_s_pan

    paddle = paddle_mod
    paddle.seed(0)
    neck = picodet_s_pan()
    outs = check_paddle_eval(paddle, neck)
    assert [o.shape for o in outs] == [(1, 96, s, s) for s in (32, 16, 8, 4)]
    c, k = 96, 5
    expected = (
        sum(conv_bn(ci, c, 1) for ci in IN_CHANNELS)  # conv_t.convs.0-2
        + 2 * dp_module(c, k)  # first_top_conv, second_top_conv (stride 2)
        + 2 * csp_layer(2 * c, c, k)  # top_down_blocks.0-1
        + 2 * dp_module(c, k)  # downsamples.0-1 (stride 2)
        + 2 * csp_layer(2 * c, c, k)  # bottom_up_blocks.0-1
    )
    assert paddle_trainable(neck) == expected
    names = {n for n, _ in neck.named_sublayers()}
    assert {
        "conv_t.convs.2.conv",
        "first_top_conv.dwconv",
        "top_down_blocks.1.blocks.0.conv2.pwconv",
        "bottom_up_blocks.0.final_conv.bn",
    } <= names
    assert neck.spatial_scales == [0.125, 0.0625, 0.03125, 0.015625]
    assert picodet_s_pan().spatial_scales == neck.spatial_scales  # the original's default list grew on every build
    check_to_static(paddle, picodet_s_pan, outs)
