"""``fpnprof bench`` end to end on tiny configs (real subprocess rows; no time is asserted)."""

from __future__ import annotations

import json
import math
import statistics
import struct
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import run


def _dist_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


# The "no GPU" refusals hold only where the build has no CUDA; GPU runs need one.
CPU_TORCH_ONLY = pytest.mark.skipif("+cpu" not in (_dist_version("torch") or "+cpu"), reason="this torch has CUDA")
CPU_PADDLE_ONLY = pytest.mark.skipif(_dist_version("paddlepaddle-gpu") is not None, reason="paddlepaddle-gpu is installed")
NEEDS_CUDA_TORCH = pytest.mark.skipif("+cpu" in (_dist_version("torch") or "+cpu"), reason="needs a CUDA build of torch")

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
    result = run("bench", *args, *TINY, "--processes", str(processes), "--format", "json")
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
@pytest.mark.parametrize("neck", ["pafpn", "bifpn"])
@pytest.mark.parametrize("variant", ["tutorial", "paper"])
def test_paddle_inference_runs_every_neck(neck: str, variant: str) -> None:
    data = _bench(neck, "--variant", variant, "--engine", "inference,static", "--part", "neck")
    assert [r["engine"] for r in data["rows"]] == ["inference", "static"]


@pytest.mark.slow
def test_torch_eager_threads_and_sweep() -> None:
    data = _bench("bifpn", "--variant", "paper", "--backend", "torch", "--part", "neck", "--threads", "1")
    (row,) = data["rows"]
    assert row["backend"] == "torch" and row["threads"] == 1 and row["math_mode"]["allow_tf32_matmul"] is False


@pytest.mark.slow
def test_repeat_is_split_over_the_workers() -> None:
    result = run("bench", "fpn", *TINY, "--processes", "2", "--part", "neck", "--backend", "torch", "-f", "json")
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)["rows"]
    assert row["workers"] == 2 and len(row["worker_medians_ms"]) == 2 and row["runs"] == 3  # --repeat is the total
    assert [len(w) for w in row["rounds_ms"]] == [2, 1] and row["ci95_ms"] is None


@pytest.mark.slow
def test_torch_compile_on_a_tiny_fpn() -> None:
    data = _bench("fpn", "--backend", "torch", "--engine", "compile", "--part", "neck")
    (row,) = data["rows"]
    assert row["engine"] == "compile" and row["runs"] == 3


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


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
        "0",
        "--part",
        "neck",
        "--plot",
        str(target),
        "-f",
        "json",
    )
    assert result.exit_code == 0, result.output
    assert [r["size"] for r in json.loads(result.stdout)["rows"]] == [16, 32]
    assert _png_size(target) == (800, 500)


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
    result = run("bench", "fpn", "--repeat", "1", "--warmup", "0", "--part", "neck", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["table", "csv", "markdown"])
def test_bench_human_formats(fmt: str, tmp_path: Path) -> None:
    target = tmp_path / f"bench.{fmt}"
    result = run("bench", "fpn", *TINY, "--part", "neck", "--format", fmt, "--output", str(target))
    assert result.exit_code == 0, result.output
    text = target.read_text()
    if fmt == "csv":
        import csv
        import io

        (row,) = list(csv.DictReader(io.StringIO(text)))
        assert row["neck"] == "fpn" and float(row["median_ms"]) > 0 and row["runs"] == "3" and row["workers"] == "1"
    else:
        assert "fpn" in text and "±95%" in text and "eager" in text


def test_paired_rows_have_intervals_ratios_load_and_probe() -> None:
    data = _bench("fpn", "bifpn", "--variant", "paper", "--part", "neck", "--backend", "torch", processes=3)
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


@pytest.mark.slow
def test_breakdown_levels_and_overhead_add_up_to_the_forward() -> None:
    data = _bench("bifpn", "--variant", "paper", "--part", "neck", "--backend", "torch", "--breakdown")
    (row,) = data["rows"]
    b = row["breakdown"]
    forwards = [statistics.median(r) for w in row["rounds_ms"] for r in w]  # one pass after every round
    assert b["forward_ms"] == pytest.approx(statistics.fmean(forwards))
    assert sum(x["ms"] for x in b["by_level"]) + b["between_nodes"]["ms"] == pytest.approx(b["instrumented_ms"])
    assert b["node_sum_ms"] == pytest.approx(sum(x["ms"] for x in b["by_op"]))
    assert b["coverage"] == pytest.approx(b["node_sum_ms"] / b["forward_ms"])
    assert [x["name"] for x in b["by_level"]] == ["P3", "P4", "P5"]  # the paper BiFPN starts at P3 (D0)
    assert {x["bound"] for x in b["by_level"]} <= {"compute", "memory", "overhead"}
    assert all(x["fixed_ms"] is not None and x["fixed_ms"] > 0 for x in b["by_level"])  # tiny-op costs were measured
    table = run("bench", "bifpn", "--variant", "paper", "--part", "neck", "--backend", "torch", "--breakdown", *TINY)
    assert table.exit_code == 0 and "where the time goes" in table.stdout and "between nodes" in table.stdout


def test_breakdown_needs_eager() -> None:
    result = run("bench", "fpn", "--engine", "compile", "--backend", "torch", "--breakdown", *TINY)
    assert result.exit_code == 2 and "eager" in result.output


@pytest.mark.slow
def test_peak_prints_and_returns_json() -> None:
    result = run("peak", "--backend", "torch", "--threads", "1", "-f", "json")
    assert result.exit_code == 0, result.output
    peak = json.loads(result.stdout)["peak"]
    assert peak["matmul_gflops"] > 0 and peak["copy_gbytes_per_s"] > 0 and peak["threads"] == 1
    assert peak["ridge"] == pytest.approx(peak["matmul_gflops"] / peak["copy_gbytes_per_s"])
    table = run("peak", "--backend", "torch", "--threads", "1")
    assert table.exit_code == 0 and "matmul GFLOP/s" in table.stdout


@NEEDS_CUDA_TORCH
def test_gpu_paired_bench_with_cudagraph_and_breakdown() -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    data = _bench(
        "fpn", "bifpn", "--variant", "paper", "--part", "neck", "--device", "gpu", "--engine", "eager,cudagraph", "--breakdown"
    )
    rows = data["rows"]
    assert {r["engine"] for r in rows} == {"eager", "cudagraph"} and all(r["error"] is None for r in rows)
    assert all(r["peak_mem_kind"] == "gpu max allocated" for r in rows)
