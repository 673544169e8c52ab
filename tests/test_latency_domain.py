"""The latency model knows its domain: the ranges each kernel class and the calibration necks were
fitted on. A prediction past them is marked extrapolated, in every table and in JSON, and its interval
widened by a rule held here to a simulated machine whose cost per FLOP rises past the sizes
calibration timed; an old model file without a domain is refused with one line."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from cli_helpers import run
from test_latency_model import EXECUTOR, kernel_true_ms, simulated

from fpnprof.latency.kernels import Kernel, graph_kernels
from fpnprof.latency.model import LatencyModel, machine_fingerprint, save_model
from fpnprof.latency.predict import predict_graph
from fpnprof.latency.sampling import random_necks
from fpnprof.model.config import NeckConfig
from fpnprof.model.parts import part_graph

#: The simulated machine's convs cost this much more per FLOP each doubling past the largest
#: FLOPs calibration timed of their class: the most the widening rule allows
#: (:data:`fpnprof.latency.domain.WIDEN`).
RISE = 0.10


def calibrated(seed: int = 0) -> tuple[LatencyModel, dict[str, float]]:
    """A model fitted on a noisy simulated machine (isolated samples, calibration necks, their
    kernels in context), and per class the largest FLOPs it timed."""
    from fpnprof.latency.assemble import Sample, fit_model

    base = simulated(noise=0.05, seed=seed)
    rng = random.Random(seed + 1)
    context = [
        Sample(k.cls, k.flops, k.bytes, kernel_true_ms(k) * rng.uniform(0.95, 1.05), i, k.dims, k.groups)
        for i, cfg in enumerate(base.necks)
        for k in graph_kernels(part_graph(cfg, "neck"), "eager")
    ]
    data = replace(base, context=context)
    largest: dict[str, float] = {}
    for s in [*data.isolated, *data.context]:
        largest[s.cls] = max(largest.get(s.cls, 0.0), float(s.flops))
    return fit_model(data, machine_fingerprint("torch", "cpu", "eager", 1)), largest


def rising_ms(k: Kernel, largest: dict[str, float]) -> float:
    """The kernel on a machine whose convs slow down past the sizes calibration timed."""
    past = max(0.0, math.log2(max(k.flops, 1) / largest[k.cls])) if k.cls.startswith("conv") else 0.0
    return kernel_true_ms(k) * float((1 + RISE) ** past)


def rising_neck_ms(cfg: NeckConfig, largest: dict[str, float]) -> float:
    ks = graph_kernels(part_graph(cfg, "neck"), "eager")
    base, per_kernel, scale = EXECUTOR
    return base + per_kernel * len(ks) + scale * sum(rising_ms(k, largest) for k in ks)


LARGE = [
    NeckConfig(neck, variant=variant, channels=c, size=s)
    for neck in ("fpn", "pafpn", "bifpn")
    for variant in ("paper", "tutorial")
    for c, s in ((192, 256), (256, 320), (384, 320))
]


@pytest.fixture(scope="module")
def model_and_largest() -> tuple[LatencyModel, dict[str, float]]:
    from fpnprof.latency import assemble, trees

    with pytest.MonkeyPatch.context() as patch:  # the domain is checked here, not the weighting or the trees
        patch.setattr(assemble, "LINE_WEIGHTS", ("ms",))
        patch.setattr(trees, "TREES", 20)
        return calibrated()


def test_a_prediction_past_the_sizes_calibration_timed_is_flagged_and_its_interval_holds(
    model_and_largest: tuple[LatencyModel, dict[str, float]],
) -> None:
    """Necks far larger than any calibration neck, on a machine whose convs cost 10% more per FLOP
    each doubling past what calibration timed: each is flagged extrapolated, and the widened
    interval holds at least the stated 90% of them where the band alone holds few."""
    from fpnprof.latency.domain import WIDEN

    assert RISE <= WIDEN
    model, largest = model_and_largest
    predictions = [(predict_graph(model, part_graph(cfg, "neck")), rising_neck_ms(cfg, largest)) for cfg in LARGE]
    assert all(p.extrapolated for p, _ in predictions), [p.reasons for p, _ in predictions if not p.extrapolated]
    low, high = model.band
    plain = sum(p.total_ms * low <= truth <= p.total_ms * high for p, truth in predictions) / len(predictions)
    widened = sum(p.low_ms <= truth <= p.high_ms for p, truth in predictions) / len(predictions)
    assert plain < 0.5  # the machine does leave the band past calibration's sizes
    assert widened >= model.coverage, f"the widened interval held {widened:.0%} of {len(LARGE)} necks past the domain"


def test_a_neck_inside_the_domain_is_neither_flagged_nor_widened(
    model_and_largest: tuple[LatencyModel, dict[str, float]],
) -> None:
    """Held-out necks drawn as calibration draws them: most inside, each priced with the band
    alone; one flagged has its reasons and a wider interval, never a narrower one."""
    model, _ = model_and_largest
    low, high = model.band
    inside = 0
    for cfg in random_necks(20, random.Random(77), max_flops=300_000_000):
        p = predict_graph(model, part_graph(cfg, "neck"))
        if p.extrapolated:
            assert p.reasons and p.low_ms <= p.total_ms * low and p.high_ms >= p.total_ms * high
        else:
            inside += 1
            assert not p.reasons and (p.low_ms, p.high_ms) == pytest.approx((p.total_ms * low, p.total_ms * high))
            assert all(not lvl for lvl in p.extrapolated_levels().values())
    assert inside >= 12


def test_predict_and_its_json_say_which_necks_and_levels_are_extrapolated(
    model_and_largest: tuple[LatencyModel, dict[str, float]], tmp_path: Path
) -> None:
    model, _ = model_and_largest
    path = save_model(model, tmp_path / "model.json")
    assert json.loads(path.read_text())["domain"]["kernel_classes"]["conv3x3"]["out_channels"][1] >= 16
    args = ("predict", "fpn", "--variant", "paper", "--backend", "torch", "--threads", "1", "--model", str(path))
    (small,) = json.loads(run(*args, "--channels", "16", "--size", "64", "-f", "json").stdout)["necks"]
    (big,) = json.loads(run(*args, "--channels", "384", "--size", "320", "-f", "json").stdout)["necks"]
    assert big["extrapolated"] is True and big["extrapolated_by"] and any(big["extrapolated_levels"].values())
    assert big["predicted_high_ms"] / big["predicted_ms"] > model.band[1]
    assert small["extrapolated"] is False and small["extrapolated_by"] == []
    table = run(*args, "--channels", "384", "--size", "320", columns=80)
    text = " ".join(table.stdout.split())
    assert table.exit_code == 0 and "…" not in table.stdout
    assert "extrapolated" in text and "past the ranges the model was fitted on" in text


def test_a_predicted_sweep_marks_and_counts_the_configurations_past_the_domain(
    model_and_largest: tuple[LatencyModel, dict[str, float]], tmp_path: Path
) -> None:
    model, _ = model_and_largest
    path = save_model(model, tmp_path / "model.json")
    args: tuple[str, ...] = ("sweep", "fpn", "--variant", "paper", "--channels", "16,384", "--size", "64,320")
    args += ("--latency", "predicted", "--backend", "torch", "--threads", "1", "--model", str(path))
    rows = json.loads(run(*args, "-f", "json").stdout)["rows"]
    for row in rows:
        cfg = NeckConfig("fpn", variant="paper", channels=row["channels"], size=row["size"])
        assert row["predicted_extrapolated"] is predict_graph(model, part_graph(cfg, "neck")).extrapolated
    flagged = sum(r["predicted_extrapolated"] for r in rows)
    assert 0 < flagged < len(rows)
    table = run(*args, columns=100)
    assert table.exit_code == 0, table.output
    assert f"{flagged} of {len(rows)} configurations are extrapolated" in " ".join(table.stdout.split())


def test_an_old_model_file_is_refused_with_one_line_saying_to_recalibrate(
    model_and_largest: tuple[LatencyModel, dict[str, float]], tmp_path: Path
) -> None:
    from fpnprof.latency.model import SCHEMA_VERSION

    path = save_model(model_and_largest[0], tmp_path / "old.json")
    data = json.loads(path.read_text())
    data["schema_version"] = 4
    del data["domain"]
    path.write_text(json.dumps(data))
    result = run("predict", "fpn", "--backend", "torch", "--threads", "1", "--model", str(path))
    assert result.exit_code == 2 and result.stderr.strip().count("\n") == 0, result.output
    assert SCHEMA_VERSION == 6 and "schema 4" in result.stderr and "fpnprof calibrate --backend torch" in result.stderr


def test_fitting_a_model_loads_none_of_the_timing_code() -> None:
    """calibrate.py is split by job: the fitting (assemble) imports no timing machinery."""
    timing = ("fpnprof.bench.kernels", "fpnprof.bench.launch", "fpnprof.bench.contention")
    code = f"import sys; import fpnprof.latency.assemble; print(sorted(m for m in {timing!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr.strip().splitlines()[-1]
    assert done.stdout.strip() == "[]"
