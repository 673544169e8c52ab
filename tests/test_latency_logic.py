"""Latency statistics and scheduling without timing anything real: CIs, paired rounds under drift,
per-node aggregation, peaks, grouping, and the GPU check's phase logic."""

from __future__ import annotations

import importlib.util
import math
import random
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fake_rows import fake_row
from test_bench_logic import FakeClock

from fpnprof.bench.breakdown import Peaks, aggregate, mean_times, node_work
from fpnprof.bench.paired import MAX_PER_ROUND, MIN_ROUNDS, RoundPlan, run_rounds, runs_per_round
from fpnprof.bench.peaks import PeakKernels, drift, measure_peaks
from fpnprof.bench.rows import BenchRow
from fpnprof.bench.runner import Group, plan_groups, process_shares
from fpnprof.bench.spec import BenchSpec, CpuNodeTimer, EventNodeTimer, resolve_backend
from fpnprof.bench.stats import median_ci, ratio_ci, unpaired_ratio_ci, workers_disagree
from fpnprof.errors import ConfigError
from fpnprof.model.config import NeckConfig
from fpnprof.model.parts import part_graph

CFG = NeckConfig(neck="bifpn", variant="paper", channels=8, size=32, batch=1, levels=3, cells=1)


# Bootstrap CIs -------------------------------------------------------------------------------
def test_median_ci_matches_scipy_bootstrap() -> None:
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(7)
    samples = rng.lognormal(mean=3.0, sigma=0.2, size=200)
    ours = median_ci([[float(x)] for x in samples], resamples=20_000)
    ref = scipy_stats.bootstrap(
        (samples,), np.median, method="percentile", n_resamples=20_000, confidence_level=0.95, random_state=1
    ).confidence_interval
    median = float(np.median(samples))
    assert ours.low == pytest.approx(ref.low, rel=0.01)
    assert ours.high == pytest.approx(ref.high, rel=0.01)
    assert ours.contains(median)


def test_median_ci_of_identical_rounds_is_a_point() -> None:
    ci = median_ci([[5.0, 5.0]] * 10)
    assert (ci.low, ci.high) == (5.0, 5.0)


class DriftingMachine:
    """A fake machine whose speed drifts by +30% over the measurement, with 3% multiplicative noise."""

    def __init__(self, total_ms: float, seed: int = 0) -> None:
        self.now = 0.0
        self.total_ms = total_ms
        self.rng = random.Random(seed)

    def step(self, true_ms: float) -> float:
        slowdown = 1 + 0.3 * min(1.0, self.now / self.total_ms)
        ms = true_ms * slowdown * math.exp(self.rng.gauss(0, 0.03))
        self.now += ms
        return ms


def test_paired_ratio_ci_holds_the_true_ratio_under_drift_and_sequential_does_not() -> None:
    a_ms, b_ms, budget = 10.0, 15.0, 3000.0  # true ratio 1.5
    machine = DriftingMachine(total_ms=2 * budget * 1.15)
    paired = run_rounds([lambda: machine.step(a_ms), lambda: machine.step(b_ms)], RoundPlan(budget))
    a_rounds, b_rounds = paired
    assert len(a_rounds) == len(b_rounds) >= MIN_ROUNDS
    assert ratio_ci(b_rounds, a_rounds).contains(1.5)

    machine = DriftingMachine(total_ms=2 * budget * 1.15)  # the same drift, one candidate after the other
    (a_alone,) = run_rounds([lambda: machine.step(a_ms)], RoundPlan(budget))
    (b_alone,) = run_rounds([lambda: machine.step(b_ms)], RoundPlan(budget))
    sequential = unpaired_ratio_ci(b_alone, a_alone)
    assert not sequential.contains(1.5)
    assert sequential.low > 1.5  # b ran later, on the slower machine


def test_workers_disagree_only_beyond_ci_and_floor() -> None:
    steady = [[10.0 + 0.01 * (i % 3)] for i in range(30)]
    shifted = [[11.0 + 0.01 * (i % 3)] for i in range(30)]
    barely = [[10.1 + 0.01 * (i % 3)] for i in range(30)]
    assert workers_disagree([steady, shifted])
    assert not workers_disagree([steady, barely])  # 1% apart: under the floor, however tight the CIs
    assert not workers_disagree([steady, steady])


