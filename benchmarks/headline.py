"""Headline latency comparison: every neck, both variants, CPU eager vs deployed; GPU when present.

Runs ``fpnprof bench`` (so it measures exactly what users get), prints a Markdown table and writes
JSON + Markdown to a new, tagged and timestamped file under benchmarks/results/.

    python benchmarks/headline.py                 # CPU: paddle eager + inference
    python benchmarks/headline.py --gpu           # also torch eager, cudagraph, compile on the GPU
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from datetime import date

from result_files import save_result

COMMON = ["--levels", "5", "--batch", "1", "--size", "64", "--part", "neck,total"]


def bench(args: list[str]) -> dict:
    cmd = [sys.executable, "-m", "fpnprof", "bench", *args, *COMMON, "--format", "json"]
    print("$", " ".join(cmd[2:]), file=sys.stderr, flush=True)
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def _ci(r: dict) -> str:
    half = r.get("ci95_half_pct")
    return "no CI" if half is None else f"±{half:.1f}%"


def markdown(rows: list[dict]) -> str:
    lines = [
        "| neck | variant | part | backend | device | engine | ms | ±95% | IQR ms | workers | img/s | GFLOP/s |",
        "|---|---|---|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['neck']} | {r['variant']} | {r['part']} | {r['backend']} | {r['device']} | {r['engine']} | "
            f"{r['median_ms']:.2f} | {_ci(r)} | {r['iqr_ms']:.2f} | {r['workers']} | {r['images_per_s']:.1f} | "
            f"{r['gflops_per_s']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu", action="store_true", help="also measure torch on the GPU")
    parser.add_argument("--max-time", default="75")
    parser.add_argument("--tag", default="cpu")
    ns = parser.parse_args()
    rows, provenance = [], []
    for variant in ("tutorial", "paper"):
        runs = [["--variant", variant, "--engine", "eager,inference", "--max-time", ns.max_time]]
        if ns.gpu:
            runs.append(
                [
                    "--variant",
                    variant,
                    "--device",
                    "gpu",
                    "--backend",
                    "torch",
                    "--engine",
                    "eager,cudagraph,compile",
                    "--max-time",
                    ns.max_time,
                ]
            )
        for args in runs:
            data = bench(args)
            rows += data["rows"]
            provenance.append(data["provenance"])
    payload = {
        "date": date.today().isoformat(),
        "command": " ".join(sys.argv),
        "common": COMMON,
        "rows": rows,
        "provenance": provenance,
    }
    save_result("headline", ns.tag, payload, markdown(rows))


if __name__ == "__main__":
    main()
