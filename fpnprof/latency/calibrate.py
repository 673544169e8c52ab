"""``fpnprof calibrate``: time this machine's kernels and whole necks, fit the latency model, bound it.

1. *Kernels*: every class's ops on shapes drawn from the ranges necks use
   (:mod:`fpnprof.latency.sampling`), timed many to a graph with per-node times: eager, by the
   executor's per-node timer; Paddle Inference, which runs a program of its own, by its profiler
   (:mod:`fpnprof.backends.paddle_profile`), its fusion rules first held to that program
   (:func:`check_fusion`) and each sample given the epilogue it may fuse. Rounds of more samples go
   to the classes whose fit is worst, while the time budget lasts.
2. *Necks*: random configurations of the shipped necks, each timed plain (the median of its runs,
   spread over interleaved rounds) and per node (in context: after the nodes before it, as in every
   real forward pass), in each of four fresh worker processes (a process carries its own bias: the
   band must hold across them).
3. *Fit*, *band* and *domain*: :mod:`fpnprof.latency.assemble` (framework-free).

Runs in this process, its thread settings put in the environment before the framework is imported.
"""

from __future__ import annotations

import os
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fpnprof.bench.allocator import DEFAULT_ALLOCATOR
from fpnprof.bench.contention import cpu_sample, load_between
from fpnprof.bench.kernels import NECK_RUNS, KernelSample, samples_graph, time_necks_apart, time_samples
from fpnprof.bench.launch import worker_env
from fpnprof.errors import ConfigError
from fpnprof.latency.assemble import COVERAGE, FOLDS, CalibrationData, Sample, fit_classes, fit_model, neck_kernels
from fpnprof.latency.fit import necks_needed
from fpnprof.latency.kernels import FUSION_RULES, fusion_mismatches, graph_kernels, kernel_ms
from fpnprof.latency.model import LatencyModel
from fpnprof.latency.sampling import draw_samples, drawn_classes
from fpnprof.model.config import NeckConfig
from fpnprof.model.parts import part_graph

#: What other modules and tests import from here: the timing's names, and the fit's that
#: ``calibrate`` runs.
__all__ = [
    "UNCALIBRATED",
    "CalibrationData",
    "CalibrationPlan",
    "Sample",
    "calibrate",
    "check_fusion",
    "fit_model",
    "framework",
    "in_context_samples",
    "measure",
    "time_kernel_samples",
]

#: Per class in the first round; per class again for each class a later round revisits.
FIRST_SAMPLES = 16
MORE_SAMPLES = 12
MAX_SAMPLES = 64
#: A class whose 90th-percentile error is above this gets more samples (while the budget lasts).
TARGET_P90 = 0.25
#: Samples timed in one graph.
BATCH = 32
#: Engines calibrate refuses, and why.
UNCALIBRATED = {
    "compile": "torch.compile compiles every graph it is given (seconds each on a CPU): the ~230 graphs and "
    "necks a calibration times would take far past its budget; calibrate eager, or Paddle Inference",
}
#: Fresh processes that each time every calibration neck: their spread goes into the band, and their
#: mean averages out a process's own bias (two Paddle processes ran the same necks 0.89x apart).
NECK_WORKERS = 4


#: What the CLI shows: the phase, steps done, steps in all.
OnPhase = Callable[[str, int, int], None]


def _quiet(phase: str, done: int, total: int) -> None:
    pass


@dataclass
class CalibrationPlan:
    backend: str
    device: str = "cpu"
    engine: str = "eager"
    dtype: str = "fp32"
    threads: int = 1
    necks: list[NeckConfig] = field(default_factory=list)
    passes: int = 7
    neck_runs: int = NECK_RUNS
    budget_s: float = 420.0
    coverage: float = COVERAGE
    seed: int = 0
    #: the neck files among the necks (name -> text), adopted in this process, given to the workers
    neck_texts: dict[str, str] = field(default_factory=dict)
    #: the allocator every timing process runs with (this one's kernels, the workers' necks)
    allocator: str = DEFAULT_ALLOCATOR


def framework(backend: str, threads: int, allocator: str = DEFAULT_ALLOCATOR) -> Any:
    """The backend, its threads set in the environment first (effective only before the framework's
    first import in this process), and the allocator set up as in the timing workers."""
    from fpnprof.backends import load
    from fpnprof.bench.allocator import apply_allocator

    apply_allocator(allocator)
    os.environ.update(worker_env(threads))
    return load(backend)


def spec_of(plan: CalibrationPlan) -> dict[str, Any]:
    return {
        "device": plan.device,
        "engine": plan.engine,
        "dtype": plan.dtype,
        "threads": plan.threads,
        "allocator": plan.allocator,
    }


def time_kernel_samples(backend: Any, samples: Sequence[KernelSample], plan: CalibrationPlan, progress: OnPhase) -> list[Sample]:
    """The samples in shuffled batches (each graph mixes classes), as :class:`Sample` rows (each
    sample one kernel of the engine, with the epilogue it fuses: :func:`draw_samples`); a kernel the
    engine ran no op for (no time) is left out, as in a neck."""
    order = list(range(len(samples)))
    random.Random(plan.seed + len(samples)).shuffle(order)
    out = []
    for start in range(0, len(order), BATCH):
        chunk = [samples[i] for i in order[start : start + BATCH]]
        node_ms = time_samples(backend, chunk, spec_of(plan), plan.passes)
        kernels = graph_kernels(samples_graph(chunk), plan.engine)
        timed = [(k, kernel_ms(k, node_ms)) for k in kernels]
        out += [Sample(k.cls, k.flops, k.bytes, ms, None, k.dims, k.groups) for k, ms in timed if ms > 0]
        progress("kernels", min(start + BATCH, len(order)), len(order))
    return out


