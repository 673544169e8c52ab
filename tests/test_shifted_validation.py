"""``calibrate --validate --shifted``: necks calibration never draws (the necks users asked about, the
shipped necks' defaults, EfficientDet D0-D3 widths, channels off multiples of 16, batch 1-8), timed by
``bench`` and compared with the model's predictions, inside its fitted ranges and past them apart.
Everything runs on the simulated machine (``sim_machine.py``) with a model fitted on a simulated one."""

from __future__ import annotations

import json
import statistics
from dataclasses import replace
from pathlib import Path

import pytest
from cli_helpers import run
from sim_machine import SimMachine
from test_latency_model import simulated

from fpnprof.bench.runner import Measurement
from fpnprof.bench.spec import BenchSpec
from fpnprof.latency.assemble import fit_model
from fpnprof.latency.domain import domain_of
from fpnprof.latency.kernels import graph_kernels
from fpnprof.latency.model import LatencyModel, machine_fingerprint, save_model
from fpnprof.latency.predict import Prediction, predict_graph
from fpnprof.latency.sampling import NECK_FORMS
from fpnprof.latency.shifted import MAX_FORWARD_MS, ShiftedCheck, check_shifted, shifted_set
from fpnprof.model.config import NeckConfig
from fpnprof.model.necks import neck_spec
from fpnprof.model.parts import part_graph
from fpnprof.report.shifted_report import shifted_report
from fpnprof.report.table_format import render

FINGERPRINT = machine_fingerprint("torch", "cpu", "eager", 1)
#: The necks users asked about (issue 33), in the order the set lists them.
ASKED = [
    NeckConfig("fpn", variant="paper"),  # compare's defaults: C=256, P2-P5, batch 2, 64 px
    NeckConfig("pafpn", variant="paper"),
    NeckConfig("pafpn", channels=128, batch=1),
    NeckConfig("bifpn", variant="paper", channels=88, cells=4, size=128, batch=1, levels=5, min_level=3),
    NeckConfig("fpn", variant="paper", channels=32, batch=1),
]
EFFICIENTDET = {(64, 3), (88, 4), (112, 5), (160, 6)}  # D0-D3: (channels, cells)


@pytest.fixture(scope="module")
def model() -> LatencyModel:
    """A model of the simulated machine, its band 0.9-1.1, fitted (as its domain says) on the asked
    necks too: those are inside its ranges, and the drawn shifts (batch 3-8, ...) mostly past them."""
    data = simulated()
    necks = [graph_kernels(part_graph(c, "neck"), "eager") for c in [*data.necks, *ASKED]]
    domain = domain_of([*data.isolated, *(k for ks in necks for k in ks)], necks)
    return replace(fit_model(data, FINGERPRINT), band=(0.9, 1.1), domain=domain)


def predicted(model: LatencyModel, cfg: NeckConfig) -> Prediction:
    return predict_graph(model, part_graph(cfg, "neck"))


def test_the_shifted_set_holds_the_asked_necks_and_every_shift(model: LatencyModel) -> None:
    def price(cfg: NeckConfig) -> float:
        return predicted(model, cfg).total_ms

    drawn = shifted_set(24, 5, price)
    configs = [n.config for n in drawn.necks]
    assert len(configs) == 24 == len(set(configs))
    assert configs[:5] == ASKED
    defaults = [NeckConfig.from_dict(NeckConfig(n, variant=v).as_dict() | neck_spec(n).defaults_for(v)) for n, v in NECK_FORMS]
    fitting = [c for c in defaults if price(c) <= MAX_FORWARD_MS and c not in ASKED]
    assert fitting and configs[5 : 5 + len(fitting)] == fitting, "the shipped necks' defaults that fit are not next"
    assert any(c.channels % 16 for c in configs), "no channel count off a multiple of 16"
    assert {c.batch for c in configs} <= set(range(1, 9)) and max(c.batch for c in configs) > 2
    bifpns = {(c.channels, c.cells) for c in configs if (c.neck, c.variant, c.min_level, c.levels) == ("bifpn", "paper", 3, 5)}
    assert bifpns >= EFFICIENTDET, bifpns
    assert all(price(c) <= MAX_FORWARD_MS for c in configs)
    assert shifted_set(24, 5, price) == drawn, "not deterministic by seed"
    assert [n.config for n in shifted_set(24, 6, price).necks][-6:] != configs[-6:]

    # a configuration calibration timed is no shift: skipped, and said
    seen = shifted_set(24, 5, price, seen={ASKED[4]})
    assert ASKED[4] not in [n.config for n in seen.necks] and len(seen.necks) == 24
    assert [(s.config, why) for s, why in seen.skipped] == [(ASKED[4], "a calibration neck")]
    # ... and the drawn necks stay the same ones (one more of them): models compare on one set
    drawn_only = [n for n in drawn.necks if n.why not in ("asked", "default")]
    assert [n for n in seen.necks if n.why not in ("asked", "default")][: len(drawn_only)] == drawn_only
    # a neck whose forward would take longer than the cap is skipped, and said
    capped = shifted_set(8, 5, price, max_ms=price(ASKED[0]) * 0.99)
    assert ASKED[0] not in [n.config for n in capped.necks]
    assert capped.skipped[0][0].config == ASKED[0] and capped.skipped[0][1].startswith("predicted forward over")


