"""Many short workers or a few long ones? Measures, for one bench, what a worker process costs
before its first timed round (start, import, build, warm-up), what a round costs, and how the
variance of a ratio splits between workers (process bias) and rounds (run-to-run noise); then
predicts the 95% half-width that a time budget buys for each number of rounds per worker.

    python benchmarks/worker_tradeoff.py --workers 8 --rounds 6 -- fpn pafpn bifpn --variant paper --part neck
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
from datetime import datetime
from typing import Any

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent))
from result_files import save_result

from fpnprof.bench.estimate import paired_round_logs, t_quantile


def components(base: list[list[list[float]]], cand: list[list[list[float]]]) -> tuple[float, float]:
    """(between-worker variance, within-worker variance of one round) of the paired log-ratio."""
    groups = [paired_round_logs(a, b) for a, b in zip(cand, base, strict=True)]
    k = len(groups[0])
    within = statistics.fmean(statistics.variance(g) for g in groups)
    between = max(0.0, statistics.variance([statistics.fmean(g) for g in groups]) - within / k)
    return between, within


def predicted_half(between: float, within: float, rounds: int, fixed_s: float, round_s: float, budget_s: float) -> float:
    """95% half-width after ``budget_s`` of workers of ``rounds`` rounds each (the worker estimate is a
    median: its variance is about pi/2 that of a mean of normal rounds)."""
    workers = max(2, math.floor(budget_s / (fixed_s + rounds * round_s)))
    var = between + (math.pi / 2 if rounds > 2 else 1.0) * within / rounds
    return t_quantile(workers - 1) * math.sqrt(var / workers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--budget", type=float, default=75.0, help="seconds of measuring to plan for")
    parser.add_argument("--tag", default="cpu")
    parser.add_argument("bench", nargs="+", help="fpnprof bench arguments (after --)")
    ns = parser.parse_args()
    repeat = ns.workers * ns.rounds
    cmd = [sys.executable, "-m", "fpnprof", "bench", *ns.bench, "--processes", str(ns.workers), "--repeat", str(repeat)]
    data: dict[str, Any] = json.loads(
        subprocess.run([*cmd, "--format", "json"], capture_output=True, text=True, check=True).stdout
    )
    rows = [r for r in data["rows"] if "median_ms" in r]
    base = rows[0]
    walls = base["worker_seconds"]
    round_s = sum(statistics.fmean(r[0] for w in row["rounds_ms"] for r in w) for row in rows) / 1e3
    fixed_s = max(0.0, statistics.fmean(walls) - ns.rounds * round_s)
    lines = [
        f"command: fpnprof bench {' '.join(ns.bench)} --processes {ns.workers} --repeat {repeat}",
        f"a worker: {statistics.fmean(walls):.1f} s, of which {fixed_s:.1f} s before its rounds; a round of "
        f"{len(rows)} rows: {round_s:.2f} s",
        "",
        "| ratio | between-worker sd | round sd | " + " | ".join(f"{k} rounds" for k in (1, 2, 3, 5, 8, 12, 20)) + " |",
        "|---|---:|---:|" + "---:|" * 7,
    ]
    result = []
    for row in rows[1:]:
        between, within = components(base["rounds_ms"], row["rounds_ms"])
        halves = {k: predicted_half(between, within, k, fixed_s, round_s, ns.budget) for k in (1, 2, 3, 5, 8, 12, 20)}
        result.append({"neck": row["neck"], "between_var": between, "within_var": within, "predicted_half": halves})
        cells = " | ".join(f"±{100 * math.expm1(h):.1f}%" for h in halves.values())
        lines.append(f"| {row['neck']}/{base['neck']} | {math.sqrt(between):.3f} | {math.sqrt(within):.3f} | {cells} |")
    lines.append(f"\npredicted 95% half-width of each ratio after {ns.budget:.0f} s, by rounds per worker")
    table = "\n".join(lines) + "\n"
    payload = {"date": datetime.now().isoformat(timespec="minutes"), "command": cmd, "fixed_s": fixed_s, "round_s": round_s}
    save_result("worker-tradeoff", ns.tag, payload | {"ratios": result, "bench": data}, table)


if __name__ == "__main__":
    main()
