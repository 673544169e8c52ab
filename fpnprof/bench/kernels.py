"""Measurements the latency model (:mod:`fpnprof.latency`) is fitted and checked on: single ops on
chosen shapes, each timed by a pass with per-node times (the executor's timer, or the profiler of an
engine that runs a program of its own; in the calling process), and whole necks, each timed as
``bench`` times a forward pass and per node (in fresh worker processes).

A *kernel sample* is one op on given input shapes. Samples are timed many to a graph: each sample's
inputs are graph inputs of its own, so every node runs on tensors of exactly its sample's shapes, and
one instrumented pass times them all.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fpnprof.backends import Backend
from fpnprof.bench.timers import Runner, runner_for
from fpnprof.bench.warmup import warm_up
from fpnprof.model.builder import GraphBuilder
from fpnprof.model.config import NeckConfig
from fpnprof.model.graph import Graph, Op, Shape

#: Untimed instrumented passes of a kernel samples' graph before the timed ones (the first pass
#: allocates and picks kernels).
WARM_PASSES = 2


@dataclass(frozen=True)
class KernelSample:
    """One op on given input shapes (attrs as the graph builder would set them)."""

    op: Op
    inputs: tuple[Shape, ...]
    attrs: Mapping[str, Any] = field(default_factory=dict)
    #: ops applied after it, each to the one before (BatchNorm, ReLU, Swish): a chain a fusing engine
    #: runs as one kernel
    epilogue: tuple[Op, ...] = ()


_EPILOGUE = {Op.BATCHNORM: GraphBuilder.bn, Op.RELU: GraphBuilder.relu, Op.SWISH: GraphBuilder.swish}


def samples_graph(samples: Sequence[KernelSample]) -> Graph:
    """Sample ``i`` becomes node ``s<i>`` reading inputs ``s<i>.x<j>`` of its own shapes (its epilogue
    ops ``s<i>.e<k>`` after it)."""
    b = GraphBuilder()
    for i, s in enumerate(samples):
        xs = tuple(b.input(f"s{i}.x{j}", shape) for j, shape in enumerate(s.inputs))
        tail = b.add(s.op, xs, f"s{i}", **s.attrs)
        for k, op in enumerate(s.epilogue):
            tail = _EPILOGUE[op](b, tail, f"s{i}.e{k}")
    return b.graph


def _runner(backend: Backend, graph: Graph, spec: Mapping[str, Any]) -> Runner:
    return runner_for(
        backend.make_runner(graph, device=spec["device"], engine=spec["engine"], dtype=spec["dtype"], threads=spec["threads"])
    )


def time_samples(backend: Backend, samples: Sequence[KernelSample], spec: Mapping[str, Any], passes: int) -> dict[str, float]:
    """Every node's median milliseconds over ``passes`` passes with per-node times (the executor's
    timer, or the engine's profiler) of the samples' graph (:func:`samples_graph`)."""
    graph = samples_graph(samples)
    runner = _runner(backend, graph, spec)
    timed = runner.node_pass
    if timed is None:
        raise ValueError(f"engine {spec['engine']!r} gives no per-node times: its kernels cannot be timed one by one")
    for _ in range(WARM_PASSES):
        timed()
    runs = [timed() for _ in range(passes)]
    return {node: statistics.median(r[node] for r in runs) for node in runs[0]}


@dataclass(frozen=True)
class NeckTiming:
    """A forward pass: the median of its plain runs, and (an engine with per-node times) each node's
    median over the instrumented passes interleaved with them."""

    median_ms: float
    node_ms: dict[str, float]


#: Rounds a graph's runs are spread over (see :func:`time_graphs`).
NECK_ROUNDS = 5
#: Plain runs of a neck in a process, calibration's and validation's alike. A visit's first run
#: follows another neck and runs cold (small Paddle necks 4-15% slower than right after themselves), the
#: next ones warm: with 9 runs over 5 rounds calibration's medians sat on the cold side, validation's
#: (15 runs, 3 a visit) on the warm, and small held-out necks came out predicted slow.
NECK_RUNS = 15
#: A process spends about this long on a neck's plain runs at most (a slow neck gets fewer, its time
#: moves less from run to run), and as long on its instrumented passes; never under MIN_NECK_RUNS.
NECK_PROCESS_MS = 1500.0
MIN_NECK_RUNS = 5
MIN_NECK_PASSES = 2


def _warm(runner: Runner) -> float:
    """A neck warmed up as ``bench`` warms a row (:func:`fpnprof.bench.warmup.warm_up`); its last
    warm-up run's milliseconds."""
    return warm_up(runner.step_ms)[-1]


