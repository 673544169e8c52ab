"""Neck files: the shipped paper forms equal the built-in necks, NAS-FPN and the YOLOv5 PAN match
hand counts and published counts, and file necks work everywhere a neck name does."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from cli_helpers import run
from graph_signature import signatures, structure_differences
from reference_check import reference_errors

from fpnprof.backends.common import ExecutionPlan
from fpnprof.cost.analysis import profile_graph as analyse
from fpnprof.model.config import NeckConfig
from fpnprof.model.graph import Graph
from fpnprof.model.neckfile import SHIPPED, load_neck_file, shipped_files
from fpnprof.model.necks import build_graph

PAPER_FORMS = {"fpn": "fpn-paper.toml", "pafpn": "pafpn-paper.toml", "bifpn": "bifpn-paper.toml"}
#: (min_level, levels, channels, cells, stem, size): several level counts, with and without extra levels.
SHAPES = [
    (2, 4, 256, 1, "tutorial", 64),
    (2, 6, 64, 2, "tutorial", 64),
    (3, 3, 96, 3, "tutorial", 64),
    (3, 5, 64, 3, "imagenet", 256),
    (3, 7, 88, 4, "imagenet", 512),
    (4, 2, 32, 1, "tutorial", 64),
]


def _pair(
    builtin: str, file: str, min_level: int, levels: int, channels: int, cells: int, stem: str, size: int
) -> tuple[NeckConfig, NeckConfig]:
    base = NeckConfig(
        builtin, variant="paper", min_level=min_level, levels=levels, channels=channels, cells=cells, stem=stem, size=size
    )
    return base, replace(base, neck=file)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"P{s[0]}x{s[1]}-C{s[2]}-R{s[3]}-{s[4]}")
@pytest.mark.parametrize(("builtin", "variant"), [(n, v) for v in ("paper", "tutorial") for n in PAPER_FORMS])
def test_a_built_in_neck_as_a_file_is_the_same_graph(
    builtin: str, variant: str, shape: tuple[int, int, int, int, str, int]
) -> None:
    base, file = _pair(builtin, f"{builtin}-{variant}.toml", *shape)
    base = replace(base, variant=variant)
    a, b = build_graph(base), build_graph(file)
    assert structure_differences(a, b) == []
    assert execution_sequence(a) == execution_sequence(b)  # the same ops run in the same order: they time alike
    pa, pb = analyse(base, a), analyse(file, b)
    assert [(r.level, r.output_shape, r.totals) for r in pa.levels] == [(r.level, r.output_shape, r.totals) for r in pb.levels]
    assert pa.neck_total == pb.neck_total and pa.model_total == pb.model_total


def execution_sequence(graph: Graph) -> list[str]:
    """The structural signature of every step the executor runs, in its order."""
    sig = signatures(graph)
    return [sig[node_id] for node_id, _, _ in ExecutionPlan(graph).steps]


def test_graph_equal_necks_run_in_one_order_whatever_the_files_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """fpn-paper.toml lists every lateral first; as built, it runs in the built-in's order. Without
    the canonical order (a deliberate break) the sequences differ, so the check above can fail."""
    base, file = _pair("fpn", "fpn-paper.toml", 2, 4, 64, 1, "tutorial", 64)
    assert execution_sequence(build_graph(base)) == execution_sequence(build_graph(file))
    monkeypatch.setattr(Graph, "reorder", lambda self, order: None)
    assert execution_sequence(build_graph(base)) != execution_sequence(build_graph(file))


def test_the_equality_check_catches_unshared_weights(tmp_path: Path) -> None:
    """A deliberate break: the seed PAFPN's bottom-up conv and BN with a set of weights per level."""
    broken = tmp_path / "pafpn-unshared.toml"
    broken.write_text((SHIPPED / "pafpn-tutorial.toml").read_text().replace("share = true", "share = false"))
    base, file = _pair("pafpn", str(broken), 2, 4, 64, 1, "tutorial", 64)
    base = replace(base, variant="tutorial")
    assert any("without a counterpart" in p for p in structure_differences(build_graph(base), build_graph(file)))
    extra = 2 * (9 * 64 * 64 + 64 + 2 * 64)  # two more 3x3 convs with bias and BNs (P4, P5 reuse P3's in the seed)
    assert analyse(file, build_graph(file)).neck_total.params == analyse(base, build_graph(base)).neck_total.params + extra


