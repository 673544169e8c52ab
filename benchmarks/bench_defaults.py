"""`fpnprof bench` as a new user first runs it: at its defaults, with a short --max-time, and (with
--follow) at the --max-time its own plan names. Prints a table (wall time, what the plan said, what
each row got) and writes JSON.

    python benchmarks/bench_defaults.py [--follow]

Results go to benchmarks/results/bench-defaults-cpu-<date>.json (a new file per run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from result_files import save_result
from rich.console import Console
from rich.table import Table


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def bench(*args: str) -> dict[str, Any]:
    """One `fpnprof bench` in a fresh process: its wall time, its plan and what each row got."""
    with tempfile.TemporaryDirectory() as tmp:
        save = Path(tmp) / "run.json"
        begun = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "fpnprof", "bench", *args, "--save", str(save)],
            capture_output=True,
            text=True,
            env={**os.environ, "COLUMNS": "100"},
            check=False,
        )
        wall = time.monotonic() - begun
        data = json.loads(save.read_text()) if save.exists() else {}
    rows = data.get("rows", [])
    with_ci = sum(1 for r in rows if r.get("ci95_half_pct") is not None)
    estimate = sum(1 for r in rows if r.get("median_ms") is not None) - with_ci
    run = data.get("run", {})
    return {
        "args": list(args),
        "exit": done.returncode,
        "wall_s": wall,
        "plan": run.get("plan"),
        "stopped": run.get("stopped"),
        "rows": len(rows),
        "with_interval": with_ci,
        "estimate_only": estimate,
        "not_timed": len(rows) - with_ci - estimate,
        "workers": run.get("workers"),
        "busy": run.get("busy"),
        "stderr_notes": [line for line in done.stderr.splitlines() if line.startswith("note:")],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--follow", action="store_true", help="also run at the --max-time the default run's plan names")
    args = parser.parse_args()
    runs = [bench(), bench("--max-time", "20")]
    named = re.search(r"--max-time (\d+)", runs[0]["plan"] or "")
    if args.follow and named:
        runs.append(bench("--max-time", named[1]))
    table = Table(title=f"fpnprof bench as a new user runs it ({cpu_name()}, {os.cpu_count()} cores)")
    for column in ("command", "wall s", "rows: interval / estimate / not timed", "stopped", "plan said"):
        table.add_column(column, overflow="fold")
    for r in runs:
        table.add_row(
            " ".join(["fpnprof bench", *r["args"]]),
            f"{r['wall_s']:.1f}",
            f"{r['with_interval']} / {r['estimate_only']} / {r['not_timed']}",
            str(r["stopped"]),
            r["plan"] or "-",
        )
    Console(width=140).print(table)
    save_result("bench-defaults", "cpu", {"cpu": cpu_name(), "date": time.strftime("%Y-%m-%d %H:%M"), "runs": runs})


if __name__ == "__main__":
    main()