def runs_for(warm_ms: float, runs: int, passes: int) -> tuple[int, int]:
    """A neck's plain runs and instrumented passes in one process: ``runs`` and ``passes``, fewer
    where they would take over :data:`NECK_PROCESS_MS` each (not under MIN_NECK_RUNS, MIN_NECK_PASSES)."""
    fit = int(NECK_PROCESS_MS // max(warm_ms, 1e-6))
    return min(runs, max(MIN_NECK_RUNS, fit)), min(passes, max(MIN_NECK_PASSES, fit))


def _visit(runner: Runner, runs: int, passes: int, plain: list[float], node_runs: list[dict[str, float]]) -> None:
    """``runs`` plain forwards with ``passes`` instrumented ones spread among them, appended."""
    timed = runner.node_pass if passes else None
    for i in range(max(runs, passes)):
        if i < runs:
            plain.append(runner.step_ms())
        if timed is not None and i < passes:
            node_runs.append(timed())


def _timing(plain: list[float], node_runs: list[dict[str, float]]) -> NeckTiming:
    nodes = {n: statistics.median(r[n] for r in node_runs) for n in node_runs[0]} if node_runs else {}
    return NeckTiming(statistics.median(plain), nodes)


def _share(total: int, rounds: int, r: int) -> int:
    """Round ``r``'s share of ``total`` runs spread over ``rounds`` (the first rounds take the rest)."""
    return total // rounds + (r < total % rounds)


def time_graphs(
    backend: Backend,
    graphs: Sequence[Graph],
    spec: Mapping[str, Any],
    *,
    runs: int,
    passes: int,
    seed: int,
    rounds: int = NECK_ROUNDS,
    on_done: Callable[[int], None] | None = None,
) -> list[NeckTiming]:
    """Each graph built and warmed up (in an order shuffled by ``seed``: build order is no bias),
    then timed in ``rounds`` rounds, each visiting every graph once in an order of its own for its
    share of the ``runs`` plain and ``passes`` instrumented forwards (fewer for a slow neck:
    :func:`runs_for`; no passes where the engine gives no per-node times): a graph's runs are
    spread over the whole process, so a burst of load from elsewhere (seconds long on a shared
    machine) touches a few of them, not all. Returned in the given order; ``on_done`` after each
    round."""
    rng = random.Random(seed)
    order = list(range(len(graphs)))
    rng.shuffle(order)
    runners: dict[int, Runner] = {}
    counts: dict[int, tuple[int, int]] = {}
    for i in order:
        runners[i] = _runner(backend, graphs[i], spec)
        counts[i] = runs_for(_warm(runners[i]), runs, passes)
    rounds = max(1, min(rounds, runs))
    plain: dict[int, list[float]] = {i: [] for i in order}
    node_runs: dict[int, list[dict[str, float]]] = {i: [] for i in order}
    for r in range(rounds):
        rng.shuffle(order)
        for i in order:
            n_runs, n_passes = counts[i]
            _visit(runners[i], _share(n_runs, rounds, r), _share(n_passes, rounds, r), plain[i], node_runs[i])
        if on_done is not None:
            on_done(r + 1)
    return [_timing(plain[i], node_runs[i]) for i in range(len(graphs))]


def necks_payload(
    backend: str,
    configs: Sequence[NeckConfig],
    spec: Mapping[str, Any],
    *,
    runs: int,
    passes: int,
    neck_texts: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The job a neck worker gets (``spec``: device, engine, dtype, threads, allocator)."""
    return {
        "kind": "necks",
        "backend": backend,
        "spec": dict(spec),
        "part": "neck",
        "configs": [c.as_dict() for c in configs],
        "runs": runs,
        "passes": passes,
        "neck_texts": dict(neck_texts or {}),
    }


def time_necks_apart(
    backend: str,
    configs: Sequence[NeckConfig],
    spec: Mapping[str, Any],
    *,
    runs: int,
    passes: int,
    seed: int,
    workers: int,
    on_done: Callable[[int], None] | None = None,
    neck_texts: Mapping[str, str] | None = None,
) -> list[list[NeckTiming]]:
    """Every neck timed in each of ``workers`` fresh processes in turn (a process carries its own bias,
    which so shows in the spread), each visiting the necks in its own shuffled order. Per worker, per neck.
    An engine that exports (Paddle Inference) exports each neck once: the workers share the exports.
    ``neck_texts``: the neck files among the configurations (name -> text), given to the workers."""
    import tempfile

    from fpnprof.bench.launch import call_worker, worker_env

    payload = necks_payload(backend, configs, spec, runs=runs, passes=passes, neck_texts=neck_texts)
    out = []
    with tempfile.TemporaryDirectory(prefix="fpnprof-exports-") as exports:
        for w in range(workers):
            reply = call_worker({**payload, "seed": seed + w}, worker_env(int(spec["threads"]), exports), f"{backend} necks")
            out.append([NeckTiming(n["median_ms"], n["node_ms"]) for n in reply["necks"]])
            if on_done is not None:
                on_done(w + 1)
    return out
