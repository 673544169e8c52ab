"""Fitting the latency model on what ``fpnprof calibrate`` measured (:mod:`fpnprof.latency.calibrate`
times it): steps 3 to 5 of calibration.

3. *Fit*: each class's line on its isolated and in-context samples; boosted trees on the in-context
   samples for what the lines miss (:mod:`fpnprof.latency.trees`; of lines on all samples or on
   in-context ones, the one whose cross-fitted necks come closer); the executor's terms on the
   necks as the model prices them held out (each neck's kernels priced by a fit without its fold).
   A class the necks hold too little of is priced from its isolated samples, scaled by what a neck
   does to the classes they hold (:func:`context_factor`: Paddle's eager kernels run about 0.6x
   their isolated time in a neck).
4. *Band*: the necks are split in folds; each fold is predicted by a model fitted without it, and
   the measured / predicted ratios (one per neck and process) give a split-conformal band over the
   necks, each bounded by its lowest and highest process (:func:`fpnprof.latency.fit.neck_band`).
5. *Domain*: the ranges each class's line was fitted on and those of the calibration necks
   (:mod:`fpnprof.latency.domain`), so a prediction past them is marked extrapolated.

Framework-free: it reads samples and times, never a timer.
"""

from __future__ import annotations

import functools
import math
import random
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

from fpnprof.latency.domain import domain_of
from fpnprof.latency.fit import LINE_WEIGHTS, ClassFit, ExecutorFit, fit_class, fit_executor, neck_band
from fpnprof.latency.kernels import FUSION_RULES, Kernel, graph_kernels, rows_of
from fpnprof.latency.model import LatencyModel
from fpnprof.latency.predict import kernel_times
from fpnprof.latency.trees import MIN_SAMPLES as MIN_TREE_SAMPLES
from fpnprof.latency.trees import Trees, features, fit_trees, sklearn_available
from fpnprof.model.config import NeckConfig
from fpnprof.model.parts import part_graph

FOLDS = 4
T = TypeVar("T")
#: The share of necks the prediction interval is to hold.
COVERAGE = 0.9
#: Engines whose per-node times come from their own profiler (they run a program of their own).
PROFILED = frozenset({"inference"})


@dataclass(frozen=True)
class Sample:
    """One timed kernel: its class, work and median milliseconds; ``neck`` is the calibration neck
    it ran in (None: an isolated sample)."""

    cls: str
    flops: int
    bytes: int
    ms: float
    neck: int | None = None
    #: the kernel's shapes (:attr:`fpnprof.latency.kernels.Kernel.dims`)
    dims: tuple[int, ...] = ()
    #: a conv's groups (1 for every other op)
    groups: int = 1

    @property
    def rows(self) -> int:
        return rows_of(self.dims)


@functools.lru_cache(maxsize=256)
def neck_kernels(cfg: NeckConfig, engine: str = "eager") -> tuple[Kernel, ...]:
    """The neck's kernels on the engine, worked out once per configuration: the cross-fit asks for
    every calibration neck's again in every fold."""
    return tuple(graph_kernels(part_graph(cfg, "neck"), engine))


def fit_classes(samples: Sequence[Sample], weights: str = "ms") -> dict[str, ClassFit]:
    by_class: dict[str, list[Sample]] = {}
    for s in samples:
        by_class.setdefault(s.cls, []).append(s)
    return {
        cls: fit_class([s.flops for s in rows], [s.bytes for s in rows], [s.rows for s in rows], [s.ms for s in rows], weights)
        for cls, rows in sorted(by_class.items())
        if len(rows) >= 3
    }


def fit_class_trees(classes: dict[str, ClassFit], context: Sequence[Sample], seed: int) -> dict[str, Trees]:
    """Per class with at least :data:`~fpnprof.latency.trees.MIN_SAMPLES` in-context samples, trees on
    log(time / the class's line) over the kernels' shapes."""
    by_class: dict[str, list[Sample]] = {}
    for s in context:
        if s.cls in classes and s.dims:
            by_class.setdefault(s.cls, []).append(s)
    out = {}
    for cls, rows in sorted(by_class.items()):
        if len(rows) >= MIN_TREE_SAMPLES:
            line = [max(classes[cls].ms(s.flops, s.bytes, s.rows), 1e-9) for s in rows]
            x = [features(s.dims, s.flops, s.bytes) for s in rows]
            out[cls] = fit_trees(x, [math.log(s.ms / t) for s, t in zip(rows, line, strict=True)], seed)
    return out


