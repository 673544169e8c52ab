"""Repeatability of paired latency: ``fpnprof compare --variant paper --bench`` (defaults) run twice
back to back. Prints each run's wall time, eager/deployed medians and ratios with their 95% CIs,
how far each ratio moved between the runs, and whether each run's CI holds the other's ratio.

    python benchmarks/compare_repeat.py --tag cpu
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import datetime

from result_files import new_result_stem

COMMAND = ["compare", "--variant", "paper", "--bench", "--format", "json"]


def one_run(extra: list[str]) -> tuple[float, dict]:
    start = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "fpnprof", *COMMAND, *extra], capture_output=True, text=True, check=True)
    return time.monotonic() - start, json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", default="cpu")
    parser.add_argument("extra", nargs="*", help="more fpnprof compare options")
    ns = parser.parse_args()
    runs = [one_run(ns.extra) for _ in range(2)]
    lines = ["| run | wall s | neck | engine | median ms | ±95% | ratio [95% CI] |", "|---|---:|---|---|---:|---:|---|"]
    summary = []
    for index, (wall, data) in enumerate(runs, 1):
        for row in data["rows"]:
            for engine in ("eager", "deployed"):
                low, high = row[f"{engine}_ratio_ci95"]
                name = row["deployed_engine"] if engine == "deployed" else "eager"
                lines.append(
                    f"| {index} | {wall:.0f} | {row['neck']} | {name} | {row[f'{engine}_ms']:.2f} | "
                    f"{row[f'{engine}_ci']} | {row[f'{engine}_ratio']:.3f} [{low:.3f}-{high:.3f}] |"
                )
    (w1, d1), (w2, d2) = runs
    lines += ["", "| neck | engine | ratio run 1 | ratio run 2 | moved | CIs hold the other's ratio | median moved |"]
    lines.append("|---|---|---:|---:|---:|---|---:|")
    for a, b in zip(d1["rows"], d2["rows"], strict=True):
        for engine in ("eager", "deployed"):
            r1, r2 = a[f"{engine}_ratio"], b[f"{engine}_ratio"]
            (l1, h1), (l2, h2) = a[f"{engine}_ratio_ci95"], b[f"{engine}_ratio_ci95"]
            holds = l1 <= r2 <= h1 and l2 <= r1 <= h2
            moved = r2 / r1 - 1
            med = b[f"{engine}_ms"] / a[f"{engine}_ms"] - 1
            summary.append({"neck": a["neck"], "engine": engine, "ratio_1": r1, "ratio_2": r2, "moved": moved, "holds": holds})
            lines.append(f"| {a['neck']} | {engine} | {r1:.3f} | {r2:.3f} | {moved:+.1%} | {holds} | {med:+.1%} |")
    table = "\n".join(lines) + "\n"
    stamp = datetime.now().strftime("%Y-%m-%d-%H%M")
    payload = {"date": stamp, "command": "fpnprof " + " ".join(COMMAND + ns.extra), "walls_s": [w1, w2], "summary": summary}
    payload["runs"] = [d1, d2]
    stem = new_result_stem("compare-repeat", ns.tag)
    stem.with_suffix(".json").write_text(json.dumps(payload, indent=1) + "\n")
    stem.with_suffix(".md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