# Rounds -------------------------------------------------------------------------------------
def test_rounds_are_balanced_shuffled_and_reproducible() -> None:
    assert runs_per_round([1.0, 4.0, 100.0]) == [MAX_PER_ROUND, MAX_PER_ROUND, 1]
    assert runs_per_round([10.0, 25.0]) == [2, 1]
    orders: list[list[int]] = []

    def make(i: int) -> Any:
        def step() -> float:
            if not orders or len(orders[-1]) == 3:
                orders.append([])
            orders[-1].append(i)
            return 1.0

        return step

    rounds = run_rounds([make(0), make(1), make(2)], RoundPlan(10.0, seed=3))
    assert len({len(r) for r in rounds}) == 1  # every candidate has the same number of rounds
    assert len({tuple(o) for o in orders}) > 1  # the order changes between rounds
    again: list[list[int]] = []
    orders, first = again, orders
    run_rounds([make(0), make(1), make(2)], RoundPlan(10.0, seed=3))
    assert again == first


def test_repeat_gives_exactly_that_many_runs_in_all() -> None:
    rounds = run_rounds([lambda: 1.0, lambda: 2.0], RoundPlan(0.0, repeat=7), [1.0, 50.0])
    assert [sum(len(r) for r in c) for c in rounds] == [7, 7]
    spec = BenchSpec(config=CFG, repeat=8, processes=3)
    assert sum(p.repeat or 0 for p in process_shares(spec)) == 8
    assert len(process_shares(BenchSpec(config=CFG, repeat=2, processes=3))) == 2
    plans = process_shares(BenchSpec(config=CFG, min_time=3.0, processes=3))
    assert [p.min_time_ms for p in plans] == [1000.0] * 3 and len({p.seed for p in plans}) == 3


def test_groups_share_a_process_by_key_and_shed_what_does_not_fit() -> None:
    from fpnprof.cost.analysis import profile

    small = BenchSpec(config=CFG)
    big = BenchSpec(config=NeckConfig(neck="bifpn", channels=64, size=64, batch=1))
    other_threads = BenchSpec(config=CFG, threads=1)
    specs = [small, big, other_threads]
    profiles = [profile(s.config) for s in specs]
    groups = plan_groups(specs, profiles, isolated=False, memory=10**12)
    assert [g.indices for g in groups] == [[0, 1], [2]]
    from fpnprof.cost.memory import estimated_bytes

    tight = estimated_bytes(profiles[0]) + estimated_bytes(profiles[1]) - 1
    shed = plan_groups(specs, profiles, isolated=False, memory=tight)
    assert Group([1], shed[1].why) in shed and shed[1].why and "too large" in shed[1].why
    assert [g.indices for g in plan_groups(specs, profiles, isolated=True, memory=10**12)] == [[0], [1], [2]]


# Per-node times -----------------------------------------------------------------------------
def test_breakdown_aggregates_a_fake_timed_pass() -> None:
    graph = part_graph(CFG, "neck")  # the neck alone: its inputs are graph inputs with shapes
    work = node_work(graph, 4)
    clock = FakeClock()
    timer = CpuNodeTimer(clock)
    costs = {w.id: 0.001 * (1 + i % 4) for i, w in enumerate(work)}  # seconds per node
    for w in work:  # what an executor does around each node
        timer.start(w.id)
        clock.now += costs[w.id]
        timer.stop(w.id)
    times = timer.collect()
    assert times == pytest.approx({k: v * 1e3 for k, v in costs.items()})
    node_sum = sum(times.values())
    forward = node_sum * 1.1
    peaks = Peaks(gflops=100.0, gbytes_per_s=10.0)  # ridge: 10 FLOP/B
    b = aggregate(work, times, forward, peaks=peaks)
    assert b.node_sum_ms == pytest.approx(node_sum)
    assert sum(r.ms for r in b.by_level) + b.overhead.ms == pytest.approx(forward)
    assert sum(r.ms for r in b.by_op) == pytest.approx(node_sum)
    assert [r.name for r in b.by_level] == ["P2", "P3", "P4"]
    assert sum(r.nodes for r in b.by_level) == len(work)
    for r in b.by_level + b.by_op:
        assert r.bound == ("compute" if r.intensity >= 10 else "memory")
        achieved = r.gflops_per_s / 100 if r.bound == "compute" else r.bytes / r.ms / 1e6 / 10
        assert r.peak_share == pytest.approx(achieved)
    assert b.coverage == pytest.approx(1 / 1.1)
    slow = aggregate(work, times, forward, instrumented_ms=2 * node_sum, peaks=peaks)  # timers cost time
    assert sum(r.ms for r in slow.by_level) + slow.overhead.ms == pytest.approx(2 * node_sum)
    assert slow.overhead.share == pytest.approx(0.5) and slow.forward_ms == forward


