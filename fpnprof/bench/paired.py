"""Paired measurement, framework-free: candidates timed side by side in shuffled, interleaved rounds.

Machine drift (a shared VM slowing down for a minute) moves every candidate of a round alike, so
ratios between candidates of the same rounds stay put while absolute times move. One worker
process builds every candidate of a group and calls :func:`run_rounds`; several workers' rounds
are pooled by the runner.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

#: At least this many rounds in all (pooled over workers), and MIN_ROUNDS per worker.
MIN_TOTAL_ROUNDS = 12
MIN_ROUNDS = 3
#: A fast candidate runs several times per round (up to this many) so that every candidate spends
#: about as long per round as the slowest one.
MAX_PER_ROUND = 10
MIN_RUNS = 5
MAX_RUNS = 100_000


@dataclass(frozen=True)
class RoundPlan:
    """How long to go on: ``min_time_ms`` of timed runs per candidate on average (the whole loop
    lasts about candidates x min_time_ms), with at least ``MIN_ROUNDS`` rounds and ``MIN_RUNS``
    runs per candidate; or exactly ``repeat`` timed runs per candidate."""

    min_time_ms: float
    repeat: int | None = None
    seed: int = 0
    min_rounds: int = MIN_ROUNDS


def runs_per_round(estimates_ms: Sequence[float]) -> list[int]:
    """Balance a round: each candidate runs about as long as the slowest (at most MAX_PER_ROUND runs)."""
    slowest = max(estimates_ms, default=0.0)
    return [max(1, min(MAX_PER_ROUND, int(slowest / e))) if e > 0 else 1 for e in estimates_ms]


def _done(spent_ms: list[float], runs: list[int], rounds: int, plan: RoundPlan) -> bool:
    if plan.repeat is not None:
        return min(runs) >= plan.repeat
    if max(runs) >= MAX_RUNS:
        return True
    return rounds >= plan.min_rounds and min(runs) >= MIN_RUNS and sum(spent_ms) >= plan.min_time_ms * len(spent_ms)


def run_rounds(
    steps: Sequence[Callable[[], float]],
    plan: RoundPlan,
    estimates_ms: Sequence[float] | None = None,
) -> list[list[list[float]]]:
    """Time every candidate in interleaved rounds, the order shuffled each round (seeded).

    ``steps[i]()`` runs candidate i once and returns its milliseconds. Returns, per candidate, its
    rounds (each a list of milliseconds); every candidate has the same number of rounds, and round
    j of every candidate ran in the same stretch of time.
    """
    n = len(steps)
    if n == 0:
        return []
    rng = random.Random(plan.seed)
    estimates = list(estimates_ms or [0.0] * n)
    result: list[list[list[float]]] = [[] for _ in range(n)]
    spent = [0.0] * n
    runs = [0] * n
    rounds = 0
    while not _done(spent, runs, rounds, plan):
        # with --repeat, one run per round: every candidate reaches the count in the same round
        per_round = [1] * n if plan.repeat is not None else runs_per_round(estimates)
        order = list(range(n))
        rng.shuffle(order)
        for i in order:
            k = per_round[i]
            samples = [steps[i]() for _ in range(k)]
            result[i].append(samples)
            spent[i] += sum(samples)
            runs[i] += k
            if samples:  # the warm-up's guess gives way to this round's median
                estimates[i] = statistics.median(samples)
        rounds += 1
    return result
