"""The latency model: fitting on a simulated machine recovers its known costs, fusion rules cut a graph
into the kernels a fusing engine runs (a broken rule is caught), the interval's band is split-conformal,
and a tampered or foreign model file is refused with one line and exit 2."""

from __future__ import annotations

import json
import random
import statistics
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cli_helpers import run

from fpnprof.backends.primitives import Executable
from fpnprof.bench.kernels import samples_graph
from fpnprof.errors import ConfigError
from fpnprof.latency import kernels as kernel_rules
from fpnprof.latency.assemble import CalibrationData, Sample, fit_model
from fpnprof.latency.calibrate import CalibrationPlan, in_context_samples, time_kernel_samples
from fpnprof.latency.fit import ClassFit, fit_class, neck_band
from fpnprof.latency.kernels import CONV_BN_ACT, FusionRule, Kernel, graph_kernels
from fpnprof.latency.model import load_model, machine_fingerprint, save_model
from fpnprof.latency.predict import predict_graph
from fpnprof.latency.sampling import draw_samples, drawn_classes, random_necks
from fpnprof.model.config import NeckConfig
from fpnprof.model.graph import Graph, Op
from fpnprof.model.parts import part_graph
from fpnprof.report.latency_report import calibration_report

#: A simulated machine: per class (fixed ms, ms per GFLOP, ms per GB, ms per million output rows),
#: different for every class.
TRUTH = {cls: (0.01 * (i + 1), 2.0 + i, 30.0 + 7 * i, 0.5 + 0.1 * i) for i, cls in enumerate(drawn_classes())}
EXECUTOR = (0.4, 0.02, 1.1)  # base ms, per kernel ms, scale


def true_ms(cls: str, flops: int, nbytes: int, rows: int = 0) -> float:
    fixed, per_gflop, per_gbyte, per_mrow = TRUTH[cls]
    return fixed + per_gflop * flops * 1e-9 + per_gbyte * nbytes * 1e-9 + per_mrow * rows * 1e-6


def kernel_true_ms(k: Kernel) -> float:
    return true_ms(k.cls, k.flops, k.bytes, k.rows)


def simulated(noise: float = 0.0, seed: int = 0) -> CalibrationData:
    """What calibration would measure on the simulated machine (multiplicative noise up to ``noise``)."""
    from fpnprof.bench.kernels import samples_graph

    rng = random.Random(seed)

    def jitter() -> float:
        return 1 + rng.uniform(-noise, noise)

    samples = [s for cls in drawn_classes() for s in draw_samples(cls, 12, rng)]
    isolated = [
        Sample(k.cls, k.flops, k.bytes, kernel_true_ms(k) * jitter(), None, k.dims, k.groups)
        for k in graph_kernels(samples_graph(samples), "eager")
    ]
    necks = random_necks(20, rng, max_flops=300_000_000)
    measured = []
    for cfg in necks:
        ks = graph_kernels(part_graph(cfg, "neck"), "eager")
        base, per_kernel, scale = EXECUTOR
        measured.append((base + per_kernel * len(ks) + scale * sum(kernel_true_ms(k) for k in ks)) * jitter())
    return CalibrationData(isolated, [], necks, measured)


def test_a_simulated_machine_is_recovered_exactly_without_noise() -> None:
    """Every class prices fresh shapes as the machine does; where FLOPs, bytes and rows vary apart
    (convs) the four costs themselves come back; the executor's terms too, and the band is 1..1."""
    from fpnprof.bench.kernels import samples_graph

    data = simulated()
    model = fit_model(data, {"engine": "eager"})
    fresh = [s for cls in drawn_classes() for s in draw_samples(cls, 5, random.Random(123))]
    for k in graph_kernels(samples_graph(fresh), "eager"):
        # A class whose samples' work columns are collinear (SAME-padded pools of even sizes: FLOPs and
        # bytes in one ratio) cannot tell its costs apart: fresh shapes off that ratio come close, not exact.
        mine = [s for s in data.isolated if s.cls == k.cls]
        design = np.asarray([(1, s.flops * 1e-9, s.bytes * 1e-9, s.rows * 1e-6) for s in mine])
        exact = np.linalg.matrix_rank(design) == 4
        predicted = model.classes[k.cls].ms(k.flops, k.bytes, k.rows)
        assert predicted == pytest.approx(kernel_true_ms(k), rel=1e-6 if exact else 1e-2), k.cls
    for cls in ("conv1x1", "conv3x3+bias", "conv_grouped"):
        fit = model.classes[cls]
        assert (fit.fixed_ms, fit.ms_per_gflop, fit.ms_per_gbyte, fit.ms_per_mrow) == pytest.approx(TRUTH[cls], rel=1e-5), cls
    assert (model.executor.base_ms, model.executor.per_kernel_ms, model.executor.scale) == pytest.approx(EXECUTOR, rel=1e-5)
    assert model.band == pytest.approx((1.0, 1.0))


