"""Latency statistics and scheduling without timing anything real: the two-stage estimate, rounds,
the stopping rule, contention, flags, per-node aggregation, peaks, grouping, and the GPU check's
phase logic."""

from __future__ import annotations

import importlib.util
import math
import statistics
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fake_rows import fake_bench_run, fake_row
from test_bench_logic import FakeClock

from fpnprof.backends.primitives import DeviceClock, PeakKernels
from fpnprof.backends.registry import BACKENDS, resolve_backend
from fpnprof.bench.breakdown import Peaks, aggregate, mean_times, node_work
from fpnprof.bench.contention import CpuSample, cpu_sample, gpu_processes, load_between, read_proc_stat
from fpnprof.bench.estimate import (
    MIN_CI_WORKERS,
    between_share,
    median_estimate,
    paired_ratio,
    t_quantile,
    unpaired_ratio,
)
from fpnprof.bench.flags import reasons
from fpnprof.bench.groups import Group, plan_groups
from fpnprof.bench.paired import MAX_PER_ROUND, RoundPlan, round_count, run_rounds, runs_per_round
from fpnprof.bench.peaks import drift, measure_peaks
from fpnprof.bench.protocol import CandidateReply, WorkerReply
from fpnprof.bench.rows import BenchRow
from fpnprof.bench.runner import Measurement
from fpnprof.bench.schedule import StopRule, Target, run_schedule
from fpnprof.bench.spec import BenchSpec
from fpnprof.bench.timers import CpuNodeTimer, EventNodeTimer
from fpnprof.errors import ConfigError
from fpnprof.model.config import NeckConfig
from fpnprof.model.parts import part_graph

CFG = NeckConfig(neck="bifpn", variant="paper", channels=8, size=32, batch=1, levels=3, cells=1)


# The two-stage estimate -----------------------------------------------------------------------
def test_t_quantile_matches_scipy_stats() -> None:
    from scipy.stats import t

    for df in (1, 2, 3, 5, 10, 30, 200):
        assert t_quantile(df) == pytest.approx(float(t.ppf(0.975, df)), rel=1e-9)


def test_median_estimate_by_hand() -> None:
    workers = [[[10.0], [12.0], [11.0]], [[20.0, 22.0], [21.0]], [[15.0], [15.0], [16.0]]]
    e = median_estimate(workers)
    logs = [math.log(11.0), math.log(21.0), math.log(15.0)]  # each worker's median round
    mean, sd = statistics.fmean(logs), statistics.stdev(logs)
    half = t_quantile(2) * sd / math.sqrt(3)
    assert e.value == pytest.approx(math.exp(mean))
    assert (e.low, e.high) == pytest.approx((math.exp(mean - half), math.exp(mean + half)))
    assert e.workers == 3 and e.reason is None


def test_paired_ratio_pairs_rounds_inside_each_worker() -> None:
    # each worker has its own speed, and the machine drifts round to round: both cancel in the pairing
    base = [[[10.0 * s * d] for d in (1.0, 1.3, 0.8)] for s in (1.0, 1.5, 0.7, 1.2)]
    cand = [[[15.0 * s * d * k] for d, k in zip((1.0, 1.3, 0.8), (1.01, 0.99, 1.0), strict=True)] for s in (1.0, 1.5, 0.7, 1.2)]
    e = paired_ratio(cand, base)
    assert e.value == pytest.approx(1.5) and e.contains(1.5) and e.half_width is not None and e.half_width < 1e-9
    apart = unpaired_ratio(cand, base)  # the same numbers taken apart: the workers' speeds widen it
    assert apart.contains(1.5) and apart.half_width is not None and apart.half_width > 0.2


def test_too_few_workers_give_no_interval_and_say_why() -> None:
    e = median_estimate([[[1.0], [2.0]], [[1.5]]])
    assert e.low is None and e.half_width is None and not e.meets(0.5)
    assert e.reason == f"2 worker processes: a 95% interval needs at least {MIN_CI_WORKERS}"


def test_between_share_is_the_anova_estimate() -> None:
    rng = np.random.default_rng(3)
    groups = [list(rng.normal(mu, 1.0, 200)) for mu in rng.normal(0, 2.0, 40)]  # sigma_b^2 = 4, sigma_w^2 = 1
    assert between_share(groups) == pytest.approx(0.8, abs=0.06)
    assert between_share([list(rng.normal(0, 1, 50)) for _ in range(30)]) == pytest.approx(0.0, abs=0.03)
    assert between_share([[1.0, 2.0]]) is None


