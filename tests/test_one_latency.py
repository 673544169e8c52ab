"""One latency per neck: ``bench`` and the latency model's timing (calibration, validation) time a
neck alike, with the same allocator and the same warm-up; a model made for one allocator is refused
for another; ``bench --allocator both`` measures what the allocator costs."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sim_machine import SimMachine
from test_latency_model import simulated

from fpnprof.backends.primitives import Executable
from fpnprof.bench.allocator import DEFAULT_ALLOCATOR
from fpnprof.bench.kernels import necks_payload, time_graphs
from fpnprof.bench.paired import RoundPlan
from fpnprof.bench.protocol import GroupJob
from fpnprof.bench.runner import Measurement, run_bench
from fpnprof.bench.spec import BenchSpec
from fpnprof.bench.worker import _build, timing_allocator
from fpnprof.errors import ConfigError
from fpnprof.latency.calibrate import CalibrationPlan, fit_model, spec_of
from fpnprof.latency.model import load_model, machine_fingerprint, save_model
from fpnprof.model.config import NeckConfig
from fpnprof.model.graph import Graph
from fpnprof.model.parts import part_graph
from fpnprof.report.bench_report import bench_report

CFG = NeckConfig("fpn", variant="paper", channels=16, size=32, batch=1, levels=3)


class CountingBackend:
    """A backend whose forward only counts how often it ran (1 ms each)."""

    def __init__(self) -> None:
        self.runs = 0

    def make_runner(self, graph: Graph, **_: Any) -> Executable:
        def forward() -> None:
            self.runs += 1

        return Executable(forward, info={"threads": 1, "device_name": "cpu", "framework": "none", "math_mode": {}})


def test_bench_and_the_latency_model_time_a_neck_with_one_allocator_and_one_warm_up() -> None:
    bench_job = GroupJob([BenchSpec(CFG, part="neck")], RoundPlan()).to_json()
    calibration = necks_payload("paddle", [CFG], spec_of(CalibrationPlan("paddle")), runs=3, passes=0)
    fingerprint = machine_fingerprint("paddle", "cpu", "eager", 1)
    validation = necks_payload(
        "paddle", [CFG], {k: fingerprint[k] for k in ("device", "engine", "threads", "allocator")}, runs=3, passes=0
    )
    assert timing_allocator(bench_job) == timing_allocator(calibration) == timing_allocator(validation) == DEFAULT_ALLOCATOR

    bench_side = CountingBackend()
    _build(bench_side, BenchSpec(CFG, part="neck"))  # type: ignore[arg-type]
    model_side = CountingBackend()
    time_graphs(model_side, [part_graph(CFG, "neck")], spec_of(CalibrationPlan("paddle")), runs=1, passes=0, seed=0)  # type: ignore[arg-type]
    assert bench_side.runs == model_side.runs - 1, "bench and the model warm a neck up differently"


def test_a_model_made_for_one_allocator_is_refused_for_another(tmp_path: Path) -> None:
    path = save_model(fit_model(simulated(), machine_fingerprint("torch", "cpu", "eager", 1, "steady")), tmp_path / "m.json")
    load_model(path, machine_fingerprint("torch", "cpu", "eager", 1, "steady"), force=False)
    with pytest.raises(ConfigError) as refused:
        load_model(path, machine_fingerprint("torch", "cpu", "eager", 1, "default"), force=False)
    message = str(refused.value)
    assert "allocator: steady (model) vs default (here)" in message and "\n" not in message


def test_allocator_both_gives_the_cost_of_the_default_and_says_when_it_is_over_ten_percent() -> None:
    """A simulated machine where glibc's default allocator makes every forward 1.3x slower."""
    cost = {"steady": 1.0, "default": 1.3}
    sim = SimMachine(lambda s: 20.0 * cost[s.allocator] * (2 if s.config.neck == "pafpn" else 1), overhead_s=2.0, seed=4)
    specs = [replace(BenchSpec(replace(CFG, neck=n), part="neck"), allocator=a) for n in ("fpn", "pafpn") for a in cost]
    run = run_bench(specs, Measurement(max_time_s=120), launch=sim.launch, clock=sim.clock, peaks=False)
    twins = [r for r in run.rows if r["allocator"] == "default"]
    assert len(twins) == 2
    for row in twins:
        low, high = row["allocator_ratio_ci95"] or (math.nan, math.nan)
        assert low <= 1.3 <= high and low > 1.1, row["allocator_ratio_ci95"]
    steady = [r for r in run.rows if r["allocator"] == "steady"]
    assert all("allocator_ratio" not in r for r in steady)
    # the neck ratios stay within one allocator: pafpn over fpn is 2.0 both ways
    for row in (r for r in run.rows if r["neck"] == "pafpn"):
        low, high = row.get("ratio_ci95") or (math.nan, math.nan)
        assert low <= 2.0 <= high, (row["allocator"], row.get("ratio_ci95"))
    notes = "\n".join(bench_report(run).notes)
    assert "allocator: each row with glibc's default allocator over the same row held steady" in notes
    assert "this machine's default allocator costs more than 10% here" in notes
