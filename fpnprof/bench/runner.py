"""Run bench rows in worker processes, paired where they can share one, and collect rows with CIs.

Rows that share a backend, device, thread count and dtype form a *group*: each of ``--processes``
workers builds the whole group and times it in shuffled, interleaved rounds, and the workers'
rounds are pooled. ``isolated`` gives every row its own workers instead (the old mode). Every row
gets its median with a 95% bootstrap CI over rounds, and a ratio to its baseline row with a paired
CI when both were timed in the same rounds.
"""

from __future__ import annotations

import json
import math
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fpnprof import __version__
from fpnprof.backends.common import EXPORT_CACHE
from fpnprof.bench.breakdown import aggregate, mean_times, node_work
from fpnprof.bench.paired import MIN_ROUNDS, MIN_TOTAL_ROUNDS, RoundPlan
from fpnprof.bench.peaks import as_peaks, drift
from fpnprof.bench.rows import BenchRow, Ratio
from fpnprof.bench.spec import BenchSpec, check_device, check_spec, summarize
from fpnprof.bench.stats import NOISY_HALF_WIDTH, median_ci, pooled_median, ratio_ci, unpaired_ratio_ci, workers_disagree
from fpnprof.bench.worker import GroupJob
from fpnprof.cost.analysis import profile_graph
from fpnprof.cost.memory import available_bytes, estimated_bytes, require_memory
from fpnprof.cost.results import Profile
from fpnprof.errors import BackendUnavailable
from fpnprof.model.config import NeckConfig
from fpnprof.model.parts import part_graph

WORKER_TIMEOUT_S = 3600
#: How a worker is started (tests point this at a fake worker that crashes).
WORKER_COMMAND = [sys.executable, "-m", "fpnprof.bench.worker"]
Progress = Callable[[int, int, str], None]


