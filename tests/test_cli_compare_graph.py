"""``fpnprof compare`` and ``fpnprof graph``: formats, ratios, bars, plots, drawings, and golden outputs."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
import seed_reference
from cli_helpers import check_golden, png_size, run

from fpnprof.bench.rows import BenchRow
from fpnprof.model.config import NeckConfig
from fpnprof.model.parts import part_graph

GOLDEN = Path(__file__).parent / "golden"
SEED_EXAMPLES = {
    "fpn": ["fpn"],
    "pafpn": ["pafpn"],
    "bifpn-L5-R3": ["bifpn", "--levels", "5", "--cells", "3"],
    "bifpn-L4-R5": ["bifpn", "--levels", "4", "--cells", "5"],
    "bifpn-L6-R5": ["bifpn", "--levels", "6", "--cells", "5"],
}


def _check_golden(name: str, text: str) -> None:
    check_golden(GOLDEN / name, text)


@pytest.mark.parametrize("example", list(SEED_EXAMPLES))
@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_seed_examples_golden(example: str, fmt: str) -> None:
    result = run("shapes", *SEED_EXAMPLES[example], "--format", fmt)
    assert result.exit_code == 0
    _check_golden(f"shapes-{example}.{'txt' if fmt == 'table' else 'md'}", result.stdout)


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_compare_golden(fmt: str) -> None:
    result = run("compare", "--variant", "both", "--format", fmt)
    assert result.exit_code == 0
    _check_golden(f"compare-both.{'txt' if fmt == 'table' else 'md'}", result.stdout)


def test_compare_json_ratios_and_baseline() -> None:
    one_setup = ["--levels", "5", "--min-level", "2", "--channels", "256"]  # every neck at P2-P6, C=256
    data = json.loads(run("compare", "--variant", "both", "--baseline", "pafpn", *one_setup, "-f", "json").stdout)
    rows = data["rows"]
    assert [(r["neck"], r["variant"]) for r in rows] == [(n, v) for n in ("fpn", "pafpn", "bifpn") for v in ("tutorial", "paper")]
    assert data["baseline"] == {"neck": "pafpn", "variant": "tutorial"}
    base = rows[2]
    # the baseline's MACs as counted from the seed's code (tests/seed_reference.py), not by fpnprof
    seed_macs = seed_reference.pafpn([64, 128, 256, 512, 512], [64, 32, 16, 8, 4]).macs
    assert base["macs"] == seed_macs
    for row in rows:
        assert row["macs_ratio"] == pytest.approx(row["macs"] / seed_macs)
        assert row["params_ratio"] == pytest.approx(row["params"] / base["params"])
        assert list(row["level_macs"]) == ["P2", "P3", "P4", "P5", "P6"]


def test_compare_table_has_bars_and_csv_parses() -> None:
    table = run("compare").stdout
    assert "share of neck MACs per level" in table and "█" in table and re.search(r"\d+\.\d%", table)
    rows = list(csv.DictReader(io.StringIO(run("compare", "-f", "csv").stdout)))
    main_rows = [r for r in rows if r["section"].startswith("neck comparison")]
    assert [r["neck"] for r in main_rows] == ["fpn", "pafpn", "bifpn"] and all(r["macs"].isdigit() for r in main_rows)


def test_compare_plot_png(tmp_path: Path) -> None:
    target = tmp_path / "macs.png"
    assert run("compare", "--plot", str(target)).exit_code == 0
    assert png_size(target) == (900, 500)
    assert target.stat().st_size > 5000


@pytest.mark.slow
def test_compare_with_bench_tiny(tmp_path: Path) -> None:
    """One paired compare with a breakdown: the table on stdout, its JSON through --save."""
    saved = tmp_path / "compare.json"
    result = run(
        "compare",
        "fpn",
        "bifpn",
        "--variant",
        "paper",
        "--channels",
        "8",
        "--size",
        "32",
        "--batch",
        "1",
        "--levels",
        "3",
        "--bench",
        "--repeat",
        "3",
        "--processes",
        "3",
        "--breakdown",
        "--save",
        str(saved),
    )
    assert result.exit_code == 0, result.output
    assert "eager time per level" in result.stdout and "latency of the neck alone" in result.stdout
    data: dict[str, Any] = json.loads(saved.read_text())
    rows, bench_rows = data["rows"], data["bench"]["rows"]
    # each neck at its own lowest level (the paper BiFPN at EfficientDet-D0's P3), three levels up
    levels = {row["neck"]: [x["name"] for x in row["breakdown"]["by_level"]] for row in rows}
    assert levels == {"fpn": ["P2", "P3", "P4"], "bifpn": ["P3", "P4", "P5"]}
    for row in rows:
        mine = [r for r in bench_rows if r["neck"] == row["neck"]]
        assert row["eager_ms"] > 0 and row["deployed_engine"] == "inference"
        assert row["deployed_ms"] == min(r["median_ms"] for r in mine if r["engine"] != "eager")
        assert row["eager_ms"] == next(r["median_ms"] for r in mine if r["engine"] == "eager")
    for row in rows[1:]:
        eager = next(r for r in bench_rows if r["neck"] == row["neck"] and r["engine"] == "eager")
        low, high = row["eager_ratio_ci95"]
        assert eager["ratio_paired"] and low <= row["eager_ratio"] <= high and row["eager_ratio"] == eager["ratio"]
    assert data["bench"]["run"]["workers"] == 6  # three per group: eager, and Paddle Inference apart


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--baseline", "yolo"], "not among the compared necks"),
        (["--variant", "all"], "tutorial, paper or both"),
        (["fpn", "nasfpn"], "unknown neck"),
        (["--plot", "x.gif"], ".png or .svg"),
        (["--format", "yaml"], "unknown format"),
    ],
)
def test_compare_refusals(args: list[str], message: str) -> None:
    result = run("compare", *args)
    assert result.exit_code == 2 and message in result.stderr


@pytest.mark.parametrize("neck", ["fpn", "pafpn", "bifpn"])
@pytest.mark.parametrize("variant", ["tutorial", "paper"])
def test_graph_drawings_have_every_node_and_edge(neck: str, variant: str) -> None:
    graph = part_graph(NeckConfig(neck=neck, variant=variant, levels=5, cells=2), "neck")
    n_edges = sum(len(node.inputs) for node in graph)
    at = ["--levels", "5", "--min-level", "2", "--channels", "256", "--cells", "2"]
    mermaid = run("graph", neck, "--variant", variant, *at).stdout
    assert len(re.findall(r'^    n\d+\["', mermaid, re.M)) == len(graph)
    assert len(re.findall(r"^  n\d+ --> n\d+$", mermaid, re.M)) == n_edges
    dot = run("graph", neck, "--variant", variant, *at, "-f", "dot").stdout
    assert len(re.findall(r'^    n\d+ \[label="', dot, re.M)) == len(graph)
    assert len(re.findall(r"^  n\d+ -> n\d+;$", dot, re.M)) == n_edges
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    if variant == "paper" and neck == "bifpn":
        assert "weighted fusion (3 inputs)" in mermaid and "depthwise conv 3x3" in mermaid


def test_graph_output_file_and_refusal(tmp_path: Path) -> None:
    target = tmp_path / "g.dot"
    assert run("graph", "fpn", "-f", "dot", "-o", str(target)).exit_code == 0
    assert target.read_text().startswith("digraph")
    bad = run("graph", "fpn", "-f", "svg")
    assert bad.exit_code == 2 and "choose from mermaid, dot" in bad.stderr


@pytest.mark.parametrize("columns", [80, 120])
@pytest.mark.parametrize(
    "args",
    [
        ["shapes", "fpn"],
        ["shapes", "bifpn", "--levels", "6", "--detail"],
        ["compare"],
        ["compare", "--variant", "both"],
        ["list"],
    ],
)
def test_no_number_is_cut_at_narrow_widths(args: list[str], columns: int) -> None:
    result = run(*args, columns=columns)
    assert result.exit_code == 0, result.output
    assert "…" not in result.stdout
    assert all(len(line) <= columns for line in result.stdout.splitlines())


@pytest.mark.slow
def test_latency_plot_log_axis_reads_as_plain_numbers() -> None:
    from fpnprof.report.plots import _pyplot, latency_figure

    rows: list[BenchRow] = [
        {"neck": "fpn", "variant": "paper", "part": "neck", "engine": "eager", "batch": 1, "size": s, "median_ms": ms}
        for s, ms in ((64, 3.2), (128, 14.0), (256, 61.0))
    ]
    plt = _pyplot(Path("x.png"))
    fig = latency_figure(plt, rows)
    fig.canvas.draw()
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels() if t.get_text()]
    plt.close(fig)
    assert labels and all(re.fullmatch(r"\d+(\.\d+)?", label) for label in labels), labels
    assert {"5", "10", "20", "50"} <= set(labels)


def test_compare_shows_each_necks_own_peak_beside_the_whole_pass() -> None:
    from fpnprof.cost.analysis import profile

    data = json.loads(run("compare", "--variant", "both", "-f", "json").stdout)
    rows = data["rows"]
    for row in rows:
        assert 0 < row["neck_peak_bytes"] <= row["peak_bytes"]
        # the neck's peak is what the neck alone needs on ResNet18's features (its inputs live, as in the pass)
        alone = NeckConfig.from_dict({**row["config"], "backbone": "none"})  # on ResNet18's widths
        assert row["neck_peak_bytes"] == profile(alone).peak_bytes, row["neck"]
    bifpn = rows[-1]  # EfficientDet-D0's neck: 64 channels, P3-P7, where the backbone's peak is the pass's
    assert (bifpn["neck"], bifpn["variant"]) == ("bifpn", "paper")
    assert bifpn["neck_peak_bytes"] < bifpn["peak_bytes"] / 3
    assert "neck peak MB" in run("compare", "--variant", "both").stdout
