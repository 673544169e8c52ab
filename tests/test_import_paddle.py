"""The Paddle importer (``fpnprof.backends.paddle_import``): every table op read from a one-op layer,
fpnprof's own lowering of the built-in necks read back, refusals, and the proof's diagnosis.

Each read neck is proven: fpnprof's Paddle lowering of it, given the source's weights, computes the
source's outputs (float64) with the source's trainable parameter count.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from imported_necks import file_widths

paddle = pytest.importorskip("paddle")
from paddle import nn  # noqa: E402
from paddle.nn import functional as F  # noqa: E402

from fpnprof.backends import paddle_backend  # noqa: E402
from fpnprof.backends.paddle_import import import_paddle_layer, prove  # noqa: E402
from fpnprof.backends.paddle_import_weights import copy_weights, module_name, source_weights  # noqa: E402
from fpnprof.cost.analysis import node_rows  # noqa: E402
from fpnprof.errors import ImportRefused  # noqa: E402
from fpnprof.model.config import NeckConfig  # noqa: E402
from fpnprof.model.graph import Graph, Op, Shape  # noqa: E402
from fpnprof.model.graphneck import GraphNeck  # noqa: E402
from fpnprof.model.graphneck_build import PREFIX, standalone_graph  # noqa: E402
from fpnprof.model.neckfile import load_neck_file, shipped_files  # noqa: E402
from fpnprof.model.necks import build_graph  # noqa: E402

C, SIDE = 8, 16  # one-op layers read C3 (and C4 at half the side) of C channels


def _randomize(layer: nn.Layer, seed: int = 0) -> None:
    """Every parameter random (BN statistics positive), so no op hides behind its initial values."""
    rng = np.random.default_rng(seed)
    for name, p in layer.named_parameters():
        low = 0.5 if len(p.shape) == 1 and not name.endswith(("bias", "_mean")) else -1.0
        p.set_value(rng.uniform(low, 1.5, p.shape).astype("float32"))


def _read(layer: nn.Layer, levels: dict[int, tuple[int, int]]) -> tuple[GraphNeck, dict[int, Shape]]:
    shapes = {level: (1, c, s, s) for level, (c, s) in levels.items()}
    neck = import_paddle_layer(
        layer,
        in_channels={lvl: c for lvl, (c, _) in levels.items()},
        sides={lvl: (s, s) for lvl, (_, s) in levels.items()},
        batch=1,
        name="t",
    )
    return neck, shapes


def _proven(layer: nn.Layer, neck: GraphNeck, shapes: dict[int, Shape]) -> None:
    proof = prove(layer, neck, shapes)
    assert proof.ok, proof.line()
    assert proof.source_params == sum(int(np.prod(p.shape)) for p in layer.parameters() if not p.stop_gradient)
    assert max(proof.errors.values()) < 1e-9


# One-op layers ----------------------------------------------------------------------------------
class One(nn.Layer):
    """``fn(self, x)`` on C3, or ``fn(self, x, y)`` on C3 and C4, with sublayers ``mods``."""

    def __init__(self, fn: Callable[..., Any], two: bool = False, **mods: nn.Layer) -> None:
        super().__init__()
        self.fn = fn
        for name, mod in mods.items():
            self.add_sublayer(name, mod)

    def forward(self, *xs: Any) -> list[Any]:
        return [self.fn(self, *xs)]


def _bn(eps: float) -> nn.Layer:
    return nn.BatchNorm2D(C, epsilon=eps)


#: name -> (layer, two inputs, expected ops (op, attrs) in order, expected output level)
CASES: dict[str, tuple[Callable[[], nn.Layer], bool, list[tuple[Op, dict[str, Any]]], int]] = {
    "conv": (
        lambda: One(lambda s, x: s.m(x), m=nn.Conv2D(C, 16, 3, padding=1)),
        False,
        [(Op.CONV, {"in_channels": C, "out_channels": 16, "kernel": 3, "stride": 1, "padding": 1, "groups": 1, "bias": True})],
        3,
    ),
    "depthwise": (
        lambda: One(lambda s, x: s.m(x), m=nn.Conv2D(C, C, 3, padding=1, groups=C, bias_attr=False)),
        False,
        [(Op.CONV, {"in_channels": C, "out_channels": C, "kernel": 3, "stride": 1, "padding": 1, "groups": C, "bias": False})],
        3,
    ),
    "grouped_stride2": (
        lambda: One(lambda s, x: s.m(x), m=nn.Conv2D(C, 4, 3, stride=2, padding=1, groups=2)),
        False,
        [(Op.CONV, {"in_channels": C, "out_channels": 4, "kernel": 3, "stride": 2, "padding": 1, "groups": 2, "bias": True})],
        4,
    ),
    "conv_transpose": (
        lambda: One(lambda s, x: s.m(x), m=nn.Conv2DTranspose(C, 4, 2, stride=2)),
        False,
        [(Op.CONV_TRANSPOSE, {"in_channels": C, "out_channels": 4, "kernel": 2, "stride": 2, "padding": 0, "output_padding": 0})],
        3,
    ),
    "batch_norm": (lambda: One(lambda s, x: s.m(x), m=_bn(1e-3)), False, [(Op.BATCHNORM, {"channels": C, "eps": 1e-3})], 3),
    "group_norm": (
        lambda: One(lambda s, x: s.m(x), m=nn.GroupNorm(4, C, epsilon=1e-5)),
        False,
        [(Op.GROUPNORM, {"channels": C, "groups": 4, "eps": 1e-5})],
        3,
    ),
    "relu": (lambda: One(lambda s, x: s.m(x), m=nn.ReLU()), False, [(Op.RELU, {})], 3),
    "swish": (lambda: One(lambda s, x: s.m(x), m=nn.Swish()), False, [(Op.SWISH, {})], 3),
    "silu": (lambda: One(lambda s, x: F.silu(x)), False, [(Op.SWISH, {})], 3),
    "hardswish": (lambda: One(lambda s, x: s.m(x), m=nn.Hardswish()), False, [(Op.HARDSWISH, {})], 3),
    "leaky_relu": (lambda: One(lambda s, x: s.m(x), m=nn.LeakyReLU(0.1)), False, [(Op.LEAKY_RELU, {"negative_slope": 0.1})], 3),
    "sigmoid": (lambda: One(lambda s, x: F.sigmoid(x)), False, [(Op.SIGMOID, {})], 3),
    "hardsigmoid": (
        lambda: One(lambda s, x: F.hardsigmoid(x, slope=0.2, offset=0.5)),
        False,
        [(Op.HARDSIGMOID, {"slope": 0.2, "offset": 0.5})],
        3,
    ),
    "add": (lambda: One(lambda s, x: x + F.relu(x)), False, [(Op.RELU, {}), (Op.ADD, {})], 3),
    "add_broadcast": (
        lambda: One(lambda s, x: x + F.adaptive_avg_pool2d(x, 1)),
        False,
        [(Op.ADAPTIVE_AVGPOOL, {"size": (1, 1)}), (Op.ADD, {})],
        3,
    ),
    "mul_broadcast": (  # squeeze-excitation: x * sigmoid(global average of x), per channel
        lambda: One(lambda s, x: x * F.sigmoid(F.adaptive_avg_pool2d(x, 1))),
        False,
        [(Op.ADAPTIVE_AVGPOOL, {"size": (1, 1)}), (Op.SIGMOID, {}), (Op.MUL, {})],
        3,
    ),
    "sub_div": (
        lambda: One(lambda s, x: (x - F.adaptive_max_pool2d(x, 1)) / F.sigmoid(x)),
        False,
        [(Op.ADAPTIVE_MAXPOOL, {"size": (1, 1)}), (Op.SUB, {}), (Op.SIGMOID, {}), (Op.DIV, {})],
        3,
    ),
    "concat": (lambda: One(lambda s, x: paddle.concat([x, F.relu(x)], axis=1)), False, [(Op.RELU, {}), (Op.CONCAT, {})], 3),
    "nearest_size": (
        lambda: One(lambda s, x, y: x + F.interpolate(y, size=[SIDE, SIDE], mode="nearest")),
        True,
        [(Op.UPSAMPLE, {"size": (SIDE, SIDE)}), (Op.ADD, {})],
        3,
    ),
    "nearest_scale": (
        lambda: One(lambda s, x, y: x + F.interpolate(y, scale_factor=2.0, mode="nearest")),
        True,
        [(Op.UPSAMPLE, {"size": (SIDE, SIDE), "scale": 2.0}), (Op.ADD, {})],
        3,
    ),
    "bilinear": (
        lambda: One(lambda s, x, y: x + F.interpolate(y, size=[SIDE, SIDE], mode="bilinear", align_corners=False)),
        True,
        [(Op.RESIZE_BILINEAR, {"size": (SIDE, SIDE), "align_corners": False}), (Op.ADD, {})],
        3,
    ),
    "bilinear_corners": (
        lambda: One(lambda s, x, y: x + F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=True)),
        True,
        [(Op.RESIZE_BILINEAR, {"size": (SIDE, SIDE), "align_corners": True}), (Op.ADD, {})],
        3,
    ),
    "maxpool_stride2": (
        lambda: One(lambda s, x: F.max_pool2d(x, 3, 2, 1)),
        False,
        [(Op.MAXPOOL, {"kernel": 3, "stride": 2, "padding": (1, 1, 1, 1)})],
        4,
    ),
    "spp_stride1": (
        lambda: One(lambda s, x: paddle.concat([x, F.max_pool2d(x, 5, 1, 2)], axis=1)),
        False,
        [(Op.MAXPOOL, {"kernel": 5, "stride": 1, "padding": (2, 2, 2, 2)}), (Op.CONCAT, {})],
        3,
    ),
    "pad_then_pool": (  # F.pad then a pool is one pool padded by the pad's value
        lambda: One(lambda s, x: F.max_pool2d(F.pad(x, [0, 1, 0, 1], value=0.0), 2, 2)),
        False,
        [(Op.MAXPOOL, {"kernel": 2, "stride": 2, "padding": (0, 1, 0, 1), "pad_value": 0.0})],
        4,
    ),
    "pad": (
        lambda: One(lambda s, x: s.m(F.pad(x, [1, 1, 1, 1], value=0.5)), m=nn.Conv2D(C, C, 3)),
        False,
        [(Op.PAD, {"padding": (1, 1, 1, 1), "value": 0.5}), (Op.CONV, {"kernel": 3, "padding": 0})],
        3,
    ),
    "split": (
        lambda: One(lambda s, x: paddle.split(x, 2, axis=1)[1] * F.sigmoid(paddle.split(x, [3, 5], axis=1)[1][:, :4])),
        False,
        [
            (Op.CHANNEL_SLICE, {"start": 4, "stop": 8}),
            (Op.CHANNEL_SLICE, {"start": 3, "stop": 8}),
            (Op.CHANNEL_SLICE, {"start": 0, "stop": 4}),
            (Op.SIGMOID, {}),
            (Op.MUL, {}),
        ],
        3,
    ),
    "add_n": (lambda: One(lambda s, x: paddle.add_n([x, F.relu(x), x])), False, [(Op.RELU, {}), (Op.ADD, {})], 3),
    "dropout_vanishes": (lambda: One(lambda s, x: s.m(s.d(x)), m=nn.ReLU(), d=nn.Dropout(0.5)), False, [(Op.RELU, {})], 3),
}


@pytest.mark.parametrize("case", list(CASES))
def test_one_op_layer_reads_and_proves(case: str) -> None:
    make, two, expected, level = CASES[case]
    layer = make()
    _randomize(layer)
    levels = {3: (C, SIDE), 4: (C, SIDE // 2)} if two else {3: (C, SIDE)}
    neck, shapes = _read(layer, levels)
    assert [op.op for op in neck.ops] == [op for op, _ in expected]
    for op, (_, attrs) in zip(neck.ops, expected, strict=True):
        assert {k: op.attrs[k] for k in attrs} == attrs, op.name
    assert list(neck.outputs) == [level]
    _proven(layer, neck, shapes)


# Naming, sharing, fusion written in code ---------------------------------------------------------
class Shared(nn.Layer):
    """A block called twice (shared weights) and functional adds in the root's and a child's forward."""

    def __init__(self) -> None:
        super().__init__()
        self.block = nn.Sequential(nn.Conv2D(C, C, 3, padding=1), nn.BatchNorm2D(C))
        self.head = nn.Conv2D(C, C, 1)

    def forward(self, feats: list[Any]) -> list[Any]:
        x, y = feats
        a = self.block(x) + x
        b = self.block(F.interpolate(y, scale_factor=2.0)) + a
        return [self.head(a + b), y]


def test_shared_block_names_and_list_convention() -> None:
    layer = Shared()
    _randomize(layer)
    layer.train()
    neck, shapes = _read(layer, {3: (C, SIDE), 4: (C, SIDE // 2)})
    assert layer.training and layer.block[1].training  # read in eval mode, left as it was
    names = [op.name for op in neck.ops]
    assert names == ["block.0", "block.1", "add", "interpolate", "block.0#2", "block.1#2", "add_1", "add_2", "head"]
    shares = {op.name: op.shares for op in neck.ops if op.shares}
    assert shares == {"block.0#2": "block.0", "block.1#2": "block.1"}
    assert dict(neck.outputs) == {3: "head", 4: "in@4"}
    _proven(layer, neck, shapes)


class FastFusion(nn.Layer):
    """BiFPN's fusions as PaddleDetection-style code writes them: weights on the cell, normalised inline."""

    def __init__(self, eps: float = 1e-4) -> None:
        super().__init__()
        self.eps = eps
        self.w_fast = self.create_parameter([3], default_initializer=nn.initializer.Constant(1.0))
        self.w_soft = self.create_parameter([2], default_initializer=nn.initializer.Constant(1.0))
        self.conv = nn.Conv2D(C, C, 1)

    def forward(self, x: Any, y: Any) -> dict[str, Any]:
        w = F.relu(self.w_fast)
        w = w / (w[0] + w[1] + w[2] + self.eps)
        up = F.interpolate(y, scale_factor=2.0)
        fast = w[0] * x + w[1] * up + w[2] * self.conv(x)
        s = F.softmax(self.w_soft, axis=0)
        return {"p3": s[1] * fast + s[0] * x, "p4": y}


