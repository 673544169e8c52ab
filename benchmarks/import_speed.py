"""How long `fpnprof import` takes, as a user runs it: a fresh process per import (Python start,
framework import, trace, mapping, the proof in float64, the file written). The goal: mmdet's default
NAS-FPN (7 stages, 256 channels) under 10 s on the 2-core machine. Also the four shipped real necks.
Prints a table (median and range of --repeats runs) and writes JSON.

    python benchmarks/import_speed.py [--repeats 3]

Results go to benchmarks/results/import-speed-cpu-<date>.json (a new file per run).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from result_files import save_result
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
NASFPN_KWARGS = '{"in_channels": [128, 256, 512], "out_channels": 256, "stack_times": 7}'
#: name -> (source, kwargs)
CASES: dict[str, tuple[str, str]] = {
    "NAS-FPN, 7 stages (torch)": ("tests/reference_nasfpn_torch.py:NasFpnReference", NASFPN_KWARGS),
    "RetinaNet FPN (torch)": ("tests/reference_necks/mmdet_fpn.py:retinanet_fpn", "{}"),
    "YOLOv8s PAN (torch)": ("tests/reference_necks/yolov8_pan.py:YOLOv8PAN", "{}"),
    "PP-YOLOE-s PAN (Paddle)": ("tests/reference_necks/ppyoloe_custom_csp_pan.py:ppyoloe_s_pan", "{}"),
    "PicoDet-S PAN (Paddle)": ("tests/reference_necks/picodet_csp_pan.py:picodet_s_pan", "{}"),
}
GOAL_S = 10.0


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def one_import(source: str, kwargs: str) -> tuple[float, str, int]:
    """Wall seconds of one `fpnprof import` in a fresh process, its proof line, and the ops it wrote."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "neck.toml"
        cmd = [sys.executable, "-m", "fpnprof", "import", source, "--in-channels", "128,256,512", "--kwargs", kwargs]
        begun = time.monotonic()
        done = subprocess.run([*cmd, "-o", str(out)], cwd=ROOT, capture_output=True, text=True, check=False)
        wall = time.monotonic() - begun
        if done.returncode != 0:
            raise SystemExit(f"{source}: exit {done.returncode}: {done.stderr.strip()[-400:]}")
        proof = next((line for line in done.stderr.splitlines() if line.startswith("proven:")), "")
        return wall, proof.removeprefix("proven: "), out.read_text().count("[[op]]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    for name, (source, kwargs) in CASES.items():
        runs = [one_import(source, kwargs) for _ in range(args.repeats)]
        walls = [w for w, _, _ in runs]
        median = statistics.median(walls)
        row = {"neck": name, "source": source, "ops": runs[0][2], "walls_s": walls, "median_s": median}
        rows.append({**row, "proof": runs[0][1]})
    table = Table(title=f"fpnprof import, a fresh process each ({args.repeats} runs; cpu {cpu_name()})")
    for column in ("neck", "ops", "median s", "min-max s", f"< {GOAL_S:g} s"):
        table.add_column(column, justify="left" if column == "neck" else "right")
    for row in rows:
        span = f"{min(row['walls_s']):.2f}-{max(row['walls_s']):.2f}"
        within = "yes" if max(row["walls_s"]) < GOAL_S else "NO"
        table.add_row(row["neck"], str(row["ops"]), f"{row['median_s']:.2f}", span, within)
    Console(width=100).print(table)
    import torch

    payload = {
        "cpu": cpu_name(),
        "cores": len(__import__("os").sched_getaffinity(0)),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "repeats": args.repeats,
        "goal_s": GOAL_S,
        "rows": rows,
    }
    save_result("import-speed", "cpu", payload)


if __name__ == "__main__":
    main()
