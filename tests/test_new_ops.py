"""The ops real necks use, one node each: shape, parameters, MACs and FLOPs worked out by hand; the
torch lowering against a direct call of the torch function (float64) with fvcore's MACs and its
parameter count; the Paddle lowering against torch's on the same weights; bad graphs refused; labels;
kernel classes; and Paddle Inference's fusions of the new activations and heads.

Run as a script (Paddle's IR flag set by the caller), it prints the op counts of :func:`fusion_graph`
after Paddle Inference's passes as JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from new_op_cases import CASES, Case, X, one_op

from fpnprof.cost.ops import OPS, node_cost
from fpnprof.errors import ConfigError, GraphError
from fpnprof.latency.kernels import fusion_mismatches, fusion_signature, graph_kernels, kernel_class
from fpnprof.latency.predict import kernel_times
from fpnprof.model.builder import GraphBuilder
from fpnprof.model.graph import Graph, Op
from fpnprof.model.labels import label

NEW_OPS = {
    Op.GROUPNORM,
    Op.LEAKY_RELU,
    Op.HARDSWISH,
    Op.HARDSIGMOID,
    Op.SIGMOID,
    Op.RESIZE_BILINEAR,
    Op.CONV_TRANSPOSE,
    Op.ADAPTIVE_AVGPOOL,
    Op.MUL,
    Op.SUB,
    Op.DIV,
    Op.PAD,
    Op.CHANNEL_SLICE,
}


def test_every_new_op_has_a_case() -> None:
    assert {c.op for c in CASES.values()} >= NEW_OPS


@pytest.mark.parametrize("name", list(CASES))
def test_shape_params_macs_and_flops_by_hand(name: str) -> None:
    case = CASES[name]
    graph = one_op(case)
    node = graph["n"]
    cost = node_cost(node, list(case.inputs))
    assert node.shape == case.shape
    assert (cost.params, cost.buffers, cost.macs, cost.flops) == (case.params, 0, case.macs, case.flops)


# torch -----------------------------------------------------------------------------------------
def _reference(case: Case, module: Any, xs: list[Any]) -> Any:
    """The case's op by a direct call of torch (or plain tensor arithmetic), with the module's weights."""
    import torch
    import torch.nn.functional as F

    a, x = case.attrs, xs[0]
    if case.op is Op.GROUPNORM:
        return F.group_norm(x, a["groups"], module.weight, module.bias, a["eps"])
    if case.op is Op.LEAKY_RELU:
        return torch.where(x > 0, x, a["negative_slope"] * x)
    if case.op is Op.HARDSWISH:
        return x * torch.clamp(x + 3, 0, 6) / 6
    if case.op is Op.HARDSIGMOID:
        return torch.clamp(a["slope"] * x + a["offset"], 0, 1)
    if case.op is Op.SIGMOID:
        return 1 / (1 + torch.exp(-x))
    if case.op is Op.RESIZE_BILINEAR:
        return F.interpolate(x, size=a["size"], mode="bilinear", align_corners=a["align_corners"])
    if case.op is Op.CONV_TRANSPOSE:
        return F.conv_transpose2d(x, module.weight, module.bias, a["stride"], a["padding"], a["output_padding"], a["groups"])
    if case.op is Op.ADAPTIVE_AVGPOOL:
        return x.mean(dim=(2, 3), keepdim=True) if a["size"] == (1, 1) else F.adaptive_avg_pool2d(x, a["size"])
    if case.op in (Op.MUL, Op.SUB, Op.DIV, Op.ADD):
        fn: dict[Op, Callable[[Any, Any], Any]] = {
            Op.MUL: torch.mul,
            Op.SUB: torch.sub,
            Op.DIV: torch.div,
            Op.ADD: torch.add,
        }
        return fn[case.op](x, xs[1])
    if case.op is Op.PAD:
        top, bottom, left, right = a["padding"]
        return F.pad(x, (left, right, top, bottom), value=a["value"])
    if case.op is Op.CHANNEL_SLICE:
        return x[:, a["start"] : a["stop"]]
    if case.op is Op.CONV:
        return F.conv2d(x, module.weight, module.bias, a["stride"], a["padding"], 1, a["groups"])
    if case.op is Op.MAXPOOL:
        return F.max_pool2d(x, a["kernel"], a["stride"], a["padding"][0])
    raise AssertionError(case.op)


def _inputs(case: Case, seed: int = 0) -> list[np.ndarray]:
    """Random inputs; a divisor kept away from zero."""
    rng = np.random.default_rng(seed)
    xs = [rng.normal(0, 2, shape) for shape in case.inputs]
    if case.op is Op.DIV:
        xs[1] = np.abs(xs[1]) + 0.5
    return xs


def _torch_model(case: Case, seed: int = 0) -> Any:
    """The torch lowering with random weights (a swapped weight and bias cannot hide behind 1s and 0s)."""
    import torch

    from fpnprof.backends import torch_backend as tb

    model = tb.lower(one_op(case))
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))
    return model


def torch_mismatch(case: Case) -> float:
    """Largest |lowering - direct call| in float64 over the largest |direct call|."""
    import torch

    model = _torch_model(case).double()
    xs = [torch.from_numpy(x) for x in _inputs(case)]
    with torch.no_grad():
        (out,) = model(*xs)
        ref = _reference(case, model.nodes["n"], xs)
    assert tuple(out.shape) == tuple(ref.shape) == case.shape
    return float((out - ref).abs().max() / ref.abs().max().clamp(min=1e-12))


#: Paddle's default hard-sigmoid slope 0.1666667 lowers to torch's exact 1/6: they differ by 2e-7.
TOLERANCE = {"hardsigmoid_paddle": 1e-6}


@pytest.mark.parametrize("name", list(CASES))
def test_torch_lowering_is_the_torch_function_with_fvcores_macs(name: str) -> None:
    from fpnprof.backends import torch_backend as tb
    from fpnprof.backends.aten_ops import expected_unsupported

    case = CASES[name]
    assert torch_mismatch(case) < TOLERANCE.get(name, 1e-12)
    graph = one_op(case)
    model = tb.lower(graph)
    assert tb.count_parameters(model) == (case.params, 0)
    total, per_node, unsupported = tb.fvcore_counts(model, tb.random_inputs(graph))
    assert total == per_node["n"] == case.macs
    assert unsupported == Counter(case.aten) == expected_unsupported(graph)


def test_a_wrong_lowering_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bilinear lowered as nearest: same shape, parameters and (fpnprof's) counts, wrong values."""
    import torch.nn.functional as F

    from fpnprof.backends import torch_backend as tb

    case = CASES["bilinear"]
    assert torch_mismatch(case) < 1e-12
    nearest = lambda n: tb._Fn(lambda x: F.interpolate(x, size=tuple(n.attrs["size"]), mode="nearest"))  # noqa: E731
    monkeypatch.setitem(tb.LOWER, Op.RESIZE_BILINEAR, nearest)
    assert torch_mismatch(case) > 0.01


