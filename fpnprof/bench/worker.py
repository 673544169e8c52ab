"""Measure in this process: ``python -m fpnprof.bench.worker`` reads a job as JSON on stdin and writes
one JSON object on stdout.

A *group* job builds every candidate (bench spec) of the group, warms each up, then times them all
in shuffled, interleaved rounds (:func:`fpnprof.bench.paired.run_rounds`), framed by a drift probe (the
plain peak kernels) just before and after; per-node timed passes follow for ``breakdown``. A *peak* job only
measures the peaks. The parent sets thread counts and ``FLAGS_enable_pir_api`` in the environment
before this process imports a framework.
"""

from __future__ import annotations

import json
import statistics
import sys
from dataclasses import dataclass, field
from typing import Any

from fpnprof.bench.breakdown import mean_times
from fpnprof.bench.paired import RoundPlan, run_rounds
from fpnprof.bench.peaks import PEAK_RUNS, PROBE_RUNS, measure_peaks
from fpnprof.bench.spec import BenchSpec, RssPeak
from fpnprof.errors import FpnprofError
from fpnprof.model.parts import part_graph

#: Per-node timed passes per candidate and worker for --breakdown (after the rounds): at least
#: the first number, more up to the second while BREAKDOWN_BUDGET_MS lasts.
BREAKDOWN_PASSES = (3, 15)
BREAKDOWN_BUDGET_MS = 1500.0
#: Warm-up stops early once this much time is spent (after at least one run).
WARMUP_BUDGET_MS = 500.0


@dataclass
class GroupJob:
    specs: list[BenchSpec]
    plan: RoundPlan
    breakdown: bool = False
    probe: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "group",
            "specs": [s.to_json() for s in self.specs],
            "plan": vars(self.plan),
            "breakdown": self.breakdown,
            "probe": self.probe,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GroupJob:
        return cls([BenchSpec.from_json(s) for s in data["specs"]], RoundPlan(**data["plan"]), data["breakdown"], data["probe"])


@dataclass
class _Built:
    runner: Any = None
    estimate_ms: float = 0.0
    result: dict[str, Any] = field(default_factory=dict)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text and isinstance(exc, FpnprofError) else f"{type(exc).__name__}: {text[0] if text else ''}".strip()


def warm_up(step_ms: Any, runs: int) -> list[float]:
    """Up to ``runs`` untimed runs (at least one), stopping early once WARMUP_BUDGET_MS is spent:
    a slow model is warm after its first run or two."""
    times = [step_ms()]
    while len(times) < runs and sum(times) < WARMUP_BUDGET_MS:
        times.append(step_ms())
    return times


def _build(backend: Any, spec: BenchSpec) -> _Built:
    """Build and warm up one candidate; a failure is kept as that candidate's error."""
    rss = RssPeak()
    try:
        with rss.sampling():  # build and warm up under the sampler; timed runs run without it
            runner = backend.make_runner(
                part_graph(spec.config, spec.part),
                device=spec.device,
                engine=spec.engine,
                dtype=spec.config.dtype,
                threads=spec.effective_threads,
                seed=spec.seed,
            )
            times = warm_up(runner.step_ms, spec.warmup)
    except Exception as exc:  # a framework error fails this row only, with its reason
        return _Built(result={"error": _one_line(exc)})
    gpu_peak = runner.peak_memory()
    return _Built(
        runner,
        times[-1],
        {
            "info": runner.info,
            "peak_mem_bytes": gpu_peak if gpu_peak is not None else rss.growth(),
            "peak_mem_kind": "gpu max allocated" if gpu_peak is not None else "cpu rss growth",
        },
    )


def timed_passes(runner: Any, passes: tuple[int, int] = BREAKDOWN_PASSES) -> tuple[dict[str, float], float]:
    """Mean per-node times over several instrumented passes (``passes``: at least, at most), and
    the mean length of such a pass itself (timing every node costs time, most of all on a
    launch-bound GPU)."""
    least, most = passes
    per_pass: list[dict[str, float]] = []
    lengths: list[float] = []
    while len(lengths) < least or (len(lengths) < most and sum(lengths) < BREAKDOWN_BUDGET_MS):
        lengths.append(runner.timer.time(lambda: per_pass.append(runner.timed_pass())))
    return mean_times(per_pass), statistics.fmean(lengths)


def run_group(job: GroupJob) -> dict[str, Any]:
    from fpnprof.backends import load

    first = job.specs[0]
    backend = load(first.backend)
    built = [_build(backend, spec) for spec in job.specs]
    live = [b for b in built if b.runner is not None]
    # The drift probe brackets the rounds with every model built: both probes see the process in one
    # state (Paddle Inference's threads, say, slow any other kernel in the process once they exist).
    kernels = backend.peak_kernels(device=first.device, dtype=first.config.dtype, threads=first.effective_threads, best=False)
    before = measure_peaks(kernels, PROBE_RUNS, fastest=False) if job.probe else None
    rounds = run_rounds([b.runner.step_ms for b in live], job.plan, [b.estimate_ms for b in live])
    after = measure_peaks(kernels, PROBE_RUNS, fastest=False) if job.probe else None
    del kernels
    for b, r in zip(live, rounds, strict=True):
        b.result["rounds"] = r
        if job.breakdown and b.runner.timed_pass is not None:
            b.result["node_ms"], b.result["instrumented_ms"] = timed_passes(b.runner)
    return {"candidates": [b.result for b in built], "probe": {"before": before, "after": after}}


def run_peak(data: dict[str, Any]) -> dict[str, Any]:
    from fpnprof.backends import load

    kernels = load(data["backend"]).peak_kernels(device=data["device"], dtype=data["dtype"], threads=data["threads"])
    return measure_peaks(kernels, PEAK_RUNS)


def main() -> None:
    data = json.loads(sys.stdin.read())
    try:
        result = run_peak(data) if data.get("kind") == "peak" else run_group(GroupJob.from_json(data))
    except FpnprofError as exc:
        result = {"error": str(exc)}
    sys.stdout.write("\n" + json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