def test_a_noisy_simulated_machine_predicts_held_out_necks_within_its_noise() -> None:
    model = fit_model(simulated(noise=0.05, seed=1), {"engine": "eager"})
    for cfg in random_necks(10, random.Random(99), max_flops=300_000_000):
        ks = graph_kernels(part_graph(cfg, "neck"), "eager")
        base, per_kernel, scale = EXECUTOR
        truth = base + per_kernel * len(ks) + scale * sum(kernel_true_ms(k) for k in ks)
        p = predict_graph(model, part_graph(cfg, "neck"))
        assert p.total_ms == pytest.approx(truth, rel=0.05)
        assert sum(p.by_level().values()) + p.base_ms == pytest.approx(p.total_ms)
    assert 0.9 <= model.band[0] <= 1.0 <= model.band[1] <= 1.12


def test_fit_class_is_nonnegative_and_needs_three_samples() -> None:
    fit = fit_class([1e9, 2e9, 4e9], [1e6, 1e6, 1e6], [0, 0, 0], [1.0, 2.0, 4.0])
    assert fit.ms_per_gflop == pytest.approx(1.0) and fit.fixed_ms == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ConfigError):
        fit_class([1.0, 2.0], [1.0, 1.0], [0, 0], [1.0, 1.0])


def test_conformal_band_takes_the_kth_extremes_over_necks() -> None:
    one = [[1 + i / 100] for i in range(19)]  # n = 19 necks: k = 1 for 90% (1 - 2/20)
    assert neck_band(one, 0.9) == (1.0, 1.18)
    assert neck_band([[1 + i / 100] for i in range(39)], 0.9) == (1.01, 1.37)  # n = 39: k = 2
    with pytest.raises(ConfigError, match="cannot bound"):
        neck_band([[1.0]] * 8, 0.9)


def test_the_band_counts_necks_not_processes() -> None:
    """19 necks timed in 4 processes each: the unit is the neck (its processes agree more with each
    other than with other necks), so k comes from 19, not 76, and a neck counts by its most extreme
    process. Counting the 76 ratios as exchangeable would drop a whole neck's four ratios (k = 3)."""
    per_neck = [[1.0 + i / 100 + p / 1000 for p in range(4)] for i in range(19)]
    assert neck_band(per_neck, 0.9) == pytest.approx((1.0, 1.183))
    flat = sorted(r for rs in per_neck for r in rs)
    k = 3  # floor(0.1 * 77 / 2)
    assert (flat[k - 1], flat[-k]) != pytest.approx(neck_band(per_neck, 0.9))


class SimulatedProfiler:
    """A fusing engine on the simulated machine with no executor timer: its profiler puts each
    kernel's time on the last node the kernel absorbed (Paddle's: the node whose value a fused op writes)."""

    def make_runner(self, graph: Graph, *, device: str, engine: str, dtype: str, threads: int) -> Executable:
        node_ms = {k.nodes[-1]: kernel_true_ms(k) for k in graph_kernels(graph, engine)}
        return Executable(lambda: None, profiled_pass=lambda: dict(node_ms))


def simulated_fusing_engine(seed: int = 0) -> CalibrationData:
    """What calibrating Paddle Inference would measure on the simulated machine: kernel samples (with
    the epilogues the engine fuses) and necks, per node by the engine's profiler."""
    rng = random.Random(seed)
    plan = CalibrationPlan("paddle", engine="inference", passes=3, seed=seed)
    engine = SimulatedProfiler()
    samples = [s for cls in drawn_classes() for s in draw_samples(cls, 12, rng, "inference")]
    isolated = time_kernel_samples(engine, samples, plan, lambda *_: None)
    necks = random_necks(20, rng, max_flops=300_000_000)
    base, per_kernel, scale = EXECUTOR
    context, measured = [], []
    for i, cfg in enumerate(necks):
        graph = part_graph(cfg, "neck")
        node_ms = engine.make_runner(graph, device="cpu", engine="inference", dtype="fp32", threads=1).profiled_pass
        assert node_ms is not None
        context += in_context_samples(cfg, node_ms(), i, "inference")
        ks = graph_kernels(graph, "inference")
        measured.append(base + per_kernel * len(ks) + scale * sum(kernel_true_ms(k) for k in ks))
    return CalibrationData(isolated, context, necks, measured, engine="inference")