# Paddle ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(CASES))
def test_paddle_lowering_equals_torch_on_the_same_weights(name: str) -> None:
    import paddle
    import torch

    from fpnprof.backends import paddle_backend as pb

    case = CASES[name]
    graph = one_op(case)
    tmodel, pmodel = _torch_model(case), pb.lower(graph)
    assert pb.count_parameters(pmodel) == (case.params, 0)
    src, dst = tmodel.nodes["n"], pmodel.nodes["n"]
    for weight in ("weight", "bias"):
        if getattr(src, weight, None) is not None:
            getattr(dst, weight).set_value(paddle.to_tensor(getattr(src, weight).detach().numpy()))
    xs = [x.astype("float32") for x in _inputs(case, seed=1)]
    with torch.no_grad():
        (expected,) = tmodel(*[torch.from_numpy(x) for x in xs])
    (out,) = pmodel([paddle.to_tensor(x) for x in xs])
    got, want = out.numpy(), expected.numpy()
    assert got.shape == want.shape == case.shape
    assert np.abs(got - want).max() / max(np.abs(want).max(), 1e-12) < 1e-5


# refusals, labels, latency ---------------------------------------------------------------------
def _refused(op: Op, inputs: tuple[tuple[int, int, int, int], ...], match: str, **attrs: Any) -> None:
    b = GraphBuilder()
    xs = tuple(b.input(f"x{i}", shape) for i, shape in enumerate(inputs))
    with pytest.raises(GraphError, match=match):
        b.add(op, xs, "n", **attrs)


