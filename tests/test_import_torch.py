"""The torch importer (``fpnprof.backends.torch_import``): one-op modules, round trips of fpnprof's own
torch lowerings (built-in necks and shipped neck files), BiFPN's fusion written in code, and refusals.

Each import is proven: fpnprof's lowering of the imported graph, with the module's weights, computes
what the module computes (float64), with the module's trainable parameters and fvcore's MACs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from imported_necks import file_widths
from torch import nn

from fpnprof.backends import torch_backend
from fpnprof.backends.torch_import import import_torch_module
from fpnprof.backends.torch_import_names import tensor_names
from fpnprof.backends.torch_import_proof import copy_weights, prove, randomize, relative_error
from fpnprof.cost.analysis import node_rows
from fpnprof.errors import ImportRefused
from fpnprof.model.config import NeckConfig
from fpnprof.model.graph import Graph, Op, Shape
from fpnprof.model.graphneck import GraphNeck
from fpnprof.model.graphneck_build import standalone_graph
from fpnprof.model.neckfile import load_neck_file, shipped_files
from fpnprof.model.necks import build_graph

C, SIDE = 8, 16  # one-op modules: 8 channels at level 3, 16x16


def read(module: nn.Module, shapes: dict[int, Shape]) -> GraphNeck:
    return import_torch_module(
        module,
        in_channels={lv: s[1] for lv, s in shapes.items()},
        sides={lv: (s[2], s[3]) for lv, s in shapes.items()},
        batch=shapes[min(shapes)][0],
        name="test",
    )


class OneOp(nn.Module):
    """``fn(self, x)`` on one level of C channels; ``layers`` are its submodules."""

    def __init__(self, fn: Callable[..., Any], **layers: nn.Module) -> None:
        super().__init__()
        self.fn = fn
        self.layers = nn.ModuleDict(layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [self.fn(self.layers, x)]


def conv(**kw: Any) -> OneOp:
    return OneOp(lambda m, x: m["conv"](x), conv=nn.Conv2d(C, kw.pop("out", C), kw.pop("k", 3), **kw))


#: name -> (module, the ops its import must read, in order)
ONE_OP: dict[str, tuple[Callable[[], nn.Module], list[Op]]] = {
    "conv": (lambda: conv(padding=1), [Op.CONV]),
    "conv-no-bias": (lambda: conv(k=1, bias=False), [Op.CONV]),
    "conv-grouped": (lambda: conv(out=16, padding=1, groups=2), [Op.CONV]),
    "conv-depthwise": (lambda: conv(padding=1, groups=C), [Op.CONV]),
    "conv-stride2": (lambda: conv(padding=1, stride=2), [Op.CONV]),
    "conv-same": (lambda: conv(k=5, padding="same"), [Op.CONV]),
    "bn": (lambda: OneOp(lambda m, x: m["bn"](x), bn=nn.BatchNorm2d(C, eps=1e-3)), [Op.BATCHNORM]),
    "relu": (lambda: OneOp(lambda m, x: F.relu(x)), [Op.RELU]),
    "relu-inplace": (lambda: OneOp(lambda m, x: m["act"](x), act=nn.ReLU(inplace=True)), [Op.RELU]),
    "silu": (lambda: OneOp(lambda m, x: m["act"](x), act=nn.SiLU()), [Op.SWISH]),
    "add": (lambda: OneOp(lambda m, x: x + x), [Op.ADD]),
    "cat": (lambda: OneOp(lambda m, x: torch.cat([x, x], dim=1)), [Op.CONCAT]),
    "nearest-size": (lambda: OneOp(lambda m, x: F.interpolate(x, size=(24, 24), mode="nearest")), [Op.UPSAMPLE]),
    "nearest-scale": (lambda: OneOp(lambda m, x: F.interpolate(x, scale_factor=2.0, mode="nearest")), [Op.UPSAMPLE]),
    "nearest-module": (lambda: OneOp(lambda m, x: m["up"](x), up=nn.Upsample(scale_factor=3)), [Op.UPSAMPLE]),
    "maxpool": (lambda: OneOp(lambda m, x: F.max_pool2d(x, 3, 2, 1)), [Op.MAXPOOL]),
    "maxpool-spp": (lambda: OneOp(lambda m, x: m["pool"](x), pool=nn.MaxPool2d(5, 1, 2)), [Op.MAXPOOL]),
    "maxpool-ceil": (lambda: OneOp(lambda m, x: F.max_pool2d(x, 3, 2, ceil_mode=True)), [Op.MAXPOOL]),
    "maxpool-padded": (lambda: OneOp(lambda m, x: F.max_pool2d(F.pad(x, (0, 1, 0, 1), value=float("-inf")), 3, 2)), [Op.MAXPOOL]),
    "maxpool-zero-padded": (lambda: OneOp(lambda m, x: F.max_pool2d(F.pad(x, (1, 2, 1, 2)), 3, 3)), [Op.MAXPOOL]),
    "adaptive-maxpool": (lambda: OneOp(lambda m, x: F.adaptive_max_pool2d(x, (5, 5))), [Op.ADAPTIVE_MAXPOOL]),
    # the 13 ops real necks use
    "groupnorm": (lambda: OneOp(lambda m, x: m["gn"](x), gn=nn.GroupNorm(2, C, eps=1e-4)), [Op.GROUPNORM]),
    "leaky-relu": (lambda: OneOp(lambda m, x: F.leaky_relu(x, 0.1)), [Op.LEAKY_RELU]),
    "hardswish": (lambda: OneOp(lambda m, x: m["act"](x), act=nn.Hardswish()), [Op.HARDSWISH]),
    "hardsigmoid": (lambda: OneOp(lambda m, x: F.hardsigmoid(x)), [Op.HARDSIGMOID]),
    "sigmoid": (lambda: OneOp(lambda m, x: torch.sigmoid(x)), [Op.SIGMOID]),
    "bilinear-size": (lambda: OneOp(lambda m, x: F.interpolate(x, size=(24, 20), mode="bilinear")), [Op.RESIZE_BILINEAR]),
    "bilinear-scale": (
        lambda: OneOp(lambda m, x: F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)),
        [Op.RESIZE_BILINEAR],
    ),
    "bilinear-corners": (
        lambda: OneOp(lambda m, x: F.interpolate(x, scale_factor=1.7, mode="bilinear", align_corners=True)),
        [Op.RESIZE_BILINEAR],
    ),
    "conv-transpose": (lambda: OneOp(lambda m, x: m["up"](x), up=nn.ConvTranspose2d(C, 4, 2, stride=2)), [Op.CONV_TRANSPOSE]),
    "conv-transpose-padded": (
        lambda: OneOp(lambda m, x: m["up"](x), up=nn.ConvTranspose2d(C, C, 3, stride=2, padding=1, output_padding=1, groups=2)),
        [Op.CONV_TRANSPOSE],
    ),
    "adaptive-avgpool": (lambda: OneOp(lambda m, x: x * F.adaptive_avg_pool2d(x, 1)), [Op.ADAPTIVE_AVGPOOL, Op.MUL]),
    "mul": (lambda: OneOp(lambda m, x: x * x), [Op.MUL]),
    "sub": (lambda: OneOp(lambda m, x: x - torch.relu(x)), [Op.RELU, Op.SUB]),
    "div": (lambda: OneOp(lambda m, x: x / torch.sigmoid(x)), [Op.SIGMOID, Op.DIV]),
    "pad": (lambda: OneOp(lambda m, x: F.pad(x, (1, 0, 2, 3), value=0.5)), [Op.PAD]),
    "chunk": (lambda: OneOp(lambda m, x: x.chunk(2, 1)[1]), [Op.CHANNEL_SLICE]),
    "split": (
        lambda: OneOp(lambda m, x: torch.cat(x.split([3, 5], 1)[::-1], 1)),
        [Op.CHANNEL_SLICE, Op.CHANNEL_SLICE, Op.CONCAT],
    ),
    "slice": (lambda: OneOp(lambda m, x: x[:, 2:7]), [Op.CHANNEL_SLICE]),
    "dropout-identity": (
        lambda: OneOp(lambda m, x: m["id"](m["drop"](torch.relu(x))), drop=nn.Dropout(0.5), id=nn.Identity()),
        [Op.RELU],
    ),
}


@pytest.mark.parametrize("case", list(ONE_OP))
def test_a_one_op_module_reads_as_its_op_and_proves(case: str) -> None:
    make, ops = ONE_OP[case]
    module = make()
    shapes = {3: (1, C, SIDE, SIDE)}
    neck = read(module, shapes)
    assert [op.op for op in neck.ops] == ops
    proof = prove(module, neck, shapes)
    assert proof.ok, proof.line()
    assert max(proof.errors.values()) < 1e-12
    assert proof.params_source == proof.params_fpnprof == sum(p.numel() for p in module.parameters())
    assert proof.macs_source == proof.macs_fpnprof


def test_attributes_are_read_from_the_call() -> None:
    conv_op = read(conv(out=16, k=5, padding=2, stride=2, groups=4, bias=False), {3: (1, C, SIDE, SIDE)}).ops[0]
    assert dict(conv_op.attrs) == dict(in_channels=C, out_channels=16, kernel=5, stride=2, padding=2, groups=4, bias=False)
    assert conv_op.name == "layers.conv" and conv_op.level == 4  # the first smaller side defines level 4
    up = read(ONE_OP["nearest-scale"][0](), {3: (1, C, 5, 7)}).ops[0]
    assert dict(up.attrs) == {"size": (10, 14), "scale": 2.0}
    pool = read(ONE_OP["maxpool-ceil"][0](), {3: (1, C, SIDE, SIDE)}).ops[0]
    assert dict(pool.attrs) == {"kernel": 3, "stride": 2, "padding": (0, 1, 0, 1)}  # 16 -> ceil(13 / 2) + 1 = 8
    padded = read(ONE_OP["maxpool-zero-padded"][0](), {3: (1, C, SIDE, SIDE)}).ops[0]
    assert dict(padded.attrs) == {"kernel": 3, "stride": 3, "padding": (1, 2, 1, 2), "pad_value": 0.0}
    corners = read(ONE_OP["bilinear-corners"][0](), {3: (1, C, SIDE, SIDE)}).ops[0]
    assert dict(corners.attrs) == {"size": (27, 27), "align_corners": True, "scale": 1.7}  # floor(16 * 1.7)
    pad = read(ONE_OP["pad"][0](), {3: (1, C, SIDE, SIDE)}).ops[0]
    assert dict(pad.attrs) == {"padding": (2, 3, 1, 0), "value": 0.5}
    sliced = read(ONE_OP["split"][0](), {3: (1, C, SIDE, SIDE)}).ops
    assert [dict(op.attrs) for op in sliced[:2]] == [{"start": 0, "stop": 3}, {"start": 3, "stop": 8}]
    assert sliced[2].inputs == (sliced[1].name, sliced[0].name)


class Twice(nn.Module):
    """One conv used on two levels, an SE-style gate, and extra levels made by the module."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(C, C, 3, padding=1)
        self.down = nn.Conv2d(C, C, 3, stride=2, padding=1)

    def forward(self, feats: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        p3, p4 = self.conv(feats[0]), self.conv(feats[1])
        p4 = p4 * torch.sigmoid(F.adaptive_avg_pool2d(p4, 1))
        p5 = self.down(p4)
        return p3, p4, p5, F.max_pool2d(p5, 1, 2)


def test_a_module_called_twice_shares_and_levels_follow_the_heights() -> None:
    shapes = {3: (1, C, SIDE, SIDE), 4: (1, C, 8, 8)}
    neck = read(Twice(), shapes)
    ops = {op.name: op for op in neck.ops}
    assert ops["conv#2"].shares == "conv" and ops["conv"].shares is None
    assert {name: op.level for name, op in ops.items()} == {
        "conv": 3,
        "conv#2": 4,
        "adaptive_avgpool": 4,  # a pooled 1x1 stays at its input's level
        "sigmoid": 4,
        "mul": 4,
        "down": 5,
        "maxpool": 6,
    }
    assert neck.outputs == {3: "conv", 4: "mul", 5: "down", 6: "maxpool"}
    proof = prove(Twice(), neck, shapes)
    assert proof.ok, proof.line()
    assert proof.params_fpnprof == C * C * 9 * 2 + 2 * C  # the shared conv once


class PerLevel(nn.Module):
    def forward(self, c3: torch.Tensor, c4: torch.Tensor, scale: float = 1.0) -> dict[str, torch.Tensor]:
        return {"p4": torch.relu(c4), "p3": torch.sigmoid(c3)}


class OneLevelList(nn.Module):
    def forward(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        return torch.relu(feats[0])


class IntsOnly(nn.Module):
    def forward(self, n: int) -> list[torch.Tensor]:
        return [torch.zeros(1, C, n, n)]


def test_the_calling_convention_follows_the_signature() -> None:
    shapes = {3: (1, C, SIDE, SIDE), 4: (1, 4, 8, 8)}
    neck = read(PerLevel(), shapes)  # one tensor per level; a dict of outputs
    assert [(op.name, op.inputs, op.level) for op in neck.ops] == [("relu", ("in@4",), 4), ("sigmoid", ("in@3",), 3)]
    assert neck.outputs == {3: "sigmoid", 4: "relu"}
    assert prove(PerLevel(), neck, shapes).ok
    one = {3: shapes[3]}
    assert read(OneLevelList(), one).ops[0].inputs == ("in@3",)  # a list of one level, by its annotation
    with pytest.raises(ImportRefused, match="takes no tensor inputs"):
        read(IntsOnly(), one)
    with pytest.raises(ImportRefused, match="takes 2 tensors, but 1 level"):
        read(PerLevel(), one)


# --- Round trips: fpnprof's own torch lowering, imported, is the same neck -----------------------------


def own_levels(graph: Graph) -> dict[str, int]:
    """Each neck node's level as its graph gives it (the import settles an op that only feeds a higher
    level, such as P6's conv on C5, at that level, as fpnprof's builders do)."""
    return {n.id: n.level for n in graph if n.part.value == "neck"}


def per_level(graph: Graph, levels: dict[str, int]) -> dict[int, tuple[int, int, int]]:
    sums: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in node_rows(graph):
        if row.id in levels:
            total = sums[levels[row.id]]
            total[0] += row.totals.params
            total[1] += row.totals.macs
            total[2] += row.totals.flops
    return {lv: (p, m, f) for lv, (p, m, f) in sorted(sums.items())}


def round_trip(cfg: NeckConfig) -> None:
    graph = build_graph(cfg)
    source = torch_backend.lower(graph)
    shapes = {n.level: n.attrs["shape"] for n in graph.inputs}
    neck = read(source, shapes)
    imported = standalone_graph(neck, shapes)
    assert per_level(imported, own_levels(imported)) == per_level(graph, own_levels(graph))
    assert sorted(imported.outputs) == sorted(graph.outputs)
    aliases = tensor_names(source)  # before .double(), which gives each module its own buffers
    source = source.double()
    randomize(source, aliases)
    lowered = torch_backend.lower(imported).double()
    copy_weights(source, lowered, neck)
    inputs = torch_backend.random_inputs(graph, seed=3, dtype=torch.float64)
    with torch.no_grad():
        theirs, mine = source(*inputs), lowered(*inputs)
    for level, a, b in zip(sorted(graph.outputs), mine, theirs, strict=True):
        assert relative_error(a, b) < 1e-9, f"P{level}"


NECK_CASES = [(neck, variant) for neck in ("fpn", "pafpn", "bifpn") for variant in ("tutorial", "paper")]


@pytest.mark.parametrize(("neck", "variant"), NECK_CASES, ids=[f"{n}-{v}" for n, v in NECK_CASES])
def test_a_built_in_neck_round_trips(neck: str, variant: str) -> None:
    round_trip(
        NeckConfig(
            neck,
            variant=variant,
            levels=5,
            min_level=3,
            backbone="none",
            in_channels=(24, 40, 16, 56),
            channels=16,
            cells=1,
            batch=1,
            size=64,
        )
    )


@pytest.mark.parametrize("file", shipped_files())
def test_a_shipped_neck_file_round_trips(file: str) -> None:
    spec = load_neck_file(file)
    widths = file_widths(file, (24, 40, 16, 56))  # an imported neck takes the widths it was imported at
    base = NeckConfig(file, variant=spec.variants[0], backbone="none", in_channels=widths, channels=16, batch=1)
    round_trip(replace(base, min_level=spec.defaults.get("min_level", 3), levels=spec.defaults.get("levels", 5), cells=1))


# --- BiFPN's fusion written in code ------------------------------------------------------------------------


class FastFusion(nn.Module):
    """BiFPN's fast normalised fusion as EfficientDet code writes it, then a conv."""

    def __init__(self, softmax: bool = False) -> None:
        super().__init__()
        self.softmax = softmax
        self.p4_w1 = nn.Parameter(torch.ones(2))
        self.conv = nn.Conv2d(C, C, 3, padding=1)

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        p3, p4 = feats
        if self.softmax:
            w = torch.softmax(self.p4_w1, dim=0)
        else:
            w = torch.relu(self.p4_w1)
            w = w / (torch.sum(w, dim=0) + 1e-4)
        up = F.interpolate(p4, scale_factor=2, mode="nearest")
        return [self.conv(w[0] * p3 + w[1] * up), F.relu(p4)]


@pytest.mark.parametrize("softmax", [False, True], ids=["fast", "softmax"])
def test_fusion_written_in_code_folds_into_one_op(softmax: bool) -> None:
    shapes = {3: (1, C, SIDE, SIDE), 4: (1, C, 8, 8)}
    neck = read(FastFusion(softmax), shapes)
    fusion = Op.SOFTMAX_FUSION if softmax else Op.FUSION
    assert [op.op for op in neck.ops] == [Op.UPSAMPLE, fusion, Op.CONV, Op.RELU]
    (op,) = (op for op in neck.ops if op.op is fusion)
    assert op.name == "p4_w1" and op.inputs == ("in@3", "upsample") and op.level == 3
    assert dict(op.attrs) == ({"arity": 2} if softmax else {"arity": 2, "eps": 1e-4})
    proof = prove(FastFusion(softmax), neck, shapes)
    assert proof.ok, proof.line()
    assert proof.params_fpnprof == 2 + C * C * 9 + C


# --- Refusals: one line each ---------------------------------------------------------------------------------


class NotAFusion(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(2))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        w = self.w / self.w.sum()  # no relu, no epsilon: not the fast fusion
        return [w[0] * x + w[1] * x]


class NoTensors(nn.Module):
    def forward(self) -> list[torch.Tensor]:
        return [torch.zeros(1, C, 4, 4)]


class Branchy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(C, C, 1)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if x.sum() > 0:  # data-dependent control flow
            return [self.conv(x)]
        return [torch.relu(self.conv(x))]


REFUSALS: dict[str, tuple[Callable[[], nn.Module], str]] = {
    "sort": (lambda: OneOp(lambda m, x: torch.sort(x, dim=1).values), "aten.sort"),
    "5x3-conv": (lambda: OneOp(lambda m, x: m["conv"](x), conv=nn.Conv2d(C, C, (5, 3))), "a 5x3 kernel"),
    "dilated": (lambda: OneOp(lambda m, x: m["conv"](x), conv=nn.Conv2d(C, C, 3, dilation=2)), "dilation"),
    "nearest-inexact-scale": (lambda: OneOp(lambda m, x: F.interpolate(x, scale_factor=1.7)), "exact scales"),
    "spatial-crop": (lambda: OneOp(lambda m, x: x[:, :, 1:]), "dimension 2"),
    "scalar-add": (lambda: OneOp(lambda m, x: x + 1.0), "the constant 1.0"),
    "parameter-as-data": (lambda: OneOp(lambda m, x: x * m["bn"].weight.view(1, -1, 1, 1), bn=nn.BatchNorm2d(C)), "parameter"),
    "not-a-fusion": (NotAFusion, "computation on parameters alone"),
    "no-tensors": (NoTensors, "takes no tensor inputs"),
    "control-flow": (Branchy, "data-dependent"),
    "channels": (lambda: OneOp(lambda m, x: m["conv"](x), conv=nn.Conv2d(2 * C, C, 1)), "do not match the module"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_what_cannot_be_read_is_refused_in_one_line(case: str) -> None:
    make, words = REFUSALS[case]
    with pytest.raises(ImportRefused) as caught:
        read(make(), {3: (1, C, SIDE, SIDE)})
    message = str(caught.value)
    assert words in message and "\n" not in message, message


def test_refusals_name_the_module_and_the_source_line() -> None:
    with pytest.raises(ImportRefused) as caught:
        read(REFUSALS["sort"][0](), {3: (1, C, SIDE, SIDE)})
    assert "in module <root>" in str(caught.value) and "test_import_torch.py:" in str(caught.value)
    with pytest.raises(ImportRefused) as caught:
        read(REFUSALS["channels"][0](), {3: (1, C, SIDE, SIDE)})
    assert str(caught.value) == "channels 8 do not match the module (its Conv2d layers.conv expects 16 at level 3, got 8)"


# --- The proof sees a wrong reading ------------------------------------------------------------------------------


def test_the_proof_names_the_first_op_that_differs() -> None:
    module = Twice()
    shapes = {3: (1, C, SIDE, SIDE), 4: (1, C, 8, 8)}
    neck = read(module, shapes)
    wrong = tuple(
        replace(op, attrs={**op.attrs, "kernel": 3, "stride": 2, "padding": (1, 1, 1, 1)}) if op.op is Op.MAXPOOL else op
        for op in neck.ops
    )  # a 1x1 subsampling read as a 3x3 pool: same shapes, other values
    proof = prove(module, replace(neck, ops=wrong), shapes)
    assert not proof.ok
    assert (proof.first_output, proof.first_node) == (6, "maxpool")
    assert proof.errors[5] < 1e-12 and proof.errors[6] > 1e-3
    assert "P6 differs first, first at op maxpool" in proof.line()
    no_bias = tuple(replace(op, attrs={**op.attrs, "bias": False}) if op.name == "down" else op for op in neck.ops)
    proof = prove(module, replace(neck, ops=no_bias), shapes)
    assert not proof.ok and proof.params_source == proof.params_fpnprof + C
    assert (proof.first_output, proof.first_node) == (5, "down")