def test_node_work_bytes_are_inputs_output_and_weights() -> None:
    graph = part_graph(CFG, "neck")  # the neck alone: its inputs are graph inputs with shapes
    work = {w.id: w for w in node_work(graph, 4)}
    conv = next(n for n in graph if n.op.value == "conv" and n.attrs["kernel"] == 1 and n.attrs["in_channels"] == 64)
    n, c, h, w = next(x for x in graph if x.id == conv.inputs[0]).attrs["shape"]
    out_elems = n * conv.attrs["out_channels"] * h * w
    weights = conv.attrs["out_channels"] * c + conv.attrs["out_channels"]
    assert work[conv.id].bytes == 4 * (n * c * h * w + out_elems + weights)


def test_event_node_timer_records_around_each_node_and_syncs_once() -> None:
    log: list[str] = []

    class Event:
        count = 0

        def __init__(self) -> None:
            Event.count += 1
            self.t = 0.0
            self.name = f"e{Event.count}"

        def record(self) -> None:
            log.append(f"record {self.name}")
            self.t = float(Event.count)

        def elapsed_time(self, end: Event) -> float:
            return end.t - self.t

    timer = EventNodeTimer(Event, lambda: log.append("sync"))
    for node in ("a", "b"):
        timer.start(node)
        timer.stop(node)
    assert "sync" not in log
    times = timer.collect()
    assert log[-1] == "sync" and log.count("sync") == 1 and set(times) == {"a", "b"}
    assert mean_times([{"a": 1.0, "b": 1.0}, {"a": 4.0, "b": 1.0}, {"a": 1.0, "b": 4.0}]) == {"a": 2.0, "b": 2.0}


# Peaks --------------------------------------------------------------------------------------
def test_measure_peaks_and_drift() -> None:
    times = iter([9.0, 9.0, 2.0, 4.0, 3.0, 9.0, 9.0, 1.0, 1.0, 1.0])  # 2 warm-ups then 3 runs, each kernel
    kernels = PeakKernels(
        matmul=lambda: None, matmul_flops=6_000_000, copy=lambda: None, copy_bytes=2_000_000, time_ms=lambda fn: next(times)
    )
    measured = measure_peaks(kernels, runs=3, fastest=False)  # a probe: the median run
    assert measured["matmul_ms"] == 3.0 and measured["matmul_gflops"] == pytest.approx(2.0)
    assert measured["copy_gbytes_per_s"] == pytest.approx(2.0)
    times = iter([9.0, 9.0, 2.0, 4.0, 3.0, 9.0, 9.0, 1.0, 2.0, 1.5])
    peak = measure_peaks(kernels, runs=3)  # a peak: the fastest run
    assert (peak["matmul_ms"], peak["copy_ms"], peak["statistic"]) == (2.0, 1.0, "fastest")
    assert drift({"matmul_ms": 10.0}, {"matmul_ms": 11.0}) == pytest.approx(0.1)
    assert Peaks(100.0, 4.0).ridge == 25.0


def test_backend_auto_and_refusals() -> None:
    assert resolve_backend("torch", "cpu") == "torch"
    assert resolve_backend("auto", "cpu") == "paddle"  # the CPU paddle build is a dependency
    assert resolve_backend("auto", "gpu") in ("paddle", "torch")
    with pytest.raises(ConfigError):
        resolve_backend("jax", "cpu")
    with pytest.raises(ConfigError):
        resolve_backend("auto", "tpu")