def worker_env(spec: BenchSpec) -> dict[str, str]:
    """Threads and Paddle's IR flag must be in the environment before the framework is imported."""
    env = dict(os.environ)
    threads = str(spec.effective_threads)
    env.update({"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "FLAGS_enable_pir_api": "0", "GLOG_minloglevel": "2"})
    return env


def call_worker(payload: dict[str, Any], env: dict[str, str], what: str) -> dict[str, Any]:
    """Run ``fpnprof.bench.worker`` on one job; its last JSON line is the answer."""
    with subprocess.Popen(
        WORKER_COMMAND, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as proc:
        try:
            stdout, stderr = proc.communicate(json.dumps(payload), timeout=WORKER_TIMEOUT_S)
        except BaseException as exc:  # a timeout, Ctrl-C or SIGTERM: end the worker and reap it
            proc.kill()
            proc.wait()
            if isinstance(exc, subprocess.TimeoutExpired):
                raise BackendUnavailable(f"the {what} worker ran over {WORKER_TIMEOUT_S} s and was stopped") from None
            raise
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name
        hint = " (out of memory? try a smaller --batch or --size)" if name == "SIGKILL" else ""
        raise BackendUnavailable(f"the {what} worker was killed by {name}{hint}")
    if proc.returncode != 0 or not lines:
        tail = (stderr.strip().splitlines() or [f"exit code {proc.returncode}, no output"])[-1]
        raise BackendUnavailable(f"the {what} worker failed: {tail}")
    result: dict[str, Any] = json.loads(lines[-1])
    if "error" in result:
        raise BackendUnavailable(result["error"])
    return result


# Grouping -------------------------------------------------------------------------------------
@dataclass
class Group:
    """Rows measured together; ``why`` says why a row of several candidates was measured alone."""

    indices: list[int]
    why: str | None = None

    @property
    def paired(self) -> bool:
        return len(self.indices) > 1


#: Why Paddle Inference rows get worker processes of their own (paired among themselves).
INFERENCE_APART = (
    "Paddle Inference rows run in worker processes of their own: its oneDNN threads slowed eager Paddle "
    "ops in the same process by 1.6x (paper FPN neck, 2 threads: 850 ms vs 520 ms)"
)


def machine_key(spec: BenchSpec) -> tuple[str, str, int, str]:
    """What a row's peaks depend on: backend, device, threads and dtype."""
    return (spec.backend, spec.device, spec.effective_threads, spec.config.dtype)


def share_key(spec: BenchSpec) -> tuple[str, str, int, str, bool]:
    """Rows with the same key can share a worker process: threads and math mode are per process,
    and Paddle Inference disturbs the other engines (:data:`INFERENCE_APART`)."""
    return (*machine_key(spec), spec.backend == "paddle" and spec.engine == "inference")


def plan_groups(specs: Sequence[BenchSpec], profiles: Sequence[Profile], *, isolated: bool, memory: int) -> list[Group]:
    """Group rows by :func:`share_key`; a CPU group that would not fit in ``memory`` sheds its
    largest rows to groups of their own."""
    if isolated:
        return [Group([i]) for i in range(len(specs))]
    keyed: dict[tuple[str, str, int, str, bool], list[int]] = {}
    for i, spec in enumerate(specs):
        keyed.setdefault(share_key(spec), []).append(i)
    groups = []
    for indices in keyed.values():
        need = {i: estimated_bytes(profiles[i]) for i in indices}
        alone = []
        while len(indices) > 1 and specs[indices[0]].device == "cpu" and sum(need[i] for i in indices) > memory:
            biggest = max(indices, key=need.__getitem__)
            indices = [i for i in indices if i != biggest]
            alone.append(biggest)
        groups.append(Group(indices))
        why = "too large to share a worker process with the other rows"
        groups += [Group([i], why) for i in alone]
    return groups


def process_shares(spec: BenchSpec) -> list[RoundPlan]:
    """One round plan per worker: --min-time split evenly, or --repeat split so the row gets exactly
    that many timed runs in all."""
    if spec.repeat is None:
        rounds = max(MIN_ROUNDS, math.ceil(MIN_TOTAL_ROUNDS / spec.processes))
        return [
            RoundPlan(spec.min_time * 1e3 / spec.processes, seed=spec.seed + p, min_rounds=rounds) for p in range(spec.processes)
        ]
    n, p = spec.repeat, min(spec.processes, spec.repeat)
    return [RoundPlan(0.0, repeat=n // p + (1 if k < n % p else 0), seed=spec.seed + k) for k in range(p)]


# Measuring ------------------------------------------------------------------------------------
@dataclass
class Measured:
    """One row's pooled results over its workers."""

    rounds: list[list[float]] = field(default_factory=list)
    per_worker: list[list[list[float]]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    peak_mem_bytes: int = 0
    peak_mem_kind: str = ""
    node_ms: list[dict[str, float]] = field(default_factory=list)
    instrumented_ms: list[float] = field(default_factory=list)
    probes: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


def measure_group(
    specs: Sequence[BenchSpec], *, breakdown: bool, progress: Callable[[str], None], exports: str | None = None
) -> list[Measured]:
    """Every worker of the group in turn; their rounds concatenated (round j pairs across rows).
    ``exports``: a folder the workers share deployment exports in."""
    out = [Measured() for _ in specs]
    env = worker_env(specs[0]) | ({EXPORT_CACHE: exports} if exports else {})
    for worker, plan in enumerate(process_shares(specs[0])):
        progress(f"worker {worker + 1}")
        job = GroupJob(list(specs), plan, breakdown=breakdown)
        try:
            result = call_worker(job.to_json(), env, f"{specs[0].backend} {specs[0].device}")
        except BackendUnavailable as exc:
            for m in out:
                m.error = m.error or str(exc)
            continue
        probe = result["probe"]
        for m, cand in zip(out, result["candidates"], strict=True):
            if "error" in cand:
                m.error = m.error or cand["error"]
                continue
            m.rounds += cand["rounds"]
            m.per_worker.append(cand["rounds"])
            m.info = cand["info"]
            m.peak_mem_bytes = max(m.peak_mem_bytes, cand["peak_mem_bytes"])
            m.peak_mem_kind = cand["peak_mem_kind"]
            if "node_ms" in cand:
                m.node_ms.append(cand["node_ms"])
                m.instrumented_ms.append(cand["instrumented_ms"])
            if probe["before"] is not None:
                m.probes.append(probe)
    return out


def make_row(spec: BenchSpec, m: Measured, profile: Profile, group: Group, peak: dict[str, Any] | None = None) -> BenchRow:
    """One result row: statistics, CI, noise flags, the analytic costs of the part timed, and its
    GFLOP/s against ``peak`` (:func:`measure_peak`)."""
    cfg, totals = spec.config, profile.model_total
    row: BenchRow = {
        "neck": cfg.neck,
        "variant": cfg.variant,
        "part": spec.part,
        "backend": spec.backend,
        "device": spec.device,
        "engine": spec.engine,
        "dtype": cfg.dtype,
        "batch": cfg.batch,
        "size": cfg.size,
        "mode": "paired" if group.paired else "isolated",
        "isolated_why": group.why,
        "processes": len(m.per_worker),
        "macs": totals.macs,
        "flops": totals.flops,
        "params": totals.params,
        "error": m.error,
    }
    if m.error is not None or not m.rounds:
        return row
    samples = [t for r in m.rounds for t in r]
    stats = summarize(samples)
    ci = median_ci(m.rounds, seed=spec.seed)
    disagree = len(m.per_worker) > 1 and workers_disagree(m.per_worker, seed=spec.seed)
    half = ci.half_width / stats.median_ms
    noisy = []
    if half > NOISY_HALF_WIDTH:
        noisy.append(f"CI ±{half:.1%}")
    if disagree:
        noisy.append("workers disagree")
    peaks = as_peaks(peak) if peak else None
    gflops = totals.flops / stats.median_ms / 1e6
    row.update(
        {
            "median_ms": stats.median_ms,
            "ci95_ms": ci.as_list(),
            "ci95_half_pct": 100 * half,
            "iqr_ms": stats.iqr_ms,
            "p90_ms": stats.p90_ms,
            "min_ms": stats.min_ms,
            "mean_ms": stats.mean_ms,
            "runs": stats.runs,
            "rounds": len(m.rounds),
            "process_medians_ms": [pooled_median(w) for w in m.per_worker],
            "noisy": ", ".join(noisy) or None,
            "images_per_s": cfg.batch * 1e3 / stats.median_ms,
            "gflops_per_s": gflops,
            "matmul_peak_gflops": peaks.gflops if peaks else None,
            "copy_peak_gbytes_per_s": peaks.gbytes_per_s if peaks else None,
            "peak_share": gflops / peaks.gflops if peaks else None,
            "probe_drift": [drift(p["before"], p["after"]) for p in m.probes],
            "peak_mem_bytes": m.peak_mem_bytes,
            "peak_mem_kind": m.peak_mem_kind,
            "threads": m.info["threads"],
            "device_name": m.info["device_name"],
            "framework": m.info["framework"],
            "math_mode": m.info["math_mode"],
            "rounds_ms": m.rounds,
        }
    )
    if m.node_ms:
        graph = part_graph(cfg, spec.part)
        work = node_work(graph, cfg.dtype_bytes)
        instrumented = statistics.fmean(m.instrumented_ms)
        row["breakdown"] = aggregate(work, mean_times(m.node_ms), stats.median_ms, instrumented, peaks).to_json()
    return row


# Ratios ---------------------------------------------------------------------------------------
RATIO_MATCH = ("part", "engine", "batch", "size", "dtype", "backend", "device")


def ratio_between(row: BenchRow, base: BenchRow) -> Ratio:
    """``ratio`` of two measured rows' medians and its 95% CI (``ratio_ci95``): paired when both
    were timed in the same rounds of the same group (``ratio_paired``), else unpaired."""
    paired = row["group"] == base["group"] and len(row["rounds_ms"]) == len(base["rounds_ms"])
    ci = (ratio_ci if paired else unpaired_ratio_ci)(row["rounds_ms"], base["rounds_ms"])
    return {"ratio": row["median_ms"] / base["median_ms"], "ratio_ci95": ci.as_list(), "ratio_paired": paired}


def attach_ratios(rows: list[BenchRow], baseline: tuple[str, str]) -> None:
    """Each row against the baseline neck's row with the same part, engine, batch, size, dtype and
    device (:func:`ratio_between`)."""
    for row in rows:
        base = next(
            (b for b in rows if (b["neck"], b["variant"]) == baseline and all(b.get(k) == row.get(k) for k in RATIO_MATCH)),
            None,
        )
        if base is None or "median_ms" not in row or "median_ms" not in base:
            continue
        row["baseline"] = f"{base['neck']} ({base['variant']})"
        ratio = ratio_between(row, base)
        row["ratio"], row["ratio_ci95"], row["ratio_paired"] = ratio["ratio"], ratio["ratio_ci95"], ratio["ratio_paired"]


# Provenance and the whole run -----------------------------------------------------------------
def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def provenance(rows: list[BenchRow]) -> dict[str, Any]:
    ok = [r for r in rows if "median_ms" in r]
    drifts = [d for r in ok for d in r["probe_drift"]]
    return {
        "fpnprof": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "frameworks": sorted({r["framework"] for r in ok}),
        "gpus": sorted({r["device_name"] for r in ok if r["device"] == "gpu"}),
        "threads": sorted({r["threads"] for r in ok}),
        "peaks": sorted(
            {
                (r["device"], r["dtype"], r["matmul_peak_gflops"], r["copy_peak_gbytes_per_s"])
                for r in ok
                if r["matmul_peak_gflops"]
            }
        ),
        "probe_drift_max": max(drifts, key=abs) if drifts else None,
    }


def measure_peak(backend: str, device: str, threads: int, dtype: str) -> dict[str, Any]:
    """The framework's best matmul and copy rates, in a worker of their own (Paddle's best CPU
    matmul leaves oneDNN threads behind that would slow the rows measured beside it)."""
    spec = BenchSpec(config=NeckConfig(neck="fpn", dtype=dtype), backend=backend, device=device, threads=threads)
    payload = {"kind": "peak", "backend": backend, "device": device, "dtype": dtype, "threads": spec.effective_threads}
    return call_worker(payload, worker_env(spec), f"{backend} {device} peak")


def run_bench(
    specs: list[BenchSpec],
    *,
    isolated: bool = False,
    breakdown: bool = False,
    baseline: tuple[str, str] | None = None,
    on_progress: Progress | None = None,
    peaks: bool = True,
) -> list[BenchRow]:
    """Check every spec first (so a bad one fails before any timing), then measure group by group;
    ``peaks``: also measure the peaks (a worker per backend, device, threads and dtype) for % peak."""
    profiles = []
    for spec in specs:
        check_spec(spec)
        check_device(spec.backend, spec.device)
        profile = profile_graph(spec.config, part_graph(spec.config, spec.part))
        if spec.device == "cpu":
            require_memory(profile)
        profiles.append(profile)
    groups = plan_groups(specs, profiles, isolated=isolated, memory=available_bytes())
    with tempfile.TemporaryDirectory(prefix="fpnprof-") as exports:  # one Paddle Inference export per graph
        measured, groups_of = _measure_groups(specs, groups, breakdown, on_progress, exports)
    errors = {m.error for m in measured.values()}
    if None not in errors and len(errors) == 1:  # nothing ran, for one reason: say it once
        raise BackendUnavailable(str(errors.pop()))
    peak_of: dict[tuple[str, str, int, str], dict[str, Any]] = {}
    for i, spec in enumerate(specs):
        key = machine_key(spec)
        if (peaks or breakdown) and key not in peak_of and measured[i].error is None:
            peak_of[key] = measure_peak(*key)
    rows = [
        make_row(spec, measured[i], profiles[i], groups[groups_of[i]], peak_of.get(machine_key(spec))) | {"group": groups_of[i]}
        for i, spec in enumerate(specs)
    ]
    first = specs[0].config
    attach_ratios(rows, baseline or (first.neck, first.variant))
    return rows


def _measure_groups(
    specs: list[BenchSpec], groups: list[Group], breakdown: bool, on_progress: Progress | None, exports: str
) -> tuple[dict[int, Measured], list[int]]:
    total = sum(len(process_shares(specs[g.indices[0]])) for g in groups)
    done = 0
    measured: dict[int, Measured] = {}
    groups_of = [0] * len(specs)
    for g_index, group in enumerate(groups):
        members = [specs[i] for i in group.indices]
        label = ", ".join(dict.fromkeys(f"{s.config.neck}/{s.config.variant}" for s in members))

        def progress(what: str, label: str = label) -> None:
            nonlocal done
            if on_progress is not None:
                on_progress(done, total, f"{label}: {what}")
            done += 1

        for i, m in zip(
            group.indices, measure_group(members, breakdown=breakdown, progress=progress, exports=exports), strict=True
        ):
            measured[i] = m
            groups_of[i] = g_index
    return measured, groups_of
