"""The regression gate on a simulated machine with a known answer (per-process bias, drift, heavy
tails, stalls: tests/sim_machine.py): 500 seeded `bench NEW --against OLD --fail-if-slower 5` runs per
case, through fpnprof's own workers, estimator and stopping rule. A neck 10% slower must be called
slower in at least 95% of runs, an identical one in at most 2.5%, one 3% slower in at most 5%. The
gate that reads the point estimate alone fails these bounds: shown here on the same runs."""

from __future__ import annotations

import math
import random
from dataclasses import replace
from functools import cache

import pytest
from sim_machine import SimMachine

from fpnprof.bench.gate import INCONCLUSIVE, NOT_SLOWER, SLOWER, exit_code, gate_rows, judge, judge_point, settle_seconds
from fpnprof.bench.runner import Measurement, run_bench
from fpnprof.bench.spec import BenchSpec
from fpnprof.model.config import NeckConfig
from fpnprof.model.neckfile import SHIPPED, adopt_neck_text

RUNS = 500
PCT = 5.0
#: true ratio -> (the most and the least share of runs that may be called slower): the issue's three,
#: and a neck 4.5% slower (under the limit, as the 3% one) where noise alone crosses the line
BOUNDS = {1.10: (1.0, 0.95), 1.00: (0.025, 0.0), 1.03: (0.05, 0.0), 1.045: (0.05, 0.0)}


@cache
def verdicts(true_ratio: float) -> tuple[list[str], list[str]]:
    """(interval gate, point gate) verdicts of RUNS seeded simulated runs."""
    text = (SHIPPED / "fpn-paper.toml").read_text()
    adopt_neck_text("gate-new.toml", text)
    adopt_neck_text("gate-old.toml", text)
    cfg = NeckConfig("gate-new.toml", variant="paper", channels=16, size=32, batch=1, levels=3, min_level=3)
    specs = [BenchSpec(config=cfg, part="neck"), BenchSpec(config=replace(cfg, neck="gate-old.toml"), part="neck")]
    interval, point = [], []
    for seed in range(RUNS):
        bias = random.Random(10_000 + seed).uniform(0.005, 0.03)  # as the calibration tests draw it
        sim = SimMachine({"gate-new.toml": 20.0 * true_ratio, "gate-old.toml": 20.0}, bias_sd=bias, seed=seed)
        run = run_bench(
            specs, Measurement(), baseline=("gate-old.toml", "paper"), launch=sim.launch, clock=sim.clock, peaks=False
        )
        (verdict,) = gate_rows(run.rows, PCT, spent_s=sim.clock.now)
        interval.append(verdict.verdict)
        point.append(judge_point(verdict.ratio, PCT))
    return interval, point


@pytest.mark.parametrize("true_ratio", sorted(BOUNDS))
def test_the_gate_holds_its_error_rates(true_ratio: float) -> None:
    most, least = BOUNDS[true_ratio]
    interval, _ = verdicts(true_ratio)
    share = interval.count(SLOWER) / RUNS
    assert least <= share <= most, f"true {true_ratio}: called slower in {share:.1%} of {RUNS} runs"
    if true_ratio == 1.00:  # an identical neck settles as not slower nearly always
        assert interval.count(NOT_SLOWER) / RUNS >= 0.9


def test_a_point_estimate_gate_fails_the_same_bounds() -> None:
    """On the same runs, the gate without the interval calls a neck under the limit 'slower' too often
    (on this machine model it meets the issue's three bounds, since bench runs until the interval is
    within 2.5%: it fails on the neck 4.5% slower, near the limit, where noise decides its verdict)."""
    failures = []
    for true_ratio, (most, least) in BOUNDS.items():
        _, point = verdicts(true_ratio)
        share = point.count(SLOWER) / RUNS
        if not least <= share <= most:
            failures.append((true_ratio, share))
    assert failures, "the point-estimate gate met every bound: the test would not tell the gates apart"


def test_verdicts_by_hand() -> None:
    assert judge(1.06, 1.09, 5) == SLOWER
    assert judge(0.98, 1.04, 5) == NOT_SLOWER
    assert judge(1.02, 1.07, 5) == INCONCLUSIVE
    assert judge(None, None, 5) == INCONCLUSIVE
    # half-width 2.5% (in logs), 2% from the limit: (0.025 / 0.02)^2 x the time spent
    assert settle_seconds(1.03, 1.03 / 1.025**1, 1.03 * 1.025, 5, 100.0) == pytest.approx(
        100 * (0.024693 / abs(0.029559 - 0.048790)) ** 2, rel=1e-3
    )


def test_exit_code_is_the_worst_verdict() -> None:
    from fpnprof.bench.gate import Verdict

    def v(verdict: str) -> Verdict:
        return Verdict("a", "b", verdict, 1.0, 0.9, 1.1, 5)

    assert exit_code([v(NOT_SLOWER), v(INCONCLUSIVE)]) == 3
    assert exit_code([v(INCONCLUSIVE), v(SLOWER)]) == 1
    assert exit_code([v(NOT_SLOWER)]) == 0


def test_an_unpaired_ratio_is_wider_than_either_interval() -> None:
    from fpnprof.bench.gate import unpaired_ratio

    ratio, low, high = unpaired_ratio(110.0, (107.8, 112.2), 100.0, (98.0, 102.0))
    assert ratio == pytest.approx(1.1)
    # each interval is about ±2% (in logs 0.0198 and 0.0200): together sqrt(2) times that
    assert math.log(high / low) / 2 == pytest.approx(math.hypot(math.log(112.2 / 107.8) / 2, math.log(102 / 98) / 2), rel=1e-6)
    assert math.log(high / low) / 2 > max(math.log(112.2 / 107.8), math.log(102 / 98)) / 2
