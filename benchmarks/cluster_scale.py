"""A 1,000-configuration measured sweep on 1, 8 and 64 nodes, on paper, from measured numbers:

- the time per configuration on a node: from a ``cluster_overhead.py`` result (its plain sweep's wall
  time over its 16 configurations; the newest in benchmarks/results, ``--overhead FILE``, or
  ``--per-config-s``);
- the driver's cost per result: a sweep of ``--configs`` simulated configurations (the calibration
  tests' simulated machine: a task takes milliseconds, so what is timed is fpnprof's driver and Ray)
  on a local Ray instance, as the driver process's CPU seconds per result;
- the store's cost per result: groups of 16 results put into the run history and into a JSON Lines
  file that already hold ``--held`` results.

A group is up to 16 configurations timed beside the baseline (fpnprof.cluster.plan), so a task costs
17 configurations' time; the groups go out in waves of one per node. Predicted wall time = Ray's
start + waves x a task's time + (the driver's and the store's cost, counted as if nothing overlapped).

    python benchmarks/cluster_scale.py [--configs 400] [--held 10000]

Prints the measured costs and the prediction; writes JSON (and Markdown) to
benchmarks/results/cluster-scale-<tag>-<date>.json.
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))  # Ray's workers too

from cluster_sim import SimTimer  # noqa: E402
from result_files import RESULTS, save_result  # noqa: E402

from fpnprof.bench.runner import Measurement  # noqa: E402
from fpnprof.cluster.connect import ClusterOption, connected  # noqa: E402
from fpnprof.cluster.kinds import NodeIdentity  # noqa: E402
from fpnprof.cluster.plan import MAX_GROUP, TimingSetup, group_size, item_key, result_key  # noqa: E402
from fpnprof.cluster.results import Measured  # noqa: E402
from fpnprof.cluster.store import Context, HistoryResults, JsonlResults  # noqa: E402
from fpnprof.cluster.sweep import sweep_on_cluster  # noqa: E402
from fpnprof.cost.sweep import run_sweep  # noqa: E402
from fpnprof.model.config import NeckConfig  # noqa: E402

SWEEP = 1000
NODES = (1, 8, 64)
SETUP = TimingSetup("paddle", "cpu", threads=1, warmup=1, measurement=Measurement(max_time_s=60.0))


def configs(count: int) -> list[NeckConfig]:
    """``count`` distinct small FPN configurations (widths x sizes)."""
    widths = list(range(8, 8 + 8 * math.ceil(count / 4), 8))
    return [NeckConfig("fpn", channels=c, size=s, batch=1) for c in widths for s in (16, 24, 32, 40)][:count]


def driver_cost(count: int) -> dict[str, Any]:
    """A sweep of ``count`` simulated configurations on a local Ray instance: Ray's start, the wall
    time, and the driver process's CPU seconds per result (its Ray threads included)."""
    rows = run_sweep(configs(count), workers=1)
    timer = SimTimer({r.config.channels: 1.0 for r in rows})
    start = time.monotonic()
    with connected(ClusterOption("ray", None)):
        up = time.monotonic() - start
        cpu, wall = time.process_time(), time.monotonic()
        sweep = sweep_on_cluster(rows, SETUP, ClusterOption("ray", None), timer=timer, size=MAX_GROUP)
        cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    results = len(sweep.results)
    assert results == count, f"{results} of {count} configurations measured"
    return {
        "configurations": count,
        "groups": sweep.groups,
        "ray_start_s": up,
        "wall_s": wall,
        "driver_cpu_s": cpu,
        "per_result_s": cpu / results,
    }


def measured(i: int, kind: str = "sim") -> Measured:
    cfg = NeckConfig("fpn", channels=8 + i, size=32)
    item = item_key(cfg, NeckConfig("fpn", channels=8, size=32), SETUP)
    fp = {"cpu": "sim", "cores": 64}
    return Measured(
        result_key(item, kind), item, kind, "sim", "n1", fp, cfg.as_dict(), 10.0, 9.5, 10.5, 5.0, 1.2, 1.1, 1.3, 3.0, True, 5, 8.0
    )


