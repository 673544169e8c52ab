"""Run bench rows, each in its own subprocess, and collect results with their provenance."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, replace
from typing import Any

from fpnprof import __version__
from fpnprof.analysis import profile_graph
from fpnprof.bench import BenchSpec, check_spec, part_graph, summarize
from fpnprof.errors import BackendUnavailable
from fpnprof.memory import require_memory
from fpnprof.results import Totals

WORKER_TIMEOUT_S = 3600


def worker_env(spec: BenchSpec) -> dict[str, str]:
    """Threads and Paddle's IR flag must be in the environment before the framework is imported."""
    env = dict(os.environ)
    threads = str(spec.effective_threads)
    env.update({"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "FLAGS_enable_pir_api": "0", "GLOG_minloglevel": "2"})
    return env


def run_row(spec: BenchSpec) -> dict[str, Any]:
    """Measure one row in ``spec.processes`` worker processes, each with its share of the time; pool the samples."""
    share = replace(spec, min_time=spec.min_time / spec.processes)
    results = [run_worker(share) for _ in range(spec.processes)]
    samples = [t for r in results for t in r["samples"]]
    peaks = [r["peak_mem_bytes"] for r in results]
    return {
        **results[0],
        "samples": samples,
        "stats": asdict(summarize(samples)),
        "peak_mem_bytes": max(peaks),
        "process_medians_ms": [r["stats"]["median_ms"] for r in results],
    }


def run_worker(spec: BenchSpec) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "fpnprof.bench_worker"],
        input=json.dumps(spec.to_json()),
        capture_output=True,
        text=True,
        env=worker_env(spec),
        timeout=WORKER_TIMEOUT_S,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise BackendUnavailable(f"the {spec.backend} {spec.engine} run failed: {tail}")
    result: dict[str, Any] = json.loads(lines[-1])
    if "error" in result:
        raise BackendUnavailable(result["error"])
    return result


def make_row(spec: BenchSpec, result: dict[str, Any], totals: Totals) -> dict[str, Any]:
    """One result row; ``totals`` are the analytic costs of the part that was timed."""
    cfg, stats, info = spec.config, result["stats"], result["info"]
    median = stats["median_ms"]
    return {
        "neck": cfg.neck,
        "variant": cfg.variant,
        "part": spec.part,
        "backend": spec.backend,
        "device": spec.device,
        "engine": spec.engine,
        "dtype": cfg.dtype,
        "batch": cfg.batch,
        "size": cfg.size,
        "median_ms": median,
        "iqr_ms": stats["iqr_ms"],
        "p90_ms": stats["p90_ms"],
        "min_ms": stats["min_ms"],
        "mean_ms": stats["mean_ms"],
        "runs": stats["runs"],
        "processes": spec.processes,
        "process_medians_ms": result["process_medians_ms"],
        "images_per_s": cfg.batch * 1e3 / median,
        "gflops_per_s": totals.flops / median / 1e6,
        "macs": totals.macs,
        "flops": totals.flops,
        "params": totals.params,
        "peak_mem_bytes": result["peak_mem_bytes"],
        "peak_mem_kind": result["peak_mem_kind"],
        "threads": info["threads"],
        "device_name": info["device_name"],
        "framework": info["framework"],
        "math_mode": info["math_mode"],
    }


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def provenance(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "fpnprof": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "frameworks": sorted({r["framework"] for r in rows}),
        "gpus": sorted({r["device_name"] for r in rows if r["device"] == "gpu"}),
        "threads": sorted({r["threads"] for r in rows}),
    }


def run_bench(specs: list[BenchSpec], on_row: Callable[[int, BenchSpec], None] | None = None) -> list[dict[str, Any]]:
    """Check every spec first (so a bad one fails before any timing), then measure each."""
    profiles = []
    for spec in specs:
        check_spec(spec)
        profile = profile_graph(spec.config, part_graph(spec.config, spec.part))
        if spec.device == "cpu":
            require_memory(profile)
        profiles.append(profile)
    rows = []
    for index, (spec, profile) in enumerate(zip(specs, profiles, strict=True)):
        if on_row is not None:
            on_row(index, spec)
        rows.append(make_row(spec, run_row(spec), profile.model_total))
    return rows
