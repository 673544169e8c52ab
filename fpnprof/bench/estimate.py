"""Latency estimates where the noise lives: rounds within a worker process, then across processes.

A worker process carries its own bias (memory layout, thread placement: identical kernels ran
0.98x in one process and 1.13x in another), so the worker, not the timed run, is the independent
unit. Two stages:

1. **Within a worker.** A *round* runs every candidate of a group once (or a few times) in a
   shuffled order; a candidate's round value is the median of its runs in that round. The worker's
   estimate of a candidate's time is the median over its rounds of log(round value); of a ratio, the
   median over its rounds of the *paired* log-ratio log(candidate's round value) - log(baseline's),
   so drift that moves both sides within a round cancels. Every round weighs the same.
2. **Across workers.** The estimate is the mean of the workers' log-estimates and its 95% interval
   is a t-interval over the workers: the spread between processes is inside the interval. With
   fewer than :data:`MIN_CI_WORKERS` workers there is no interval, and the reason is given.

Rows timed in worker processes of their own (``--isolated``) give an unpaired ratio: the difference
of the two sides' mean log-estimates, with a Welch t-interval.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

#: One worker's rounds of one candidate: each round a list of milliseconds.
WorkerRounds = Sequence[Sequence[float]]
CONFIDENCE = 0.95
#: A 95% t-interval over fewer workers is too wide to say anything (and, with two, rests on one
#: degree of freedom): below this, no interval is given.
MIN_CI_WORKERS = 3


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its 95% interval (None, with ``reason``, when there is none).

    ``between_share`` is the share of the round-to-round variance that lies between worker
    processes (one-way random-effects ANOVA); None with a single worker or round.
    """

    value: float
    low: float | None
    high: float | None
    workers: int
    between_share: float | None = None
    reason: str | None = None

    @property
    def half_width(self) -> float | None:
        """Half the interval's width relative to the estimate (0.025 = ±2.5%); None without one."""
        if self.low is None or self.high is None:
            return None
        return (self.high - self.low) / 2 / self.value

    def contains(self, value: float) -> bool:
        return self.low is not None and self.high is not None and self.low <= value <= self.high

    def meets(self, precision: float) -> bool:
        """Whether the interval exists and is at most ``precision`` (relative half-width) wide."""
        half = self.half_width
        return half is not None and half <= precision


def round_logs(rounds: WorkerRounds) -> list[float]:
    """log of each round's median run (rounds with no run are skipped)."""
    return [math.log(statistics.median(r)) for r in rounds if r]


def paired_round_logs(rounds: WorkerRounds, base: WorkerRounds) -> list[float]:
    """Per round of one worker, log(candidate) - log(baseline): the paired unit of a ratio."""
    if len(rounds) != len(base):
        raise ValueError("a paired ratio needs the same rounds on both sides")
    return [math.log(statistics.median(a) / statistics.median(b)) for a, b in zip(rounds, base, strict=True) if a and b]


def t_quantile(df: int, confidence: float = CONFIDENCE) -> float:
    """Student's t quantile for a two-sided interval (scipy.special: a fraction of scipy.stats's import)."""
    from scipy.special import stdtrit

    return float(stdtrit(df, 0.5 + confidence / 2))


def _t_interval(values: Sequence[float], confidence: float) -> tuple[float, float | None]:
    """Mean of ``values`` and the half-width of its t-interval (None below MIN_CI_WORKERS values)."""
    mean = statistics.fmean(values)
    if len(values) < MIN_CI_WORKERS:
        return mean, None
    return mean, t_quantile(len(values) - 1, confidence) * statistics.stdev(values) / math.sqrt(len(values))


def between_share(groups: Sequence[Sequence[float]]) -> float | None:
    """Share of variance between groups (workers) in a one-way random-effects model:
    sigma_b^2 / (sigma_b^2 + sigma_w^2), with sigma_b^2 = max(0, (MSB - MSW) / n0)."""
    groups = [g for g in groups if g]
    sizes = [len(g) for g in groups]
    total = sum(sizes)
    if len(groups) < 2 or total <= len(groups):
        return None
    grand = statistics.fmean(v for g in groups for v in g)
    means = [statistics.fmean(g) for g in groups]
    msb = sum(n * (m - grand) ** 2 for n, m in zip(sizes, means, strict=True)) / (len(groups) - 1)
    msw = sum((v - m) ** 2 for g, m in zip(groups, means, strict=True) for v in g) / (total - len(groups))
    n0 = (total - sum(n * n for n in sizes) / total) / (len(groups) - 1)
    sigma_b = max(0.0, (msb - msw) / n0)
    whole = sigma_b + msw
    return sigma_b / whole if whole > 0 else 0.0


def _too_few(workers: int) -> str:
    return f"{workers} worker process{'es' if workers != 1 else ''}: a 95% interval needs at least {MIN_CI_WORKERS}"


def from_worker_logs(per_worker: Sequence[Sequence[float]], confidence: float = CONFIDENCE) -> Estimate:
    """The two-stage estimate from each worker's round log-values (log-times or paired log-ratios)."""
    per_worker = [w for w in per_worker if w]
    if not per_worker:
        raise ValueError("no rounds")
    centre, half = _t_interval([statistics.median(w) for w in per_worker], confidence)
    share = between_share(per_worker)
    if half is None:
        return Estimate(math.exp(centre), None, None, len(per_worker), share, _too_few(len(per_worker)))
    return Estimate(math.exp(centre), math.exp(centre - half), math.exp(centre + half), len(per_worker), share)


def median_estimate(per_worker: Sequence[WorkerRounds], confidence: float = CONFIDENCE) -> Estimate:
    """A candidate's typical time: the geometric mean over workers of each worker's median round."""
    return from_worker_logs([round_logs(w) for w in per_worker], confidence)


def paired_ratio(per_worker: Sequence[WorkerRounds], base: Sequence[WorkerRounds], confidence: float = CONFIDENCE) -> Estimate:
    """Candidate over baseline, timed side by side: worker i's rounds of both sides ran together."""
    if len(per_worker) != len(base):
        raise ValueError("a paired ratio needs both sides from the same workers")
    return from_worker_logs([paired_round_logs(a, b) for a, b in zip(per_worker, base, strict=True)], confidence)


def unpaired_ratio(per_worker: Sequence[WorkerRounds], base: Sequence[WorkerRounds], confidence: float = CONFIDENCE) -> Estimate:
    """Candidate over baseline timed in different workers: difference of the mean worker
    log-medians, with a Welch t-interval."""
    a = [statistics.median(round_logs(w)) for w in per_worker if w]
    b = [statistics.median(round_logs(w)) for w in base if w]
    if not a or not b:
        raise ValueError("no rounds")
    centre = statistics.fmean(a) - statistics.fmean(b)
    workers = min(len(a), len(b))
    if workers < MIN_CI_WORKERS:
        return Estimate(math.exp(centre), None, None, workers, None, _too_few(workers))
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return Estimate(math.exp(centre), math.exp(centre), math.exp(centre), workers)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = t_quantile(max(1, math.floor(df)), confidence) * se
    return Estimate(math.exp(centre), math.exp(centre - half), math.exp(centre + half), workers)
