"""Run the same CPU bench twice, back to back, and report how far each row's median moved.

    python benchmarks/repeatability.py [-- extra fpnprof bench options]
Prints a table; writes a new benchmarks/results/repeatability-*.json.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date

from result_files import save_result

DEFAULT = [
    "fpn",
    "pafpn",
    "bifpn",
    "--variant",
    "paper",
    "--levels",
    "5",
    "--batch",
    "1",
    "--size",
    "64",
    "--part",
    "neck",
    "--engine",
    "eager,inference",
    "--max-time",
    "75",
]


def run(args: list[str]) -> list[dict]:
    cmd = [sys.executable, "-m", "fpnprof", "bench", *args, "--format", "json"]
    return json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)["rows"]


def main() -> None:
    args = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else DEFAULT
    first, second = run(args), run(args)
    rows = []
    print("| neck | variant | part | engine | run 1 median ms | run 2 median ms | change |")
    print("|---|---|---|---|---:|---:|---:|")
    for a, b in zip(first, second, strict=True):
        change = (b["median_ms"] - a["median_ms"]) / a["median_ms"] * 100
        rows.append(
            {
                "neck": a["neck"],
                "variant": a["variant"],
                "part": a["part"],
                "engine": a["engine"],
                "run1_median_ms": a["median_ms"],
                "run2_median_ms": b["median_ms"],
                "change_pct": change,
            }
        )
        print(
            f"| {a['neck']} | {a['variant']} | {a['part']} | {a['engine']} | {a['median_ms']:.2f} | {b['median_ms']:.2f} | "
            f"{change:+.1f}% |"
        )
    worst = max(abs(r["change_pct"]) for r in rows)
    print(f"\nlargest change between the two runs: {worst:.1f}%")
    payload = {"date": date.today().isoformat(), "args": args, "rows": rows, "max_abs_change_pct": worst}
    save_result("repeatability", "cpu", payload)


if __name__ == "__main__":
    main()
