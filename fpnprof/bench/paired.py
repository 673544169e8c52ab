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
    [``min_rounds``, ``max_rounds``] (one round where a single round is longer than the budget)."""

    budget_ms: float = ROUND_BUDGET_MS
    rounds: int | None = None
    seed: int = 0
    min_rounds: int = MIN_ROUNDS
    max_rounds: int = MAX_ROUNDS


def runs_per_round(estimates_ms: Sequence[float], budget_ms: float = math.inf) -> list[int]:
    """Balance a round: each candidate runs about as long as the slowest (at most MAX_PER_ROUND runs),
    and no candidate's runs take more than its share of ``budget_ms`` (where forwards take seconds,
    one run each: the worker, not the run, is the unit that narrows an interval)."""
    slowest = max(estimates_ms, default=0.0)
    share = budget_ms / max(len(estimates_ms), 1)

    def runs(e: float) -> int:
        if e <= 0:
            return 1
        k = min(MAX_PER_ROUND, int(slowest / e))
        return max(1, min(k, int(share / e)) if math.isfinite(share) else k)

    return [runs(e) for e in estimates_ms]


def round_count(plan: RoundPlan, per_round: Sequence[int], estimates_ms: Sequence[float]) -> int:
    """Rounds this worker runs, decided before the first one: ``min_rounds`` at least, unless one
    round alone is longer than the budget (then one)."""
    if plan.rounds is not None:
        return plan.rounds
    round_ms = sum(k * e for k, e in zip(per_round, estimates_ms, strict=True))
    wanted = math.ceil(plan.budget_ms / round_ms) if round_ms > 0 else plan.max_rounds
    least = 1 if round_ms > plan.budget_ms else plan.min_rounds
    return max(least, min(plan.max_rounds, wanted))


def rounds_ms(plan: RoundPlan, estimates_ms: Sequence[float]) -> float:
    """How long a worker's rounds take in all by the warm-up's estimates (what the planner charges)."""
    per_round = [1] * len(estimates_ms) if plan.rounds is not None else runs_per_round(estimates_ms, plan.budget_ms)
    one = sum(k * e for k, e in zip(per_round, estimates_ms, strict=True))
    return one * round_count(plan, per_round, estimates_ms)


def run_rounds(
    steps: Sequence[Callable[[], float]],
    plan: RoundPlan,
    estimates_ms: Sequence[float] | None = None,
    after_runs: Callable[[int], None] | None = None,
    time_left_s: Callable[[], float] | None = None,
) -> list[list[list[float]]]:
    """Time every candidate in interleaved rounds, the order shuffled each round (seeded).

    ``steps[i]()`` runs candidate i once and returns its milliseconds; ``after_runs(i)`` runs right
    after candidate i's runs in each round (the breakdown's per-node pass, so it sees the candidate as
    warm as its own runs left it, not as the next candidate does). ``time_left_s()``: seconds left
    before the run's cap; a round that would not end before it is not started (none, if the first
    would not), and where a balanced round would not fit, each candidate runs once a round. Returns,
    per candidate, its rounds (each a list of milliseconds); round j of every candidate ran in the
    same stretch.
    """
    n = len(steps)
    if n == 0:
        return []
    rng = random.Random(plan.seed)
    estimates = list(estimates_ms or [0.0] * n)
    per_round = [1] * n if plan.rounds is not None else runs_per_round(estimates, plan.budget_ms)
    result: list[list[list[float]]] = [[] for _ in range(n)]
    expected_s = sum(k * e for k, e in zip(per_round, estimates, strict=True)) / 1e3
    if time_left_s is not None and time_left_s() < expected_s:  # short of time: one run each, unbalanced
        per_round, expected_s = [1] * n, sum(estimates) / 1e3
    for _ in range(round_count(plan, per_round, estimates)):
        if time_left_s is not None and time_left_s() < expected_s:
            break
        order = list(range(n))
        rng.shuffle(order)
        for i in order:
            result[i].append([steps[i]() for _ in range(per_round[i])])
            if after_runs is not None:
                after_runs(i)
        expected_s = max(expected_s, sum(sum(r[-1]) for r in result) / 1e3)
    return result


def round_medians(rounds: Sequence[Sequence[float]]) -> list[float]:
    return [statistics.median(r) for r in rounds if r]
