"""Which FLOPs: every counter's predicted count equals what the installed counter reports, to the unit,
on every shipped neck at three shapes; random configurations for fvcore and FlopCounterMode; and a
wrong rule is caught."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from cli_helpers import run
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

import fpnprof.backends.counting as counting
from fpnprof.backends.counting import CounterBroken, CounterMissing, measure
from fpnprof.cost.counters import COUNTERS, CounterSpec, per_output, predict
from fpnprof.errors import ConfigError
from fpnprof.model.config import NeckConfig
from fpnprof.model.graph import Graph, Op
from fpnprof.model.necks import neck_spec
from fpnprof.model.parts import part_graph

#: The six built-in forms and the two shipped files.
NECKS = [(n, v) for n in ("fpn", "pafpn", "bifpn") for v in ("tutorial", "paper")] + [
    ("nasfpn.toml", "paper"),
    ("yolov5-pan.toml", "paper"),
]
#: Three shapes: uneven sides (the NAS-FPN resize and the SAME pools pad), batches 1 and 2.
SHAPES = [(64, 1), (80, 2), (96, 1)]


def neck_graph(neck: str, variant: str, size: int, batch: int, channels: int = 8) -> Graph:
    spec = neck_spec(neck)
    d = spec.defaults_for(variant)
    cfg = NeckConfig(neck, variant=variant, channels=channels, size=size, batch=batch, levels=d["levels"])
    return part_graph(replace(cfg, min_level=d.get("min_level", cfg.min_level)), "neck")


def mismatches(graph: Graph, counters: list[CounterSpec]) -> list[str]:
    out = []
    for c in counters:
        predicted, measured = predict(graph, c).total, measure(c.key, graph)
        if predicted != measured:
            out.append(f"{c.key}: predicted {predicted:,}, measured {measured:,}")
    return out


@pytest.mark.parametrize(("neck", "variant"), NECKS, ids=[f"{n}-{v}" for n, v in NECKS])
def test_every_counter_reports_what_fpnprof_predicts(neck: str, variant: str) -> None:
    for size, batch in SHAPES:
        graph = neck_graph(neck, variant, size, batch)
        assert mismatches(graph, list(COUNTERS.values())) == [], (size, batch)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    neck=st.sampled_from(NECKS),
    channels=st.integers(1, 16),
    size=st.integers(2, 6).map(lambda k: 16 * k),  # the tutorial BiFPN needs exact halves over 5 levels
    batch=st.integers(1, 2),
)
def test_random_configurations_fvcore_and_flopcounter(neck: tuple[str, str], channels: int, size: int, batch: int) -> None:
    try:
        graph = neck_graph(*neck, size=size, batch=batch, channels=channels)
    except ConfigError:  # refused with one line (e.g. a YOLOv5 C3 block at --channels 1 halves to 0): nothing to count
        reject()
    assert mismatches(graph, [COUNTERS["fvcore"], COUNTERS["flopcounter"]]) == []


def test_a_wrong_rule_is_caught() -> None:
    """thop counts an affine BatchNorm as 4 per element; a rule of 2 (ptflops') must fail the check."""
    wrong = replace(COUNTERS["thop"], rules={**COUNTERS["thop"].rules, Op.BATCHNORM: per_output(2)})
    graph = neck_graph("bifpn", "paper", 64, 1)
    assert mismatches(graph, [COUNTERS["thop"]]) == []
    assert mismatches(graph, [wrong]) and "thop: predicted" in mismatches(graph, [wrong])[0]


def test_conventions_table_and_json_without_a_framework_run() -> None:
    table = run("conventions", "bifpn", "--variant", "paper", "--per-level", columns=100)
    assert table.exit_code == 0, table.output
    assert "fvcore FlopCountAnalysis" in table.stdout and "per op kind" in table.stdout and "P7" in table.stdout
    data = json.loads(run("conventions", "fpn", "-f", "json").stdout)
    keys = [c["key"] for c in data["counters"]]
    assert keys == list(COUNTERS) and all("measured" not in c for c in data["counters"])
    graph = part_graph(NeckConfig("fpn"), "neck")
    assert [c["predicted"] for c in data["counters"]] == [predict(graph, c).total for c in COUNTERS.values()]


def test_measure_says_equal_missing_or_crashed_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(graph: Graph) -> int:
        raise CounterMissing

    def crash(graph: Graph) -> int:
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setitem(counting.MEASURE, "thop", missing)
    monkeypatch.setitem(counting.MEASURE, "ptflops-aten", crash)
    result = run("conventions", "fpn", "--channels", "8", "--measure", "-f", "json")
    assert result.exit_code == 0, result.output
    rows = {c["key"]: c for c in json.loads(result.stdout)["counters"]}
    assert rows["fvcore"]["measured"] == rows["fvcore"]["predicted"] and rows["fvcore"]["problem"] is None
    assert rows["thop"]["measured"] is None and "not installed" in rows["thop"]["problem"]
    assert rows["ptflops-aten"]["problem"] == "crashed: RuntimeError: boom"
    table = run("conventions", "fpn", "--channels", "8", "--measure", columns=160)
    assert "equal" in table.stdout and "not installed: pip install 'fpnprof[counters]'" in table.stdout


def test_paddle_flops_under_numpy_2_4_is_refused_with_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """paddle.flops 3.3.1 crashes with numpy >= 2.4 (a TypeError deep in its table): say so instead."""
    import numpy

    monkeypatch.setattr(numpy, "__version__", "2.4.6")
    with pytest.raises(CounterBroken, match=r"numpy >= 2.4 \(here 2.4.6\): pip install 'numpy<2.4'"):
        measure("paddle-flops", neck_graph("fpn", "paper", 64, 1))
    result = run("conventions", "fpn", "--channels", "8", "--measure", "-f", "json")
    rows = {c["key"]: c for c in json.loads(result.stdout)["counters"]}
    assert rows["paddle-flops"]["measured"] is None and rows["paddle-flops"]["problem"].startswith("cannot run: paddle.flops")
    assert rows["fvcore"]["measured"] == rows["fvcore"]["predicted"]


def test_the_readme_table_is_what_fpnprof_predicts() -> None:
    """README's "Which FLOPs?" table: the paper necks at EfficientDet-D0's neck setting."""
    from pathlib import Path

    from fpnprof.cost.analysis import profile_graph

    text = (Path(__file__).parents[1] / "README.md").read_text()
    table = text.split("<!-- conventions table: tests/test_counters.py checks every number -->")[1].split("\n\n")[0]
    rows = [line.strip("|").split("|") for line in table.strip().splitlines()[2:]]
    assert [r[0].strip() for r in rows] == ["fpn", "pafpn", "bifpn"]
    for cells in rows:
        cfg = NeckConfig(
            cells[0].strip(), variant="paper", channels=64, min_level=3, levels=5, size=512, batch=1, stem="imagenet"
        )
        graph = part_graph(cfg, "neck")
        expected = [profile_graph(cfg, graph).neck_total.flops, *(predict(graph, c).total for c in COUNTERS.values())]
        assert [int(c.replace(",", "")) for c in cells[1:]] == expected