def test_a_fusing_engine_timed_by_its_profiler_is_recovered(ms_lines: None, few_trees: None) -> None:
    """No executor timer: fused kernels (a conv with its bias add, BatchNorm and activation) are timed
    by the engine's profiler, which puts each on one of its nodes; classes come back, and fresh fused
    kernels and held-out necks are priced as the machine runs them."""
    data = simulated_fusing_engine()
    assert any(len(k.nodes) > 1 for cfg in data.necks for k in graph_kernels(part_graph(cfg, "neck"), "inference"))
    model = fit_model(data, {"engine": "inference"})
    fresh = samples_graph([s for cls in drawn_classes() for s in draw_samples(cls, 5, random.Random(7), "inference")])
    kernels = graph_kernels(fresh, "inference")
    assert {k.cls for k in kernels} == set(drawn_classes()) and any(len(k.nodes) > 1 for k in kernels)
    assert model.calibration["per_node_times"] == "the engine's profiler"
    for k in kernels:
        assert model.classes[k.cls].ms(k.flops, k.bytes, k.rows) == pytest.approx(kernel_true_ms(k), rel=1e-2), k.cls
    base, per_kernel, scale = EXECUTOR
    for cfg in random_necks(5, random.Random(98), max_flops=300_000_000):
        graph = part_graph(cfg, "neck")
        ks = graph_kernels(graph, "inference")
        truth = base + per_kernel * len(ks) + scale * sum(kernel_true_ms(k) for k in ks)
        assert predict_graph(model, graph).total_ms == pytest.approx(truth, rel=1e-2)


# Fusion rules -----------------------------------------------------------------------------------
def default_config(neck: str, variant: str) -> NeckConfig:
    """The neck at its own levels, 16 channels."""
    from fpnprof.model.necks import neck_spec

    d = neck_spec(neck).defaults_for(variant)
    cfg = NeckConfig(neck, variant=variant, channels=16, levels=d["levels"])
    return replace(cfg, min_level=d.get("min_level", cfg.min_level))


def conv_bn_act_chains(graph: Graph) -> int:
    """Independent count: convs read by exactly one BatchNorm, itself read by exactly one activation
    (or a conv read by exactly one activation)."""
    readers = graph.consumers()
    fused = 0
    for node in graph:
        if node.op is not Op.CONV:
            continue
        users = readers[node.id]
        if len(users) == 1 and graph[users[0]].op is Op.BATCHNORM:
            fused += 1
            after = readers[users[0]]
            fused += len(after) == 1 and graph[after[0]].op in (Op.RELU, Op.SWISH)
        elif len(users) == 1 and graph[users[0]].op in (Op.RELU, Op.SWISH):
            fused += 1
    return fused


def fused_machine_ms(graph: Graph, rules: tuple[FusionRule, ...], monkeypatch: pytest.MonkeyPatch) -> float:
    """A machine whose fused engine runs every kernel graph_kernels makes at 1 ms plus its work."""
    monkeypatch.setitem(kernel_rules.FUSION_RULES, "compile", rules)
    return sum(1.0 + k.flops * 1e-9 for k in graph_kernels(graph, "compile"))


@pytest.mark.parametrize("neck", [("yolov5-pan.toml", "paper"), ("bifpn", "paper"), ("fpn", "tutorial")])
def test_fusion_groups_conv_bn_act_as_one_kernel(neck: tuple[str, str]) -> None:
    """The textbook rule (torch.compile's here; Paddle Inference's own rules are held to its optimized
    program in test_engine_fusion.py)."""
    graph = part_graph(default_config(*neck), "total")
    eager, fused = graph_kernels(graph, "eager"), graph_kernels(graph, "compile")
    assert len(eager) == len(graph) - len(graph.inputs)
    assert len(eager) - len(fused) == conv_bn_act_chains(graph)
    covered = [n for k in fused for n in k.nodes]
    assert sorted(covered) == sorted(n.id for n in graph if n.op is not Op.INPUT)  # every node once
    for k in fused:
        assert [graph[n].op for n in k.nodes[1:]] in (
            [],
            [Op.BATCHNORM],
            [Op.RELU],
            [Op.SWISH],
            [Op.BATCHNORM, Op.RELU],
            [Op.BATCHNORM, Op.SWISH],
        )
        assert k.flops == graph_kernels(graph, "eager")[[e.nodes[0] for e in eager].index(k.nodes[0])].flops


def test_a_broken_fusion_rule_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """The simulated fused machine's time from the real rule matches an independent count; a rule that
    forgets the BatchNorm (fuses conv+act only) gives another time and another kernel count."""
    graph = part_graph(default_config("yolov5-pan.toml", "paper"), "neck")
    right = fused_machine_ms(graph, (CONV_BN_ACT,), monkeypatch)
    eager = len(graph) - len(graph.inputs)
    assert len(graph_kernels(graph, "compile")) == eager - conv_bn_act_chains(graph)
    broken = FusionRule("conv+act", frozenset({Op.CONV}), (frozenset({Op.RELU, Op.SWISH}),))
    wrong = fused_machine_ms(graph, (broken,), monkeypatch)
    assert wrong != pytest.approx(right)
    assert len(graph_kernels(graph, "compile")) != eager - conv_bn_act_chains(graph)


# Model files ------------------------------------------------------------------------------------
@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    here = machine_fingerprint("torch", "cpu", "eager", 1)
    return save_model(fit_model(simulated(), here), tmp_path / "model.json")


