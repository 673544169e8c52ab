"""What ``--cluster ray`` costs on one machine: the same measured sweep of 16 configurations run plain
(`fpnprof sweep ... --bench`) and on a local Ray instance (`... --cluster ray`: Ray started, the node
asked what it is, the configurations sent as one task that has the machine to itself, each result
stored as it comes in, Ray shut down), each as a user runs it (a fresh process), alternating, so that
the machine's drift touches both alike. The goal: at most 10% more wall time with --cluster.

    python benchmarks/cluster_overhead.py [--repeats 3]        # on a quiet machine: minutes
    python benchmarks/cluster_overhead.py --quick               # 2 tiny configurations, once: checks it runs

Prints a table (each run's wall time, the medians and the overhead) and writes JSON (and Markdown) to
benchmarks/results/cluster-overhead-<tag>-<date>.json. Each cluster run stores in a fresh history
database of its own, so that none resumes another's results.
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
from datetime import datetime
from pathlib import Path
from typing import Any

from result_files import RESULTS, save_result

#: The sweep timed: 16 configurations of the paper BiFPN (4 widths x 4 cell counts), eager, side by side.
SWEEP = ["bifpn", "--variant", "paper", "--channels", "32,48,64,80", "--cells", "2,3,4,5", "--bench"]
#: --quick: two tiny configurations, a short cap, few workers (a check that the script runs, not a number).
QUICK = ["fpn", "--channels", "16,24", "--size", "32", "--batch", "1", "--bench", "--max-time", "20", "--processes", "3"]
GOAL = 0.10


def one_run(args: list[str], cluster: bool, folder: Path) -> dict[str, Any]:
    """One sweep in a fresh process: its wall time and what it says of itself."""
    store = folder / f"history-{time.monotonic_ns()}.sqlite"
    extra = ["--cluster", "ray", "--history", str(store)] if cluster else ["--no-history"]
    cmd = [sys.executable, "-m", "fpnprof", "sweep", *args, *extra, "--format", "json"]
    start = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.monotonic() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()[-400:]}")
    data = json.loads(done.stdout)
    rows = data["rows"]
    timed = [r for r in rows if r.get("latency_ms") is not None]
    entry: dict[str, Any] = {"cluster": cluster, "wall_s": wall, "configurations": len(rows), "timed": len(timed)}
    entry["sweep_seconds"] = data.get("seconds")
    if cluster:
        entry["cluster_info"] = data.get("cluster")
        entry["resolved"] = sum(bool(r.get("resolved")) for r in timed)
    return entry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="pairs of runs (plain, cluster), alternating")
    parser.add_argument("--quick", action="store_true", help="two tiny configurations, one pair: checks the script runs")
    parser.add_argument("--tag", default="cpu")
    parser.add_argument("--folder", type=Path, default=RESULTS, help="where the result files go")
    parser.add_argument("extra", nargs="*", help="more fpnprof sweep options (after --), e.g. -- --threads 2")
    ns = parser.parse_args()
    args = [*(QUICK if ns.quick else SWEEP), *ns.extra]
    repeats = 1 if ns.quick else ns.repeats
    runs: list[dict[str, Any]] = []
    lines = ["| run | mode | wall s | configurations timed |", "|---:|---|---:|---:|"]
    with tempfile.TemporaryDirectory(prefix="cluster-overhead-") as tmp:
        for k in range(repeats):
            order = (False, True) if k % 2 == 0 else (True, False)  # alternate who goes first
            for cluster in order:
                entry = one_run(args, cluster, Path(tmp)) | {"pair": k + 1}
                runs.append(entry)
                mode = "--cluster ray" if cluster else "plain"
                lines.append(f"| {k + 1} | {mode} | {entry['wall_s']:.1f} | {entry['timed']} of {entry['configurations']} |")
                print(lines[-1], flush=True)
    plain = statistics.median(r["wall_s"] for r in runs if not r["cluster"])
    cluster = statistics.median(r["wall_s"] for r in runs if r["cluster"])
    overhead = cluster / plain - 1
    verdict = "within" if overhead <= GOAL else "OVER"
    lines += [
        "",
        "| plain median s | --cluster ray median s | overhead | goal |",
        "|---:|---:|---:|---|",
        f"| {plain:.1f} | {cluster:.1f} | {100 * overhead:+.1f}% | {verdict} {100 * GOAL:.0f}% |",
    ]
    table = "\n".join(lines) + "\n"
    payload = {
        "date": datetime.now().strftime("%Y-%m-%d %H:%M"),
        "machine": platform.platform(),
        "command": "fpnprof sweep " + " ".join(args),
        "quick": ns.quick,
        "plain_median_s": plain,
        "cluster_median_s": cluster,
        "overhead": overhead,
        "goal": GOAL,
        "per_configuration_s": plain / max(1, runs[0]["configurations"]),
        "runs": runs,
    }
    save_result("cluster-overhead", ns.tag + ("-quick" if ns.quick else ""), payload, table, ns.folder)


if __name__ == "__main__":
    main()