def test_the_shifted_check_compares_bench_with_predictions_inside_and_extrapolated(model: LatencyModel) -> None:
    """On a machine that runs each neck at its prediction x 1.05 inside the model's fitted ranges and
    x 1.25 past them, with no noise: every summary number is known."""
    drawn = shifted_set(16, 5, lambda c: predicted(model, c).total_ms)
    preds = {n.config: predicted(model, n.config) for n in drawn.necks}

    def truth(spec: BenchSpec) -> float:
        p = preds[spec.config]
        return p.total_ms * (1.25 if p.extrapolated else 1.05)

    sim = SimMachine(truth, bias_sd=0.0, noise_sd=0.0, drift=0.0, stall_p=0.0, overhead_s=2.0)
    check = check_shifted(model, drawn.necks, Measurement(max_time_s=3600), launch=sim.launch, clock=sim.clock)

    extrapolated = [preds[n.config].extrapolated for n in drawn.necks]
    assert 0 < sum(extrapolated) < len(extrapolated), "the split inside / extrapolated is trivial"
    assert [r.bench["median_ms"] for r in check.rows] == pytest.approx([truth(BenchSpec(n.config)) for n in drawn.necks])
    assert all(r.bench["part"] == "neck" and r.bench["engine"] == "eager" for r in check.rows)
    errors = [1 / (1.25 if e else 1.05) - 1 for e in extrapolated]
    whole, inside, past = check.part(None), check.part(False), check.part(True)
    assert len(whole.rows) == 16 and len(inside.rows) == 16 - sum(extrapolated) and len(past.rows) == sum(extrapolated)
    assert whole.within_10pct == pytest.approx(1 - sum(extrapolated) / 16)
    assert whole.median_abs_error == pytest.approx(statistics.median(abs(e) for e in errors))
    assert whole.p90_abs_error == pytest.approx(statistics.quantiles([abs(e) for e in errors], n=10, method="inclusive")[-1])
    assert (inside.within_10pct, inside.median_abs_error, inside.coverage) == pytest.approx((1.0, 1 - 1 / 1.05, 1.0))
    assert (past.within_10pct, past.median_abs_error, past.p90_abs_error) == pytest.approx((0.0, 0.2, 0.2))
    held = [1.25 * p.total_ms <= p.high_ms for p in preds.values() if p.extrapolated]
    assert past.coverage == pytest.approx(sum(held) / len(held))

    report = shifted_report(check, model, seed=5, skipped=[], seconds=12.0)
    text = render(report, width=80)
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 80
    assert "compared at calibration's speed" in " ".join(text.split())
    summary = report.data["summary"]
    assert summary["extrapolated"]["necks"] == sum(extrapolated)
    assert summary["inside"]["within_10pct"] == pytest.approx(1.0)
    assert summary["all"]["p90_abs_error"] == pytest.approx(whole.p90_abs_error)
    assert [n["extrapolated"] for n in report.data["necks"]] == extrapolated
    assert report.data["necks"][0]["bench_ms"] == pytest.approx(truth(BenchSpec(ASKED[0])))


