"""How fast `fpnprof history` answers with many stored results, as a user runs it: a fresh process
each time (Python start, fpnprof's import, the query, the table). The goal: under 0.5 s with 10,000
results. The database is filled through fpnprof's own store (one transaction per run, as commands
record): runs of 1-4 rows over 90 days, six necks whose texts change now and then, two machines.
Prints a table (median and range of --repeats runs per form) and writes JSON.

    python benchmarks/history_speed.py [--results 10000] [--repeats 5]

Results go to benchmarks/results/history-speed-cpu-<date>.json (a new file per run; --folder moves them).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from result_files import RESULTS, save_result
from rich.console import Console
from rich.table import Table

from fpnprof.history import HistoryStore
from fpnprof.history.identity import machine_info, machine_key
from fpnprof.history.necktext import text_hash
from fpnprof.history.records import RowRecord, RunRecord

ROOT = Path(__file__).resolve().parent.parent
GOAL_S = 0.5
NECKS = ("fpn", "pafpn", "bifpn", "nasfpn.toml", "yolov5-pan.toml", "my_neck.toml")
#: The forms timed: what a user types after `fpnprof history`.
FORMS = {
    "history": [],
    "history fpn": ["fpn"],
    "history --machine all --last 100": ["--machine", "all", "--last", "100"],
    "history bifpn --since 30d -f json": ["bifpn", "--since", "30d", "-f", "json"],
}


def fill(path: Path, results: int, seed: int = 0) -> int:
    """Write runs until ``results`` rows are stored; the number of runs."""
    rng = random.Random(seed)
    info = machine_info()
    here, there = machine_key(info), "another-machine"
    start = time.time() - 90 * 86400
    versions = {neck: 1 for neck in NECKS}
    written = runs = 0
    store = HistoryStore.open(path)
    assert store is not None
    with store:
        while written < results:
            count = min(rng.randint(1, 4), results - written)
            rows = []
            for _ in range(count):
                neck = rng.choice(NECKS)
                if rng.random() < 0.01:
                    versions[neck] += 1
                text = f"{neck} version {versions[neck]}\n" * 20
                ms = rng.uniform(5, 500)
                rows.append(
                    RowRecord(
                        kind="measured",
                        neck=neck,
                        variant="paper",
                        label=neck,
                        config={"neck": neck, "variant": "paper", "channels": 64, "batch": 2, "size": 64},
                        neck_text=text,
                        neck_hash=text_hash(text),
                        part="neck",
                        engine=rng.choice(("eager", "inference")),
                        backend="paddle",
                        device="cpu",
                        threads=2,
                        allocator="steady",
                        dtype="fp32",
                        framework="paddle 3.3.1",
                        estimate=ms,
                        low=ms * 0.97,
                        high=ms * 1.03,
                        resolved=True,
                        ratio=1.0,
                        ratio_low=0.98,
                        ratio_high=1.02,
                        extra={"workers": 5, "worker_medians_ms": [ms] * 5},
                    )
                )
            at = start + 90 * 86400 * written / results
            machine = here if rng.random() < 0.8 else there
            store.insert(RunRecord("bench", "fpnprof bench ...", at, machine, info, {"fpnprof": "bench"}, rows=rows))
            written += count
            runs += 1
    return runs


def one_answer(path: Path, args: list[str]) -> float:
    """Wall seconds of one `fpnprof history ARGS` in a fresh process."""
    env = {**os.environ, "FPNPROF_HISTORY": str(path), "COLUMNS": "160"}
    begun = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "fpnprof", "history", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    wall = time.monotonic() - begun
    if done.returncode != 0:
        raise SystemExit(f"history {' '.join(args)}: exit {done.returncode}: {done.stderr.strip()[-400:]}")
    return wall


def startup() -> float:
    """Wall seconds of `fpnprof --version`: the share of every answer that is Python and fpnprof starting."""
    begun = time.monotonic()
    subprocess.run([sys.executable, "-m", "fpnprof", "--version"], cwd=ROOT, capture_output=True, check=True)
    return time.monotonic() - begun


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--folder", type=Path, default=RESULTS, help="where the JSON goes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "history.sqlite"
        begun = time.monotonic()
        runs = fill(path, args.results)
        fill_s = time.monotonic() - begun
        size = path.stat().st_size + sum(p.stat().st_size for p in Path(tmp).glob("history.sqlite-*"))
        rows: list[dict[str, Any]] = []
        for name, form in FORMS.items():
            walls = [one_answer(path, form) for _ in range(args.repeats)]
            rows.append({"form": f"fpnprof {name}", "walls_s": walls, "median_s": statistics.median(walls)})
        starts = [startup() for _ in range(args.repeats)]
    table = Table(title=f"fpnprof history, {args.results:,} results in {runs:,} runs, a fresh process each ({args.repeats} runs)")
    for column in ("command", "median s", "min-max s", f"< {GOAL_S:g} s"):
        table.add_column(column, justify="left" if column == "command" else "right")
    for row in rows:
        span = f"{min(row['walls_s']):.3f}-{max(row['walls_s']):.3f}"
        table.add_row(row["form"], f"{row['median_s']:.3f}", span, "yes" if max(row["walls_s"]) < GOAL_S else "NO")
    table.add_row("(fpnprof --version: start-up alone)", f"{statistics.median(starts):.3f}", "", "")
    Console(width=110).print(table)
    payload = {
        "cpu": machine_info()["cpu"],
        "cores": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "results": args.results,
        "runs": runs,
        "database_bytes": size,
        "fill_s": fill_s,
        "repeats": args.repeats,
        "goal_s": GOAL_S,
        "startup_s": starts,
        "rows": rows,
    }
    save_result("history-speed", "cpu", payload, folder=args.folder)


if __name__ == "__main__":
    main()