def test_the_equality_check_catches_a_miswired_file(tmp_path: Path) -> None:
    """A deliberate break: BiFPN's bottom-up nodes reading the cell input below instead of the newest node."""
    text = (SHIPPED / "bifpn-paper.toml").read_text().replace('"latest@l-1"', '"in@l-1"')
    broken = tmp_path / "bifpn-broken.toml"
    broken.write_text(text)
    base, file = _pair("bifpn", str(broken), 3, 5, 64, 3, "tutorial", 64)
    problems = structure_differences(build_graph(base), build_graph(file))
    assert "P4 computed differently" in problems and any("without a counterpart" in p for p in problems)


def test_the_equality_check_catches_a_swapped_sum() -> None:
    """Another break: the FPN merge adding its two inputs in the other order is a different graph here."""
    text = (SHIPPED / "fpn-paper.toml").read_text().replace('["merge@l+1?", "lateral@l"]', '["lateral@l", "merge@l+1?"]')
    from fpnprof.model.neckfile.schema import parse_neck_file

    assert parse_neck_file("x.toml", text).nodes[1].inputs[0].text == "lateral@l"
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fpn-swapped.toml"
        path.write_text(text)
        base, file = _pair("fpn", str(path), 2, 4, 256, 1, "tutorial", 64)
        assert structure_differences(build_graph(base), build_graph(file))


def _conv(cin: int, cout: int, k: int, bias: bool) -> int:
    return cin * cout * k * k + (cout if bias else 0)


def test_nasfpn_parameters_by_hand() -> None:
    """mmdet's NAS-FPN over ResNet18: laterals and extra 1x1 convs without bias + BN; 7 merging
    convs per stack (3x3 with bias + BN: gp_64_4, 4 sums with conv, sum_77_7, gp_75_6); 7 stacks."""
    c, stacks = 256, 7
    laterals = sum(_conv(cin, c, 1, False) + 2 * c for cin in (128, 256, 512))
    extra = 2 * (_conv(c, c, 1, False) + 2 * c)
    per_stack = 7 * (_conv(c, c, 3, True) + 2 * c)
    cfg = NeckConfig("nasfpn.toml", variant="paper", min_level=3, levels=5, channels=c, cells=stacks)
    p = analyse(cfg, build_graph(cfg))
    assert p.neck_total.params == laterals + extra + stacks * per_stack == 29_302_016
    assert p.neck_total.buffers == 2 * c * (3 + 2 + 7 * stacks)  # every BN's running mean and variance


NASFPN_SIDES = {192: (24, 12, 6, 3, 1), 160: (20, 10, 5, 2, 1), 256: (32, 16, 8, 4, 2)}


def _nasfpn(size: int, neck: str = "nasfpn.toml") -> NeckConfig:
    return NeckConfig(
        neck,
        variant="paper",
        min_level=3,
        levels=5,
        channels=16,
        cells=2,
        stem="imagenet",
        size=size,
        batch=1,
        backbone="none",
        in_channels=(64, 128, 256, 512),
    )


@pytest.mark.parametrize("size", list(NASFPN_SIDES))
def test_nasfpn_equals_an_independent_mmdet_reference_at_uneven_pyramids(size: int) -> None:
    """mmdet's NASFPN (mmcv's merge cells, whose resize pools by the real size ratio after zero
    padding), written in plain torch without fpnprof (tests/reference_nasfpn_torch.py)."""
    cfg = _nasfpn(size)
    assert [s[2] for s in (analyse(cfg, build_graph(cfg)).levels[i].output_shape for i in range(5))] == list(NASFPN_SIDES[size])
    assert max(reference_errors(cfg)) < 1e-5


def test_the_reference_check_catches_pooling_by_powers_of_two(tmp_path: Path) -> None:
    """A deliberate break: down-resampling with kernel = stride = 2^gap (the rule before mmcv's) builds
    at 192 and 160 but computes something else where the pyramid does not halve evenly."""
    broken = tmp_path / "nasfpn-pow2.toml"
    broken.write_text(
        (SHIPPED / "nasfpn.toml").read_text().replace('down = ["maxpool_to_level"]', 'down = ["maxpool(k=ratio, s=ratio)"]')
    )
    for size in (192, 160):
        assert max(reference_errors(_nasfpn(size, str(broken)))) > 1e-2
    assert max(reference_errors(_nasfpn(256, str(broken)))) < 1e-5  # where it halves evenly, the rules agree


