"""GPU check: one prepared run of fpnprof on an NVIDIA GPU through the torch backend.

Phases, in priority order, each a ``python -m fpnprof ... --format json`` run, so it measures what
users get: the peaks (tf32, bf16, fp32), the paper and tutorial necks at batch 1 and 8 on a
512x512 image with the imagenet stem (eager and CUDA graphs, tf32 and bf16), a ``--breakdown``,
the latency model calibrated and validated on the GPU, torch.compile, ``compare --bench`` and
``fpnprof bench --device gpu`` exactly as typed. A phase starts only if the time budget has room
for it (default 450 s, to fit 8 minutes with start-up); what did not run is listed. Writes
``gpu-<tag>.json`` and ``gpu-<tag>.md`` under ``--out`` (default: benchmarks/results/; on the
device machine, $OUT).

    python benchmarks/gpu_check.py --tag h100
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))  # also when a test loads this file by path
from result_files import save_result

ROOT = Path(__file__).resolve().parent.parent
GPU = ["--device", "gpu", "--backend", "torch"]
BREAKDOWN = ["--engine", "eager", "--batch", "1", "--dtype", "tf32", "--breakdown"]
HEADLINE = ["--stem", "imagenet", "--size", "512", "--levels", "5", "--part", "neck", "--max-time", "45"]


@dataclass(frozen=True)
class Phase:
    name: str
    args: list[str]
    cap_s: float  # the most this phase may take
    need_s: float  # start it only with at least this much budget left


def necks_phase(
    name: str, variant: str, engines: str, batches: str, dtype: str, cap_s: float, need_s: float, *extra: str
) -> Phase:
    """Time the three necks of one variant on the GPU, side by side, at the headline config."""
    args = ["bench", "fpn", "pafpn", "bifpn", "--variant", variant, *GPU, "--engine", engines, "--batch", batches]
    return Phase(name, [*args, "--dtype", dtype, *HEADLINE], cap_s, need_s)


#: The GPU latency model's file (issue 20: calibrate and validate on the GPU through the torch backend).
LATENCY = [*GPU, "--model", str(Path(tempfile.gettempdir()) / "gpu-latency-model.json")]

PHASES = [
    Phase("peak tf32", ["peak", "--device", "gpu", "--backend", "torch", "--dtype", "tf32"], 60, 10),
    Phase("peak bf16", ["peak", "--device", "gpu", "--backend", "torch", "--dtype", "bf16"], 60, 10),
    Phase("peak fp32", ["peak", "--device", "gpu", "--backend", "torch", "--dtype", "fp32"], 60, 10),
    necks_phase("paper necks tf32", "paper", "eager,cudagraph", "1,8", "tf32", 120, 40),
    Phase("latency model: calibrate", ["calibrate", *LATENCY], 300, 150),
    Phase("latency model: validate", ["calibrate", "--validate", *LATENCY], 240, 100),
    necks_phase("paper necks bf16", "paper", "eager,cudagraph", "1,8", "bf16", 120, 40),
    Phase("breakdown tf32", ["bench", "fpn", "bifpn", "--variant", "paper", *GPU, *BREAKDOWN, *HEADLINE], 90, 30),
    Phase("A/A: fpn fpn, bifpn bifpn", ["bench", "fpn", "fpn", "bifpn", "bifpn", "--variant", "paper", *GPU, *HEADLINE], 90, 30),
    necks_phase("tutorial necks tf32", "tutorial", "eager,cudagraph", "1,8", "tf32", 120, 40),
    Phase("as typed: fpnprof bench --device gpu", ["bench", "--device", "gpu"], 150, 30),
    Phase("compare --bench on the gpu", ["compare", "--variant", "paper", "--bench", "--device", "gpu"], 150, 30),
    necks_phase("paper necks torch.compile bf16", "paper", "eager,compile", "8", "bf16", 240, 90),
]

Runner = Callable[[list[str], float], tuple[int, str, str]]


def run_fpnprof(args: list[str], timeout: float) -> tuple[int, str, str]:
    """``python -m fpnprof ARGS --format json``; (exit code, stdout, stderr); 124 on timeout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "fpnprof", *args, "--format", "json"],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd=ROOT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return 124, "", f"timed out after {timeout:.0f} s"
    return proc.returncode, proc.stdout, proc.stderr


def run_phases(
    phases: list[Phase], budget_s: float, run: Runner = run_fpnprof, clock: Callable[[], float] = time.monotonic
) -> list[dict[str, Any]]:
    """Run each phase that the remaining budget has room for; record the skipped ones too."""
    start = clock()
    results = []
    for phase in phases:
        left = budget_s - (clock() - start)
        entry: dict[str, Any] = {"phase": phase.name, "command": "fpnprof " + " ".join(phase.args)}
        if left < phase.need_s:
            results.append({**entry, "status": f"skipped: {left:.0f} s of budget left, needs {phase.need_s:.0f}"})
            continue
        print(f"[{clock() - start:5.0f} s] {phase.name}", file=sys.stderr, flush=True)
        t0 = clock()
        code, out, err = run(phase.args, min(phase.cap_s, left))
        entry["seconds"] = round(clock() - t0, 1)
        try:
            entry["result"] = json.loads(out) if out.strip() else None
        except json.JSONDecodeError:
            entry["result"] = None
        entry["status"] = "ok" if code == 0 else f"exit {code}: {(err.strip().splitlines() or ['no output'])[-1]}"
        results.append(entry)
    return results


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _ci(r: dict[str, Any]) -> str:
    """The row's interval, marked ``!`` when it is flagged (the reasons follow the table)."""
    if "median_ms" not in r:
        return "-"
    half = r.get("ci95_half_pct")
    return ("no CI" if half is None else f"±{half:.1f}%") + (" !" if r.get("flags") else "")


