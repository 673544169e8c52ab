"""The regression gate for real: `fpnprof bench NEW --against fpn-paper.toml@HEAD --fail-if-slower 5`,
run N times each for two NEW files: fpn-paper.toml itself (nothing changed: never "slower") and a copy
whose P2 output conv is twice as wide (its neck about 1.6x the MACs: "slower" every run). Each run is a
fresh process at bench's defaults (--against times the neck part). Prints a table (verdict counts,
ratios, wall time) and writes JSON.

    python benchmarks/gate_real.py [--runs 20] [--backend paddle|torch]

Results go to benchmarks/results/gate-real-cpu-<date>.json (a new file per run). Run it from the
repository (fpn-paper.toml@HEAD is read with git).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from result_files import save_result
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "fpnprof" / "model" / "necks" / "files" / "fpn-paper.toml"
OUTPUT_NODE = """[[node]]                       # P(l) = 3x3 conv of M(l)
name = "output"
levels = "all"
inputs = ["merge@l"]
block = ["conv3x3"]"""
WIDE_OUTPUT = """[[node]]                       # P(l) = 3x3 conv of M(l), above P2
name = "output"
levels = [3, 4, 5]
inputs = ["merge@l"]
block = ["conv3x3"]

[[node]]                       # P2's output conv, twice as wide
name = "output_wide"
levels = [2]
inputs = ["merge@l"]
block = ["conv3x3(out=2c)"]"""


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def wide_copy(folder: Path) -> Path:
    text = SHIPPED.read_text()
    assert OUTPUT_NODE in text, "fpn-paper.toml changed: update this script's edit"
    path = folder / "fpn-paper-wide-p2.toml"
    path.write_text(text.replace(OUTPUT_NODE, WIDE_OUTPUT))
    return path


def gate(new: str, backend: str) -> dict[str, Any]:
    """One gate run in a fresh process: its exit code, verdict, ratio, interval and wall time."""
    cmd = [sys.executable, "-m", "fpnprof", "bench", new, "--against", "fpn-paper.toml@HEAD", "--fail-if-slower", "5"]
    cmd += ["--backend", backend, "-f", "json"]
    begun = time.monotonic()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.monotonic() - begun
    if done.returncode not in (0, 1, 3):
        raise SystemExit(f"{new}: exit {done.returncode}: {done.stderr.strip()[-600:]}")
    data = json.loads(done.stdout)
    (verdict,) = [v for v in data["gate"]["verdicts"] if "neck" in v["row"]]
    return {"exit": done.returncode, "wall_s": wall, **verdict}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--backend", default="paddle")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cases = {"fpn-paper.toml (unchanged)": "fpn-paper.toml", "P2 output conv 2x wide": str(wide_copy(Path(tmp)))}
        results = {name: [gate(new, args.backend) for _ in range(args.runs)] for name, new in cases.items()}
    table = Table(title=f"bench NEW --against fpn-paper.toml@HEAD --fail-if-slower 5, {args.runs} runs each (cpu {cpu_name()})")
    for column in ("NEW", "slower", "not slower", "inconclusive", "ratio median", "ratio range", "wall s median"):
        table.add_column(column, justify="left" if column == "NEW" else "right")
    for name, runs in results.items():
        counts = Counter(r["verdict"] for r in runs)
        ratios = [r["ratio"] for r in runs]
        table.add_row(
            name,
            str(counts["slower"]),
            str(counts["not slower"]),
            str(counts["inconclusive"]),
            f"{statistics.median(ratios):.3f}",
            f"{min(ratios):.3f}-{max(ratios):.3f}",
            f"{statistics.median(r['wall_s'] for r in runs):.1f}",
        )
    Console(width=120).print(table)
    payload = {
        "cpu": cpu_name(),
        "python": platform.python_version(),
        "backend": args.backend,
        "runs": args.runs,
        "results": results,
    }
    save_result("gate-real", "cpu", payload)


if __name__ == "__main__":
    main()
