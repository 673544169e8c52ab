"""The graph form of a neck file (what ``fpnprof import`` writes): written, read back, built at other
sizes, and refused in one line where it is wrong. No framework is needed here."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from fpnprof.cost.analysis import profile_graph
from fpnprof.errors import ConfigError, NeckFileError
from fpnprof.model.config import NeckConfig
from fpnprof.model.graph import Op
from fpnprof.model.graphneck import GraphNeck, GraphOp, SourceInfo, is_code_source
from fpnprof.model.graphneck_build import standalone_graph
from fpnprof.model.neckfile import adopt_neck_text
from fpnprof.model.neckfile.graphform import level_sized, load_graph_form, write_graph_form
from fpnprof.model.necks import build_graph


def _conv(cin: int, cout: int, k: int = 1, s: int = 1) -> dict[str, object]:
    return {"in_channels": cin, "out_channels": cout, "kernel": k, "stride": s, "padding": k // 2, "groups": 1, "bias": True}


def tiny_fpn() -> GraphNeck:
    """A two-level FPN with a pooled P5, as an importer would give it (sizes traced at 32 and 16)."""
    ops = (
        GraphOp("lateral.0", Op.CONV, ("in@3",), 3, MappingProxyType(_conv(128, 32))),
        GraphOp("lateral.1", Op.CONV, ("in@4",), 4, MappingProxyType(_conv(256, 32))),
        GraphOp("up", Op.UPSAMPLE, ("lateral.1",), 3, MappingProxyType({"size": (32, 32), "scale": 2.0})),
        GraphOp("merge", Op.ADD, ("lateral.0", "up"), 3),
        GraphOp("out.0", Op.CONV, ("merge",), 3, MappingProxyType(_conv(32, 32, 3))),
        GraphOp("out.0@2", Op.CONV, ("lateral.1",), 4, MappingProxyType(_conv(32, 32, 3)), shares="out.0"),
        GraphOp("p5", Op.MAXPOOL, ("out.0@2",), 5, MappingProxyType({"kernel": 1, "stride": 2, "padding": (0, 0, 0, 0)})),
    )
    source = SourceInfo("necks.py:Tiny", "torch", '{"width": 32}', "ab" * 32, 64, "tutorial", 1)
    return GraphNeck("tiny", {3: 128, 4: 256}, ops, {3: "out.0", 4: "out.0@2", 5: "p5"}, "a tiny FPN", source)


def test_written_file_reads_back_equal() -> None:
    neck = tiny_fpn()
    text = write_graph_form(neck, "a header line")
    assert text.startswith("# a header line\n")
    assert load_graph_form("tiny.toml", text) == neck


def test_level_sized_resize_builds_at_any_size() -> None:
    """A resize to its level's side is written size = "level": the file builds at other sizes, and the
    upsample there takes the new side (the traced 32x32 would not fit a 50 px input)."""
    neck = tiny_fpn()
    sized = GraphNeck(neck.name, neck.in_channels, level_sized(neck.ops, {3: (32, 32), 4: (16, 16)}), neck.outputs)
    up = next(op for op in sized.ops if op.name == "up")
    assert up.attrs["size"] == "level" and "scale" not in up.attrs
    graph = standalone_graph(sized, {3: (1, 128, 50, 50), 4: (1, 256, 25, 25)})
    assert graph["neck.up"].shape == (1, 32, 50, 50)
    assert graph[graph.outputs[5]].shape == (1, 32, 13, 13)
    with pytest.raises(Exception, match="equal input shapes"):  # the traced size, kept, cannot
        standalone_graph(neck, {3: (1, 128, 50, 50), 4: (1, 256, 25, 25)})


def test_shared_weights_are_counted_once() -> None:
    neck = tiny_fpn()
    text = write_graph_form(GraphNeck(neck.name, neck.in_channels, level_sized(neck.ops, {3: (32, 32)}), neck.outputs))
    adopt_neck_text("tiny-shared.toml", text)
    cfg = NeckConfig("tiny-shared.toml", variant="paper", levels=3, min_level=3, batch=1, size=64)
    profile = profile_graph(cfg, build_graph(cfg))
    conv = 128 * 32 + 32 + 256 * 32 + 32 + 32 * 32 * 9 + 32  # the 3x3 output conv once, used at P3 and P4
    assert profile.neck_total.params == conv
    by_level = {row.level: row.totals for row in profile.levels}
    assert by_level[4].macs == 32 * 32 * 9 * 16 * 16 + 256 * 32 * 16 * 16  # its MACs at each use


def test_channels_other_than_imported_are_refused() -> None:
    neck = tiny_fpn()
    adopt_neck_text("tiny-channels.toml", write_graph_form(neck))
    cfg = NeckConfig(
        "tiny-channels.toml", variant="paper", levels=3, min_level=3, backbone="none", in_channels=(64, 96, 256, 512)
    )
    message = r"takes C3\.\.C4 of 128,256 channels, these features have 96,256: .*--in-channels 64,128,256 "
    with pytest.raises(ConfigError, match=message):
        build_graph(cfg)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace('op = "maxpool"', 'op = "maxpool2"'), r"\[\[op\]\] 'p5', key 'op': expected one of"),
        (lambda t: t.replace('inputs = ["merge"]', 'inputs = ["nowhere"]'), "'nowhere' is neither an earlier op"),
        (lambda t: t.replace('P5 = "p5"', 'P6 = "p5"'), "not contiguous"),
        (lambda t: t.replace('shares = "out.0"', 'shares = "p5"'), "key 'shares': expected an earlier op"),
        (lambda t: t.replace("levels = [3, 4]", "levels = [3]"), r"\[inputs\], key 'levels'"),
        (lambda t: t.replace('name = "up"', 'name = "merge"'), "'merge' is used twice"),
        (lambda t: t.replace("[[op]]", "[[op]]\nkernel = 3", 1), "key 'kernel': unknown key"),
        (lambda t: t + "\n[[node]]\nname = 'x'\n", "not both"),
    ],
)
def test_mistakes_are_one_line(edit, message) -> None:  # type: ignore[no-untyped-def]
    text = edit(write_graph_form(tiny_fpn()))
    with pytest.raises(NeckFileError, match=message) as info:
        load_graph_form("bad.toml", text)
    assert "\n" not in str(info.value) and str(info.value).startswith("bad.toml: ")


@pytest.mark.parametrize(
    ("text", "is_code"),
    [
        ("necks.py:MyFPN", True),
        ("path/to/necks.py:make_fpn", True),
        ("mmdet.models.necks:FPN", True),
        ("fpn", False),
        ("nasfpn.toml", False),
        ("necks.py:", False),
        ("C:/x.toml", False),
    ],
)
def test_code_sources_are_told_from_necks(text: str, is_code: bool) -> None:
    assert is_code_source(text) is is_code