def test_calibrate_validate_shifted_times_the_set_with_bench(
    tmp_path: Path, model: LatencyModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command end to end, bench's workers on the simulated machine; one line for --shifted alone."""
    path = save_model(model, tmp_path / "m.json")
    sim = SimMachine(lambda s: predicted(model, s.config).total_ms, overhead_s=2.0, seed=3)
    monkeypatch.setattr("fpnprof.bench.runner.launch_group", sim.launch)
    monkeypatch.setattr("fpnprof.bench.runner.CLOCK", sim.clock)
    args = ["calibrate", "--backend", "torch", "--threads", "1", "--model", str(path)]
    result = run(*args, "--validate", "--shifted", "--held-out", "8", "--max-time", "400", "-f", "json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["kind"] == "shifted validation" and len(out["necks"]) == 8 and out["max_time_s"] == 400
    held = [NeckConfig.from_dict(c) for c in model.calibration.get("neck_configs", [])]
    asked = [cfg for cfg in ASKED if cfg not in held]  # a calibration neck is skipped
    assert [NeckConfig.from_dict(n["config"]) for n in out["necks"][: len(asked)]] == asked
    assert out["summary"]["all"]["necks"] == sum(n["bench_ms"] is not None for n in out["necks"]) > 0
    alone = run(*args, "--shifted")
    assert alone.exit_code == 2 and "--shifted goes with --validate" in alone.stderr
    assert alone.stderr.strip().count("\n") == 0


def test_a_part_of_one_neck_has_its_error_for_p90() -> None:
    """A split may hold one timed neck (one extrapolated, say): its p90 |error| is that neck's."""
    from fpnprof.latency.validate import Checked, Validation

    assert Validation([Checked(ASKED[0], 10.0, 9.0, 11.0, 8.0)]).p90_abs_error == pytest.approx(0.25)


def test_anchors_put_the_machine_s_speed_inside_the_comparison(model: LatencyModel) -> None:
    """A machine that runs everything 1.2x slower than calibration timed it: the anchors (calibration
    necks timed by bench in the same run) measure 1.2, every error at today's speed is 0 and the raw
    one (at calibration's speed) -1/6; with no anchors the errors are the raw ones."""
    drawn = shifted_set(6, 5, lambda c: predicted(model, c).total_ms)
    anchors = [(c, predicted(model, c).total_ms) for c in model_calibration_necks(model)[:4]]

    def truth(spec: BenchSpec) -> float:
        return 1.2 * predicted(model, spec.config).total_ms

    def check(with_anchors: bool) -> ShiftedCheck:
        sim = SimMachine(truth, bias_sd=0.0, noise_sd=0.0, drift=0.0, stall_p=0.0, overhead_s=2.0)
        used = anchors if with_anchors else []
        return check_shifted(model, drawn.necks, Measurement(max_time_s=3600), launch=sim.launch, clock=sim.clock, anchors=used)

    anchored = check(True)
    assert anchored.anchor_ratios == pytest.approx([1.2] * 4) and anchored.speed == pytest.approx(1.2)
    assert len(anchored.rows) == 6, "an anchor was reported as a neck of the set"
    whole = anchored.part(None)
    assert [r.error for r in whole.rows] == pytest.approx([0.0] * 6, abs=1e-9)
    assert [r.raw_error for r in whole.rows] == pytest.approx([1 / 1.2 - 1] * 6)
    assert whole.within_10pct == 1.0 and whole.raw_within_10pct == 0.0
    report = shifted_report(anchored, model, seed=5, skipped=[], seconds=12.0)
    assert report.data["compared_at"] == "today's speed" and report.data["speed"] == pytest.approx(1.2)
    assert "took 1.200x their calibration times" in " ".join(render(report, width=80).split())

    bare = check(False).part(None)
    assert bare.within_10pct == 0.0 and [r.error for r in bare.rows] == pytest.approx([1 / 1.2 - 1] * 6)


def model_calibration_necks(model: LatencyModel) -> list[NeckConfig]:
    return [NeckConfig.from_dict(c) for c in model.calibration["neck_configs"]]
