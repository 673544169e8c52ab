"""Paddle Inference's per-node times from its profiler: every op of the optimised program is given to
the node it computes part of, and every kernel the latency model prices gets a time of its own."""

from __future__ import annotations

import pytest

from fpnprof.backends import paddle_profile
from fpnprof.backends.paddle_profile import ProfileMismatch, ProgramOp, node_pass, op_nodes
from fpnprof.latency.kernels import graph_kernels, kernel_ms
from fpnprof.latency.sampling import NECK_FORMS
from fpnprof.model.config import NeckConfig
from fpnprof.model.necks import neck_spec
from fpnprof.model.parts import part_graph

#: A conv with a bias and a ReLU as Paddle Inference runs them (conv2d, then the bias add that absorbed
#: the ReLU), then an attention: a global pool, a sigmoid, a product and the add that writes its value.
OPS = [
    ProgramOp("conv2d", ("x0", "w"), ("conv2d_0.tmp_0",)),
    ProgramOp("fused_elementwise_add", ("conv2d_0.tmp_0", "b"), ("relu_0.tmp_0",)),
    ProgramOp("pool2d", ("relu_0.tmp_0",), ("pool2d_0.tmp_0",)),
    ProgramOp("sigmoid", ("pool2d_0.tmp_0",), ("sigmoid_0.tmp_0",)),
    ProgramOp("elementwise_mul", ("sigmoid_0.tmp_0", "x1"), ("tmp_0",)),
    ProgramOp("elementwise_add", ("relu_0.tmp_0", "tmp_0"), ("tmp_1",)),
]
NODE_VARS = {"x0": "x0", "x1": "x1", "conv": "conv2d_0.tmp_1", "relu": "relu_0.tmp_0", "attention": "tmp_1"}


def test_each_op_goes_to_the_node_it_computes_part_of() -> None:
    assert op_nodes(OPS, NODE_VARS) == ["relu", "relu", "attention", "attention", "attention", "attention"]


def test_an_op_that_computes_no_node_is_refused() -> None:
    stray = [*OPS, ProgramOp("scale", ("x1",), ("scale_0.tmp_0",))]
    with pytest.raises(ProfileMismatch, match=r"op 6 \(scale\)"):
        op_nodes(stray, NODE_VARS)


class _Spans:
    def __init__(self, spans: list[tuple[str, float]]) -> None:
        self.spans_seen = spans

    def spans(self, run: object) -> list[tuple[str, float]]:
        return self.spans_seen


def test_a_profiled_pass_sums_its_ops_per_node(monkeypatch: pytest.MonkeyPatch) -> None:
    spans = [(op.type, 0.1 * (i + 1)) for i, op in enumerate(OPS)]
    monkeypatch.setattr(paddle_profile, "_profiler", lambda: _Spans(spans))
    assert node_pass(lambda: None, OPS, NODE_VARS)() == pytest.approx({"relu": 0.3, "attention": 1.8})
    monkeypatch.setattr(paddle_profile, "_profiler", lambda: _Spans(spans[:-1]))  # an op the program does not hold
    with pytest.raises(ProfileMismatch, match="5 ops that are not the 6"):
        node_pass(lambda: None, OPS, NODE_VARS)()


def _small(form: tuple[str, str]) -> NeckConfig:
    neck, variant = form
    d = neck_spec(neck).defaults_for(variant)
    return NeckConfig(neck, variant=variant, channels=16, size=64, levels=d["levels"], min_level=d.get("min_level", 3))


def test_every_kernel_of_every_shipped_neck_gets_its_time_on_paddle_inference() -> None:
    """End to end in a worker process: Paddle Inference's profiled passes, attributed to nodes, give
    every kernel the model prices (fused or not) a time, and no time to a node the graph lacks."""
    pytest.importorskip("paddle")
    from fpnprof.bench.kernels import time_necks_apart

    configs = [_small(f) for f in NECK_FORMS if f != ("bifpn", "tutorial")]  # the seed's BiFPN: 4 GFLOPs even so
    spec = {"device": "cpu", "engine": "inference", "dtype": "fp32", "threads": 1}
    [timings] = time_necks_apart("paddle", configs, spec, runs=2, passes=2, seed=0, workers=1)
    fused = 0
    for cfg, timing in zip(configs, timings, strict=True):
        graph = part_graph(cfg, "neck")
        assert set(timing.node_ms) <= {n.id for n in graph}, cfg.neck
        kernels = graph_kernels(graph, "inference")
        fused += sum(len(k.nodes) > 1 for k in kernels)
        missing = [k.nodes for k in kernels if kernel_ms(k, timing.node_ms) <= 0]
        assert missing == [], (cfg.neck, cfg.variant)
    assert fused > 20  # fused kernels, whose time the profiler puts on one of their nodes
