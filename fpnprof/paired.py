"""Paired measurement, framework-free: candidates timed side by side in shuffled, interleaved rounds.

Machine drift (a shared VM slowing down for a minute) moves every candidate of a round alike, so
ratios between candidates of the same rounds stay put while absolute times move. One worker
process builds every candidate of a group and calls :func:`run_rounds`; several workers' rounds
are pooled by the runner.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

#: At least this many rounds per worker, whatever --min-time says.
MIN_ROUNDS = 5
#: A candidate runs several times per round only while that keeps its share of a round short.
ROUND_TARGET_MS = 150.0
MAX_RUNS = 100_000


@dataclass(frozen=True)
class RoundPlan:
    """How long to go on: ``min_time_ms`` of timed runs per candidate (and ``MIN_ROUNDS`` rounds),
    or exactly ``repeat`` timed runs per candidate."""

    min_time_ms: float
    repeat: int | None = None
    runs_per_round: int = 3
    seed: int = 0


def runs_per_round(estimate_ms: float, most: int) -> int:
    """A few runs per round for fast candidates, one for slow ones."""
    if estimate_ms <= 0:
        return most
    return max(1, min(most, int(ROUND_TARGET_MS // estimate_ms)))


def _done(spent_ms: list[float], runs: list[int], rounds: int, plan: RoundPlan) -> bool:
    if plan.repeat is not None:
        return min(runs) >= plan.repeat
    if max(runs) >= MAX_RUNS:
        return True
    return rounds >= MIN_ROUNDS and min(spent_ms) >= plan.min_time_ms


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
    if plan.repeat is not None:  # one run per round: every candidate reaches the count in the same round
        per_round = [1] * n
    else:
        per_round = [runs_per_round(e, plan.runs_per_round) for e in (estimates_ms or [0.0] * n)]
    result: list[list[list[float]]] = [[] for _ in range(n)]
    spent = [0.0] * n
    runs = [0] * n
    rounds = 0
    while not _done(spent, runs, rounds, plan):
        order = list(range(n))
        rng.shuffle(order)
        for i in order:
            k = per_round[i]
            samples = [steps[i]() for _ in range(k)]
            result[i].append(samples)
            spent[i] += sum(samples)
            runs[i] += k
        rounds += 1
    return result
