"""Measure in this process: ``python -m fpnprof.bench.worker`` reads a job as JSON on stdin and writes
one JSON object on stdout.

A *group* job builds every candidate (bench spec) of the group, warms each up, then times them all
in shuffled, interleaved rounds (:func:`fpnprof.bench.paired.run_rounds`), framed by a drift probe
(the plain peak kernels) just before and after. For a breakdown, every eager candidate runs one
per-node pass right after its own runs in each round, so the node times see the same machine and
the same warm caches as those runs, and the fixed cost of a tiny op of each kind is measured last.
A *peak* job only measures the peaks. The parent sets thread counts and ``FLAGS_enable_pir_api`` in
the environment before this process imports a framework.
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fpnprof.backends import Backend
from fpnprof.bench.allocator import DEFAULT_ALLOCATOR, apply_allocator
from fpnprof.bench.overhead import op_overhead_ms, tiny_op_graph
from fpnprof.bench.paired import run_rounds
from fpnprof.bench.peaks import PEAK_RUNS, PROBE_RUNS, measure_peaks
from fpnprof.bench.protocol import CandidateReply, GroupJob, WarmReport, WorkerReply
from fpnprof.bench.rss import RssPeak
from fpnprof.bench.spec import BenchSpec
from fpnprof.bench.timers import Runner, runner_for
from fpnprof.bench.warmup import warm_up
from fpnprof.errors import FpnprofError
from fpnprof.model.neckfile import adopt_neck_text
from fpnprof.model.parts import part_graph


@dataclass
class _Built:
    runner: Runner | None = None
    estimate_ms: float = 0.0
    reply: CandidateReply = field(default_factory=CandidateReply)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text and isinstance(exc, FpnprofError) else f"{type(exc).__name__}: {text[0] if text else ''}".strip()


def _build(backend: Backend, spec: BenchSpec) -> _Built:
    """Build and warm up one candidate; a failure is kept as that candidate's error."""
    rss = RssPeak()
    try:
        with rss.sampling():  # build and warm up under the sampler; timed runs run without it
            runner = runner_for(
                backend.make_runner(
                    part_graph(spec.config, spec.part),
                    device=spec.device,
                    engine=spec.engine,
                    dtype=spec.config.dtype,
                    threads=spec.effective_threads,
                    seed=spec.seed,
                )
            )
            times = warm_up(runner.step_ms, spec.warmup)
    except Exception as exc:  # a framework error fails this row only, with its reason
        return _Built(reply=CandidateReply(error=_one_line(exc)))
    gpu_peak = runner.peak_memory()
    return _Built(
        runner,
        times[-1],
        CandidateReply(
            info=runner.info,
            peak_mem_bytes=gpu_peak if gpu_peak is not None else rss.growth(),
            peak_mem_kind="gpu max allocated" if gpu_peak is not None else "cpu rss growth",
        ),
    )


#: Analytic FLOPs by the graph they were priced on (kept with it): ``part_graph`` builds a part once
#: per process, so its pricing is done once too, and a graph built again is priced again.
_FLOPS: dict[int, tuple[object, float]] = {}


def _flops(spec: BenchSpec) -> float:
    from fpnprof.cost.analysis import profile_graph

    graph = part_graph(spec.config, spec.part)
    known = _FLOPS.get(id(graph))
    if known is None or known[0] is not graph:
        known = (graph, float(profile_graph(spec.config, graph).model_total.flops))
        _FLOPS[id(graph)] = known
    return known[1]


def predicted_setup_s(done: list[tuple[float, float]], flops: float) -> float:
    """A candidate's build and warm-up seconds, scaled by analytic FLOPs from the candidates built so
    far (``done``: their FLOPs and seconds), at the cheapest rate per FLOP among them: a small neck's
    fixed costs would price a large one far too high (and skip it for nothing); one priced too low
    is stopped at the cap by the parent. 0 before any is built."""
    return min((s * flops / f for f, s in done if f > 0), default=0.0)