def neck_terms(
    classes: dict[str, ClassFit], trees: dict[str, Trees], cfg: NeckConfig, engine: str = "eager"
) -> tuple[int, float]:
    """A neck's kernel count and the sum of its kernels' isolated predictions."""
    kernels = neck_kernels(cfg, engine)
    return len(kernels), sum(kernel_times(classes, trees, kernels))


#: A class is fitted on its in-context samples alone (source "in-context") once it has this many.
MIN_IN_CONTEXT = 8


@dataclass
class CalibrationData:
    """What calibration measured: isolated kernel samples, in-context kernel samples, and each
    calibration neck's plain median (ms)."""

    isolated: list[Sample]
    context: list[Sample]
    necks: list[NeckConfig]
    measured: list[float]
    rounds: int = 1
    seconds: float = 0.0
    #: each neck worker's own medians (the band takes every process's ratio)
    apart: list[list[float]] = field(default_factory=list)
    #: cores other processes took meanwhile, as a share of the machine's (None: unknown)
    others_share: float | None = None
    engine: str = "eager"
    #: necks on which the fusion rules were held to the engine's own program (0: none)
    fusion_checked: int = 0
    #: the neck files among the necks: name -> text
    neck_texts: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Fitted:
    classes: dict[str, ClassFit]
    trees: dict[str, Trees]
    executor: ExecutorFit

    def neck_ms(self, cfg: NeckConfig, engine: str) -> float:
        return self.executor.total(*neck_terms(self.classes, self.trees, cfg, engine))


def _class_ratios(isolated: Sequence[Sample], context: Sequence[Sample]) -> dict[str, float]:
    """Per class with at least MIN_IN_CONTEXT in-context samples: their summed time over what its
    isolated samples' line gives them."""
    lines = fit_classes(isolated)
    by_class: dict[str, list[Sample]] = {}
    for s in context:
        by_class.setdefault(s.cls, []).append(s)
    return {
        cls: sum(s.ms for s in rows) / sum(lines[cls].ms(s.flops, s.bytes, s.rows) for s in rows)
        for cls, rows in sorted(by_class.items())
        if cls in lines and len(rows) >= MIN_IN_CONTEXT
    }


def context_factor(isolated: Sequence[Sample], context: Sequence[Sample]) -> float:
    """What running inside a neck does to a kernel timed alone: the median over classes of
    :func:`_class_ratios` (1.0 where no class has enough in-context samples). Paddle's eager kernels
    here: about 0.6, torch's 0.73 (RESULTS.md)."""
    ratios = _class_ratios(isolated, context)
    return statistics.median(ratios.values()) if ratios else 1.0


def context_factor_errors(isolated: Sequence[Sample], context: Sequence[Sample]) -> dict[str, float]:
    """How a class no neck has is priced, checked on those the necks have: each class's in-context
    total priced by its isolated line times the other classes' factor, as relative error."""
    ratios = _class_ratios(isolated, context)
    if len(ratios) < 2:
        return {}
    return {cls: statistics.median(r for c, r in ratios.items() if c != cls) / ratio - 1 for cls, ratio in ratios.items()}


def _folds(necks: int, seed: int) -> list[set[int]]:
    order = list(range(necks))
    random.Random(seed).shuffle(order)
    return [set(order[f::FOLDS]) for f in range(FOLDS)]


def fit_kernels(
    data: CalibrationData, keep: set[int], source: str = "all", trees: bool = False, seed: int = 0, weights: str = "ms"
) -> tuple[dict[str, ClassFit], dict[str, Trees]]:
    """Classes on the in-context samples of the necks in ``keep`` and the isolated samples (all of
    them, or with ``source="in-context"`` only those of classes with fewer than MIN_IN_CONTEXT
    in-context samples), with ``trees`` on those in-context samples. A class with fewer than
    MIN_IN_CONTEXT in-context samples (one no calibration neck has much of) has its isolated samples
    scaled by :func:`context_factor`, so it is priced as if in a neck. ``weights``: the lines'
    (:data:`~fpnprof.latency.fit.LINE_WEIGHTS`)."""
    kept = [s for s in data.context if s.neck in keep]
    classes = fit_classes(line_samples(data, keep, source), weights)
    return classes, fit_class_trees(classes, kept, seed) if trees else {}


