"""Helpers that run a graph in Paddle and torch and compare everything with the analytic model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from transfer import paddle_to_torch, randomize_paddle

from fpnprof.backends import load
from fpnprof.backends.aten_ops import expected_unsupported
from fpnprof.cost.analysis import profile_graph
from fpnprof.cost.results import Profile
from fpnprof.model.config import NeckConfig
from fpnprof.model.graph import Graph, Part
from fpnprof.model.necks import build_graph


@dataclass
class Built:
    cfg: NeckConfig
    graph: Graph
    profile: Profile


def build(cfg: NeckConfig) -> Built:
    graph = build_graph(cfg)
    return Built(cfg, graph, profile_graph(cfg, graph))


def check_paddle(b: Built, *, run: bool = True) -> None:
    """Paddle builds the model with the analytic parameter and BN counts; with ``run``, a forward pass
    gives every node the analytic shape."""
    pb = load("paddle")
    model = pb.lower(b.graph)
    if run:
        real = pb.node_shapes(model, pb.random_inputs(b.graph))
        assert {n.id: tuple(n.shape) for n in b.profile.nodes} == real
    assert pb.count_parameters(model) == (b.profile.model_total.params, b.profile.model_total.buffers)


def check_torch_shapes(b: Built) -> None:
    tb = load("torch")
    real = tb.node_shapes(tb.lower(b.graph), tb.random_inputs(b.graph))
    assert {n.id: tuple(n.shape) for n in b.profile.nodes} == real


def check_torch_counts(b: Built) -> None:
    from fpnprof.backends import torch_backend as tb  # its fvcore helpers are beyond the Backend protocol

    model = tb.lower(b.graph)
    inputs = tb.random_inputs(b.graph)
    assert tb.count_parameters(model) == (b.profile.model_total.params, b.profile.model_total.buffers)
    total, per_node, unsupported = tb.fvcore_counts(model, inputs)
    assert total == b.profile.model_total.macs
    for row in b.profile.levels:
        fv = sum(v for k, v in per_node.items() if b.graph[k].part is Part.NECK and b.graph[k].level == row.level)
        assert fv == row.totals.macs, row.name
    assert sum(v for k, v in per_node.items() if b.graph[k].part is Part.BACKBONE) == b.profile.backbone_total.macs
    assert unsupported == expected_unsupported(b.graph)
    conv_flops = sum(2 * n.totals.macs for n in b.profile.nodes if n.op == "conv")
    assert tb.conv_flops_flopcounter(model, inputs) == conv_flops


def paddle_torch_errors(b: Built, seed: int = 0) -> list[float]:
    """Relative L2 error per output level between Paddle and torch with copied, randomised weights."""
    import paddle
    import torch

    pb, tb = load("paddle"), load("torch")
    paddle.seed(seed)  # the conv weights are Paddle's own initialisation: the same in every test order
    pm, tm = pb.lower(b.graph), tb.lower(b.graph)
    randomize_paddle(pm, b.graph, seed)
    assert paddle_to_torch(pm, tm, b.graph) > 0
    rng = np.random.default_rng(seed + 1)
    xs = [rng.standard_normal(n.attrs["shape"]).astype("float32") for n in b.graph.inputs]
    with paddle.no_grad():
        p_out = pm([paddle.to_tensor(x) for x in xs])
    with torch.no_grad():
        t_out = tm(*[torch.from_numpy(x) for x in xs])
    return [float(np.linalg.norm(a.numpy() - t.numpy()) / np.linalg.norm(t.numpy())) for a, t in zip(p_out, t_out, strict=True)][
        : len(b.graph.outputs)
    ]