def test_a_model_file_round_trips_and_predicts_marked_predicted(model_file: Path) -> None:
    data = json.loads(model_file.read_text())
    assert data["format"] == "fpnprof-latency-model" and len(data["sha256"]) == 64
    result = run(
        "predict",
        "fpn",
        "bifpn",
        "--channels",
        "16",
        "--backend",
        "torch",
        "--threads",
        "1",
        "--model",
        str(model_file),
        "-f",
        "json",
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["kind"] == "predicted" and out["warning"] is None
    for neck in out["necks"]:
        assert neck["predicted_low_ms"] <= neck["predicted_ms"] <= neck["predicted_high_ms"]
        assert sum(neck["predicted_by_level_ms"].values()) + neck["predicted_executor_ms"] == pytest.approx(neck["predicted_ms"])
    table = run("predict", "fpn", "--backend", "torch", "--threads", "1", "--model", str(model_file), columns=80)
    assert table.exit_code == 0 and "PREDICTED latency (neck), not measured" in table.stdout and "…" not in table.stdout


def test_a_tampered_model_is_refused_with_one_line(model_file: Path) -> None:
    data = json.loads(model_file.read_text())
    data["classes"]["conv3x3"]["ms_per_gflop"] *= 0.5
    model_file.write_text(json.dumps(data))
    result = run("predict", "fpn", "--backend", "torch", "--threads", "1", "--model", str(model_file))
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0 and "SHA-256 seal" in result.stderr


@pytest.mark.parametrize("text", ["not json", json.dumps({"format": "something else"}), json.dumps([1, 2])])
def test_a_file_that_is_no_model_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "m.json"
    path.write_text(text)
    result = run("predict", "fpn", "--backend", "torch", "--threads", "1", "--model", str(path))
    assert result.exit_code == 2 and "refused" in result.stderr and result.stderr.strip().count("\n") == 0


def test_a_foreign_model_is_refused_or_used_with_force_and_a_warning(tmp_path: Path) -> None:
    elsewhere = {**machine_fingerprint("torch", "cpu", "eager", 1), "cpu": "Some Other CPU", "framework_version": "1.0"}
    path = save_model(fit_model(simulated(), elsewhere), tmp_path / "foreign.json")
    args = ("predict", "fpn", "--backend", "torch", "--threads", "1", "--model", str(path))
    refused = run(*args)
    assert refused.exit_code == 2 and "from another setup" in refused.stderr and "Some Other CPU" in refused.stderr
    forced = run(*args, "--force", columns=200)
    assert forced.exit_code == 0 and "WARNING: a latency model from another setup" in forced.stdout
    here = machine_fingerprint("torch", "cpu", "eager", 1)
    with pytest.raises(ConfigError, match="another setup"):
        load_model(path, here, force=False)


def test_no_model_yet_says_how_to_make_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FPNPROF_DATA_DIR", str(tmp_path))
    result = run("predict", "fpn", "--backend", "torch", "--threads", "1")
    assert result.exit_code == 2 and "fpnprof calibrate --backend torch" in result.stderr


def test_a_class_the_model_lacks_is_a_clear_error(model_file: Path) -> None:
    here = machine_fingerprint("torch", "cpu", "eager", 1)
    model, _ = load_model(model_file, here, force=False)
    partial = replace(model, classes={k: v for k, v in model.classes.items() if not k.startswith("conv3x3")})
    with pytest.raises(ConfigError, match="no fit for conv3x3"):
        predict_graph(partial, part_graph(NeckConfig("fpn", channels=16), "neck"))
    assert isinstance(model.classes["conv1x1"], ClassFit)


def test_a_conv_with_a_bias_is_a_class_of_its_own() -> None:
    """A conv's bias is work the frameworks run differently (Paddle: an add op of its own, torch: in
    the conv), so a conv with a bias is priced by its own class and calibration draws samples of it;
    on Paddle Inference the bias add, with the activation it absorbs, is part of the conv's kernel."""
    from fpnprof.bench.kernels import samples_graph

    classes = drawn_classes()
    assert {"conv1x1", "conv1x1+bias", "conv3x3+bias", "conv_depthwise+bias"} <= set(classes)
    for cls in ("conv3x3", "conv3x3+bias"):
        kernels = graph_kernels(samples_graph(draw_samples(cls, 6, random.Random(3))), "eager")
        assert {k.cls for k in kernels} == {cls}
    relu = replace(draw_samples("conv3x3+bias", 1, random.Random(3))[0], epilogue=(Op.RELU,))
    assert [(k.cls, len(k.nodes)) for k in graph_kernels(samples_graph([relu]), "inference")] == [("conv3x3+bias", 2)]
    fpn = {k.cls for k in graph_kernels(part_graph(NeckConfig("fpn", channels=16), "neck"), "eager")}
    yolo_cfg = NeckConfig("yolov5-pan.toml", variant="paper", channels=16, levels=3, min_level=3)
    yolo = {k.cls for k in graph_kernels(part_graph(yolo_cfg, "neck"), "eager")}
    assert {"conv1x1+bias", "conv3x3+bias"} <= fpn and {"conv1x1", "conv3x3"} <= yolo  # FPN's convs have biases, YOLO's CBS none


def test_kernel_samples_time_on_a_real_backend() -> None:
    """The calibration's timing path end to end on torch, three tiny samples."""
    pytest.importorskip("torch")
    from fpnprof.backends import load
    from fpnprof.bench.kernels import time_samples

    rng = random.Random(0)
    samples = [draw_samples(cls, 1, rng)[0] for cls in ("conv3x3", "add", "upsample_nearest")]
    spec = {"device": "cpu", "engine": "eager", "dtype": "fp32", "threads": 1}
    times = time_samples(load("torch"), samples, spec, passes=3)
    assert set(times) == {"s0", "s1", "s2"} and all(t > 0 for t in times.values())


def test_sweep_marks_the_front_against_predicted_latency(model_file: Path) -> None:
    result = run(
        "sweep", "bifpn", "--variant", "paper", "--channels", "16,32", "--cells", "2,3", "--latency", "predicted",
        "--backend", "torch", "--threads", "1", "--model", str(model_file), "-f", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["rows"]
    here = machine_fingerprint("torch", "cpu", "eager", 1)
    model, _ = load_model(model_file, here, force=False)
    for row in rows:
        cfg = NeckConfig(
            "bifpn",
            variant="paper",
            channels=row["channels"],
            cells=row["cells"],
            levels=row["levels"],
            min_level=row["min_level"],
        )
        assert row["predicted_latency_ms"] == pytest.approx(predict_graph(model, part_graph(cfg, "neck")).total_ms)
        assert row["latency_ms"] is None  # nothing was measured
    points = [(r["predicted_latency_ms"], -r["params"]) for r in rows]
    for r, (ms, p) in zip(rows, points, strict=True):  # on the front exactly when no other row dominates it
        dominated = any(o[0] <= ms and o[1] <= p and o != (ms, p) for o in points)
        assert r["pareto"] == (not dominated)
    table = run("sweep", "bifpn", "--variant", "paper", "--channels", "16,32", "--latency", "predicted", "--backend", "torch",
                "--threads", "1", "--model", str(model_file), columns=100)  # fmt: skip
    text = " ".join(table.stdout.split())  # a title wraps at the terminal's width
    assert "PREDICTED latency" in text and "predicted ms" in text
    assert run("sweep", "fpn", "--latency", "measured").exit_code == 2


def test_shapes_and_compare_add_predicted_latency_marked_as_such(model_file: Path) -> None:
    model_args = ("--latency", "predicted", "--backend", "torch", "--threads", "1", "--model", str(model_file))
    shapes = run("shapes", "bifpn", "--variant", "paper", "--channels", "16", *model_args, "-f", "json")
    assert shapes.exit_code == 0, shapes.output
    predicted = json.loads(shapes.stdout)["predicted_latency"]
    assert predicted["kind"] == "predicted" and predicted["necks"][0]["predicted_ms"] > 0
    compare = run("compare", "fpn", "bifpn", "--channels", "16", *model_args, columns=100)
    assert compare.exit_code == 0, compare.output
    assert "PREDICTED latency (neck), not measured" in compare.stdout and "bifpn: predicted per level" in compare.stdout
    plain = json.loads(run("compare", "fpn", "bifpn", "--channels", "16", "-f", "json").stdout)
    assert "predicted_latency" not in plain
    assert run("shapes", "fpn", "--latency", "guessed").exit_code == 2


def test_a_fusing_engines_model_prices_fused_kernels_from_the_cli(tmp_path: Path, ms_lines: None, few_trees: None) -> None:
    """``--latency-engine inference`` loads the Paddle Inference model; the neck is priced by its fused
    kernels (a different total from the same machine's eager kernels), and an eager model is not taken for it."""
    pytest.importorskip("paddle")
    here = machine_fingerprint("paddle", "cpu", "inference", 1)
    path = save_model(fit_model(simulated_fusing_engine(), here), tmp_path / "inference.json")
    args = ("shapes", "bifpn", "--variant", "paper", "--channels", "16", "--latency", "predicted", "--backend", "paddle")
    result = run(*args, "--latency-engine", "inference", "--threads", "1", "--model", str(path), "-f", "json")
    assert result.exit_code == 0, result.output
    neck = json.loads(result.stdout)["predicted_latency"]["necks"][0]
    model, _ = load_model(path, here, force=False)
    cfg: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in neck["config"].items()}
    graph = part_graph(NeckConfig(**cfg), "neck")
    assert neck["predicted_ms"] == pytest.approx(predict_graph(model, graph).total_ms)
    assert "weighted_fusion" in {k["class"] for k in neck["predicted_kernels"]}
    assert len(graph_kernels(graph, "inference")) != len(graph_kernels(graph, "eager"))
    wrong = run(*args, "--threads", "1", "--model", str(path))  # eager asked, an inference model given
    assert wrong.exit_code == 2 and "engine" in wrong.stderr


def test_calibration_fits_on_in_context_times_where_isolated_ones_mislead(ms_lines: None, few_trees: None) -> None:
    """A machine whose small kernels run 3x slower timed alone than inside a neck (Paddle's eager ones
    differ between alone and among many shapes): the cross-fitted choice drops the isolated samples of the classes the
    necks contain, and the necks come out right."""
    base = simulated(seed=3)
    slow = [replace(s, ms=s.ms * (3.0 if s.ms < 0.5 else 1.0)) for s in base.isolated]
    context = []
    for i, cfg in enumerate(base.necks):
        for k in graph_kernels(part_graph(cfg, "neck"), "eager"):
            context.append(Sample(k.cls, k.flops, k.bytes, EXECUTOR[2] * kernel_true_ms(k), i, k.dims, k.groups))
    model = fit_model(replace(base, isolated=slow, context=context), {"engine": "eager"})
    assert model.calibration["samples_used"] == "in-context"
    errors = model.calibration["cross_fitted_median_error_by_fit"]
    assert errors["in-context / ms +trees"] < 0.02 and errors["in-context / ms +trees"] < 0.5 * errors["all / ms +trees"]
    errs = [
        abs(predict_graph(model, part_graph(c, "neck")).total_ms / m - 1) for c, m in zip(base.necks, base.measured, strict=True)
    ]
    assert sorted(errs)[len(errs) // 2] < 0.02  # classes with few in-context nodes still take the slow isolated times


def test_a_class_no_calibration_neck_has_is_priced_as_inside_a_neck(ms_lines: None, few_trees: None) -> None:
    """A machine whose kernels all run 2x slower timed alone than inside a neck: a class the
    calibration necks lack (5x5 convs) is priced from its isolated samples scaled by the factor the
    other classes show, so at its in-context cost, not twice it."""
    base = simulated(seed=4)
    slow = [replace(s, ms=2.0 * s.ms) for s in base.isolated]
    context = [
        Sample(k.cls, k.flops, k.bytes, kernel_true_ms(k), i, k.dims, k.groups)
        for i, cfg in enumerate(base.necks)
        for k in graph_kernels(part_graph(cfg, "neck"), "eager")
    ]
    assert "conv5x5" not in {s.cls for s in context}
    model = fit_model(replace(base, isolated=slow, context=context), machine_fingerprint("torch", "cpu", "eager", 1))
    assert model.calibration["context_factor"] == pytest.approx(0.5)
    assert all(e == pytest.approx(0.0, abs=1e-9) for e in model.calibration["context_factor_errors"].values())
    fresh = draw_samples("conv5x5", 5, random.Random(5))
    for k in graph_kernels(samples_graph(fresh), "eager"):
        assert model.classes["conv5x5"].ms(k.flops, k.bytes, k.rows) == pytest.approx(kernel_true_ms(k), rel=1e-6)
    from fpnprof.report.table_format import render

    text = render(calibration_report(model, Path("model.json")), width=80)
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 80
    assert "its isolated times x 0.50 (each class they have, priced so: median |error| 0%" in " ".join(text.split())


def test_the_executor_is_fitted_on_necks_priced_as_held_out_ones(ms_lines: None, few_trees: None) -> None:
    """Kernels fitted on a neck's own in-context samples price it closer than they will price a new
    neck: the executor's terms are fitted on each calibration neck priced by kernels fitted without
    its fold (in-sample, held-out Paddle necks came out 2-3% slow). Fewer trees than calibration's:
    what is checked is which terms the executor is fitted on, not how well the trees fit."""
    from fpnprof.latency.assemble import cross_fitted_terms, fit_executor_on, fit_kernels, neck_terms

    base = simulated(noise=0.05, seed=6)
    rng = random.Random(7)
    context = [
        Sample(k.cls, k.flops, k.bytes, kernel_true_ms(k) * rng.uniform(0.8, 1.2), i, k.dims, k.groups)
        for i, cfg in enumerate(base.necks)
        for k in graph_kernels(part_graph(cfg, "neck"), "eager")
    ]
    data = replace(base, context=context)
    model = fit_model(data, {"engine": "eager"})
    source, trees = model.calibration["samples_used"], bool(model.calibration["trees"])
    weights = model.calibration["line_weights"]
    everything = set(range(len(data.necks)))
    held_out = fit_executor_on(data, cross_fitted_terms(data, 0, source, trees, weights), everything)
    classes, corrections = fit_kernels(data, everything, source, trees, weights=weights)
    in_sample = fit_executor_on(data, [neck_terms(classes, corrections, c) for c in data.necks], everything)
    assert model.executor == held_out
    assert model.executor != in_sample


def test_the_fit_option_is_the_one_whose_misses_are_smallest() -> None:
    """Judged by the root mean square log ratio, not the median: an option close on most necks but
    20% off on one loses to one a little off on all."""
    from fpnprof.latency.assemble import _pick, log_spread

    options = ["all", "in-context", "a third"]  # simplest first
    close = [1.01, 0.99, 1.02, 0.98, 1.25]  # median error 2%, one neck 25% off
    even = [1.05, 0.95, 1.06, 0.94, 1.08]  # median error 6%, none past 8%
    closer = [1.05, 0.96, 1.04, 0.95, 1.06]

    def pick(*ratios: list[float]) -> str:
        return _pick(options, {o: log_spread(r) for o, r in zip(options, ratios, strict=True)})

    assert pick(close, even, close) == options[1]
    assert pick(even, close, even) == options[0]  # a tie: the simplest
    assert pick(even, close, closer) == options[2]


def test_a_busy_machine_is_said() -> None:
    from fpnprof.report.latency_report import busy_note

    assert busy_note(None, "calibrated") is None and busy_note(0.05, "calibrated") is None
    note = busy_note(0.42, "calibrated")
    assert note is not None and note.startswith("WARNING: the machine was busy") and "42%" in note


# Held-out necks: random neck files -----------------------------------------------------------------
def test_random_neck_files_are_valid_files_of_every_fusion(tmp_path: Path) -> None:
    """Every drawn file builds under its FLOPs cap; written to disk, it is a neck file the CLI takes;
    together they use every fusion and both pass directions."""
    from fpnprof.latency.random_files import FUSIONS, random_file_necks

    drawn = random_file_necks(24, random.Random(5), max_flops=300_000_000, prefix="t-valid")
    texts = "".join(text for _, text in drawn)
    assert all(f'fusion = "{f}"' in texts for f in FUSIONS)
    assert 'levels = "bottom..top"' in texts and 'levels = "top..bottom"' in texts
    cfg, text = drawn[0]
    path = tmp_path / "drawn.toml"
    path.write_text(text)
    result = run("shapes", str(path), "--channels", str(cfg.channels), "-f", "json")
    assert result.exit_code == 0, result.output


def test_validation_times_random_neck_files_in_fresh_processes() -> None:
    """The workers build the drawn files from the texts they are given (never from disk)."""
    pytest.importorskip("torch")
    from fpnprof.latency.random_files import random_file_necks
    from fpnprof.latency.validate import validate

    drawn = random_file_necks(2, random.Random(6), max_flops=20_000_000, prefix="t-workers")
    model = fit_model(simulated(), machine_fingerprint("torch", "cpu", "eager", 1))
    shipped = random_necks(1, random.Random(7), max_flops=20_000_000)
    v = validate(model, shipped + [c for c, _ in drawn], runs=2, seed=0, workers=1, neck_texts={c.neck: t for c, t in drawn})
    assert [r.config.neck for r in v.of_files(True).rows] == [c.neck for c, _ in drawn]
    assert len(v.of_files(False).rows) == 1
    assert all(r.measured_ms > 0 and r.predicted_ms > 0 for r in v.rows)


def test_calibrating_torch_compile_is_refused_with_one_line(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    result = run("calibrate", "--backend", "torch", "--engine", "compile", "--threads", "1", "--model", str(tmp_path / "m.json"))
    assert result.exit_code == 2 and "torch.compile compiles every graph" in result.stderr
    assert result.stderr.strip().count("\n") == 0 and not (tmp_path / "m.json").exists()


def test_calibration_holds_the_fusion_rules_to_the_engines_program() -> None:
    """check_fusion passes where the engine's program matches the rules, refuses one that fuses
    otherwise (one line naming the op), and checks nothing where the engine keeps no program."""
    from fpnprof.latency.calibrate import CalibrationPlan, check_fusion
    from fpnprof.latency.kernels import fusion_signature

    class Engine:
        def __init__(self, ops: object) -> None:
            self.ops = ops

        def engine_ops(self, graph: Graph, *, engine: str, threads: int) -> object:
            return self.ops(graph) if callable(self.ops) else self.ops

    necks = random_necks(8, random.Random(11), max_flops=300_000_000)
    plan = CalibrationPlan("paddle", engine="inference", necks=necks)
    forms = {(c.neck, c.variant) for c in necks}
    assert check_fusion(Engine(lambda g: fusion_signature(g, "inference")), plan) == len(forms)
    assert check_fusion(Engine(None), plan) == 0
    with pytest.raises(ConfigError, match="does not fuse") as refused:
        check_fusion(Engine(lambda g: {**fusion_signature(g, "inference"), "batch_norm": 99}), plan)
    assert "batch_norm: the rules say" in str(refused.value) and "\n" not in str(refused.value)


def test_calibrate_needs_the_necks_a_90_percent_band_over_necks_needs(tmp_path: Path) -> None:
    """19 necks bound a 90% interval split-conformally over necks (k = 1 of 20); fewer are refused
    before anything is timed, with one line."""
    from fpnprof.latency.fit import necks_needed

    assert necks_needed(0.9) == 19
    neck_band([[1.0]] * 19, 0.9)
    with pytest.raises(ConfigError, match="need 19"):
        neck_band([[1.0]] * 18, 0.9)
    result = run("calibrate", "--backend", "torch", "--threads", "1", "--necks", "18", "--model", str(tmp_path / "m.json"))
    assert result.exit_code == 2 and "--necks must be at least 19" in result.stderr
    assert result.stderr.strip().count("\n") == 0 and not (tmp_path / "m.json").exists()


def test_validation_compares_at_the_speed_its_anchors_measure() -> None:
    """The anchors' now / then (median) rescales every prediction and its interval; the raw error
    at calibration's speed is kept beside it."""
    from fpnprof.latency.validate import Checked, Validation

    cfg = NeckConfig("fpn")
    rows = [Checked(cfg, 10.0, 8.0, 12.0, 12.0, speed=1.2), Checked(cfg, 10.0, 8.0, 12.0, 15.0, speed=1.2)]
    v = Validation(rows, None, {}, [1.1, 1.2, 1.5])
    assert v.speed == pytest.approx(1.2)
    assert [r.error for r in rows] == pytest.approx([0.0, -0.2])
    assert [r.raw_error for r in rows] == pytest.approx([10 / 12 - 1, 10 / 15 - 1])
    assert [r.inside for r in rows] == [True, False]  # 12.0 in 9.6..14.4; 15.0 not
    assert v.within_10pct == 0.5 and v.raw_within_10pct == 0.0
    assert v.halves_within_10pct is None  # no halves given: no A/A claimed


def test_validation_holds_its_measurement_to_itself() -> None:
    """Half the processes against the other half, per neck: the share within ±10% and the median."""
    from fpnprof.latency.validate import Checked, Validation

    cfg = NeckConfig("fpn")
    halves = [(10.0, 10.5), (10.0, 12.0), (9.0, 10.0), (20.0, 19.0)]  # differences 4.8%, 16.7%, 10%, 5.3%
    v = Validation([Checked(cfg, 10.0, 8.0, 12.0, sum(h) / 2, halves=h) for h in halves])
    assert v.halves_within_10pct == pytest.approx(0.75)
    assert v.halves_median == pytest.approx(statistics.median([0.5 / 10.5, 2 / 12, 0.1, 1 / 19]))


def test_the_anchors_are_calibration_necks_with_their_times(tmp_path: Path) -> None:
    from fpnprof.cli.latency_commands import calibration_anchors
    from fpnprof.latency.random_files import random_file_necks

    ((file_cfg, text),) = random_file_necks(1, random.Random(3), 300_000_000, prefix="t-anchor")
    necks = [NeckConfig("fpn", channels=16, size=64), file_cfg]
    model = replace(fit_model(simulated(), {"engine": "eager"}), calibration={
        "neck_configs": [c.as_dict() for c in necks], "neck_ms": [3.0, 4.0], "neck_files": {file_cfg.neck: text}
    })  # fmt: skip
    anchors, texts = calibration_anchors(model, 6)
    assert anchors == [(necks[0], 3.0), (necks[1], 4.0)] and texts == {file_cfg.neck: text}
    assert calibration_anchors(replace(model, calibration={}), 6) == ([], {})


def test_the_validation_report_reads_at_80_columns() -> None:
    """Every summary number (the measurement's own A/A among them) whole at 80 columns, and in the JSON."""
    from fpnprof.latency.validate import Checked, Validation
    from fpnprof.report.latency_report import validation_report
    from fpnprof.report.table_format import render

    model = fit_model(simulated(), machine_fingerprint("torch", "cpu", "eager", 1))
    cfg = NeckConfig("fpn")
    rows = [Checked(cfg, 10.0, 8.0, 12.0, 10.0 + i / 10, speed=1.1, halves=(10.0, 10.0 + i / 5)) for i in range(10)]
    report = validation_report(Validation(rows, None, {}, [1.05, 1.1, 1.2]), model, 12.0, 0)
    text = render(report, width=80)
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 80
    # halves 10 and 10 + i / 5 apart by |10 / (10 + i / 5) - 1|: 0% .. 15.3%, six of ten within ±10%
    median = (0.8 / 10.8 + 1.0 / 11.0) / 2  # 8.3%
    assert f"60%, {median:.1%}" in " ".join(text.split())
    assert report.data["halves_within_10pct"] == pytest.approx(0.6)
    assert report.data["necks"][3]["measured_halves_ms"] == [10.0, 10.6]