def line_samples(data: CalibrationData, keep: set[int], source: str = "all") -> list[Sample]:
    """The samples :func:`fit_kernels` fits the classes' lines on: the isolated ones (scaled by
    :func:`context_factor` for a class the necks in ``keep`` hold little of), then those necks'."""
    kept = [s for s in data.context if s.neck in keep]
    counts = Counter(s.cls for s in kept)
    factor = context_factor(data.isolated, kept)
    isolated = [replace(s, ms=s.ms * factor) if counts[s.cls] < MIN_IN_CONTEXT else s for s in data.isolated]
    if source != "all":
        isolated = [s for s in isolated if counts[s.cls] < MIN_IN_CONTEXT]
    return [*isolated, *kept]


#: A neck's kernel count and the sum of its kernels' predicted times (:func:`neck_terms`).
Terms = tuple[int, float]


def cross_fitted_terms(
    data: CalibrationData, seed: int, source: str = "all", trees: bool = False, weights: str = "ms"
) -> list[Terms]:
    """Every calibration neck's :func:`neck_terms` from kernels fitted without its fold: what the
    model will see of a neck it was not fitted on."""
    terms: dict[int, Terms] = {}
    for held in _folds(len(data.necks), seed):
        classes, corrections = fit_kernels(data, set(range(len(data.necks))) - held, source, trees, seed, weights)
        terms.update({i: neck_terms(classes, corrections, data.necks[i], data.engine) for i in held})
    return [terms[i] for i in range(len(data.necks))]


def fit_executor_on(data: CalibrationData, terms: Sequence[Terms], keep: set[int]) -> ExecutorFit:
    """The executor's terms on the necks in ``keep``, their kernels priced by ``terms``."""
    rows = sorted(keep)
    return fit_executor([terms[i][0] for i in rows], [terms[i][1] for i in rows], [data.measured[i] for i in rows])


def cross_fitted_ratios(data: CalibrationData, terms: Sequence[Terms], seed: int) -> list[float]:
    """measured / predicted for every neck, its kernels priced without its fold (``terms``) and the
    executor fitted without it too: one per neck and process (each process's own times of the
    necks), or per neck if none were kept."""
    predicted: dict[int, float] = {}
    for held in _folds(len(data.necks), seed):
        executor = fit_executor_on(data, terms, set(range(len(data.necks))) - held)
        predicted.update({i: executor.total(*terms[i]) for i in held})
    return [times[i] / predicted[i] for times in (data.apart or [data.measured]) for i in range(len(data.necks))]


def fit_all(
    data: CalibrationData,
    source: str = "all",
    trees: bool = False,
    seed: int = 0,
    terms: Sequence[Terms] | None = None,
    weights: str = "ms",
) -> Fitted:
    """The model on every calibration neck: kernels as :func:`fit_kernels`; the executor on the
    necks' cross-fitted terms, each neck's kernels priced by a fit without its fold, as a new neck's
    will be (on in-sample terms the trees' closeness to their own necks set it)."""
    everything = set(range(len(data.necks)))
    classes, corrections = fit_kernels(data, everything, source, trees, seed, weights)
    oof = terms if terms is not None else cross_fitted_terms(data, seed, source, trees, weights)
    return Fitted(classes, corrections, fit_executor_on(data, oof, everything))


#: Which kernel samples a model may be fitted on (:func:`fit_all`); calibration keeps the one whose
#: cross-fitted necks come closest (Paddle's eager kernels run slower among many shapes than alone,
#: torch's do not).
SAMPLE_SOURCES = ("all", "in-context")
#: Cross-fitted errors this close are a tie, which the simplest option wins (all samples, lines on
#: milliseconds).
TIE = 1e-6


@dataclass(frozen=True)
class FitOption:
    """One way calibration may fit the lines: on which samples (:data:`SAMPLE_SOURCES`), weighted
    how (:data:`~fpnprof.latency.fit.LINE_WEIGHTS`)."""

    source: str
    weights: str

    @property
    def name(self) -> str:
        return f"{self.source} / {self.weights}"