# The GPU check's CPU-side logic -------------------------------------------------------------
def _gpu_check() -> Any:
    path = Path(__file__).parent.parent / "benchmarks" / "gpu_check.py"
    spec = importlib.util.spec_from_file_location("gpu_check", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module
    spec.loader.exec_module(module)
    return module


def test_gpu_check_phases_respect_the_budget_and_tabulate() -> None:
    gc = _gpu_check()
    clock = FakeClock()
    row = {
        "neck": "fpn",
        "variant": "paper",
        "part": "neck",
        "engine": "eager",
        "dtype": "tf32",
        "batch": 1,
        "size": 512,
        "median_ms": 0.5,
        "ci95_half_pct": 0.4,
        "ratio": 1.0,
        "ratio_ci95": [1.0, 1.0],
        "images_per_s": 2000.0,
        "peak_share": 0.12,
    }
    peak = {"device_name": "GPU", "dtype": "tf32", "matmul_gflops": 400_000.0, "copy_gbytes_per_s": 3000.0, "ridge": 133.3}
    calls: list[list[str]] = []

    def fake_run(args: list[str], timeout: float) -> tuple[int, str, str]:
        calls.append(args)
        clock.now += 50
        import json

        return 0, json.dumps({"peak": peak} if args[0] == "peak" else {"rows": [row]}), ""

    phases = gc.PHASES[:4]
    results = gc.run_phases(phases, budget_s=100, run=fake_run, clock=clock)
    assert [r["status"] for r in results[:2]] == ["ok", "ok"]
    assert all(r["status"].startswith("skipped") for r in results[2:])
    assert len(calls) == 2
    text = gc.markdown(results)
    assert "400,000" in text and "skipped" in text
    results = gc.run_phases(gc.PHASES[3:4], budget_s=500, run=fake_run, clock=clock)
    assert "| fpn | paper | neck | eager | tf32 | 1 x 512 | 0.500 | ±0.4% | 1.00 [1.00-1.00] | 2,000 | 12.0 |" in gc.markdown(
        results
    )


def test_warm_up_stops_early_for_slow_models_and_paddle_inference_runs_apart() -> None:
    from fpnprof.bench.worker import WARMUP_BUDGET_MS, warm_up
    from fpnprof.cost.analysis import profile

    slow = warm_up(lambda: WARMUP_BUDGET_MS * 0.6, 3)
    assert len(slow) == 2  # 0.6 + 0.6 of the budget: stop
    assert len(warm_up(lambda: 1.0, 3)) == 3 and len(warm_up(lambda: 1.0, 0)) == 1
    specs = [BenchSpec(config=CFG, engine=e) for e in ("eager", "inference", "static")]
    groups = plan_groups(specs, [profile(CFG)] * 3, isolated=False, memory=10**12)
    assert [g.indices for g in groups] == [[0, 2], [1]]
    torch_specs = [BenchSpec(config=CFG, backend="torch", engine=e) for e in ("eager", "compile")]
    assert len(plan_groups(torch_specs, [profile(CFG)] * 2, isolated=False, memory=10**12)) == 1


# Narrow terminals ---------------------------------------------------------------------------
def _fake_row(neck: str, median: float, ratio: float) -> BenchRow:
    return fake_row(neck, median, ratio=ratio, ratio_ci95=[ratio * 0.95, ratio * 1.05], ratio_paired=True)


@pytest.mark.parametrize("width", [80, 100, 160])
def test_bench_table_never_cuts_a_number(width: int) -> None:
    from fpnprof.bench.runner import provenance
    from fpnprof.report.bench_report import bench_report
    from fpnprof.report.table_format import render

    rows = [_fake_row("fpn", 94.563, 1.0), _fake_row("bifpn", 1318.436, 13.37)]
    text = render(bench_report(rows, provenance(rows)), width=width)
    assert "…" not in text
    for number in ("94.563", "1318.436", "13.37x [12.70-14.04]", "±3.0%"):
        assert number in text
    assert ("hidden at" in text) == (width < 160)
    assert all(len(line) <= width for line in text.splitlines())


def test_a_failed_row_is_reported_and_the_others_print() -> None:
    from fpnprof.bench.runner import Measured, make_row, provenance
    from fpnprof.cost.analysis import profile
    from fpnprof.report.bench_report import bench_report
    from fpnprof.report.table_format import render

    ok = _fake_row("fpn", 94.563, 1.0)
    failed = make_row(BenchSpec(config=CFG), Measured(error="the paddle cpu worker failed: killed"), profile(CFG), Group([1]))
    report = bench_report([ok, failed], provenance([ok, failed]))
    assert report.data["failed"] == 1
    text = render(report, width=160)
    assert "94.563" in text and "FAILED bifpn (paper) total eager b1 s32: the paddle cpu worker failed: killed" in text


def test_benchmark_scripts_never_overwrite_a_result(tmp_path: Path) -> None:
    gpu_check = _gpu_check()  # loading it puts benchmarks/ on the path
    from result_files import new_result_stem

    assert gpu_check.new_result_stem is new_result_stem
    first = new_result_stem("headline", "cpu", tmp_path)
    first.with_suffix(".json").write_text("{}")
    second = new_result_stem("headline", "cpu", tmp_path)
    second.with_suffix(".md").write_text("|")
    third = new_result_stem("headline", "cpu", tmp_path)
    assert len({first, second, third}) == 3 and not third.with_suffix(".json").exists()
    assert first.name.startswith("headline-cpu-")
