"""The latency model end to end on this machine: ``fpnprof calibrate`` (its wall time, against the
10-minute goal), ``fpnprof calibrate --validate`` on held-out necks (the share within ±10%, the median
and p90 error, the interval's coverage), an A/A check of the validation's own measurement (the same
held-out necks measured again: how far two measurements of one neck differ, the ceiling any
prediction is held to), and ``sweep --latency predicted`` over 1,000 configurations (against 20 s).

    python benchmarks/latency_model.py --backend torch --threads 1
    python benchmarks/latency_model.py --backend paddle --threads 2 --skip-aa
    python benchmarks/latency_model.py --backend paddle --engine inference --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime

from result_files import save_result


def fpnprof(*args: str, env: dict[str, str]) -> tuple[dict, float]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "fpnprof", *args, "-f", "json"], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.exit(f"fpnprof {' '.join(args)} failed: {done.stderr.strip()}")
    return json.loads(done.stdout), time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", default="torch")
    ap.add_argument("--threads", default="1")
    ap.add_argument("--engine", default="eager")
    ap.add_argument("--held-out", default="50")
    ap.add_argument("--necks", default=None, help="calibration necks (default: calibrate's)")
    ap.add_argument("--skip-aa", action="store_true")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="fpnprof-latency-") as data_dir:  # the model files go with it
        run(a, {**os.environ, "FPNPROF_DATA_DIR": data_dir})


def run(a: argparse.Namespace, env: dict[str, str]) -> None:
    setup = ["--backend", a.backend, "--engine", a.engine, "--threads", a.threads]
    cal, cal_s = fpnprof("calibrate", *setup, *(["--necks", a.necks] if a.necks else []), env=env)
    val, val_s = fpnprof("calibrate", "--validate", "--held-out", a.held_out, *setup, env=env)
    aa = None
    if not a.skip_aa:
        again, _ = fpnprof("calibrate", "--validate", "--held-out", a.held_out, *setup, env=env)
        diffs = sorted(abs(x["measured_ms"] / y["measured_ms"] - 1) for x, y in zip(val["necks"], again["necks"], strict=True))
        aa = {
            "within_10pct": sum(d <= 0.10 for d in diffs) / len(diffs),
            "median": statistics.median(diffs),
            "p90": statistics.quantiles(diffs, n=10, method="inclusive")[-1],
        }
    channels = ",".join(str(c) for c in range(16, 16 * 26, 16))  # 25 widths
    sweep, sweep_s = fpnprof(
        "sweep", "bifpn", "--variant", "paper", "--channels", channels, "--cells", "1,2,3,4,5,6,7,8", "--size",
        "64,128,192,256,320", "--latency", "predicted", "--latency-engine", a.engine, "--backend", a.backend,
        "--threads", a.threads, env=env,
    )  # fmt: skip
    rows = len(sweep["rows"])
    c = cal["model"]["calibration"]
    h = val.get("halves_within_10pct")
    halves = f"{h:.0%}, {val['halves_median_abs_difference']:.1%}" if h is not None else "-"
    line = (
        f"| {a.backend} {a.engine}, {a.threads} thread(s) | {cal_s:.0f} s | {c['cross_fitted_within_10pct']:.0%} | "
        f"{val['within_10pct']:.0%} | {val['median_abs_error']:.1%} | {val['p90_abs_error']:.1%} | "
        f"x{val['machine_speed']:.2f}: {val['raw_within_10pct']:.0%}, {val['raw_median_abs_error']:.1%} | "
        f"{val['interval_coverage']:.0%} (band x{cal['model']['band'][0]:.2f}..x{cal['model']['band'][1]:.2f}) | "
        + (f"{aa['within_10pct']:.0%}, median {aa['median']:.1%}, p90 {aa['p90']:.1%}" if aa else "-")
        + f" | {halves} | {rows} in {sweep_s:.1f} s |"
    )
    table = (
        "| setup | calibrate | cross-fitted ±10% | held-out ±10% | median err | p90 err | speed; at calibration's: ±10%, median "
        "| in 90% interval | A/A ±10% | halves ±10%, median | sweep --latency predicted |\n"
        "|---|---:|---:|---:|---:|---:|---|---|---|---|---:|\n" + line + "\n"
    )
    payload = {
        "date": datetime.now().isoformat(timespec="minutes"),
        "command": " ".join(sys.argv),
        "calibrate_s": cal_s,
        "validate_s": val_s,
        "model": {
            **cal["model"],
            "trees": {k: f"{len(v['value'])} trees (arrays left out of this record)" for k, v in cal["model"]["trees"].items()},
        },
        "validation": val,
        "aa": aa,
        "sweep_rows": rows,
        "sweep_s": sweep_s,
    }
    engine = "" if a.engine == "eager" else f"-{a.engine}"
    save_result("latency-model", f"{a.backend}{engine}-{a.threads}t", payload, table)  # the model, less its trees' arrays


if __name__ == "__main__":
    main()
