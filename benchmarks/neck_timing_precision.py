"""How precisely the latency model's necks are measured: random necks timed in fresh processes,
the old way (each neck's runs back to back, glibc's default allocator) and the way calibration and
``--validate`` time them now (every neck built first, runs spread over interleaved rounds, the
allocator held steady). Per way, the processes alternate with the other way's; the A/A columns say
how far one process (or the mean of two) lands from another on the same neck. Prints a table and
writes JSON + Markdown under benchmarks/results/.

    python benchmarks/neck_timing_precision.py --backend torch --threads 1 --necks 16 --processes 4
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
from datetime import datetime
from typing import Any

from result_files import save_result

WAYS = {"back to back, default allocator": ("default", 1), "interleaved rounds, steady allocator": ("steady", 5)}


def child(backend: str, threads: int, necks: int, seed: int, allocator: str, rounds: int) -> list[float]:
    """In this (fresh) process: each neck's median forward ms."""
    os.environ.update({"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "FLAGS_enable_pir_api": "0"})
    if allocator == "steady":
        from fpnprof.bench.allocator import steady_allocator

        steady_allocator()
    from fpnprof.backends import load
    from fpnprof.bench.kernels import time_graphs
    from fpnprof.latency.sampling import random_necks
    from fpnprof.model.parts import part_graph

    graphs = [part_graph(c, "neck") for c in random_necks(necks, random.Random(seed))]
    spec = {"device": "cpu", "engine": "eager", "dtype": "fp32", "threads": threads}
    return [t.median_ms for t in time_graphs(load(backend), graphs, spec, runs=15, passes=0, seed=seed, rounds=rounds)]


def aa(a: list[float], b: list[float]) -> dict[str, float]:
    d = sorted(abs(x / y - 1) for x, y in zip(a, b, strict=True))
    return {"within_10pct": sum(e <= 0.10 for e in d) / len(d), "median": statistics.median(d)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", default="torch")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--necks", type=int, default=16)
    ap.add_argument("--processes", type=int, default=4)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--child", nargs=2, metavar=("ALLOCATOR", "ROUNDS"))
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.backend, a.threads, a.necks, a.seed, a.child[0], int(a.child[1]))))
        return
    runs: dict[str, list[list[float]]] = {way: [] for way in WAYS}
    for _ in range(a.processes):
        for way, (allocator, rounds) in WAYS.items():
            cmd = [sys.executable, __file__, "--backend", a.backend, "--threads", str(a.threads), "--necks", str(a.necks)]
            cmd += ["--seed", str(a.seed), "--child", allocator, str(rounds)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            runs[way].append(json.loads(out.strip().splitlines()[-1]))
            print(f"{way}: process {len(runs[way])} done", file=sys.stderr)
    half = a.processes // 2
    rows: dict[str, Any] = {}
    lines = []
    for way, ms in runs.items():
        one = aa(ms[0], ms[1])
        two = aa(*([statistics.fmean(p[i] for p in group) for i in range(a.necks)] for group in (ms[:half], ms[half:])))
        total = statistics.fmean(sum(p) for p in ms)
        rows[way] = {"one_vs_one": one, "mean_vs_mean": two, "per_process_ms": ms, "sum_ms": total}
        lines.append(
            f"| {way} | {one['within_10pct']:.0%}, median {one['median']:.1%} | "
            f"{two['within_10pct']:.0%}, median {two['median']:.1%} | {total:.0f} |"
        )
    table = (
        f"| {a.backend}, {a.threads} thread(s), {a.necks} necks | A/A 1 process vs 1 (±10%) "
        f"| A/A mean of {half} vs {half} (±10%) | sum of necks, ms |\n|---|---|---|---:|\n" + "\n".join(lines) + "\n"
    )
    payload = {"date": datetime.now().isoformat(timespec="minutes"), "command": " ".join(sys.argv), "ways": rows}
    save_result("neck-timing-precision", f"{a.backend}-{a.threads}t", payload, table)


if __name__ == "__main__":
    main()
