"""Analytic time against the input side: ``fpnprof shapes`` for every neck at sides 64 to 16384 (and,
as the command line runs it, the whole command at the largest). The analysis should not grow with
the side: the adaptive pool's window sum is a closed form.

    python benchmarks/shapes_speed.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from datetime import datetime

from result_files import save_result

from fpnprof.cli.commands import run_shapes
from fpnprof.model.config import NeckConfig

SIDES = [64, 256, 1024, 4096, 16384]
#: (neck, variant, lowest level): NAS-FPN's topology fixes P3-P7
NECKS = [("fpn", "tutorial", 2), ("bifpn", "tutorial", 2), ("bifpn", "paper", 3), ("nasfpn.toml", "paper", 3)]
REPEATS = 7


def seconds(cfg: NeckConfig) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        run_shapes(cfg)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    rows = []
    for neck, variant, low in NECKS:
        base = {"neck": neck, "variant": variant}
        times = {side: seconds(NeckConfig(neck, variant=variant, size=side, batch=1, levels=5, min_level=low)) for side in SIDES}
        rows.append(base | {"seconds": times, "ratio_max_min": max(times.values()) / min(times.values())})
    start = time.perf_counter()
    cli = [sys.executable, "-m", "fpnprof", "shapes", "bifpn", "--size", str(SIDES[-1]), "--batch", "1", "-f", "json"]
    subprocess.run(cli, check=True, capture_output=True)
    whole = time.perf_counter() - start
    lines = [
        "| neck | " + " | ".join(f"side {s}" for s in SIDES) + " | slowest / fastest |",
        "|---|" + "---:|" * (len(SIDES) + 1),
    ]
    for r in rows:
        cells = " | ".join(f"{1e3 * r['seconds'][s]:.1f} ms" for s in SIDES)
        lines.append(f"| {r['neck']} ({r['variant']}) | {cells} | {r['ratio_max_min']:.2f} |")
    lines.append(f"\n`fpnprof shapes bifpn --size {SIDES[-1]} --batch 1` as a command (start-up included): {whole:.2f} s")
    table = "\n".join(lines) + "\n"
    payload = {"date": datetime.now().isoformat(timespec="minutes"), "rows": rows, "cli_seconds": whole, "repeats": REPEATS}
    save_result("shapes-speed", "cpu", payload, table)


if __name__ == "__main__":
    main()