def fit_options(in_context: bool) -> list[FitOption]:
    """What :func:`fit_model` tries, simplest first: every sample source with lines on milliseconds,
    then on relative error; with no neck timed in context (a model of isolated samples alone), all
    samples on milliseconds, the one option."""
    if not in_context:
        return [FitOption(SAMPLE_SOURCES[0], LINE_WEIGHTS[0])]
    return [FitOption(source, weights) for weights in LINE_WEIGHTS for source in SAMPLE_SOURCES]


def log_spread(ratios: Sequence[float]) -> float:
    """The root mean square log of measured / predicted ratios (a neck off by 20% weighs as four off
    by 10%: the misses that take necks outside ±10% count, where a median does not see them)."""
    return math.sqrt(statistics.fmean(math.log(r) ** 2 for r in ratios))


def _pick(options: Sequence[T], spread: dict[T, float]) -> T:
    """Of ``options`` (simplest first), the one whose cross-fitted ratios have the smallest
    :func:`log_spread`; the simplest of those within :data:`TIE` (a median error does not see the
    few necks far off, which are the ones outside ±10%)."""
    best = min(spread.values())
    return next(o for o in options if spread[o] <= best + TIE)


def fit_model(data: CalibrationData, fingerprint: dict[str, Any], coverage: float = COVERAGE, seed: int = 0) -> LatencyModel:
    """The model on what was measured, its band from cross-fitted necks; of :func:`fit_options`
    (with trees where there are in-context samples and scikit-learn), the one whose cross-fitted
    necks come closest (:func:`_pick`)."""

    options = fit_options(bool(data.context))
    # Trees whenever they can be fitted: lines alone won the cross-fit on torch's calibration necks
    # now and then (by 0.001 of log spread) and then priced fewer held-out necks within ±10% every
    # time (86%, 82%; a neck file of softmax fusions 35% slow), never more (RESULTS.md).
    trees = bool(data.context) and sklearn_available()
    terms = {o: cross_fitted_terms(data, seed, o.source, trees, o.weights) for o in options}
    tried = {o: cross_fitted_ratios(data, terms[o], seed) for o in options}
    median_error = {o: statistics.median(abs(r - 1) for r in rs) for o, rs in tried.items()}
    spread = {o: log_spread(rs) for o, rs in tried.items()}
    chosen = _pick(options, spread)
    source = chosen.source
    ratios = tried[chosen]
    label = " +trees" if trees else ""
    fitted = fit_all(data, source, trees, seed, terms[chosen], chosen.weights)
    errors = sorted(abs(r - 1) for r in ratios)
    everything = set(range(len(data.necks)))
    return LatencyModel(
        fingerprint=fingerprint,
        classes=fitted.classes,
        executor=fitted.executor,
        trees=fitted.trees,
        domain=domain_of(line_samples(data, everything, source), [neck_kernels(c, data.engine) for c in data.necks]),
        band=neck_band([ratios[i :: len(data.necks)] for i in range(len(data.necks))], coverage),
        coverage=coverage,
        created=datetime.now().isoformat(timespec="seconds"),
        calibration={
            "isolated_samples": len(data.isolated),
            "in_context_samples": len(data.context),
            "per_node_times": "the engine's profiler" if data.engine in PROFILED else "the executor's per-node timer",
            "fusion_rules": [r.name for r in FUSION_RULES.get(data.engine, ())],
            "fusion_rules_checked_on_necks": data.fusion_checked,
            "samples_used": source,
            "line_weights": chosen.weights,
            "trees": sorted(fitted.trees),
            "trees_tried": trees,
            "cross_fitted_median_error_by_fit": {o.name + label: e for o, e in median_error.items()},
            "cross_fitted_log_spread_by_fit": {o.name + label: e for o, e in spread.items()},
            "rounds": data.rounds,
            "necks": len(data.necks),
            "neck_processes": len(data.apart) or 1,
            "context_factor": context_factor(data.isolated, data.context),
            "context_factor_errors": context_factor_errors(data.isolated, data.context),
            "cross_fitted_median_error": statistics.median(errors),
            "cross_fitted_within_10pct": sum(e <= 0.10 for e in errors) / len(errors),
            "seconds": round(data.seconds, 1),
            "others_cpu_share": data.others_share,
            "seed": seed,
            "neck_configs": [c.as_dict() for c in data.necks],
            "neck_ms": data.measured,
            "neck_files": data.neck_texts,
        },
    )
