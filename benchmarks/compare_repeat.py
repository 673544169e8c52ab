"""Repeatability of paired latency: ``fpnprof compare --variant paper --bench`` (defaults) run twice
back to back. Prints each run's wall time, eager/deployed medians and ratios with their 95% CIs
(or "unresolved"), how far each ratio moved between the runs, and whether each run's CI holds the
other's estimate.

    python benchmarks/compare_repeat.py --tag cpu
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import datetime
from typing import Any

from result_files import save_result

COMMAND = ["compare", "--variant", "paper", "--bench", "--format", "json"]
ENGINES = ("eager", "deployed")


def one_run(extra: list[str]) -> tuple[float, dict[str, Any]]:
    start = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "fpnprof", *COMMAND, *extra], capture_output=True, text=True, check=True)
    return time.monotonic() - start, json.loads(out.stdout)


def _ratio(row: dict[str, Any], kind: str) -> str:
    ci = row[f"{kind}_ratio_ci95"]
    text = f"{row[f'{kind}_ratio']:.3f}" + ("" if ci is None else f" [{ci[0]:.3f}-{ci[1]:.3f}]")
    return text + ("" if row[f"{kind}_resolved"] else " unresolved")


def _holds(row: dict[str, Any], kind: str, value: float) -> bool:
    ci = row[f"{kind}_ratio_ci95"]
    return ci is not None and ci[0] <= value <= ci[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", default="cpu")
    parser.add_argument("extra", nargs="*", help="more fpnprof compare options (after --)")
    ns = parser.parse_args()
    runs = [one_run(ns.extra) for _ in range(2)]
    lines = ["| run | wall s | workers | neck | engine | ms | ±95% | ratio [95% CI] |", "|---|---:|---:|---|---|---:|---:|---|"]
    for index, (wall, data) in enumerate(runs, 1):
        workers = data["bench"]["run"]["workers"]
        for row in data["rows"]:
            for kind in ENGINES:
                name = row["deployed_engine"] if kind == "deployed" else "eager"
                lines.append(
                    f"| {index} | {wall:.0f} | {workers} | {row['neck']} | {name} | {row[f'{kind}_ms']:.2f} | "
                    f"{row[f'{kind}_ci']} | {_ratio(row, kind)} |"
                )
    (w1, d1), (w2, d2) = runs
    lines += ["", "| neck | engine | run 1 | run 2 | moved | both resolved | each CI holds the other's ratio |"]
    lines.append("|---|---|---|---|---:|---|---|")
    summary = []
    for a, b in zip(d1["rows"][1:], d2["rows"][1:], strict=True):
        for kind in ENGINES:
            r1, r2 = a[f"{kind}_ratio"], b[f"{kind}_ratio"]
            holds = _holds(a, kind, r2) and _holds(b, kind, r1)
            resolved = bool(a[f"{kind}_resolved"] and b[f"{kind}_resolved"])
            moved = r2 / r1 - 1
            summary.append(
                {"neck": a["neck"], "engine": kind, "ratio_1": r1, "ratio_2": r2, "moved": moved}
                | {"holds": holds, "resolved": resolved}
            )
            lines.append(
                f"| {a['neck']} | {kind} | {_ratio(a, kind)} | {_ratio(b, kind)} | {moved:+.1%} | {resolved} | {holds} |"
            )
    table = "\n".join(lines) + "\n"
    stamp = datetime.now().strftime("%Y-%m-%d-%H%M")
    payload = {"date": stamp, "command": "fpnprof " + " ".join(COMMAND + ns.extra), "walls_s": [w1, w2], "summary": summary}
    payload["runs"] = [d1, d2]
    save_result("compare-repeat", ns.tag, payload, table)


if __name__ == "__main__":
    main()
