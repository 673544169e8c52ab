"""Paired measurement inside one worker, framework-free: candidates timed side by side in shuffled,
interleaved rounds.

Machine drift (a shared VM slowing down for a minute) moves every candidate of a round alike, so
ratios between candidates of the same rounds stay put while absolute times move. The number of
rounds is fixed before the first one (from the warm-up's estimates), so fast stretches of time do
not contribute more rounds than slow ones, and every round weighs the same
(:mod:`fpnprof.bench.estimate`).
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

#: A fast candidate runs several times per round (up to this many) so that every candidate spends
#: about as long per round as the slowest one.
MAX_PER_ROUND = 10
#: Rounds per worker when they are counted from the round budget.
MIN_ROUNDS = 2
MAX_ROUNDS = 60
#: Milliseconds of rounds a worker aims at (the fixed cost of a worker, import and build, is a few
#: seconds: rounds beyond this add less precision per second than another worker does).
ROUND_BUDGET_MS = 2500.0


@dataclass(frozen=True)
class RoundPlan:
    """How many rounds a worker runs: exactly ``rounds`` with one run per candidate each (``--repeat``),
    or as many balanced rounds as fit in ``budget_ms`` by the warm-up's estimates, clamped to
    [``min_rounds``, ``max_rounds``]."""

    budget_ms: float = ROUND_BUDGET_MS
    rounds: int | None = None
    seed: int = 0
    min_rounds: int = MIN_ROUNDS
    max_rounds: int = MAX_ROUNDS


def runs_per_round(estimates_ms: Sequence[float]) -> list[int]:
    """Balance a round: each candidate runs about as long as the slowest (at most MAX_PER_ROUND runs)."""
    slowest = max(estimates_ms, default=0.0)
    return [max(1, min(MAX_PER_ROUND, int(slowest / e))) if e > 0 else 1 for e in estimates_ms]


def round_count(plan: RoundPlan, per_round: Sequence[int], estimates_ms: Sequence[float]) -> int:
    """Rounds this worker runs, decided before the first one."""
    if plan.rounds is not None:
        return plan.rounds
    round_ms = sum(k * e for k, e in zip(per_round, estimates_ms, strict=True))
    wanted = math.ceil(plan.budget_ms / round_ms) if round_ms > 0 else plan.max_rounds
    return max(plan.min_rounds, min(plan.max_rounds, wanted))


def run_rounds(
    steps: Sequence[Callable[[], float]],
    plan: RoundPlan,
    estimates_ms: Sequence[float] | None = None,
    after_runs: Callable[[int], None] | None = None,
) -> list[list[list[float]]]:
    """Time every candidate in interleaved rounds, the order shuffled each round (seeded).

    ``steps[i]()`` runs candidate i once and returns its milliseconds; ``after_runs(i)`` runs right
    after candidate i's runs in each round (the breakdown's per-node pass, so it sees the candidate as
    warm as its own runs left it, not as the next candidate does). Returns, per candidate, its rounds
    (each a list of milliseconds); round j of every candidate ran in the same stretch.
    """
    n = len(steps)
    if n == 0:
        return []
    rng = random.Random(plan.seed)
    estimates = list(estimates_ms or [0.0] * n)
    per_round = [1] * n if plan.rounds is not None else runs_per_round(estimates)
    result: list[list[list[float]]] = [[] for _ in range(n)]
    for _ in range(round_count(plan, per_round, estimates)):
        order = list(range(n))
        rng.shuffle(order)
        for i in order:
            result[i].append([steps[i]() for _ in range(per_round[i])])
            if after_runs is not None:
                after_runs(i)
    return result


def round_medians(rounds: Sequence[Sequence[float]]) -> list[float]:
    return [statistics.median(r) for r in rounds if r]