def test_graphs_that_cannot_run_are_refused() -> None:
    y = (2, 8, 4, 4)
    _refused(Op.GROUPNORM, (X,), "expects 6 channels", channels=6, groups=2, eps=1e-5)
    _refused(Op.GROUPNORM, (X,), "3 groups do not divide its 8 channels", channels=8, groups=3, eps=1e-5)
    _refused(Op.SIGMOID, (X, X), "takes one input")
    for op in (Op.MUL, Op.SUB, Op.DIV):
        _refused(op, (X,), "takes two inputs")
        _refused(op, (X, X, X), "takes two inputs")
        _refused(op, (X, y), "equal input shapes or two that broadcast")
    _refused(Op.ADD, (X, y), "equal input shapes or two that broadcast")
    _refused(Op.ADD, (X, X, (2, 8, 1, 1)), "needs equal input shapes")
    _refused(Op.CONV_TRANSPOSE, (X,), "expects 4 input channels", **{**CASES["conv_transpose"].attrs, "in_channels": 4})
    _refused(
        Op.CONV_TRANSPOSE,
        (X,),
        "output_padding 2 must be below its stride 2",
        **{**CASES["conv_transpose"].attrs, "output_padding": 2},
    )
    _refused(
        Op.CONV_TRANSPOSE, (X,), r"needs attribute\(s\) \['bias'\]", in_channels=8, out_channels=8, kernel=2, stride=2, padding=0
    )
    _refused(Op.CONV_TRANSPOSE, (X,), "groups=3 must divide", **{**CASES["conv_transpose"].attrs, "groups": 3})
    _refused(Op.CONV, (X,), "groups=3 must divide", **{**CASES["grouped_conv"].attrs, "groups": 3})
    _refused(Op.PAD, (X,), "non-negative padding", padding=(0, -1, 0, 0), value=0.0)
    _refused(Op.CHANNEL_SLICE, (X,), r"channel slice \[4, 9\) of 8 channels", start=4, stop=9)
    _refused(Op.CHANNEL_SLICE, (X,), r"channel slice \[3, 3\)", start=3, stop=3)


def test_labels_tell_nodes_apart() -> None:
    labels = {name: label(one_op(case)["n"]) for name, case in CASES.items()}
    assert labels["grouped_conv"] == "grouped (g=4) conv 3x3/s1 8->12"
    assert labels["conv_transpose"] == "grouped (g=4) conv_transpose 3x3/s2 8->12"
    assert labels["hardsigmoid"] == labels["hardsigmoid_paddle"] == "hardsigmoid"
    assert labels["hardsigmoid_0.2"] == "hardsigmoid (slope 0.2, offset 0.5)"
    assert labels["pad_value"] == "pad t2 b0 l1 r1 with -1.5"
    assert labels["channel_slice"] == "channel_slice [2:7]"
    assert labels["bilinear_corners"] == "resize_bilinear to 12x10 (align_corners)"
    b = GraphBuilder()
    depthwise = b.conv(b.input("x", X), 8, 3, "dw", groups=8)
    assert label(b.graph[depthwise]) == "depthwise conv 3x3/s1 8->8"


def test_each_op_is_a_kernel_class_and_an_uncalibrated_one_says_so() -> None:
    """Every new op is a kernel class calibration draws samples of; a model made before it says recalibrate."""
    from fpnprof.latency.sampling import drawn_classes

    classes = {name: kernel_class(one_op(case)["n"]) for name, case in CASES.items()}
    assert {c for name, c in classes.items() if CASES[name].op in NEW_OPS} <= set(drawn_classes())
    assert classes["grouped_conv"] == "conv_grouped" and classes["spp_pool13"] == "maxpool"
    assert all(classes[name] == case.op.value for name, case in CASES.items() if case.op in NEW_OPS)
    kernels = graph_kernels(one_op(CASES["conv_transpose"]), "eager")
    assert [(k.cls, k.groups) for k in kernels] == [("conv_transpose+bias", 4)]
    with pytest.raises(ConfigError, match=r"no fit for conv_transpose\+bias kernels .*recalibrate with this fpnprof"):
        kernel_times({}, {}, kernels)
    b = GraphBuilder()
    b.graph.outputs = {0: b.conv(b.input("x", X), 8, 3, "c", bias=False)}
    with pytest.raises(ConfigError, match=r"no fit for conv3x3 kernels .*: recalibrate with this fpnprof"):
        kernel_times({}, {}, graph_kernels(b.graph, "eager"))


