"""Measure one bench row in this process: ``python -m fpnprof.bench_worker`` reads a BenchSpec as
JSON on stdin and writes one JSON object (a result, or ``{"error": ...}``) on stdout.

The parent sets thread counts and ``FLAGS_enable_pir_api`` in the environment before this process
imports a framework; RSS growth measured here belongs to this row alone.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from typing import Any

from fpnprof.bench import BenchSpec, RssPeak, measure, part_graph, summarize
from fpnprof.errors import FpnprofError


def run(spec: BenchSpec) -> dict[str, Any]:
    from fpnprof.backends import load

    graph = part_graph(spec.config, spec.part)
    backend = load(spec.backend)
    rss = RssPeak()
    with rss.sampling():  # build and warm up under the sampler; the timed runs run without it
        runner = backend.make_runner(
            graph, device=spec.device, engine=spec.engine, dtype=spec.config.dtype, threads=spec.effective_threads, seed=spec.seed
        )
        for _ in range(spec.warmup):
            runner.step_ms()
    samples = measure(runner.step_ms, warmup=0, min_time=spec.min_time, repeat=spec.repeat)
    gpu_peak = runner.peak_memory()
    cpu_peak = rss.growth()
    return {
        "samples": samples,
        "stats": asdict(summarize(samples)),
        "info": runner.info,
        "peak_mem_bytes": gpu_peak if gpu_peak is not None else cpu_peak,
        "peak_mem_kind": "gpu max allocated" if gpu_peak is not None else "cpu rss growth",
    }


def main() -> None:
    spec = BenchSpec.from_json(json.loads(sys.stdin.read()))
    try:
        result = run(spec)
    except FpnprofError as exc:
        result = {"error": str(exc)}
    sys.stdout.write("\n" + json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
