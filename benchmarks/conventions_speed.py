"""``fpnprof conventions`` without ``--measure``: how fast it answers and that it imports no framework.

Times the analysis in-process (the median of 7 runs per neck, at EfficientDet-D0's neck setting) and
the whole command as a user runs it (a fresh ``python -m fpnprof`` process, the median of 5), and
checks that neither torch, paddle, fvcore, thop, ptflops nor deepspeed was imported.

    python benchmarks/conventions_speed.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from datetime import datetime

from result_files import save_result

from fpnprof.cli.commands import run_conventions
from fpnprof.model.config import NeckConfig

NECKS = [("fpn", "paper"), ("pafpn", "paper"), ("bifpn", "paper"), ("nasfpn.toml", "paper")]
FRAMEWORKS = ("torch", "paddle", "fvcore", "thop", "ptflops", "deepspeed")
CHECK = """import sys, runpy
sys.argv = ['fpnprof', *sys.argv[1:]]
try:
    runpy.run_module('fpnprof', run_name='__main__')
except SystemExit:
    pass
print('IMPORTED', [m for m in {f} if m in sys.modules])
"""


def in_process(neck: str, variant: str) -> float:
    cfg = NeckConfig(neck, variant=variant, channels=64, min_level=3, levels=5, size=512, batch=1, stem="imagenet")
    times = []
    for _ in range(7):
        start = time.perf_counter()
        run_conventions(cfg, per_level=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def command(neck: str) -> tuple[float, list[str]]:
    args = [neck, "--variant", "paper", "--stem", "imagenet", "--size", "512", "--batch", "1", "-f", "json"]
    code = CHECK.format(f=FRAMEWORKS)
    times, imported = [], []
    for _ in range(5):
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", code, "conventions", *args], check=True, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        imported = eval(done.stdout.strip().splitlines()[-1].removeprefix("IMPORTED "))
    return statistics.median(times), imported


def main() -> None:
    rows = []
    for neck, variant in NECKS:
        wall, imported = command(neck)
        rows.append(
            {"neck": neck, "variant": variant, "analysis_s": in_process(neck, variant), "command_s": wall, "imported": imported}
        )
    lines = ["| neck (paper, D0 setting) | analysis | whole command | frameworks imported |", "|---|---:|---:|---|"]
    for r in rows:
        lines.append(
            f"| {r['neck']} | {1e3 * r['analysis_s']:.1f} ms | {r['command_s']:.2f} s | {', '.join(r['imported']) or 'none'} |"
        )
    table = "\n".join(lines) + "\n"
    payload = {"date": datetime.now().isoformat(timespec="minutes"), "command": " ".join(sys.argv), "rows": rows}
    save_result("conventions-speed", "cpu", payload, table)


if __name__ == "__main__":
    main()
