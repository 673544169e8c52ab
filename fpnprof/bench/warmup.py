"""How a forward pass is warmed up before it is timed: one rule for ``bench``'s rows and for the
latency model's necks (calibration and validation), so that both time the same warm state."""

from __future__ import annotations

from collections.abc import Callable

#: Untimed runs before timing (at most; ``bench --warmup`` sets it for its rows).
WARMUP_RUNS = 3
#: Warm-up stops early once this much time is spent (after at least one run): a slow model is warm
#: after its first run or two.
WARMUP_BUDGET_MS = 500.0


def warm_up(step_ms: Callable[[], float], runs: int = WARMUP_RUNS) -> list[float]:
    """Up to ``runs`` untimed runs (at least one), stopping early once WARMUP_BUDGET_MS is spent;
    their milliseconds."""
    times = [step_ms()]
    while len(times) < runs and sum(times) < WARMUP_BUDGET_MS:
        times.append(step_ms())
    return times