def test_yolov5_pan_matches_yolov5s_published_layer_counts() -> None:
    """YOLOv5s' model summary, layers 10-23 (backbone widths 128/256/512 = ResNet18's C3..C5):
    Conv 131,584; C3 361,984; Conv 33,024; C3 90,880; Conv 147,712; C3 296,448; Conv 590,336; C3 1,182,720."""
    published = [131_584, 361_984, 33_024, 90_880, 147_712, 296_448, 590_336, 1_182_720]

    def cbs(cin: int, cout: int, k: int) -> int:
        return _conv(cin, cout, k, False) + 2 * cout

    def c3(cin: int, cout: int) -> int:
        h = cout // 2
        return 2 * cbs(cin, h, 1) + cbs(h, h, 1) + cbs(h, h, 3) + cbs(2 * h, cout, 1)

    by_hand = [cbs(512, 256, 1), c3(512, 256), cbs(256, 128, 1), c3(256, 128), cbs(128, 128, 3), c3(256, 256),
               cbs(256, 256, 3), c3(512, 512)]  # fmt: skip
    assert by_hand == published
    cfg = NeckConfig("yolov5-pan.toml", variant="paper", min_level=3, levels=3, channels=128, cells=1)
    p = analyse(cfg, build_graph(cfg))
    assert p.neck_total.params == sum(published) == 2_834_688
    assert [r.output_shape[1] for r in p.levels] == [128, 256, 512]  # P3, P4, P5 widths C, 2C, 4C


@pytest.mark.parametrize("neck", ["nasfpn.toml", "yolov5-pan.toml"])
@pytest.mark.parametrize("backend", ["torch", "paddle"])
def test_new_necks_verify_in_both_frameworks(neck: str, backend: str) -> None:
    """Shapes of every node, params and BN statistics in both; fvcore's MACs per level with torch."""
    result = run("shapes", neck, "--channels", "64", "--cells", "2", "--verify", "--backend", backend)
    assert result.exit_code == 0, result.stderr
    assert f"verified with {backend}" in result.stdout
    if backend == "torch":
        assert "fvcore MACs per level and total match" in result.stdout


def test_a_file_neck_takes_its_defaults_and_the_command_line_overrides_them() -> None:
    shapes = json.loads(run("shapes", "nasfpn.toml", "-f", "json").stdout)
    assert [lvl["name"] for lvl in shapes["levels"]] == ["P3", "P4", "P5", "P6", "P7"]
    assert shapes["config"]["channels"] == 256 and shapes["config"]["cells"] == 7
    smaller = json.loads(run("shapes", "nasfpn.toml", "--channels", "64", "--cells", "2", "-f", "json").stdout)
    assert smaller["config"]["channels"] == 64 and smaller["neck_total"]["params"] < shapes["neck_total"]["params"]


def test_file_necks_work_in_compare_graph_sweep_and_bench_arguments(tmp_path: Path) -> None:
    shared = ("--variant", "paper", "--channels", "64", "--min-level", "3", "--cells", "3", "-f", "json")
    rows = json.loads(run("compare", "bifpn", "bifpn-paper.toml", *shared).stdout)["rows"]
    assert [r["neck"] for r in rows] == ["bifpn", "bifpn-paper.toml"]
    assert rows[0]["params"] == rows[1]["params"] and rows[0]["macs"] == rows[1]["macs"]
    both = json.loads(run("compare", "fpn", "nasfpn.toml", "--variant", "both", "--min-level", "3", "-f", "json").stdout)["rows"]
    assert [(r["neck"], r["variant"]) for r in both] == [("fpn", "tutorial"), ("fpn", "paper"), ("nasfpn.toml", "-")]
    drawn = run("graph", "nasfpn.toml", "--cells", "1")
    assert drawn.exit_code == 0 and "gp_64_4_p4" in drawn.stdout and "global-pooling attention" in drawn.stdout
    swept = json.loads(run("sweep", "yolov5-pan.toml", "--channels", "32,64", "--workers", "1", "-f", "json").stdout)
    assert [r["channels"] for r in swept["rows"]] == [32, 64]


def test_a_user_file_by_path_and_the_shipped_list(tmp_path: Path) -> None:
    mine = tmp_path / "mine.toml"
    mine.write_text((SHIPPED / "fpn-paper.toml").read_text())
    result = run("shapes", str(mine), "-f", "json")
    assert result.exit_code == 0 and json.loads(result.stdout)["neck_total"]["params"] == 2_607_104
    assert set(shipped_files()) >= {"fpn-paper.toml", "pafpn-paper.toml", "bifpn-paper.toml", "nasfpn.toml", "yolov5-pan.toml"}
    assert load_neck_file("nasfpn.toml").defaults["cells"] == 7


