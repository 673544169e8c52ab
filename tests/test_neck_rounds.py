"""Necks timed for the latency model in interleaved rounds: a burst of load from elsewhere that
lasts a stretch of the process touches a few of each neck's runs, not all of one neck's."""

from __future__ import annotations

import pytest

import fpnprof.bench.kernels as kernels
from fpnprof.bench.warmup import WARMUP_RUNS
from fpnprof.model.config import NeckConfig
from fpnprof.model.parts import part_graph

#: The fake machine is three times slower for this stretch of its forward passes (60 of them, starting
#: 44 passes after the eight necks' warm-ups).
BURST = range(8 * WARMUP_RUNS + 44, 8 * WARMUP_RUNS + 104)


class _Clock:
    calls = 0


class _FakeRunner:
    """Step times: the neck's own ms, three times that during the burst."""

    def __init__(self, ms: float, clock: _Clock) -> None:
        self.ms, self.clock = ms, clock
        self.timed_pass = None

    def step_ms(self) -> float:
        self.clock.calls += 1
        return self.ms * (3.0 if self.clock.calls in BURST else 1.0)


def _medians(monkeypatch: pytest.MonkeyPatch, rounds: int) -> list[float]:
    clock = _Clock()
    graphs = [part_graph(NeckConfig("fpn", channels=16 * (i + 1), size=64), "neck") for i in range(8)]
    own = {id(g): 1.0 + i for i, g in enumerate(graphs)}
    monkeypatch.setattr(kernels, "_runner", lambda backend, graph, spec: _FakeRunner(own[id(graph)], clock))
    timings = kernels.time_graphs(None, graphs, {}, runs=25, passes=0, seed=1, rounds=rounds)  # type: ignore[arg-type]
    assert clock.calls == 8 * (WARMUP_RUNS + 25)  # bench's warm-up rule: up to 3 runs, 1 ms each here
    return [t.median_ms / own[id(g)] for t, g in zip(timings, graphs, strict=True)]


def test_interleaved_rounds_keep_a_burst_out_of_every_median(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _medians(monkeypatch, rounds=5) == [1.0] * 8


def test_a_neck_timed_in_one_stretch_takes_the_whole_burst(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check above can fail: one round (every neck's runs back to back) puts the burst into some."""
    assert max(_medians(monkeypatch, rounds=1)) == 3.0


class _ColdFirstRunner:
    """A neck whose run right after another neck's runs cold (1.2x): its data left the caches."""

    last: object = None

    def __init__(self, ms: float) -> None:
        self.ms = ms

    def _ran(self) -> bool:
        warm = _ColdFirstRunner.last is self
        _ColdFirstRunner.last = self
        return warm

    def step_ms(self) -> float:
        return self.ms * (1.0 if self._ran() else 1.2)

    def node_pass(self) -> dict[str, float]:
        self._ran()
        return {"x": self.ms}


def test_calibration_and_validation_time_a_neck_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    """Calibration's plain medians (its instrumented passes among them) are validation's: a visit's
    first run, after another neck, is cold, and both take as many runs a visit, so both medians are
    warm (with calibration's former 9 runs, 5 of them cold, its medians were cold)."""
    from fpnprof.latency.calibrate import CalibrationPlan

    graphs = [part_graph(NeckConfig("fpn", channels=16 * (i + 1), size=64), "neck") for i in range(6)]
    own = {id(g): 1.0 + i for i, g in enumerate(graphs)}
    monkeypatch.setattr(kernels, "_runner", lambda backend, graph, spec: _ColdFirstRunner(own[id(graph)]))
    plan = CalibrationPlan("paddle")
    calibration = kernels.time_graphs(None, graphs, {}, runs=plan.neck_runs, passes=plan.passes, seed=1)  # type: ignore[arg-type]
    validation = kernels.time_graphs(None, graphs, {}, runs=kernels.NECK_RUNS, passes=0, seed=2)  # type: ignore[arg-type]
    assert [t.median_ms for t in calibration] == [t.median_ms for t in validation] == [own[id(g)] for g in graphs]
