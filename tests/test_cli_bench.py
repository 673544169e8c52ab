"""``fpnprof bench`` end to end on tiny configs (real subprocess rows; no time is asserted)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from cli_helpers import run

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


def _bench(*args: str) -> dict[str, object]:
    result = run("bench", *args, *TINY, "--format", "json")
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.stdout)
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


@pytest.mark.parametrize("neck", ["pafpn", "bifpn"])
@pytest.mark.parametrize("variant", ["tutorial", "paper"])
def test_paddle_inference_runs_every_neck(neck: str, variant: str) -> None:
    data = _bench(neck, "--variant", variant, "--engine", "inference,static", "--part", "neck")
    assert [r["engine"] for r in data["rows"]] == ["inference", "static"]  # type: ignore[index]


def test_torch_eager_threads_and_sweep() -> None:
    data = _bench("bifpn", "--variant", "paper", "--backend", "torch", "--part", "neck", "--threads", "1")
    (row,) = data["rows"]  # type: ignore[misc]
    assert row["backend"] == "torch" and row["threads"] == 1 and row["math_mode"]["allow_tf32_matmul"] is False


def test_samples_are_pooled_over_processes() -> None:
    result = run("bench", "fpn", *TINY[:-2], "--processes", "2", "--part", "neck", "--backend", "torch", "-f", "json")
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)["rows"]
    assert row["processes"] == 2 and len(row["process_medians_ms"]) == 2 and row["runs"] == 2 * 3


def test_torch_compile_on_a_tiny_fpn() -> None:
    data = _bench("fpn", "--backend", "torch", "--engine", "compile", "--part", "neck")
    (row,) = data["rows"]  # type: ignore[misc]
    assert row["engine"] == "compile" and row["runs"] == 3


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


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
        (["--device", "gpu", "--backend", "torch"], "CUDA build of torch"),
        (["--device", "gpu", "--backend", "paddle"], "paddlepaddle-gpu"),
        (["--device", "gpu", "--backend", "torch", "--engine", "cudagraph", "--dtype", "bf16"], "CUDA build of torch"),
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