def test_fvcore_treatments_match_the_aten_lists() -> None:
    """A node fvcore counts reports nothing unsupported; an unsupported one reports its aten ops."""
    for name, case in CASES.items():
        spec = OPS[case.op]
        counted = case.macs > 0
        assert (spec.fvcore == "counted") == counted, name
        if spec.fvcore == "unsupported":
            assert case.aten, name


# Paddle Inference's fusions --------------------------------------------------------------------
ACTS: dict[Op, dict[str, Any]] = {
    Op.LEAKY_RELU: {"negative_slope": 0.1},
    Op.HARDSWISH: {},
    Op.SIGMOID: {},
    Op.HARDSIGMOID: {"slope": 0.2, "offset": 0.5},
}


def fusion_graph() -> Graph:
    """Each new activation after every head the rules fuse it into (a conv without a bias and its
    BatchNorm, a conv with a bias, an add, a mul, a sub, a transposed conv with a bias) and after
    heads that absorb none (a BatchNorm, a div, a GroupNorm), alone; transposed convs with and
    without a bias before a BatchNorm."""
    b = GraphBuilder()
    shape = (1, 16, 8, 8)
    convt: dict[str, Any] = dict(in_channels=16, out_channels=16, kernel=2, stride=2, padding=0, output_padding=0, groups=1)
    outs = []
    for i, (act, attrs) in enumerate(ACTS.items()):
        x, y = b.input(f"x{i}", shape), b.input(f"y{i}", shape)
        heads = [
            b.bn(b.conv(x, 16, 3, f"c{i}", bias=False), f"cbn{i}"),
            b.conv(x, 16, 3, f"cb{i}"),
            b.sum((x, y), f"add{i}"),
            b.add(Op.MUL, (x, y), f"mul{i}"),
            b.add(Op.SUB, (x, y), f"sub{i}"),
            b.add(Op.DIV, (x, y), f"div{i}"),
            b.add(Op.CONV_TRANSPOSE, (x,), f"ct{i}", **convt, bias=True),
            b.bn(b.conv(x, 16, 3, f"c2{i}"), f"bn{i}"),
            b.add(Op.GROUPNORM, (x,), f"gn{i}", channels=16, groups=4, eps=1e-5),
            x,
        ]
        outs += [b.add(act, (h,), f"act{i}_{j}", **attrs) for j, h in enumerate(heads)]
    x = b.input("t", shape)
    outs.append(b.bn(b.add(Op.CONV_TRANSPOSE, (x,), "ct_nobias", **convt, bias=False), "ct_nobias_bn"))
    outs.append(b.bn(b.add(Op.CONV_TRANSPOSE, (x,), "ct_bias", **convt, bias=True), "ct_bias_bn"))
    b.graph.outputs = {0: b.concat(tuple(o for o in outs if b.shape(o) == shape), "big")}
    b.graph.outputs[1] = b.concat(tuple(o for o in outs if b.shape(o) != shape), "small")
    return b.graph


def test_paddle_inference_fuses_the_new_ops_as_the_rules_say() -> None:
    pytest.importorskip("paddle")
    from fpnprof.bench.launch import worker_env

    done = subprocess.run([sys.executable, __file__], env=worker_env(1), capture_output=True, text=True, check=True)
    ops: dict[str, int] = json.loads(done.stdout.strip().splitlines()[-1])
    graph = fusion_graph()
    assert fusion_mismatches(graph, "inference", ops) == []
    signature = fusion_signature(graph, "inference")
    for key in (
        "fused_elementwise_mul",
        "fused_elementwise_sub",
        "conv2d_transpose_bias",
        "leaky_relu",
        "hard_swish",
        "hard_sigmoid",
    ):
        assert signature[key] > 0, key  # each sign is there to be checked


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    from fpnprof.backends import load

    counts = load("paddle").engine_ops(fusion_graph(), engine="inference", threads=1)
    sys.stdout.write(json.dumps(counts) + "\n")