# Rounds -------------------------------------------------------------------------------------
def test_rounds_are_balanced_shuffled_fixed_in_number_and_reproducible() -> None:
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

    rounds = run_rounds([make(0), make(1), make(2)], RoundPlan(budget_ms=30.0, seed=3), [1.0, 1.0, 1.0])
    assert [len(r) for r in rounds] == [10, 10, 10]  # 30 ms of 3 ms rounds, decided before the first
    assert len({tuple(o) for o in orders}) > 1  # the order changes between rounds
    again: list[list[int]] = []
    orders, first = again, orders
    run_rounds([make(0), make(1), make(2)], RoundPlan(budget_ms=30.0, seed=3), [1.0, 1.0, 1.0])
    assert again == first


def test_round_count_is_clamped_and_fast_stretches_do_not_add_rounds() -> None:
    plan = RoundPlan(budget_ms=1000.0, min_rounds=3, max_rounds=20)
    assert round_count(plan, [1, 1], [400.0, 400.0]) == 3  # slow: at least min_rounds
    assert round_count(plan, [10, 1], [1.0, 10.0]) == 20  # fast: at most max_rounds
    assert round_count(plan, [1, 1], [50.0, 50.0]) == 10
    assert round_count(RoundPlan(rounds=4), [3, 1], [1.0, 3.0]) == 4
    times = iter([1.0, 1.0, 100.0, 100.0, 100.0, 100.0, 1.0, 1.0])  # the machine slows midway
    rounds = run_rounds([lambda: next(times)] * 2, RoundPlan(rounds=4), [1.0, 1.0])
    assert sum(len(r) for c in rounds for r in c) == 8  # exactly the rounds decided


