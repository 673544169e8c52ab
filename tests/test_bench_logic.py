"""Bench logic without timing anything real: descriptive statistics, timers, engine rules, sweeps, parts."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from fpnprof.bench.describe import summarize
from fpnprof.bench.spec import BenchSpec, check_spec, expand_sweep
from fpnprof.bench.timers import EventTimer
from fpnprof.cli.options import parse_choices, parse_int_list
from fpnprof.cost.analysis import node_rows, profile
from fpnprof.errors import ConfigError
from fpnprof.model.config import NeckConfig
from fpnprof.model.parts import part_graph

CFG = NeckConfig(neck="fpn", channels=8, size=32, batch=1, levels=3)


def test_summarize_matches_numpy() -> None:
    samples = [5.0, 1.0, 3.0, 2.0, 4.0, 10.0, 2.5]
    stats = summarize(samples)
    assert stats.median_ms == float(np.median(samples))
    assert stats.iqr_ms == pytest.approx(float(np.percentile(samples, 75) - np.percentile(samples, 25)))
    assert stats.p90_ms == pytest.approx(float(np.percentile(samples, 90)))
    assert (stats.min_ms, stats.runs) == (1.0, 7)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeEvent:
    log: ClassVar[list[str]] = []

    def __init__(self, t: float) -> None:
        self.t = t

    def record(self) -> None:
        FakeEvent.log.append("record")

    def synchronize(self) -> None:
        FakeEvent.log.append("event-sync")

    def elapsed_time(self, end: FakeEvent) -> float:
        return end.t - self.t


def test_event_timer_synchronises_before_and_after() -> None:
    FakeEvent.log = []
    times = iter([1.0, 4.5])
    timer = EventTimer(lambda: FakeEvent(next(times)), lambda: FakeEvent.log.append("device-sync"))
    elapsed = timer.time(lambda: FakeEvent.log.append("run"))
    assert elapsed == 3.5
    assert FakeEvent.log == ["device-sync", "record", "run", "record", "event-sync"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"engine": "cudagraph"}, "does not apply to paddle on cpu"),
        ({"engine": "inference", "backend": "torch"}, "does not apply to torch on cpu"),
        ({"engine": "compile"}, "does not apply to paddle"),
        ({"device": "tpu"}, "unknown device"),
        ({"part": "head"}, "unknown part"),
        ({"warmup": -1}, "--warmup"),
    ],
)
def test_engine_and_option_rules(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        check_spec(replace(BenchSpec(config=CFG), **changes))  # type: ignore[arg-type]


def test_dtype_rules() -> None:
    check_spec(BenchSpec(config=replace(CFG, dtype="bf16"), backend="torch"))
    check_spec(BenchSpec(config=replace(CFG, dtype="fp16"), backend="torch", device="gpu", engine="cudagraph"))
    with pytest.raises(ConfigError, match="measures fp32"):
        check_spec(BenchSpec(config=replace(CFG, dtype="bf16"), backend="paddle"))
    with pytest.raises(ConfigError, match="not fp16"):
        check_spec(BenchSpec(config=replace(CFG, dtype="fp16"), backend="torch"))
    with pytest.raises(ConfigError, match="needs --backbone resnet18"):
        check_spec(BenchSpec(config=replace(CFG, backbone="none"), part="backbone"))


def test_sweep_expansion() -> None:
    configs = [("fpn", CFG), ("bifpn", replace(CFG, neck="bifpn", levels=3))]
    specs = expand_sweep(configs, [1, 2, 8], [32, 64], ["neck", "total"], ["eager", "inference"], BenchSpec(config=CFG))
    assert len(specs) == 2 * 3 * 2 * 2 * 2
    first = specs[0]
    assert (first.config.neck, first.config.batch, first.config.size, first.part, first.engine) == ("fpn", 1, 32, "neck", "eager")
    assert specs[-1].config.neck == "bifpn" and specs[-1].config.batch == 8 and specs[-1].engine == "inference"
    assert [s.label for s in specs[:2]] == ["fpn", "fpn"] and specs[-1].label == "bifpn"
    assert parse_int_list("1, 2,8", "--batch") == [1, 2, 8]
    with pytest.raises(ConfigError):
        parse_int_list("1,0", "--batch")
    with pytest.raises(ConfigError):
        parse_choices("neck,head", "--part", ("neck", "total"))


def test_spec_json_round_trip() -> None:
    spec = BenchSpec(config=CFG, part="neck", backend="torch", warmup=4, label="fpn#2")
    assert BenchSpec.from_json(spec.to_json()) == spec


@pytest.mark.parametrize("neck", ["fpn", "pafpn", "bifpn"])
def test_parts_split_the_model(neck: str) -> None:
    cfg = replace(CFG, neck=neck, variant="paper")
    p = profile(cfg)
    neck_graph, trunk = part_graph(cfg, "neck"), part_graph(cfg, "backbone")
    assert sum(r.totals.macs for r in node_rows(neck_graph)) == p.neck_total.macs
    assert sum(r.totals.params for r in node_rows(neck_graph)) == p.neck_total.params
    assert sum(r.totals.macs for r in node_rows(trunk)) == p.backbone_total.macs
    assert len(part_graph(cfg, "total")) == len(trunk) + len(neck_graph) - len(neck_graph.inputs)


# The neck resolved once -----------------------------------------------------------------------
def test_a_neck_file_travels_to_the_workers_as_the_parent_read_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The parent reads a neck file once; every job carries its text, and a worker given that text
    builds the same graph without the file (here deleted before the worker would read it)."""
    from sim_machine import SimMachine

    from fpnprof.bench.protocol import GroupJob
    from fpnprof.bench.runner import Measurement, run_bench
    from fpnprof.model.neckfile import _LOADED as loaded
    from fpnprof.model.neckfile import SHIPPED, adopt_neck_text
    from fpnprof.model.parts import part_graph

    monkeypatch.chdir(tmp_path)
    text = (SHIPPED / "bifpn-paper.toml").read_text()
    Path("mine.toml").write_text(text)
    cfg = NeckConfig("mine.toml", variant="paper", channels=8, size=64, batch=1, levels=3, min_level=3)
    sim = SimMachine({"mine.toml": 10.0, "fpn": 5.0}, seed=1)
    jobs: list[GroupJob] = []

    def launch(job: GroupJob, env: dict[str, str] | None = None) -> object:
        jobs.append(GroupJob.from_json(job.to_json()))  # as a worker reads it from the pipe
        return sim.launch(job, env)

    specs = [BenchSpec(config=cfg, part="neck"), BenchSpec(config=replace(cfg, neck="fpn", variant="tutorial"), part="neck")]
    run_bench(specs, Measurement(repeat=2, processes=1), launch=launch, clock=sim.clock, peaks=False)  # type: ignore[arg-type]
    assert jobs and all(job.neck_texts == {"mine.toml": text} for job in jobs)
    parent_graph = part_graph(cfg, "neck")
    Path("mine.toml").unlink()
    loaded.clear()  # a fresh worker process: nothing read yet
    part_graph.cache_clear()
    with pytest.raises(Exception, match="not found"):
        part_graph(cfg, "neck")
    adopt_neck_text("mine.toml", jobs[0].neck_texts["mine.toml"])
    worker_graph = part_graph(cfg, "neck")
    assert [(n.id, n.op, n.inputs, n.shape) for n in worker_graph] == [(n.id, n.op, n.inputs, n.shape) for n in parent_graph]
    loaded.clear()
    part_graph.cache_clear()
