"""The latency interval holds what it claims: calibrated on a simulated machine with a known true
ratio (per-process bias, slow drift, heavy-tailed noise, stalls), through fpnprof's own worker
rounds, estimator and stopping rule. Negative controls show that the same checks reject the
estimators this one replaced (rounds pooled across workers; the two sides of a ratio taken
independently)."""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import numpy as np
import pytest
import sim_machine
from sim_machine import SimMachine

import fpnprof.bench.worker
from fpnprof.bench.defaults import MIN_WORKERS
from fpnprof.bench.estimate import MIN_CI_WORKERS, from_worker_logs, paired_round_logs, round_logs, t_quantile
from fpnprof.bench.rows import BenchRow
from fpnprof.bench.runner import BenchRun, Measurement, run_bench
from fpnprof.bench.spec import BenchSpec
from fpnprof.model.config import NeckConfig

CFG = NeckConfig(neck="fpn", channels=8, size=32, batch=1, levels=3)
TRUE = {"base": 20.0, "cand": 30.0}
TRUE_RATIO = TRUE["cand"] / TRUE["base"]
SPECS = [BenchSpec(config=CFG, part="neck", label=label, warmup=2) for label in TRUE]
RUNS = 500


def ci(row: BenchRow, key: str = "ratio_ci95") -> list[float]:
    value = row[key]  # type: ignore[literal-required]
    assert value is not None, row.get("ci_reason")
    return list(value)


def half_pct(row: BenchRow) -> float:
    value = row["ratio_half_pct"]
    assert value is not None
    return value


def simulate(seed: int, measurement: Measurement, *, bias: tuple[float, float] = (0.005, 0.03), **machine: float) -> BenchRun:
    rng = random.Random(10_000 + seed)
    sim = SimMachine(TRUE, bias_sd=rng.uniform(*bias), seed=seed, **machine)  # type: ignore[arg-type]
    return run_bench(SPECS, measurement, launch=sim.launch, clock=sim.clock, peaks=False)


@cache
def default_runs() -> tuple[BenchRun, ...]:
    """500 seeded runs with the default measurement (precision 2.5%, 75 s cap, 4+ workers)."""
    return tuple(simulate(seed, Measurement()) for seed in range(RUNS))


def log_half(ci: Sequence[float]) -> float:
    return math.log(ci[1] / ci[0]) / 2


def calibration(estimates: Sequence[tuple[float, Sequence[float]]]) -> tuple[float, float, float]:
    """(coverage of the true ratio, median log half-width, ideal log half-width = 1.96 x the spread of
    the log-estimates around the truth)."""
    covered = statistics.fmean(lo <= TRUE_RATIO <= hi for _, (lo, hi) in estimates)
    spread = math.sqrt(statistics.fmean(math.log(value / TRUE_RATIO) ** 2 for value, _ in estimates))
    return covered, statistics.median(log_half(ci) for _, ci in estimates), 1.96 * spread


def calibrated(estimates: Sequence[tuple[float, Sequence[float]]]) -> bool:
    covered, half, ideal = calibration(estimates)
    return 0.90 <= covered <= 0.99 and half <= 2 * ideal


def fpnprof_estimates(runs: Sequence[BenchRun]) -> list[tuple[float, Sequence[float]]]:
    return [(run.rows[1]["ratio"], ci(run.rows[1])) for run in runs]


def test_ratio_interval_is_calibrated_on_a_simulated_machine() -> None:
    covered, half, ideal = calibration(fpnprof_estimates(default_runs()))
    assert 0.90 <= covered <= 0.99, f"coverage {covered:.1%}"
    assert half <= 2 * ideal, f"median half-width {half:.4f} vs ideal {ideal:.4f}"


# Negative controls: the same criteria reject the estimators fpnprof must not use ------------------
def _pooled_bootstrap(rows_a: list[list[list[float]]], rows_b: list[list[list[float]]], seed: int) -> tuple[float, list[float]]:
    """Rounds pooled across workers and resampled as if interchangeable (fpnprof before this change)."""
    a = [statistics.median(r) for w in rows_a for r in w]
    b = [statistics.median(r) for w in rows_b for r in w]
    picks = np.random.default_rng(seed).integers(0, len(a), size=(400, len(a)))  # enough to show it fails
    ratios = np.median(np.array(a)[picks], axis=1) / np.median(np.array(b)[picks], axis=1)
    low, high = np.percentile(ratios, [2.5, 97.5])
    return float(np.median(a) / np.median(b)), [float(low), float(high)]


def _sides_apart(rows_a: list[list[list[float]]], rows_b: list[list[list[float]]]) -> tuple[float, list[float]]:
    """Each side's worker log-medians taken on their own, their variances added: the pairing of
    rounds thrown away."""
    a = [statistics.median(round_logs(w)) for w in rows_a]
    b = [statistics.median(round_logs(w)) for w in rows_b]
    centre = statistics.fmean(a) - statistics.fmean(b)
    half = t_quantile(len(a) - 1) * math.sqrt(statistics.variance(a) / len(a) + statistics.variance(b) / len(b))
    return math.exp(centre), [math.exp(centre - half), math.exp(centre + half)]


def _alternative(estimator: Callable[..., tuple[float, list[float]]]) -> list[tuple[float, Sequence[float]]]:
    out: list[tuple[float, Sequence[float]]] = []
    for seed, run in enumerate(default_runs()):
        base, cand = run.rows
        args = (cand["rounds_ms"], base["rounds_ms"])
        out.append(estimator(*args, seed) if estimator is _pooled_bootstrap else estimator(*args))
    return out


