"""Cross-framework: a neck imported from torch, lowered to Paddle by fpnprof, computes what its torch
source computes (fp32, relative error under 1e-5). The shipped torch-imported necks are the cases:
their references' weights (randomised, BN statistics included) go into fpnprof's torch lowering by
module path, then into its Paddle lowering by node; the Paddle forward is compared with the source's."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from fpnprof.model.backbone import level_sides
from fpnprof.model.graphneck_build import standalone_graph
from fpnprof.model.neckfile import SHIPPED
from fpnprof.model.neckfile.graphform import load_graph_form

torch = pytest.importorskip("torch")
paddle = pytest.importorskip("paddle")

from imported_necks import make_reference  # noqa: E402
from transfer import torch_to_paddle  # noqa: E402

from fpnprof.backends import paddle_backend, torch_backend  # noqa: E402
from fpnprof.backends.torch_import_proof import copy_weights  # noqa: E402

TORCH_NECKS = {"retinanet-fpn.toml": ("mmdet_fpn", "retinanet_fpn"), "yolov8-pan.toml": ("yolov8_pan", "YOLOv8PAN")}


def _reference(module: str, factory: str) -> Any:
    model, _ = make_reference(module, factory)
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():  # BatchNorm away from its identity defaults, statistics included
        for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
            bn.weight.copy_(torch.rand(bn.weight.shape, generator=gen) + 0.5)
            bn.bias.copy_(torch.rand(bn.bias.shape, generator=gen) * 0.2 - 0.1)
            bn.running_mean.copy_(torch.rand(bn.running_mean.shape, generator=gen) * 0.2 - 0.1)
            bn.running_var.copy_(torch.rand(bn.running_var.shape, generator=gen) + 0.5)
    return model.eval()


@pytest.mark.parametrize("file", sorted(TORCH_NECKS))
def test_torch_import_lowered_to_paddle_computes_the_source(file: str) -> None:
    neck = load_graph_form(file, (SHIPPED / file).read_text(encoding="utf-8"))
    source = _reference(*TORCH_NECKS[file])
    sides = level_sides(64, "tutorial", max(neck.in_channels))
    shapes = {lvl: (1, c, sides[lvl], sides[lvl]) for lvl, c in neck.in_channels.items()}
    graph = standalone_graph(neck, shapes)
    lowered_torch = torch_backend.lower(graph)
    copy_weights(source, lowered_torch, neck)
    lowered_paddle = paddle_backend.lower(graph)
    assert torch_to_paddle(lowered_torch, lowered_paddle, graph) > 0
    gen = torch.Generator().manual_seed(3)
    inputs = [torch.randn(*shapes[lvl], generator=gen) for lvl in sorted(shapes)]
    with torch.no_grad():
        theirs = sorted(source(list(inputs)), key=lambda t: -t.shape[2])
    ours = lowered_paddle([paddle.to_tensor(t.numpy()) for t in inputs])
    assert len(ours) == len(theirs) == len(neck.outputs)
    for level, a, b in zip(sorted(neck.outputs), ours, theirs, strict=True):
        ref = b.numpy()
        error = float(np.abs(a.numpy() - ref).max() / np.abs(ref).max())
        assert error < 1e-5, f"{file} P{level}: relative error {error:.1e}"
