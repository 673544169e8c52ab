"""A/A check of the latency interval: the same neck listed twice (``fpn fpn``, and a paper-BiFPN pair),
benched again and again at small sizes. Each run's ratio of the two identical rows has a 95%
interval; it should hold 1.00 in about 19 of 20 runs (the acceptance: at least 18 of 20 for each
pair). Prints a table and writes JSON + Markdown under benchmarks/results/.

    python benchmarks/aa_check.py --runs 20
    python benchmarks/aa_check.py --runs 20 -- --backend torch
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

PAIRS = {"fpn": ["fpn", "fpn"], "bifpn (paper)": ["bifpn", "bifpn", "--variant", "paper"]}
SMALL = ["--size", "32", "--channels", "32", "--batch", "1", "--levels", "4", "--part", "neck"]


def one_run(pair: list[str], extra: list[str]) -> tuple[float, dict[str, Any]]:
    start = time.monotonic()
    cmd = [sys.executable, "-m", "fpnprof", "bench", *pair, *SMALL, *extra, "--format", "json"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return time.monotonic() - start, json.loads(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--tag", default="cpu")
    parser.add_argument("extra", nargs="*", help="more fpnprof bench options (after --)")
    ns = parser.parse_args()
    lines = [
        "| pair | run | wall s | workers | ratio | 95% CI | holds 1.00 | resolved |",
        "|---|---:|---:|---:|---:|---|---|---|",
    ]
    results: dict[str, list[dict[str, Any]]] = {}
    for name, pair in PAIRS.items():
        results[name] = []
        for k in range(1, ns.runs + 1):
            wall, data = one_run(pair, ns.extra)
            row = data["rows"][1]  # the second listing: fpn#2 over fpn
            low, high = row["ratio_ci95"] or (None, None)
            holds = low is not None and low <= 1.0 <= high
            entry = {"run": k, "wall_s": wall, "workers": row["workers"], "ratio": row["ratio"], "ci95": [low, high]}
            entry |= {"holds": holds, "resolved": row["resolved"], "flags": row["flags"], "run_info": data["run"]}
            results[name].append(entry)
            ci = "-" if low is None else f"[{low:.3f}-{high:.3f}]"
            lines.append(
                f"| {name} | {k} | {wall:.0f} | {row['workers']} | {row['ratio']:.3f} | {ci} | {holds} | {row['resolved']} |"
            )
            print(lines[-1], flush=True)
    summary = {name: sum(e["holds"] for e in entries) for name, entries in results.items()}
    lines += ["", "| pair | runs whose 95% CI holds 1.00 |", "|---|---:|"]
    lines += [f"| {name} | {held} of {len(results[name])} |" for name, held in summary.items()]
    table = "\n".join(lines) + "\n"
    payload = {
        "date": datetime.now().strftime("%Y-%m-%d %H:%M"),
        "command": "fpnprof bench PAIR " + " ".join(SMALL + ns.extra),
        "summary": summary,
        "runs": results,
    }
    save_result("aa-check", ns.tag, payload, table)


if __name__ == "__main__":
    main()