def test_fusions_written_in_code_fold() -> None:
    layer = FastFusion()
    _randomize(layer)
    neck, shapes = _read(layer, {3: (C, SIDE), 4: (C, SIDE // 2)})
    fusions = [op for op in neck.ops if op.op in (Op.FUSION, Op.SOFTMAX_FUSION)]
    assert [(op.name, op.op, dict(op.attrs)) for op in fusions] == [
        ("w_fast", Op.FUSION, {"arity": 3, "eps": 1e-4}),
        ("w_soft", Op.SOFTMAX_FUSION, {"arity": 2}),
    ]
    assert fusions[0].inputs == ("in@3", "interpolate", "conv")
    assert fusions[1].inputs == ("in@3", "w_fast")  # weight 0 takes x, weight 1 the fast fusion
    _proven(layer, neck, shapes)


# Round trip: fpnprof's own lowering of the built-in necks ----------------------------------------
ROUND_TRIP = [(neck, variant) for neck in ("fpn", "pafpn", "bifpn") for variant in ("tutorial", "paper")]


def _per_level(graph: Graph, level_of: Callable[[Any], int]) -> dict[int, tuple[int, int, int]]:
    totals: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    for node, row in zip(graph, node_rows(graph), strict=True):
        if node.op is Op.INPUT:
            continue
        t = totals[level_of(node)]
        t[0], t[1], t[2] = t[0] + row.totals.params, t[1] + row.totals.macs, t[2] + row.totals.flops
    return {lvl: (p, m, f) for lvl, (p, m, f) in sorted(totals.items())}


@pytest.mark.parametrize(("neck_name", "variant"), ROUND_TRIP)
def test_builtin_neck_round_trip(neck_name: str, variant: str) -> None:
    cfg = NeckConfig(
        neck=neck_name,
        variant=variant,
        backbone="none",
        in_channels=(8, 16, 24, 32),
        min_level=3,
        levels=5,
        size=64,
        channels=16,
        cells=1,
        batch=1,
    )
    _round_trip(cfg)


@pytest.mark.parametrize("file", shipped_files())
def test_shipped_neck_file_round_trip(file: str) -> None:
    """Every shipped neck file, lowered to Paddle by fpnprof and imported through the Paddle path."""
    spec = load_neck_file(file)
    widths = file_widths(file, (8, 16, 24, 32))  # an imported neck takes the widths it was imported at
    min_level, levels = spec.level_span("paper")
    cfg = NeckConfig(
        file,
        variant="paper",
        backbone="none",
        in_channels=widths,
        min_level=min_level,
        levels=levels,
        channels=16,
        cells=1,
        batch=1,
    )
    # NAS-FPN's global-pooling attention is one registry op that its Paddle lowering runs as four
    # (pool, sigmoid, multiply, add): read back as those, so only the counts and outputs can match
    _round_trip(cfg, node_for_node=not any(n.op is Op.ATTENTION for n in build_graph(cfg)))


def _same_nodes(built: Graph, neck: GraphNeck) -> None:
    """Every built node read back as itself: same op, attributes and sharing, under its module's name
    (a node sharing another's weights is that module's k-th call: ``owner#k``)."""
    ours = {op.name: op for op in neck.ops}
    expect, calls = {}, Counter[str]()
    for node in built:
        if node.op is Op.INPUT:
            continue
        owner = "nodes." + built[node.shares].module_name if node.shares else None
        if owner:
            calls[owner] += 1
        expect[f"{owner}#{calls[owner] + 1}" if owner else "nodes." + node.module_name] = (node.op, dict(node.attrs), owner)
    assert sorted(ours) == sorted(expect)
    for name, (op_type, attrs, owner) in expect.items():
        assert (ours[name].op, dict(ours[name].attrs), ours[name].shares) == (op_type, attrs, owner), name


def _round_trip(cfg: NeckConfig, node_for_node: bool = True) -> None:
    built = build_graph(cfg)
    source = paddle_backend.lower(built)
    _randomize(source, seed=1)
    shapes = {n.level: n.attrs["shape"] for n in built.inputs}
    neck, _ = _read(source, {lvl: (s[1], s[2]) for lvl, s in shapes.items()})
    if node_for_node:
        _same_nodes(built, neck)
    # per level as the builder files them (the ops making P6 from C5 under 6, where the import settles them)
    graph = standalone_graph(neck, shapes)
    assert _per_level(graph, lambda n: n.level) == _per_level(built, lambda n: n.level)
    proof = prove(source, neck, shapes)
    assert proof.ok, proof.line()
    assert max(proof.errors.values()) < 1e-9
    assert proof.fpnprof_params == sum(r.totals.params for r in node_rows(built))


# Refusals: one line each --------------------------------------------------------------------------
class NoInputs(nn.Layer):
    def forward(self) -> list[Any]:
        return [paddle.zeros([1, C, SIDE, SIDE])]


def _refusal(layer: nn.Layer, channels: int = C) -> str:
    with pytest.raises(ImportRefused) as info:
        _read(layer, {3: (channels, SIDE)})
    text = str(info.value)
    assert "\n" not in text
    return text


def test_unsupported_op_is_refused_naming_op_module_and_line() -> None:
    text = _refusal(One(lambda s, x: s.m(x), m=nn.GELU()))
    assert text.startswith("gelu in module 'm' (") and "test_import_paddle.py:" in text and "import table" in text


def test_forward_without_tensor_inputs_is_refused() -> None:
    assert "takes no tensor inputs" in _refusal(NoInputs())


def test_channels_that_do_not_match_are_refused() -> None:
    text = _refusal(One(lambda s, x: s.m(x), m=nn.Conv2D(C, C, 1)), channels=C + 4)
    assert text.startswith("conv2d in module 'm' (") and f"take {C} channels" in text and f"has {C + 4}" in text


class LayerScale(nn.Layer):
    def __init__(self) -> None:
        super().__init__()
        self.gamma = self.create_parameter([1, C, 1, 1])

    def forward(self, x: Any) -> list[Any]:
        return [x * self.gamma]


def test_other_computation_with_parameters_is_refused() -> None:
    text = _refusal(LayerScale())
    assert "gamma" in text and "not a fusion weight" in text


# The proof ------------------------------------------------------------------------------------------
def test_proof_names_first_differing_output_and_op() -> None:
    layer = One(lambda s, x: s.c2(F.relu(s.bn(s.c1(x)))), c1=nn.Conv2D(C, C, 3, padding=1), bn=_bn(1e-5), c2=nn.Conv2D(C, C, 1))
    _randomize(layer)
    neck, shapes = _read(layer, {3: (C, SIDE)})
    wrong = tuple(replace(op, attrs={**op.attrs, "eps": 0.5}) if op.name == "bn" else op for op in neck.ops)
    proof = prove(layer, replace(neck, ops=wrong), shapes)
    assert not proof.ok
    assert (proof.first_bad_output, proof.first_bad_node) == (3, "bn")
    assert proof.node_error is not None and proof.node_error > 1e-3
    assert "P3 differs first, first at op bn" in proof.line()


class Unused(nn.Layer):
    def __init__(self) -> None:
        super().__init__()
        self.used, self.spare = nn.Conv2D(C, C, 1), nn.Conv2D(C, C, 1)

    def forward(self, x: Any) -> list[Any]:
        return [self.used(x)]


def test_proof_fails_on_parameters_the_graph_does_not_hold() -> None:
    layer = Unused()
    neck, shapes = _read(layer, {3: (C, SIDE)})
    proof = prove(layer, neck, shapes)
    assert (proof.ok, proof.first_bad_output) == (False, None)
    assert (proof.source_params, proof.fpnprof_params) == (2 * (C * C + C), C * C + C)
    assert "differ" in proof.line()


def test_weights_copied_by_name() -> None:
    layer = Shared()
    _randomize(layer)
    neck, shapes = _read(layer, {3: (C, SIDE), 4: (C, SIDE // 2)})
    lowered = paddle_backend.lower(standalone_graph(neck, shapes))
    # weights of shared ops come from their owner only: 2 + 4 (conv, BN) + 2 (head)
    assert copy_weights(layer, lowered, neck) == 8
    np.testing.assert_array_equal(lowered.nodes[module_name("block.1")]._variance.numpy(), layer.block[1]._variance.numpy())


def test_torch_lowering_of_a_paddle_import_computes_the_paddle_source() -> None:
    """A Paddle-imported neck (BiFPN as EfficientDet builds it, and a bilinear FPN) lowered by fpnprof's
    torch backend, with the Paddle source's weights, computes the source's outputs (fp32)."""
    torch = pytest.importorskip("torch")
    from fpnprof.backends import torch_backend

    cfg = NeckConfig(
        neck="bifpn",
        variant="paper",
        backbone="none",
        in_channels=(8, 16, 24, 32),
        min_level=3,
        levels=5,
        size=64,
        channels=16,
        cells=1,
        batch=1,
    )
    built = build_graph(cfg)
    sources: list[tuple[nn.Layer, dict[int, Shape], bool]] = [
        (paddle_backend.lower(built), {n.level: n.attrs["shape"] for n in built.inputs}, True)
    ]
    layer = One(lambda s, x, y: s.c(x + F.interpolate(y, size=[SIDE, SIDE], mode="bilinear")), c=nn.Conv2D(C, C, 3, padding=1))
    sources.append((layer, {3: (1, C, SIDE, SIDE), 4: (1, C, SIDE // 2, SIDE // 2)}, False))
    renames = {"_mean": "running_mean", "_variance": "running_var"}
    for source, shapes, as_list in sources:
        _randomize(source, seed=2)
        neck, _ = _read(source, {lvl: (s[1], s[2]) for lvl, s in shapes.items()})
        graph = standalone_graph(neck, shapes)
        model = torch_backend.lower(graph).eval()
        for op_name, weights in source_weights(source, neck).items():
            module = model.nodes[module_name(op_name)]
            with torch.no_grad():
                for role, array in weights.items():
                    getattr(module, renames.get(role, role)).copy_(torch.from_numpy(array))
        rng = np.random.default_rng(3)
        arrays = [rng.standard_normal(shapes[lvl]).astype("float32") for lvl in sorted(shapes)]
        tensors = [paddle.to_tensor(a) for a in arrays]
        with paddle.no_grad():
            returned = source(tensors) if as_list else source(*tensors)
        with torch.no_grad():
            ours = model(*[torch.from_numpy(a) for a in arrays])
        for i, level in enumerate(neck.outputs):
            mine = ours[sorted(neck.outputs).index(level)].numpy()
            ref = returned[i].numpy()
            assert np.abs(mine - ref).max() / np.abs(ref).max() < 1e-5, (level, graph.outputs[level])


def test_node_ids_are_the_prefixed_names() -> None:
    layer = Shared()
    neck, shapes = _read(layer, {3: (C, SIDE), 4: (C, SIDE // 2)})
    graph = standalone_graph(neck, shapes)
    assert [n.id for n in graph if n.op is not Op.INPUT] == [PREFIX + op.name for op in neck.ops]