def _ratio(r: dict[str, Any]) -> str:
    if "ratio" not in r:
        return "-"
    if not r.get("resolved", True):
        half = r.get("ratio_half_pct")
        return "unresolved" + ("" if half is None else f" ±{half:.1f}%")
    low, high = r["ratio_ci95"]
    return f"{r['ratio']:.2f} [{low:.2f}-{high:.2f}]"


def markdown(results: list[dict[str, Any]]) -> str:
    """Peaks, then one latency table over every bench row, then breakdowns and the phase log."""
    lines = ["| phase | status | seconds |", "|---|---|---:|"]
    lines += [f"| {r['phase']} | {r['status']} | {r.get('seconds', '-')} |" for r in results]
    peaks = [r["result"]["peak"] for r in results if r["status"] == "ok" and r.get("result") and "peak" in r["result"]]
    if peaks:
        lines += ["", "| device | dtype | matmul GFLOP/s | copy GB/s | ridge FLOP/B |", "|---|---|---:|---:|---:|"]
        lines += [
            f"| {p['device_name']} | {p['dtype']} | {p['matmul_gflops']:,.0f} | "
            f"{p['copy_gbytes_per_s']:,.0f} | {p['ridge']:.1f} |"
            for p in peaks
        ]
    checked = [r["result"] for r in results if r.get("result") and "within_10pct" in r["result"]]
    if checked:
        lines += [
            "",
            "| latency model, held-out necks | within ±10% | median err | p90 err | in interval |",
            "|---|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {len(v.get('necks', []))} | {v['within_10pct']:.0%} | {v['median_abs_error']:.1%} | "
            f"{v['p90_abs_error']:.1%} | {v['interval_coverage']:.0%} |"
            for v in checked
        ]
    rows = [(r["phase"], row) for r in results if r.get("result") for row in r["result"].get("rows", []) if "engine" in row]
    if rows:
        lines += [
            "",
            "| phase | neck | variant | part | engine | dtype | batch x px | ms | ±95% | x base [95% CI] | img/s | % peak |",
            "|---|---|---|---|---|---|---|---:|---:|---|---:|---:|",
        ]
        for phase, r in rows:
            lines.append(
                f"| {phase} | {r['neck']} | {r['variant']} | {r['part']} | {r['engine']} | {r['dtype']} | "
                f"{r['batch']} x {r['size']} | {_fmt(r.get('median_ms'), '.3f')} | {_ci(r)} | {_ratio(r)} | "
                f"{_fmt(r.get('images_per_s'), ',.0f')} | {_fmt(r.get('peak_share') and 100 * r['peak_share'], '.1f')} |"
            )
        flagged = [(phase, r) for phase, r in rows if r.get("flags")]
        if flagged:
            lines += ["", "Flagged rows (!), and why:", ""]
            lines += [
                f"- {phase}: {r['neck']} {r['engine']} {r['dtype']} b{r['batch']}: {'; '.join(r['flags'])}"
                for phase, r in flagged
            ]
    for _phase, r in rows:
        b = r.get("breakdown")
        if not b:
            continue
        lines += [
            "",
            f"Breakdown, {r['neck']} ({r['variant']}) {r['engine']} {r['dtype']} b{r['batch']}: "
            f"forward {b['forward_ms']:.3f} ms, with per-node timers {b['instrumented_ms']:.3f} ms, "
            f"per-node sum {b['node_sum_ms']:.3f} ms ({100 * b['coverage']:.0f}% of the forward in the same rounds)",
            "",
            "| level | ms | % fwd | GFLOP/s | FLOP/B | bound | % peak |",
            "|---|---:|---:|---:|---:|---|---:|",
        ]
        for x in [*b["by_level"], b["between_nodes"]]:
            share = "-" if x["peak_share"] is None else f"{100 * x['peak_share']:.1f}"
            lines.append(
                f"| {x['name']} | {x['ms']:.3f} | {100 * x['share']:.1f} | {x['gflops_per_s']:,.0f} | "
                f"{x['intensity']:.1f} | {x['bound']} | {share} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=450.0, help="seconds for all phases together")
    parser.add_argument("--tag", default="gpu")
    parser.add_argument("--only", default="", help="comma-separated words: run only the phases whose name holds one")
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", ROOT / "benchmarks" / "results")))
    ns = parser.parse_args()
    words = [w for w in ns.only.split(",") if w]
    results = run_phases([p for p in PHASES if not words or any(w in p.name for w in words)], ns.budget)
    payload = {"date": date.today().isoformat(), "command": " ".join(sys.argv), "phases": results}
    save_result("gpu", ns.tag, payload, markdown(results), ns.out)


if __name__ == "__main__":
    main()
