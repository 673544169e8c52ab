"""``fpnprof bench`` end to end on tiny configs (real subprocess rows; no time is asserted)."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import png_size, run

from fpnprof.backends.registry import BACKENDS

# The "no GPU" refusals hold only where the build has no CUDA; GPU runs need one. The product's own
# check of the installed builds (package metadata, no import) decides, so the tests and it agree.
TORCH_GPU_BUILD = BACKENDS["torch"].gpu_problem() is None
CPU_TORCH_ONLY = pytest.mark.skipif(TORCH_GPU_BUILD, reason="this torch has CUDA")
CPU_PADDLE_ONLY = pytest.mark.skipif(BACKENDS["paddle"].gpu_problem() is None, reason="paddlepaddle-gpu is installed")
NEEDS_CUDA_TORCH = pytest.mark.skipif(not TORCH_GPU_BUILD, reason="needs a CUDA build of torch")

#: --processes 1: one worker, so no interval (tests that need one give --processes 3, later on the line: the last wins)
TINY = ["--channels", "8", "--size", "32", "--batch", "1", "--levels", "3", "--warmup", "1", "--repeat", "3", "--processes", "1"]
ROW_KEYS = {
    "neck",
    "variant",
    "part",
    "backend",
    "device",
    "engine",
    "dtype",
    "batch",
    "size",
    "median_ms",
    "iqr_ms",
    "p90_ms",
    "runs",
    "macs",
    "peak_mem_bytes",
}


def _bench(*args: str, processes: int = 1) -> dict[str, Any]:
    result = run("bench", *args, *TINY, "--processes", str(processes), "--no-peak", "--format", "json")
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_paddle_eager_and_inference_every_part() -> None:
    data = _bench("fpn", "--engine", "eager,inference")
    rows = data["rows"]
    assert isinstance(rows, list) and len(rows) == 6
    assert {(r["part"], r["engine"]) for r in rows} == {
        (p, e) for p in ("neck", "backbone", "total") for e in ("eager", "inference")
    }
    for row in rows:
        assert set(row) >= ROW_KEYS
        assert row["runs"] == 3 and row["median_ms"] > 0 and row["macs"] > 0 and row["peak_mem_bytes"] >= 0
    neck, total = (next(r for r in rows if r["part"] == p and r["engine"] == "eager") for p in ("neck", "total"))
    backbone = next(r for r in rows if r["part"] == "backbone" and r["engine"] == "eager")
    assert neck["macs"] + backbone["macs"] == total["macs"]
    assert all(r["workers"] == 1 and r["ci95_ms"] is None and "needs at least 3" in r["ci_reason"] for r in rows)
    prov = data["provenance"]
    assert isinstance(prov, dict) and {"fpnprof", "python", "cpu", "frameworks", "threads"} <= set(prov)


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["tutorial", "paper"])
def test_paddle_inference_runs_every_neck(variant: str) -> None:
    data = _bench("pafpn", "bifpn", "--variant", variant, "--engine", "inference,static", "--part", "neck")
    assert [(r["neck"], r["engine"]) for r in data["rows"]] == [
        (neck, engine) for neck in ("pafpn", "bifpn") for engine in ("inference", "static")
    ]


@pytest.mark.slow
def test_torch_threads_and_repeat_split_over_the_workers() -> None:
    data = _bench("bifpn", "--variant", "paper", "--backend", "torch", "--part", "neck", "--threads", "1", processes=2)
    (row,) = data["rows"]
    assert row["backend"] == "torch" and row["threads"] == 1 and row["math_mode"]["allow_tf32_matmul"] is False
    assert row["workers"] == 2 and len(row["worker_medians_ms"]) == 2 and row["runs"] == 3  # --repeat is the total
    assert [len(w) for w in row["rounds_ms"]] == [2, 1] and row["ci95_ms"] is None


@pytest.mark.slow
def test_torch_compile_on_a_tiny_fpn() -> None:
    data = _bench("fpn", "--backend", "torch", "--engine", "compile", "--part", "neck")
    (row,) = data["rows"]
    assert row["engine"] == "compile" and row["runs"] == 3


@pytest.mark.slow
def test_size_sweep_with_plot(tmp_path: Path) -> None:
    target = tmp_path / "latency.png"
    result = run(
        "bench",
        "fpn",
        *TINY[:4],
        "--size",
        "16,32",
        "--levels",
        "3",
        "--repeat",
        "2",
        "--warmup",
        "1",
        "--part",
        "neck",
        "--no-peak",
        "--plot",
        str(target),
        "-f",
        "json",
    )
    assert result.exit_code == 0, result.output
    assert [r["size"] for r in json.loads(result.stdout)["rows"]] == [16, 32]
    assert png_size(target) == (800, 500)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--device", "gpu", "--backend", "torch"], "CUDA build of torch", marks=CPU_TORCH_ONLY),
        pytest.param(["--device", "gpu", "--backend", "paddle"], "paddlepaddle-gpu", marks=CPU_PADDLE_ONLY),
        pytest.param(
            ["--device", "gpu", "--backend", "torch", "--engine", "cudagraph", "--dtype", "bf16"],
            "CUDA build of torch",
            marks=CPU_TORCH_ONLY,
        ),
        (["--engine", "cudagraph"], "does not apply to paddle on cpu"),
        (["--backend", "torch", "--dtype", "fp16"], "not fp16"),
        (["--part", "head"], "--part takes"),
        (["--processes", "0"], "--processes must be >= 1"),
        (["--batch", "2,x"], "comma-separated integers"),
        (["--size", "4", "--levels", "6"], "under 1x1"),
        (["--batch", "60000", "--size", "4096"], "GiB but only"),
        (["--batch", "100000"], "--batch must be between 1 and 65536"),
        (["--plot", "out.png"], "--plot needs a sweep"),
    ],
)
def test_bench_refusals(args: list[str], message: str) -> None:
    result = run("bench", "fpn", "--repeat", "1", "--warmup", "1", "--part", "neck", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_bench_writes_csv_and_saves_json(tmp_path: Path) -> None:
    import csv
    import io

    target, saved = tmp_path / "bench.csv", tmp_path / "bench.json"
    args = ["--part", "neck", "--no-peak", "--format", "csv", "--output", str(target), "--save", str(saved)]
    result = run("bench", "fpn", *TINY, *args)
    assert result.exit_code == 0, result.output
    (row,) = list(csv.DictReader(io.StringIO(target.read_text())))
    assert row["neck"] == "fpn" and float(row["median_ms"]) > 0 and row["runs"] == "3" and row["workers"] == "1"
    (data,) = json.loads(saved.read_text())["rows"]
    assert data["median_ms"] == pytest.approx(float(row["median_ms"]), rel=1e-3) and data["runs"] == 3


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_bench_human_formats(fmt: str) -> None:
    from fake_rows import fake_bench_run, fake_row

    from fpnprof.report import render
    from fpnprof.report.bench_report import bench_report

    text = render(bench_report(fake_bench_run([fake_row("fpn", 1.5, engine="eager")])), fmt, width=160)
    assert "fpn" in text and "±95%" in text and "eager" in text and "1.500" in text


@pytest.fixture(scope="module")
def torch_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    """One paired torch bench of the paper FPN and BiFPN with a breakdown, over three workers: its
    table (stdout) and its JSON (``--save``)."""
    saved = tmp_path_factory.mktemp("pair") / "pair.json"
    args = ["fpn", "bifpn", "--variant", "paper", "--part", "neck", "--backend", "torch", "--breakdown"]
    result = run("bench", *args, *TINY, "--processes", "3", "--save", str(saved))
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(saved.read_text())
    return result.stdout, data


def test_paired_rows_have_intervals_ratios_load_and_probe(torch_pair: tuple[str, dict[str, Any]]) -> None:
    _table, data = torch_pair
    fpn, bifpn = data["rows"]
    for row in (fpn, bifpn):
        low, high = row["ci95_ms"]
        assert row["mode"] == "paired" and low <= row["median_ms"] <= high and row["workers"] == 3
        assert row["matmul_peak_gflops"] > 0 and row["peak_share"] == pytest.approx(
            row["gflops_per_s"] / row["matmul_peak_gflops"]
        )
        assert row["runs"] == 3 and [len(w) for w in row["rounds_ms"]] == [1, 1, 1]
        assert len(row["other_load_workers"]) == 3 and all(0 <= x <= 1.5 for x in row["other_load_workers"])
    # the estimate is the geometric mean of the workers' medians; the ratio pairs each worker's rounds
    logs = [[math.log(w[0][0]) for w in row["rounds_ms"]] for row in (fpn, bifpn)]
    assert fpn["median_ms"] == pytest.approx(math.exp(statistics.fmean(logs[0])))
    assert bifpn["ratio"] == pytest.approx(math.exp(statistics.fmean(b - a for a, b in zip(*logs, strict=True))))
    assert bifpn["ratio_paired"] is True and bifpn["ratio_ci95"][0] <= bifpn["ratio"] <= bifpn["ratio_ci95"][1]
    assert isinstance(bifpn["resolved"], bool) and data["run"]["workers"] == 3 and data["run"]["repeat"] == 3
    provenance = data["provenance"]
    assert provenance["peaks"] and provenance["probe_drift_max"] is not None


@pytest.mark.slow
def test_isolated_rows_are_unpaired() -> None:
    data = _bench("fpn", "bifpn", "--variant", "paper", "--part", "neck", "--backend", "torch", "--isolated", processes=3)
    fpn, bifpn = data["rows"]
    assert fpn["mode"] == bifpn["mode"] == "isolated" and bifpn["ratio_paired"] is False
    assert bifpn["ratio_ci95"] is not None  # a Welch interval over the two rows' own workers


def test_breakdown_levels_and_overhead_add_up_to_the_forward(torch_pair: tuple[str, dict[str, Any]]) -> None:
    table, data = torch_pair
    row = data["rows"][1]
    b = row["breakdown"]
    forwards = [statistics.median(r) for w in row["rounds_ms"] for r in w]  # one pass after every round
    assert b["forward_ms"] == pytest.approx(statistics.fmean(forwards))
    assert sum(x["ms"] for x in b["by_level"]) + b["between_nodes"]["ms"] == pytest.approx(b["instrumented_ms"])
    assert b["node_sum_ms"] == pytest.approx(sum(x["ms"] for x in b["by_op"]))
    assert b["coverage"] == pytest.approx(b["node_sum_ms"] / b["forward_ms"])
    assert [x["name"] for x in b["by_level"]] == ["P3", "P4", "P5"]  # the paper BiFPN starts at P3 (D0)
    assert {x["bound"] for x in b["by_level"]} <= {"compute", "memory", "overhead"}
    assert all(x["fixed_ms"] is not None and x["fixed_ms"] > 0 for x in b["by_level"])  # tiny-op costs were measured
    assert "where the time goes" in table and "between nodes" in table and "±95%" in table


def test_breakdown_needs_eager() -> None:
    result = run("bench", "fpn", "--engine", "compile", "--backend", "torch", "--breakdown", *TINY)
    assert result.exit_code == 2 and "eager" in result.output


@pytest.mark.slow
def test_peak_prints_and_returns_json(tmp_path: Path) -> None:
    table = run("peak", "--backend", "torch", "--threads", "1", "--save", str(tmp_path / "peak.json"))
    assert table.exit_code == 0 and "matmul GFLOP/s" in table.stdout
    peak = json.loads((tmp_path / "peak.json").read_text())["peak"]
    assert peak["matmul_gflops"] > 0 and peak["copy_gbytes_per_s"] > 0 and peak["threads"] == 1
    assert peak["ridge"] == pytest.approx(peak["matmul_gflops"] / peak["copy_gbytes_per_s"])


@NEEDS_CUDA_TORCH
def test_gpu_paired_bench_with_cudagraph_and_breakdown() -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("a CUDA build of torch, but no CUDA device")
    data = _bench(
        "fpn", "bifpn", "--variant", "paper", "--part", "neck", "--device", "gpu", "--engine", "eager,cudagraph", "--breakdown"
    )
    rows = data["rows"]
    assert {r["engine"] for r in rows} == {"eager", "cudagraph"} and all(r["error"] is None for r in rows)
    assert all(r["peak_mem_kind"] == "gpu max allocated" for r in rows)
