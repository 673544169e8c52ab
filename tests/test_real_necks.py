"""The real necks fpnprof ships as imported neck files (mmdet's RetinaNet FPN, YOLOv8's PAN, PP-YOLOE's
CustomCSPPAN, PicoDet's CSP-PAN) equal their references in ``tests/reference_necks`` (written from the
original sources alone): the shipped file, read as data, lowered by fpnprof with the reference's weights
computes the reference's outputs (float64) with its parameter count (and fvcore MACs, torch), at the size
it was imported at and at another; the file names the reference's exact text by hash; and ``compare``
shows every one beside the built-in necks."""

from __future__ import annotations

import json

import pytest
from imported_necks import make_reference
from typer.testing import CliRunner

from fpnprof.backends.code_source import file_hash
from fpnprof.cli import app
from fpnprof.model.backbone import level_sides
from fpnprof.model.graph import Shape
from fpnprof.model.neckfile import SHIPPED
from fpnprof.model.neckfile.graphform import load_graph_form

#: shipped file -> (reference module, factory, framework, trainable params counted by hand in
#: tests/test_reference_real_necks.py)
REAL = {
    "retinanet-fpn.toml": ("mmdet_fpn", "retinanet_fpn", "torch", 3_770_368),
    "yolov8-pan.toml": ("yolov8_pan", "YOLOv8PAN", "torch", 3_939_840),
    "ppyoloe-pan.toml": ("ppyoloe_custom_csp_pan", "ppyoloe_s_pan", "paddle", 3_417_888),
    "picodet-pan.toml": ("picodet_csp_pan", "picodet_s_pan", "paddle", 271_104),
}


def _shapes(size: int, in_channels: dict[int, int]) -> dict[int, Shape]:
    sides = level_sides(size, "tutorial", max(in_channels))
    return {level: (1, c, sides[level], sides[level]) for level, c in in_channels.items()}


@pytest.mark.parametrize("file", sorted(REAL))
def test_shipped_real_neck_equals_its_reference(file: str) -> None:
    module, factory, framework, params = REAL[file]
    pytest.importorskip(framework)
    text = (SHIPPED / file).read_text(encoding="utf-8")
    neck = load_graph_form(file, text)
    reference, path = make_reference(module, factory)
    assert neck.source is not None and neck.source.framework == framework
    assert neck.source.sha256 == file_hash(path), "the reference changed since the file was imported: import it again"
    if framework == "torch":
        from fpnprof.backends.torch_import_proof import prove
    else:
        from fpnprof.backends.paddle_import import prove  # type: ignore[assignment]
    for size in (64, 96):  # as imported (C3 at 32), and at another size the file was never traced at
        proof = prove(reference, neck, _shapes(size, dict(neck.in_channels)))
        assert proof.ok, f"{file} at {size}: {proof.line()}"
        assert f"params {params:,} vs {params:,}" in proof.line()


def test_compare_shows_the_real_necks_beside_the_built_ins() -> None:
    result = CliRunner().invoke(
        app, ["compare", "fpn", "pafpn", "bifpn", *sorted(REAL), "--min-level", "3", "--levels", "3", "-f", "json"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout[result.stdout.index("{") :])["rows"]
    by_neck = {row["neck"]: row for row in rows}
    assert set(by_neck) == {"fpn", "pafpn", "bifpn", *REAL}
    for file, (_, _, _, params) in REAL.items():
        assert by_neck[file]["params"] == params, file
        assert by_neck[file]["channels"] is None  # its widths are its own: no --channels in its row


@pytest.mark.parametrize("file", sorted(REAL))
def test_conventions_of_a_real_neck_read_at_80_columns(file: str) -> None:
    """Their op names are long (adaptive_avgpool, upsample_nearest): the per-op table drops counters, never cuts."""
    result = CliRunner(env={"COLUMNS": "80"}).invoke(app, ["conventions", file])
    assert result.exit_code == 0, result.output
    assert all(len(line) <= 80 for line in result.stdout.splitlines()), max(result.stdout.splitlines(), key=len)
    assert "…" not in result.stdout
