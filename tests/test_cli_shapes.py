"""``fpnprof shapes`` and ``fpnprof list``: every format, saving, and every bad input."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import run


def test_table_has_a_row_per_level_and_totals() -> None:
    result = run("shapes", "fpn")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for level, shape in (("P2", "2x256x64x64"), ("P5", "2x256x8x8")):
        assert level in out and shape in out
    assert "GMACs (fvcore)" in out and "GFLOPs" in out
    assert "neck total" in out and "backbone" in out and "2,607,104" in out and "11,169,728" in out


def test_json_keys_and_integers() -> None:
    result = run("shapes", "bifpn", "--format", "json")
    data = json.loads(result.stdout)
    assert {"schema_version", "neck", "variant", "config", "levels", "neck_total", "backbone_total", "provenance"} <= set(data)
    assert [lvl["name"] for lvl in data["levels"]] == ["P2", "P3", "P4", "P5", "P6"]
    assert data["levels"][-1]["input_shape"] is None  # P6 is made by the neck (the seed's C_to_P)
    assert data["levels"][0]["input_shape"] == [2, 64, 64, 64]
    for key in ("params", "buffers", "macs", "flops", "bytes"):
        assert isinstance(data["levels"][0][key], int)
    assert set(data["backbone_total"]) >= {"params", "buffers", "macs", "flops"}
    assert set(data["provenance"]) >= {"fpnprof", "python"}


def test_csv_parses() -> None:
    rows = list(csv.DictReader(io.StringIO(run("shapes", "pafpn", "--format", "csv").stdout)))
    level_rows = [r for r in rows if r["name"].startswith("P")]
    assert [r["name"] for r in level_rows] == ["P2", "P3", "P4", "P5"]
    assert all(r["macs"].isdigit() for r in level_rows)


def test_markdown_table() -> None:
    out = run("shapes", "fpn", "--format", "markdown").stdout
    lines = [line for line in out.splitlines() if line.startswith("|")]
    assert lines[0].startswith("| level | stride |") and set(lines[1]) <= set("|-: ")
    assert len({line.count("|") for line in lines}) == 1


def test_detail_shows_inner_widths_and_by_op_lists_fvcore_zeros() -> None:
    out = run("shapes", "bifpn", "--detail", "--by-op").stdout
    assert "2x768x8x8" in out  # the seed BiFPN's inner concat width
    assert "per op type" in out and "0 (unsupported op)" in out and "swish" in out


def test_output_file_written(tmp_path: Path) -> None:
    target = tmp_path / "fpn.json"
    result = run("shapes", "fpn", "-f", "json", "-o", str(target))
    assert result.exit_code == 0
    assert json.loads(target.read_text())["neck"] == "fpn"
    assert list(tmp_path.iterdir()) == [target]


def test_failed_run_leaves_no_file(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    assert run("shapes", "fpn", "--levels", "12", "-o", str(target)).exit_code == 2
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_list() -> None:
    out = run("list").stdout
    assert "bifpn" in out and "paper" in out and "imagenet" in out and "torch" in out
    assert "engine (torch, gpu)" in out and "cudagraph" in out


def test_version_and_help() -> None:
    assert run("--version").stdout.startswith("fpnprof ")
    help_text = run("shapes", "--help").stdout
    assert "Examples" in help_text and "--variant" in help_text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["shapes", "bifpm"], "did you mean 'bifpn'"),
        (["shapes", "fpn", "--levels", "8"], "under 1x1"),
        (["shapes", "bifpn", "--size", "100"], "exact halves"),
        (["shapes", "pafpn", "--levels", "6", "--size", "72"], "pafpn"),
        (["shapes", "fpn", "--levels", "1"], "--levels must be between"),
        (["shapes", "fpn", "--levels", "0"], "--levels must be between 2 and 10"),
        (["shapes", "fpn", "--min-level", "6"], "--min-level must be between"),
        (["shapes", "fpn", "--batch", "0"], "--batch must be between 1 and 65536"),
        (["shapes", "fpn", "--size", "-3"], "--size must be between 1 and 65536"),
        (["shapes", "fpn", "--channels", "0"], "--channels must be between 1 and 16384"),
        (["shapes", "bifpn", "--cells", "0"], "--cells must be between 1 and 64"),
        (["shapes", "bifpn", "--cells", "100000"], "--cells must be between 1 and 64"),
        (["shapes", "fpn", "--channels", "100000000"], "--channels must be between 1 and 16384"),
        (["shapes", "fpn", "--size", "70000"], "--size must be between 1 and 65536"),
        (["shapes", "fpn", "--batch", "70000"], "--batch must be between 1 and 65536"),
        (["compare", "fpn", "--levels", "11"], "--levels must be between 2 and 10"),
        (["sweep", "fpn", "--cells", "65"], "--cells must be between 1 and 64"),
        (["shapes", "nasfpn.toml", "--levels", "3"], "fixes its levels at P3-P7"),
        (["shapes", "yolov5-pan.toml", "--min-level", "2", "--levels", "4"], "fixes its levels at P3-P5"),
        (["shapes", "fpn", "--backbone", "none", "--in-channels", "256,x"], "comma-separated integers"),
        (["shapes", "fpn", "--in-channels", "256,512"], "--backbone none only"),
        (["shapes", "fpn", "--variant", "fancy"], "unknown variant"),
        (["shapes", "fpn", "--stem", "vgg"], "unknown stem"),
        (["shapes", "fpn", "--format", "xml"], "unknown format"),
        (["shapes", "fpn", "--verify", "--backend", "jax"], "unknown backend"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_verify_with_paddle() -> None:
    result = run("shapes", "pafpn", "--channels", "16", "--size", "32", "--batch", "1", "--verify")
    assert result.exit_code == 0, result.output
    assert "verified with paddle" in result.stdout


def test_verify_with_torch_checks_fvcore() -> None:
    result = run(
        "shapes",
        "bifpn",
        "--variant",
        "paper",
        "--channels",
        "16",
        "--size",
        "32",
        "--batch",
        "1",
        "--verify",
        "--backend",
        "torch",
        "-f",
        "json",
    )
    assert result.exit_code == 0, result.output
    verification = json.loads(result.stdout)["verification"]
    assert verification["backend"] == "torch" and "fvcore MACs per level and total" in verification["checks"]


def test_torch_backend_missing_says_how_to_install() -> None:
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from typer.testing import CliRunner; from fpnprof.cli import app\n"
        "r = CliRunner().invoke(app, ['shapes', 'fpn', '--verify', '--backend', 'torch'])\n"
        "print(r.exit_code); print(r.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("2\n") and "pip install 'fpnprof[torch]'" in out


def test_module_entry_point() -> None:
    out = subprocess.run([sys.executable, "-m", "fpnprof", "--version"], capture_output=True, text=True, check=True).stdout
    assert out.startswith("fpnprof ")


@pytest.mark.parametrize("fmt", ["table", "json", "csv", "markdown"])
def test_list_every_format(fmt: str) -> None:
    result = run("list", "--format", fmt)
    assert result.exit_code == 0
    if fmt == "json":
        assert json.loads(result.stdout)["engines"]["torch"]["gpu"] == ["eager", "compile", "cudagraph"]
    elif fmt == "csv":
        assert {row["what"] for row in csv.DictReader(io.StringIO(result.stdout))} >= {"neck", "variant", "backend"}
    else:
        assert "bifpn" in result.stdout
