"""``fpnprof bench`` end to end on tiny configs (real subprocess rows; no time is asserted)."""

from __future__ import annotations

import json
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


def _bench(*args: str) -> dict[str, Any]:
    result = run("bench", *args, *TINY, "--format", "json")
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
def test_samples_are_pooled_over_processes() -> None:
    result = run("bench", "fpn", *TINY[:-2], "--processes", "2", "--part", "neck", "--backend", "torch", "-f", "json")
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)["rows"]
    assert row["processes"] == 2 and len(row["process_medians_ms"]) == 2 and row["runs"] == 3  # --repeat is the total


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
        (["--batch", "100000", "--size", "4096"], "GiB but only"),
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
        assert row["neck"] == "fpn" and float(row["median_ms"]) > 0 and row["runs"] == "3"
    else:
        assert "fpn" in text and "median" in text and "eager" in text


def test_paired_rows_have_cis_ratios_and_probe() -> None:
    data = _bench("fpn", "bifpn", "--variant", "paper", "--part", "neck", "--backend", "torch")
    fpn, bifpn = data["rows"]
    for row in (fpn, bifpn):
        low, high = row["ci95_ms"]
        assert row["mode"] == "paired" and low <= row["median_ms"] <= high
        assert row["matmul_peak_gflops"] > 0 and row["peak_share"] == pytest.approx(
            row["gflops_per_s"] / row["matmul_peak_gflops"]
        )
        assert row["runs"] == 3 and sum(len(r) for r in row["rounds_ms"]) == 3
    medians = [statistics.median(t for r in row["rounds_ms"] for t in r) for row in (fpn, bifpn)]
    assert [fpn["median_ms"], bifpn["median_ms"]] == pytest.approx(medians)
    assert bifpn["ratio_paired"] is True and bifpn["ratio"] == pytest.approx(medians[1] / medians[0])
    assert bifpn["ratio_ci95"][0] <= bifpn["ratio"] <= bifpn["ratio_ci95"][1]
    provenance = data["provenance"]
    assert provenance["peaks"] and provenance["probe_drift_max"] is not None


@pytest.mark.slow
def test_isolated_rows_are_unpaired() -> None:
    data = _bench("fpn", "bifpn", "--variant", "paper", "--part", "neck", "--backend", "torch", "--isolated")
    fpn, bifpn = data["rows"]
    assert fpn["mode"] == bifpn["mode"] == "isolated" and bifpn["ratio_paired"] is False


@pytest.mark.slow
def test_breakdown_levels_and_overhead_add_up_to_the_forward() -> None:
    data = _bench("bifpn", "--variant", "paper", "--part", "neck", "--backend", "torch", "--breakdown")
    (row,) = data["rows"]
    b = row["breakdown"]
    assert b["forward_ms"] == row["median_ms"]
    assert sum(x["ms"] for x in b["by_level"]) + b["overhead"]["ms"] == pytest.approx(b["instrumented_ms"])
    assert b["node_sum_ms"] == pytest.approx(sum(x["ms"] for x in b["by_op"]))
    assert [x["name"] for x in b["by_level"]] == ["P2", "P3", "P4"]
    assert {x["bound"] for x in b["by_level"]} <= {"compute", "memory"}
    table = run("bench", "bifpn", "--variant", "paper", "--part", "neck", "--backend", "torch", "--breakdown", *TINY)
    assert table.exit_code == 0 and "where the time goes" in table.stdout and "overhead" in table.stdout


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