def in_context_samples(cfg: NeckConfig, node_ms: dict[str, float], index: int, engine: str = "eager") -> list[Sample]:
    """Every kernel's in-context time in a neck as a sample of its class."""
    kernels = [(k, kernel_ms(k, node_ms)) for k in neck_kernels(cfg, engine)]
    return [Sample(k.cls, k.flops, k.bytes, ms, index, k.dims, k.groups) for k, ms in kernels if ms > 0]


def check_fusion(backend: Any, plan: CalibrationPlan) -> int:
    """Hold the engine's fusion rules to the program it runs, on the first calibration neck of every
    form: a disagreement is a ConfigError (such a model would price kernels the engine does not run).
    How many necks were checked; 0 where the engine keeps no program to read."""
    firsts = {(c.neck, c.variant): c for c in reversed(plan.necks)}
    for cfg in firsts.values():
        graph = part_graph(cfg, "neck")
        ops = backend.engine_ops(graph, engine=plan.engine, threads=plan.threads)
        if ops is None:
            return 0
        wrong = fusion_mismatches(graph, plan.engine, ops)
        if wrong:
            raise ConfigError(
                f"the {plan.engine} engine does not fuse {cfg.neck} ({cfg.variant}) as fpnprof's rules say "
                f"({'; '.join(wrong)}): its kernels cannot be priced"
            )
    return len(firsts)


def time_more(
    backend: Any, plan: CalibrationPlan, classes: Sequence[str], count: int, rng: random.Random, progress: OnPhase
) -> list[Sample]:
    """``count`` more samples of each class."""
    return time_kernel_samples(backend, [s for c in classes for s in draw_samples(c, count, rng, plan.engine)], plan, progress)


def worst_classes(isolated: Sequence[Sample], context: Sequence[Sample]) -> list[str]:
    """The classes whose fit's 90th-percentile error is above TARGET_P90 and that may take more
    (isolated samples up to MAX_SAMPLES)."""
    fits, taken = fit_classes([*isolated, *context]), Counter(s.cls for s in isolated)
    return [c for c in drawn_classes() if fits[c].p90_error > TARGET_P90 and taken[c] < MAX_SAMPLES]


def measure(plan: CalibrationPlan, progress: OnPhase = _quiet) -> CalibrationData:
    """Time the kernels and the calibration necks; more kernel samples for the worst-fitting classes
    while 80% of the budget lasts. An engine that fuses has its rules held to its program first."""
    if plan.engine in UNCALIBRATED:
        raise ConfigError(f"calibrate --engine {plan.engine}: {UNCALIBRATED[plan.engine]}")
    least = max(FOLDS * 2, necks_needed(plan.coverage))
    if len(plan.necks) < least:
        raise ConfigError(f"calibration needs at least {least} necks (to bound a {plan.coverage:.0%} interval over necks)")
    started = time.monotonic()
    before = cpu_sample()
    backend = framework(plan.backend, plan.threads, plan.allocator)
    rng = random.Random(plan.seed)
    fusion_checked = 0
    if plan.engine in FUSION_RULES:
        progress("fusion rules against the engine's program", 0, 1)
        fusion_checked = check_fusion(backend, plan)
    isolated = time_more(backend, plan, drawn_classes(), FIRST_SAMPLES, rng, progress)
    apart = time_necks_apart(
        plan.backend,
        plan.necks,
        spec_of(plan),
        runs=plan.neck_runs,
        passes=plan.passes,
        seed=plan.seed,
        workers=NECK_WORKERS,
        on_done=lambda done: progress("necks (fresh processes)", done, NECK_WORKERS),
        neck_texts=plan.neck_texts,
    )
    node_means = [
        {n: statistics.fmean(w[i].node_ms[n] for w in apart) for n in apart[0][i].node_ms} for i in range(len(plan.necks))
    ]
    context = [s for i, cfg in enumerate(plan.necks) for s in in_context_samples(cfg, node_means[i], i, plan.engine)]
    rounds = 1
    while time.monotonic() - started < plan.budget_s * 0.8:
        worst = worst_classes(isolated, context)
        if not worst:
            break
        isolated += time_more(backend, plan, worst, MORE_SAMPLES, rng, progress)
        rounds += 1
    times = [[t.median_ms for t in w] for w in apart]
    measured = [statistics.fmean(w[i] for w in times) for i in range(len(plan.necks))]
    seconds = time.monotonic() - started
    load = load_between(before, cpu_sample(), seconds)
    share = load.other_share if load is not None else None
    return CalibrationData(
        isolated,
        context,
        list(plan.necks),
        measured,
        rounds,
        seconds,
        times,
        share,
        plan.engine,
        fusion_checked,
        dict(plan.neck_texts),
    )


def calibrate(plan: CalibrationPlan, progress: OnPhase = _quiet) -> LatencyModel:
    from fpnprof.latency.model import machine_fingerprint

    data = measure(plan, progress)
    progress("fit", 1, 1)
    return fit_model(
        data, machine_fingerprint(plan.backend, plan.device, plan.engine, plan.threads, plan.allocator), plan.coverage, plan.seed
    )