def test_the_documented_example_builds_and_verifies(tmp_path: Path) -> None:
    """docs/NECK_FORMAT.md's commented example is a working neck file (the doc stays true)."""
    import re

    doc = (Path(__file__).parent.parent / "docs" / "NECK_FORMAT.md").read_text()
    example = tmp_path / "my_neck.toml"
    example.write_text(re.search(r"```toml\n(.*?)```", doc, re.S).group(1))  # type: ignore[union-attr]
    result = run("shapes", str(example), "--verify", "--backend", "torch", "-f", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert [lvl["name"] for lvl in data["levels"]] == ["P3", "P4", "P5", "P6", "P7"] and data["config"]["channels"] == 128
    for name in shipped_files():
        assert f"`{name}`" in doc


def _softmax_bifpn(tmp_path: Path) -> str:
    path = tmp_path / "bifpn-softmax.toml"
    path.write_text((SHIPPED / "bifpn-paper.toml").read_text().replace('fusion = "fast_normalized"', 'fusion = "softmax"'))
    return str(path)


def test_softmax_fusion_costs_and_verifies(tmp_path: Path) -> None:
    """EfficientDet's softmax weighting: the same weights as fast fusion, one scalar op fewer per node
    (n exp, n-1 sums, n divisions against n relu, n-1 sums, 1 epsilon, n divisions)."""
    soft = _softmax_bifpn(tmp_path)
    fast, smax = (NeckConfig(n, variant="paper", min_level=3, levels=5, channels=32, cells=2) for n in ("bifpn-paper.toml", soft))
    pf, ps = analyse(fast, build_graph(fast)), analyse(smax, build_graph(smax))
    fusions = sum(1 for n in build_graph(smax) if n.op.value == "softmax_fusion")
    assert fusions == 2 * 8 and ps.neck_total.params == pf.neck_total.params
    assert ps.neck_total.macs == pf.neck_total.macs and ps.neck_total.flops == pf.neck_total.flops - fusions
    for backend in ("torch", "paddle"):
        result = run("shapes", soft, "--channels", "32", "--cells", "2", "--verify", "--backend", backend)
        assert result.exit_code == 0 and f"verified with {backend}" in result.stdout, result.stderr


def test_new_ops_compute_the_same_in_paddle_and_torch(tmp_path: Path) -> None:
    """Global-pooling attention (NAS-FPN) and softmax fusion, with the same random weights in both."""
    from frameworks import build, paddle_torch_errors

    for neck in ("nasfpn.toml", _softmax_bifpn(tmp_path)):
        built = build(NeckConfig(neck, variant="paper", min_level=3, levels=5, channels=16, cells=2))
        assert max(paddle_torch_errors(built)) < 1e-5


def test_paddle_inference_export_computes_the_new_ops_like_eager(tmp_path: Path) -> None:
    """The deployed Paddle program (legacy IR, oneDNN) against eager Paddle, in a fresh process
    (the IR flag must be set before paddle is imported)."""
    import os
    import subprocess

    script = f"""
import numpy as np, paddle
from fpnprof.backends import paddle_backend as pb
from fpnprof.model.config import NeckConfig
from fpnprof.model.graph import Graph
from fpnprof.model.parts import part_graph
for k, neck in enumerate(("nasfpn.toml", {_softmax_bifpn(tmp_path)!r})):
    g = part_graph(NeckConfig(neck, variant="paper", min_level=3, levels=5, channels=16, cells=2), "neck")
    model, reference = pb.lower(g), pb.lower(g)  # to_static converts the exported layer in place
    reference.set_state_dict(model.state_dict())
    inputs = pb.random_inputs(g, seed=3)
    predictor = pb._predictor(model, g, {str(tmp_path)!r} + f"/export{{k}}", gpu=False, threads=1)
    for name, x in zip(predictor.get_input_names(), inputs):
        predictor.get_input_handle(name).copy_from_cpu(x.numpy())
    predictor.run()
    deployed = [predictor.get_output_handle(n).copy_to_cpu() for n in predictor.get_output_names()]
    with paddle.no_grad():
        eager = [y.numpy() for y in reference(inputs)]
    err = max(float(np.abs(a - b).max() / np.abs(b).max()) for a, b in zip(deployed, eager))
    print(neck, "max relative error", err)
    assert len(deployed) == len(eager) and err < 1e-4, err
"""
    env = {**os.environ, "FLAGS_enable_pir_api": "0"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("max relative error") == 2


def test_a_long_neck_file_path_wraps_and_never_cuts_a_number(tmp_path: Path) -> None:
    folder = tmp_path / "some" / "very" / "long" / "folder" / "of" / "designs"
    folder.mkdir(parents=True)
    mine = folder / "my_experimental_neck_v2.toml"
    mine.write_text((SHIPPED / "bifpn-paper.toml").read_text())
    for args in (
        ("compare", "fpn", str(mine), "--variant", "paper", "--min-level", "3"),
        ("sweep", str(mine), "--channels", "64,128"),
    ):
        result = run(*args, columns=80)
        assert result.exit_code == 0, result.stderr
        assert "…" not in result.stdout and "257,209" in result.stdout
        assert max(len(line) for line in result.stdout.splitlines()) <= 80