def store_cost(held: int, groups: int = 20) -> dict[str, Any]:
    """Seconds per result to put groups of 16 into each store already holding ``held`` results."""
    ctx = Context(
        "fpnprof sweep", 0, "0" * 56, NodeIdentity("sim", "sim", {"cpu": "sim", "cores": 64}, True, "n1", "0"), 1.0, SETUP
    )
    out: dict[str, Any] = {"held": held}
    with tempfile.TemporaryDirectory() as tmp:
        for name, store in (("history", HistoryResults(Path(tmp, "h.sqlite"))), ("jsonl", JsonlResults(Path(tmp, "r.jsonl")))):
            for k in range(0, held, 500):
                store.put([measured(i) for i in range(k, min(held, k + 500))], ctx)
            store.stored([])  # as a run starts: it reads what is held
            times = []
            for g in range(groups):
                batch = [measured(held + g * MAX_GROUP + i) for i in range(MAX_GROUP)]
                start = time.perf_counter()
                store.put(batch, ctx)
                times.append((time.perf_counter() - start) / MAX_GROUP)
            out[name] = {"per_result_s": statistics.median(times), "max_s": max(times)}
    return out


def per_config(args: argparse.Namespace) -> tuple[float, str]:
    if args.per_config_s is not None:
        return args.per_config_s, "--per-config-s"
    files = (
        [args.overhead]
        if args.overhead
        else sorted(f for f in glob.glob(str(RESULTS / "cluster-overhead-*.json")) if "quick" not in f)
    )
    if not files:
        raise SystemExit(
            "no cluster-overhead result to take the time per configuration from: "
            "run benchmarks/cluster_overhead.py, or give --per-config-s"
        )
    data = json.loads(Path(files[-1]).read_text())
    return float(data["plain_median_s"]) / 16, Path(files[-1]).name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=400, help="simulated configurations the driver's cost is measured on")
    parser.add_argument("--held", type=int, default=10000, help="results each store holds before the timed puts")
    parser.add_argument("--overhead", help="a cluster_overhead.py result (default: the newest in benchmarks/results)")
    parser.add_argument("--per-config-s", type=float, help="the time per configuration on a node, measured elsewhere")
    parser.add_argument("--tag", default="cpu")
    parser.add_argument("--folder", type=Path, default=RESULTS, help="where the result files go")
    ns = parser.parse_args()
    t_config, source = per_config(ns)
    driver = driver_cost(ns.configs)
    stores = store_cost(ns.held)
    per_result = driver["per_result_s"] + max(stores["history"]["per_result_s"], stores["jsonl"]["per_result_s"])
    lines = [
        f"time per configuration on a node: {t_config:.2f} s ({source}); Ray's start here: {driver['ray_start_s']:.1f} s",
        f"driver: {1e3 * driver['per_result_s']:.2f} ms CPU per result ({driver['configurations']} simulated configurations, "
        f"{driver['groups']} groups); store with {ns.held} held: history {1e3 * stores['history']['per_result_s']:.2f} ms, "
        f"JSON Lines {1e3 * stores['jsonl']['per_result_s']:.2f} ms per result",
        "",
        "| nodes | group | groups | waves | task s | driver+store s | predicted wall | speed-up |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    predicted = []
    for nodes in NODES:
        k = group_size(SWEEP, nodes)
        groups = math.ceil(SWEEP / k)
        waves = math.ceil(groups / nodes)
        task = (k + 1) * t_config
        serial = SWEEP * per_result
        wall = driver["ray_start_s"] + waves * task + serial
        predicted.append(
            {"nodes": nodes, "group": k, "groups": groups, "waves": waves, "task_s": task, "serial_s": serial, "wall_s": wall}
        )
    for p in predicted:
        h, rest = divmod(round(p["wall_s"]), 3600)
        lines.append(
            f"| {p['nodes']} | {p['group']} | {p['groups']} | {p['waves']} | {p['task_s']:.0f} | {p['serial_s']:.1f} | "
            f"{h}:{rest // 60:02d}:{rest % 60:02d} | {predicted[0]['wall_s'] / p['wall_s']:.1f}x |"
        )
    table = "\n".join(lines) + "\n"
    payload = {
        "date": datetime.now().strftime("%Y-%m-%d %H:%M"),
        "sweep": SWEEP,
        "per_configuration_s": t_config,
        "per_configuration_from": source,
        "driver": driver,
        "stores": stores,
        "predicted": predicted,
    }
    save_result("cluster-scale", ns.tag, payload, table, ns.folder)


if __name__ == "__main__":
    main()