def test_repeat_gives_exactly_that_many_runs_in_all() -> None:
    rounds = run_rounds([lambda: 1.0, lambda: 2.0], RoundPlan(rounds=7), [1.0, 50.0])
    assert [sum(len(r) for r in c) for c in rounds] == [7, 7]
    m = Measurement(processes=3, repeat=8)
    assert m.rule.fixed_workers == 3 and sum(m.plan(k, 0).rounds or 0 for k in range(3)) == 8
    assert Measurement(processes=3, repeat=2).rule.fixed_workers == 2
    plans = [Measurement(processes=3).plan(k, 5) for k in range(3)]
    assert all(p.rounds is None for p in plans) and [p.seed for p in plans] == [5, 6, 7]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"precision": 0.0}, "--precision"),
        ({"precision": 1.5}, "--precision"),
        ({"max_time_s": 0.0}, "--max-time"),
        ({"processes": 0}, "--processes"),
        ({"repeat": 0}, "--repeat"),
    ],
)
def test_measurement_refuses_nonsense(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Measurement(**kwargs)  # type: ignore[arg-type]


# The stopping rule ------------------------------------------------------------------------------
def _reply(ms: float) -> WorkerReply:
    return WorkerReply([CandidateReply(rounds=[[ms]])])


def test_schedule_gives_every_group_its_minimum_then_follows_the_widest_interval() -> None:
    clock = FakeClock()
    started: list[int] = []
    widths = {0: 0.099, 1: 0.01}  # group 0's interval is wide, group 1's narrow

    def launch(group: int, index: int) -> WorkerReply:
        started.append(group)
        clock.now += 1.0
        return _reply(1.0)

    def estimate_for(group: int) -> Any:
        from fpnprof.bench.estimate import Estimate

        def estimate(replies: Any) -> Estimate:
            n = len(replies[group])
            half = widths[group] * math.sqrt(4 / max(n, 1))
            return Estimate(1.0, 1 - half, 1 + half, n)

        return estimate

    rule = StopRule(precision=0.05, max_time_s=100.0, min_workers=2)
    targets = [Target("a", (0,), estimate_for(0)), Target("b", (1,), estimate_for(1))]
    replies = run_schedule(2, targets, launch, rule, clock=clock).replies
    assert started[:4] == [0, 1, 0, 1]  # the minimum first, groups interleaved
    assert set(started[4:]) == {0}  # then only the group behind the wide interval
    assert len(replies[0]) == 16 and len(replies[1]) == 2  # 0.099 * sqrt(4/16) < 0.05 <= 0.099 * sqrt(4/15)


def test_schedule_stops_at_the_cap_before_a_worker_that_would_overrun_it() -> None:
    clock = FakeClock()

    def launch(group: int, index: int) -> WorkerReply:
        clock.now += 10.0
        return _reply(1.0)

    never = Target("x", (0,), lambda replies: None if not replies[0] else median_estimate([[[1.0], [1.0 + len(replies[0])]]] * 3))
    from fpnprof.bench.estimate import Estimate

    wide = Target("y", (0,), lambda replies: Estimate(1.0, None, None, len(replies[0])))
    replies = run_schedule(1, [never, wide], launch, StopRule(max_time_s=35.0, min_workers=1), clock=clock).replies
    assert len(replies[0]) == 3 and clock.now == 30.0  # a fourth would end at 40 s
    fixed = run_schedule(1, [wide], launch, StopRule(max_time_s=5.0, fixed_workers=4), clock=clock).replies
    assert len(fixed[0]) == 4  # --repeat: exactly that many, whatever the cap


def test_a_failed_worker_ends_its_group() -> None:
    calls: list[int] = []

    def launch(group: int, index: int) -> WorkerReply:
        calls.append(group)
        return WorkerReply.failed("the paddle cpu worker was killed by SIGKILL", 1) if group == 1 else _reply(1.0)

    from fpnprof.bench.estimate import Estimate

    def wide_in(group: int) -> Target:
        return Target("a", (group,), lambda r: Estimate(1.0, None, None, len(r[group])))

    wide = [wide_in(0), wide_in(1)]
    replies = run_schedule(2, wide, launch, StopRule(min_workers=3, max_workers=5), clock=FakeClock()).replies
    assert calls.count(1) == 1 and len(replies[0]) == 5


# Contention -----------------------------------------------------------------------------------
def test_load_is_the_systems_busy_time_less_this_runs_own(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 0 50 1000 0 0 0 20 0 0\ncpu0 1 2 3\n")
    import os

    tick = os.sysconf("SC_CLK_TCK")
    assert read_proc_stat(str(stat)) == pytest.approx((150 / tick, 20 / tick))
    assert read_proc_stat(str(tmp_path / "missing")) is None
    before, after = CpuSample(10.0, 1.0, 3.0), CpuSample(20.0, 2.0, 8.0)  # 10 s busy, 5 s of them ours
    load = load_between(before, after, wall_s=5.0, cores=2)
    assert load is not None and load.other_cores == pytest.approx(1.0) and load.steal_cores == pytest.approx(0.2)
    assert load.other_share == pytest.approx(0.6) and load.busy
    quiet = load_between(before, CpuSample(15.1, 1.0, 8.0), wall_s=5.0, cores=2)
    assert quiet is not None and not quiet.busy
    assert load_between(None, after, 5.0) is None
    assert cpu_sample(lambda: None) is None
    assert gpu_processes(lambda cmd: None) is None and gpu_processes(lambda cmd: "123\n456\n") == [123, 456]


def test_a_busy_machine_is_named_and_its_rows_flagged() -> None:
    from fpnprof.report.bench_report import bench_report
    from fpnprof.report.table_format import render

    quiet = [0.01, 0.02, 0.01, 0.02]
    busy = [0.45, 0.55, 0.50, 0.48]
    base = fake_row("fpn", 10.0, other_load=0.015, other_load_workers=quiet)
    loaded = fake_row("bifpn", 30.0, other_load=0.5, other_load_workers=busy, ratio_paired=False)
    varied = fake_row("pafpn", 20.0, other_load=0.26, other_load_workers=[0.01, 0.5, 0.02, 0.5])
    rows = [base, loaded, varied]
    for row in rows:
        row["flags"] = reasons(row, base if row is not base else None, 0.025)
    assert base["flags"] == []
    assert "machine busy (others used 50% of the cores)" in loaded["flags"]
    assert "baseline measured under other load (2% vs 50% of the cores)" in loaded["flags"]
    assert "load varied between workers (1%-50% of the cores)" in varied["flags"]
    text = render(bench_report(fake_bench_run(rows)), width=120)
    assert "the machine was busy: other processes took" in text and "--threads 1" in text
    assert "! bifpn (paper) neck inference b2 s64: machine busy" in text.replace("\n", " ")


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
    assert sum(r.ms for r in b.by_level) + b.between.ms == pytest.approx(forward)
    assert sum(r.ms for r in b.by_op) == pytest.approx(node_sum)
    assert [r.name for r in b.by_level] == ["P2", "P3", "P4"]
    assert sum(r.nodes for r in b.by_level) == len(work)
    for r in b.by_level + b.by_op:
        assert r.bound == ("compute" if r.intensity >= 10 else "memory")
        achieved = r.gflops_per_s / 100 if r.bound == "compute" else r.bytes / r.ms / 1e6 / 10
        assert r.peak_share == pytest.approx(achieved)
    assert b.coverage == pytest.approx(1 / 1.1) and b.coverage_ok
    slow = aggregate(work, times, forward, instrumented_ms=2 * node_sum, peaks=peaks)  # timers cost time
    assert sum(r.ms for r in slow.by_level) + slow.between.ms == pytest.approx(2 * node_sum)
    assert slow.between.share == pytest.approx(0.5) and slow.forward_ms == forward
    # a fixed cost per op that dwarfs both roofs: every group is overhead-bound
    fixed = {w.op: 1.0 for w in work}
    tiny = aggregate(work, times, forward, peaks=peaks, overhead=fixed)
    assert {r.bound for r in tiny.by_level} == {"overhead"} and all(r.peak_share is None for r in tiny.by_level)
    assert [r.fixed_ms for r in tiny.by_level] == [float(r.nodes) for r in tiny.by_level]


def test_a_node_sum_outside_the_band_is_flagged_with_its_reason() -> None:
    """A fake clock: per-node passes that took twice the forward of the same rounds (a loaded machine)."""
    graph = part_graph(CFG, "neck")
    work = node_work(graph, 4)
    times = {w.id: 2.0 for w in work}
    forward = sum(times.values()) / 2.14
    b = aggregate(work, times, forward, instrumented_ms=sum(times.values()) * 1.01)
    assert b.coverage == pytest.approx(2.14) and not b.coverage_ok
    row = fake_row("bifpn", forward, breakdown=b.to_json())
    assert "nodes sum to 214% of the forward (expected 85%-115%)" in reasons(row, None, 0.025)
    ok = aggregate(work, times, sum(times.values()) * 1.03)
    flags = reasons(fake_row("bifpn", 1.0, breakdown=ok.to_json()), None, 0.025)
    assert ok.coverage_ok and not any("nodes sum" in r for r in flags)


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

        def synchronize(self) -> None: ...

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
    times = iter([9.0, 2.0, 4.0, 3.0, 9.0, 1.0, 1.0, 1.0])  # a warm-up then 3 runs, each kernel

    class Event:  # a device event pair whose elapsed time is the next of ``times``
        def record(self) -> None: ...
        def synchronize(self) -> None: ...
        def elapsed_time(self, end: object) -> float:
            return next(times)

    clock = DeviceClock(make_event=Event, synchronize=lambda: None)
    kernels = PeakKernels(matmul=lambda: None, matmul_flops=6_000_000, copy=lambda: None, copy_bytes=2_000_000, clock=clock)
    measured = measure_peaks(kernels, runs=3, fastest=False)  # a probe: the median run
    assert measured["matmul_ms"] == 3.0 and measured["matmul_gflops"] == pytest.approx(2.0)
    assert measured["copy_gbytes_per_s"] == pytest.approx(2.0)
    times = iter([9.0, 2.0, 4.0, 3.0, 9.0, 1.0, 2.0, 1.5])
    peak = measure_peaks(kernels, runs=3)  # a peak: the fastest run
    assert (peak["matmul_ms"], peak["copy_ms"], peak["statistic"]) == (2.0, 1.0, "fastest")
    assert drift({"matmul_ms": 10.0}, {"matmul_ms": 11.0}) == pytest.approx(0.1)
    assert Peaks(100.0, 4.0).ridge == 25.0


def test_backend_auto_and_refusals(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_backend("torch", "cpu") == "torch"
    assert resolve_backend("auto", "cpu") == "paddle"  # the CPU paddle build is a dependency

    def problem(text: str | None) -> Callable[[], str | None]:
        return lambda: text

    for paddle_gpu, torch_gpu, expected in ((None, None, "paddle"), ("CPU build", None, "torch")):
        monkeypatch.setitem(BACKENDS, "paddle", replace(BACKENDS["paddle"], gpu_problem=problem(paddle_gpu)))
        monkeypatch.setitem(BACKENDS, "torch", replace(BACKENDS["torch"], gpu_problem=problem(torch_gpu)))
        assert resolve_backend("auto", "gpu") == expected
    monkeypatch.setitem(BACKENDS, "torch", replace(BACKENDS["torch"], gpu_problem=problem("this is a CPU build of torch")))
    with pytest.raises(ConfigError, match="no installed framework can run on the gpu: CPU build, and this is a CPU build"):
        resolve_backend("auto", "gpu")
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
        "resolved": True,
        "images_per_s": 2000.0,
        "peak_share": 0.12,
        "flags": ["workers disagree (80% of the variance between processes)"],
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
    table = gc.markdown(results)
    assert "| fpn | paper | neck | eager | tf32 | 1 x 512 | 0.500 | ±0.4% ! | 1.00 [1.00-1.00] | 2,000 | 12.0 |" in table
    assert "workers disagree (80% of the variance between processes)" in table  # the flag and its reason
    checked = {
        "within_10pct": 0.92,
        "median_abs_error": 0.031,
        "p90_abs_error": 0.087,
        "interval_coverage": 1.0,
        "necks": [{}] * 50,
    }
    table = gc.markdown([{"phase": "latency model: validate", "status": "ok", "seconds": 90.0, "result": checked}])
    assert "| 50 | 92% | 3.1% | 8.7% | 100% |" in table


def test_warm_up_stops_early_for_slow_models_and_paddle_inference_runs_apart() -> None:
    from fpnprof.bench.warmup import WARMUP_BUDGET_MS, warm_up
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
    return fake_row(neck, median, ratio=ratio, ratio_ci95=[ratio * 0.95, ratio * 1.05], ratio_half_pct=5.0, ratio_paired=True)


@pytest.mark.parametrize("width", [80, 100, 160])
def test_bench_table_never_cuts_a_number(width: int) -> None:
    from fpnprof.report.bench_report import bench_report
    from fpnprof.report.table_format import render

    rows = [_fake_row("fpn", 94.563, 1.0), _fake_row("bifpn", 1318.436, 13.37)]
    text = render(bench_report(fake_bench_run(rows)), width=width)
    assert "…" not in text
    for number in ("94.563", "1318.436", "13.37x [12.70-14.04]", "±3.0%"):
        assert number in text
    assert ("hidden at" in text) == (width < 160)
    assert all(len(line) <= width for line in text.splitlines())


def test_an_unresolved_ratio_shows_its_estimate_marked_never_as_a_settled_number() -> None:
    from fpnprof.report.bench_report import bench_report, ratio_text
    from fpnprof.report.table_format import render

    row = fake_row("bifpn", 30.0, ratio=1.0243, ratio_ci95=[0.848, 1.051], ratio_half_pct=9.9, resolved=False)
    row["flags"] = reasons(row, _fake_row("fpn", 10.0, 1.0), 0.025)
    assert ratio_text(row) == "~1.02x ±9.9%"
    assert "ratio unresolved (~1.02x ±9.9%, target ±2.5%)" in row["flags"]
    text = render(bench_report(fake_bench_run([_fake_row("fpn", 10.0, 1.0), row])), width=160)
    assert "1.02x [" not in text and "~1.02x ±9.9%" in text
    data = bench_report(fake_bench_run([row])).data
    assert data["rows"][0]["resolved"] is False and data["run"]["unresolved"] == 1


def test_a_failed_row_is_reported_and_the_others_print() -> None:
    from fpnprof.bench.rows import Measured, make_row
    from fpnprof.cost.analysis import profile
    from fpnprof.report.bench_report import bench_report
    from fpnprof.report.table_format import render

    ok = _fake_row("fpn", 94.563, 1.0)
    dead = WorkerReply.failed("the paddle cpu worker failed: killed", 1)
    failed = make_row(BenchSpec(config=CFG), Measured([dead], 0), profile(CFG), Group([1]), 1)
    report = bench_report(fake_bench_run([ok, failed]))
    assert report.data["failed"] == 1
    text = render(report, width=160)
    assert "94.563" in text and "FAILED bifpn (paper) total eager b1 s32: the paddle cpu worker failed: killed" in text


def test_benchmark_scripts_never_overwrite_a_result(tmp_path: Path) -> None:
    gpu_check = _gpu_check()  # loading it puts benchmarks/ on the path
    from result_files import save_result

    assert gpu_check.save_result is save_result
    first = save_result("headline", "cpu", {"run": 1}, "| one |", tmp_path)
    second = save_result("headline", "cpu", {"run": 2}, None, tmp_path)
    third = save_result("headline", "cpu", {"run": 3}, "| three |", tmp_path)
    assert len({first, second, third}) == 3 and not second.with_suffix(".md").exists()
    assert first.with_suffix(".md").read_text() == "| one |" and '"run": 3' in third.with_suffix(".json").read_text()
    assert first.name.startswith("headline-cpu-")
