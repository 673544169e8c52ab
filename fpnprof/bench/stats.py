"""Confidence intervals for latency: percentile bootstrap over timing rounds.

A *round* is the unit that is resampled: the few runs of one candidate inside one interleaved round
of one worker process. Rounds of different candidates with the same index ran side by side, under
the same machine state, so resampling them *jointly* (the same indices for both) gives a paired
interval for a ratio: drift that moves both candidates cancels, noise that moves one does not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Bootstrap resamples; 2,000 puts the Monte-Carlo error of a 95% percentile bound well under 1%.
RESAMPLES = 2000
CONFIDENCE = 0.95
#: A row whose CI half-width exceeds this share of its median is marked noisy.
NOISY_HALF_WIDTH = 0.05

Rounds = Sequence[Sequence[float]]


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def overlaps(self, other: Interval) -> bool:
        return self.low <= other.high and other.low <= self.high

    def as_list(self) -> list[float]:
        return [self.low, self.high]


def _padded(rounds: Rounds) -> np.ndarray:
    """Rounds as a 2-D array padded with NaN (rounds may hold different numbers of runs)."""
    width = max(len(r) for r in rounds)
    out = np.full((len(rounds), width), np.nan)
    for i, r in enumerate(rounds):
        out[i, : len(r)] = r
    return out


def _resampled_medians(table: np.ndarray, picks: np.ndarray) -> np.ndarray:
    """Median of the pooled runs of each resample (``picks``: resamples x rounds indices)."""
    chosen = table[picks].reshape(picks.shape[0], -1)
    medians: np.ndarray = np.nanmedian(chosen, axis=1)
    return medians


def _percentiles(values: np.ndarray, confidence: float) -> Interval:
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return Interval(float(low), float(high))


def _picks(n_rounds: int, resamples: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n_rounds, size=(resamples, n_rounds))


def median_ci(rounds: Rounds, *, resamples: int = RESAMPLES, confidence: float = CONFIDENCE, seed: int = 0) -> Interval:
    """95% percentile-bootstrap CI of the median of all runs, resampling whole rounds."""
    if not rounds or not any(len(r) for r in rounds):
        raise ValueError("no samples")
    table = _padded(rounds)
    return _percentiles(_resampled_medians(table, _picks(len(rounds), resamples, seed)), confidence)


def ratio_ci(
    rounds: Rounds, base_rounds: Rounds, *, resamples: int = RESAMPLES, confidence: float = CONFIDENCE, seed: int = 0
) -> Interval:
    """Paired CI of median(rounds) / median(base_rounds): round i of each ran side by side, and
    both are resampled with the same round indices."""
    if len(rounds) != len(base_rounds) or not rounds:
        raise ValueError("a paired ratio needs the same, non-zero number of rounds on both sides")
    picks = _picks(len(rounds), resamples, seed)
    ratios = _resampled_medians(_padded(rounds), picks) / _resampled_medians(_padded(base_rounds), picks)
    return _percentiles(ratios, confidence)


def unpaired_ratio_ci(
    rounds: Rounds, base_rounds: Rounds, *, resamples: int = RESAMPLES, confidence: float = CONFIDENCE, seed: int = 0
) -> Interval:
    """CI of the same ratio when the two were not measured side by side: independent resampling."""
    a, b = _padded(rounds), _padded(base_rounds)
    ratios = _resampled_medians(a, _picks(len(rounds), resamples, seed)) / _resampled_medians(
        b, _picks(len(base_rounds), resamples, seed + 1)
    )
    return _percentiles(ratios, confidence)


def pooled_median(rounds: Rounds) -> float:
    return float(np.median([t for r in rounds for t in r]))


#: Worker medians closer than this (relative) never count as disagreeing, however tight their CIs
#: (on a GPU, CIs of 0.0% make any two processes "differ").
DISAGREE_FLOOR = 0.02


def workers_disagree(per_worker: Sequence[Rounds], seed: int = 0) -> bool:
    """True when two worker processes' median CIs do not overlap and their medians differ by more
    than DISAGREE_FLOOR (a process carried its own bias)."""
    workers = [w for w in per_worker if w]
    intervals = [median_ci(w, seed=seed) for w in workers]
    medians = [pooled_median(w) for w in workers]
    return any(
        not intervals[i].overlaps(intervals[j]) and abs(medians[i] / medians[j] - 1) > DISAGREE_FLOOR
        for i in range(len(workers))
        for j in range(i + 1, len(workers))
    )
