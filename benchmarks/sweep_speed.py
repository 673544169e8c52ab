"""How fast an analytic sweep prices configurations: 1,000 paper-BiFPN configurations (channels x
cells x levels x size), on every core and on one, through the same code `fpnprof sweep` runs; then
the same 1,000 through the shipped neck file bifpn-paper.toml (read and built from TOML).

    python benchmarks/sweep_speed.py

Prints a table and writes a new JSON under benchmarks/results/ (target: 1,000 configs in under 15 s
on the 2-core machine).
"""

from __future__ import annotations

import os
import platform
import sys
import time
from datetime import date

from result_files import save_result

from fpnprof.cost.sweep import expand, run_sweep
from fpnprof.model.config import NeckConfig

AXES = {
    "channels": [32, 48, 64, 88, 112, 160, 224, 288, 320, 384],
    "cells": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    "levels": [3, 4, 5, 6, 7],
    "size": [256, 512],
}


def main() -> None:
    results = []
    for neck, worker_counts in (("bifpn", (os.cpu_count() or 1, 1)), ("bifpn-paper.toml", (os.cpu_count() or 1,))):
        base = NeckConfig(neck=neck, variant="paper", min_level=3, stem="imagenet", batch=1)
        configs, _ = expand([base], AXES)
        for workers in worker_counts:
            start = time.perf_counter()
            rows = run_sweep(configs, workers=workers)
            seconds = time.perf_counter() - start
            built = sum(r.error is None for r in rows)
            results.append(
                {
                    "neck": neck,
                    "workers": workers,
                    "configs": len(rows),
                    "built": built,
                    "seconds": seconds,
                    "configs_per_s": len(rows) / seconds,
                }
            )
    print("| neck | workers | configs | built | seconds | configs/s |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['neck']} | {r['workers']} | {r['configs']} | {r['built']} | {r['seconds']:.2f} | {r['configs_per_s']:.0f} |")
    payload = {
        "date": date.today().isoformat(),
        "command": " ".join(sys.argv),
        "python": platform.python_version(),
        "results": results,
    }
    save_result("sweep-speed", "cpu", payload)


if __name__ == "__main__":
    main()