def test_the_check_rejects_rounds_pooled_across_workers() -> None:
    covered, _, _ = calibration(_alternative(_pooled_bootstrap))
    assert covered < 0.90 and not calibrated(_alternative(_pooled_bootstrap))


def test_the_check_rejects_the_two_sides_taken_apart() -> None:
    covered, half, ideal = calibration(_alternative(_sides_apart))
    assert not calibrated(_alternative(_sides_apart)), (covered, half, ideal)


def test_build_order_effects_fall_inside_the_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    """A/A on a machine where the second model a process builds runs 1% slower: the build order is
    shuffled per worker, so the A/A interval still holds 1.00; built in listed order (a deliberate
    break), it would not."""
    aa = {"base": 20.0, "cand": 20.0}

    def coverage() -> float:
        rows = [
            run_bench(SPECS, Measurement(), launch=sim.launch, clock=sim.clock, peaks=False).rows[1]
            for sim in (SimMachine(aa, bias_sd=0.003, noise_sd=0.02, order_bias=0.01, seed=s) for s in range(120))
        ]
        return statistics.fmean(ci(r)[0] <= 1.0 <= ci(r)[1] for r in rows)

    assert 0.90 <= coverage() <= 0.995

    def in_order(build: Any, job: Any, *_: Any, **__: Any) -> list[Any]:
        return [build(s) for s in job.specs]

    monkeypatch.setattr(fpnprof.bench.worker, "build_in_shuffled_order", in_order)
    monkeypatch.setattr(sim_machine, "build_in_shuffled_order", in_order)
    assert coverage() < 0.5


# Paired against unpaired --------------------------------------------------------------------------
def test_without_process_bias_the_paired_interval_is_narrower_than_the_unpaired() -> None:
    fixed = Measurement(processes=6, repeat=6 * 15)
    paired = [simulate(s, fixed, bias=(0.0, 0.0)).rows[1] for s in range(60)]
    unpaired = [simulate(s, Measurement(processes=6, repeat=6 * 15, isolated=True), bias=(0.0, 0.0)).rows[1] for s in range(60)]
    assert all(r["ratio_paired"] for r in paired) and not any(r["ratio_paired"] for r in unpaired)
    paired_half = statistics.median(half_pct(r) for r in paired)
    unpaired_half = statistics.median(half_pct(r) for r in unpaired)
    assert paired_half < unpaired_half / 2, (paired_half, unpaired_half)
    covered = statistics.fmean(ci(r)[0] <= TRUE_RATIO <= ci(r)[1] for r in unpaired)
    assert covered >= 0.9  # unpaired is wider, and still honest


# Stopping on precision ------------------------------------------------------------------------
def _worker_logs(run: BenchRun, workers: int) -> list[float]:
    base, cand = run.rows
    return [
        statistics.median(paired_round_logs(a, b))
        for a, b in zip(cand["rounds_ms"][:workers], base["rounds_ms"][:workers], strict=True)
    ]


def test_a_run_stops_as_soon_as_every_ratio_meets_the_precision() -> None:
    resolved = [run for run in default_runs() if run.rows[1]["resolved"]]
    assert len(resolved) > RUNS * 0.8  # most runs get there within the cap
    for run in resolved:
        row = run.rows[1]
        assert half_pct(row) <= 2.5
        workers = row["workers"]
        assert workers >= MIN_WORKERS
        if workers > MIN_WORKERS:  # it went on only because one worker fewer was not precise enough
            fewer = from_worker_logs([[x] for x in _worker_logs(run, workers - 1)]).half_width
            assert fewer is not None and fewer > 0.025
        assert run.seconds <= Measurement().max_time_s


def test_a_ratio_too_noisy_for_the_cap_comes_back_unresolved() -> None:
    run = simulate(1, Measurement(max_time_s=40), noise_sd=0.4, bias=(0.05, 0.05))
    row = run.rows[1]
    assert row["resolved"] is False and half_pct(row) > 2.5
    assert any("ratio unresolved" in f for f in row["flags"])
    assert run.seconds <= 40 + 1e-9
    assert row["workers"] >= MIN_CI_WORKERS


def test_repeat_below_the_minimum_gives_no_interval_and_says_why() -> None:
    cand = simulate(0, Measurement(processes=2, repeat=6)).rows[1]
    assert cand["workers"] == 2 and cand["ci95_ms"] is None and cand["ratio_ci95"] is None
    assert "needs at least 3" in (cand["ci_reason"] or "") and any("no interval" in f for f in cand["flags"])
    assert cand["resolved"] is False
    enough = simulate(0, Measurement(processes=3, repeat=3)).rows[1]
    assert enough["workers"] == 3 and enough["ratio_ci95"] is not None and enough["runs"] == 3


def test_the_minimum_design_is_still_calibrated() -> None:
    """Three workers of one run each (``--repeat 3 --processes 3``): wide, but honest."""
    rows = [simulate(s, Measurement(processes=3, repeat=3)).rows[1] for s in range(300)]
    covered = statistics.fmean(ci(r)[0] <= TRUE_RATIO <= ci(r)[1] for r in rows)
    assert 0.90 <= covered <= 0.995, covered


@pytest.mark.parametrize("isolated", [False, True])
def test_medians_are_two_stage_too(isolated: bool) -> None:
    rows = [simulate(s, Measurement(processes=6, repeat=60, isolated=isolated), drift=0.0).rows[0] for s in range(200)]
    covered = statistics.fmean(ci(r, "ci95_ms")[0] <= TRUE["base"] <= ci(r, "ci95_ms")[1] for r in rows)
    assert 0.90 <= covered <= 0.99, covered