def build_in_shuffled_order(
    build: Callable[[BenchSpec], _Built],
    job: GroupJob,
    time_left_s: Callable[[], float] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> list[_Built]:
    """Build (and warm up) the candidates in an order shuffled per worker (seeded): where a model
    lands in memory depends on what was built before it (identical BiFPNs ran 0.4% apart by build
    order in every process), so the order must vary from worker to worker for that effect to fall
    inside the interval rather than bias the ratio. A candidate whose build would not end before the
    run's cap (``time_left_s``) is skipped. Returned in the job's order."""
    order = list(range(len(job.specs)))
    random.Random(job.plan.seed).shuffle(order)
    built: dict[int, _Built] = {}
    done: list[tuple[float, float]] = []
    for i in order:
        spec = job.specs[i]
        flops = _flops(spec) if time_left_s is not None else 0.0
        if time_left_s is not None and time_left_s() < predicted_setup_s(done, flops):
            built[i] = _Built(reply=CandidateReply(skipped=True))
            continue
        begun = clock()
        built[i] = build(spec)
        built[i].reply.setup_s = clock() - begun
        built[i].reply.estimate_ms = built[i].estimate_ms
        done.append((flops, built[i].reply.setup_s))
    return [built[i] for i in range(len(job.specs))]


def warm_report(built: list[_Built], elapsed_s: float) -> WarmReport:
    return WarmReport([b.reply.setup_s for b in built], [b.estimate_ms for b in built], elapsed_s)


def breakdown_pass(runner: Runner, reply: CandidateReply) -> None:
    """One instrumented pass: every node's milliseconds, and the pass's own length."""
    timed = runner.timed_pass
    assert timed is not None
    reply.pass_ms.append(runner.timer.time(lambda: reply.node_passes.append(timed())))


def time_group(
    built: list[_Built],
    job: GroupJob,
    probe: Callable[[], dict[str, Any]] | None,
    time_left_s: Callable[[], float] | None = None,
    timed: list[int] | None = None,
) -> WorkerReply:
    """Rounds over the built candidates (``timed``: only these, by position), the probe before and
    after, breakdown passes between rounds; no round starts that would not end before the run's cap
    (``time_left_s``)."""
    live = [b for i, b in enumerate(built) if b.runner is not None and (timed is None or i in timed)]
    instrumented = any(job.breakdown and b.runner is not None and b.runner.timed_pass is not None for b in live)

    def after_runs(i: int) -> None:
        runner = live[i].runner
        if runner is not None and runner.timed_pass is not None:
            breakdown_pass(runner, live[i].reply)

    before = probe() if probe else None
    rounds = run_rounds(
        [b.runner.step_ms for b in live if b.runner is not None],
        job.plan,
        [b.estimate_ms for b in live],
        after_runs if instrumented else None,
        time_left_s,
    )
    after = probe() if probe else None
    for b, r in zip(live, rounds, strict=True):
        b.reply.rounds = r
    return WorkerReply([b.reply for b in built], before, after)


def run_group(job: GroupJob, started: float, launched_at: float | None = None) -> WorkerReply:
    """``started``: this process's start (monotonic); ``launched_at``: when the parent started it
    (wall clock), from which the job's ``time_left_s`` counts."""
    from fpnprof.backends import load

    for name, text in job.neck_texts.items():  # the necks the parent resolved, never re-read from disk
        adopt_neck_text(name, text)
    first = job.specs[0]
    backend = load(first.backend)
    deadline = None if job.time_left_s is None else (launched_at or time.time()) + job.time_left_s

    def left() -> float:
        assert deadline is not None
        return deadline - time.time()

    time_left_s = left if deadline is not None else None
    built = build_in_shuffled_order(lambda spec: _build(backend, spec), job, time_left_s)
    sys.stdout.write("\n" + json.dumps(warm_report(built, time.monotonic() - started).to_json()) + "\n")
    sys.stdout.flush()
    timed = json.loads(sys.stdin.readline() or "{}").get("time") if job.ask else None
    # The drift probe brackets the rounds with every model built: both probes see the process in one
    # state (Paddle Inference's threads, say, slow any other kernel in the process once they exist).
    kernels = backend.peak_kernels(device=first.device, dtype=first.config.dtype, threads=first.effective_threads, best=False)

    def probe() -> dict[str, Any]:
        return measure_peaks(kernels, PROBE_RUNS, fastest=False)

    reply = time_group(built, job, probe if job.probe else None, time_left_s, timed)
    if job.breakdown:
        ops = {node.op for spec in job.specs for node in part_graph(spec.config, spec.part)}
        tiny = tiny_op_graph(ops)
        runner = runner_for(
            backend.make_runner(
                tiny, device=first.device, engine="eager", dtype=first.config.dtype, threads=first.effective_threads
            )
        )
        if runner.timed_pass is not None:
            reply.op_overhead_ms = op_overhead_ms(tiny, runner.timed_pass)
    return reply


def run_peak(data: dict[str, Any]) -> dict[str, Any]:
    from fpnprof.backends import load

    kernels = load(data["backend"]).peak_kernels(device=data["device"], dtype=data["dtype"], threads=data["threads"])
    return measure_peaks(kernels, PEAK_RUNS)


def run_necks(data: dict[str, Any]) -> dict[str, Any]:
    """Time necks for the latency model (:func:`fpnprof.bench.kernels.time_graphs`)."""
    from fpnprof.backends import load
    from fpnprof.bench.kernels import time_graphs
    from fpnprof.model.config import NeckConfig

    for name, text in data.get("neck_texts", {}).items():  # neck files the parent drew, never read from disk
        adopt_neck_text(name, text)
    graphs = [part_graph(NeckConfig.from_dict(c), data["part"]) for c in data["configs"]]
    timings = time_graphs(
        load(data["backend"]), graphs, data["spec"], runs=data["runs"], passes=data["passes"], seed=data["seed"]
    )
    return {"necks": [{"median_ms": t.median_ms, "node_ms": t.node_ms} for t in timings]}


def timing_allocator(data: dict[str, Any]) -> str:
    """The allocator a job times with: its rows' (a group shares one), or the model's necks' spec's."""
    if data.get("kind") == "necks":
        return str(data["spec"].get("allocator", DEFAULT_ALLOCATOR))
    specs = data.get("specs") or [{}]
    return str(specs[0].get("allocator", DEFAULT_ALLOCATOR))


def main() -> None:
    started = time.monotonic()
    data = json.loads(sys.stdin.readline())
    kind = data.get("kind")
    apply_allocator(timing_allocator(data))
    try:
        result = (
            run_peak(data)
            if kind == "peak"
            else run_necks(data)
            if kind == "necks"
            else run_group(GroupJob.from_json(data), started, data.get("launched_at")).to_json()
        )
    except FpnprofError as exc:
        result = {"error": str(exc)}
    sys.stdout.write("\n" + json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
