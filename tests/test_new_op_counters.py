"""Every FLOP counter's rule for the ops real necks use, proven on one node of each: fpnprof's
prediction equals what the installed counter reports on fpnprof's lowering, to the unit; a wrong rule
is caught; and ``conventions`` lists each new op with every counter's count."""

from __future__ import annotations

from dataclasses import replace

import pytest
from new_op_cases import CASES, one_op

from fpnprof.backends.counting import measure
from fpnprof.cost.analysis import profile_graph
from fpnprof.cost.counters import COUNTERS, fpnprof_flops_by_op, per_output, predict
from fpnprof.model.builder import GraphBuilder
from fpnprof.model.config import NeckConfig
from fpnprof.model.graph import Graph, Op
from fpnprof.report.conventions_report import conventions_report, op_cell


@pytest.mark.parametrize("name", list(CASES))
def test_every_counter_reports_what_fpnprof_predicts(name: str) -> None:
    graph = one_op(CASES[name])
    got = {key: (predict(graph, c).total, measure(key, graph)) for key, c in COUNTERS.items()}
    assert {k: v for k, v in got.items() if v[0] != v[1]} == {}


def test_the_rules_are_not_vacuous() -> None:
    """Each new rule counts something on its case (a rule returning 0 would pass where the counter
    also ignores the op, but not here)."""
    counted = {
        ("flopcounter", "conv_transpose"),
        ("thop", "groupnorm"),
        ("thop", "conv_transpose"),
        ("thop", "adaptive_avgpool"),
        ("ptflops", "groupnorm"),
        ("ptflops", "leaky_relu"),
        ("ptflops", "bilinear"),
        ("ptflops", "conv_transpose"),
        ("ptflops", "adaptive_avgpool"),
        ("ptflops-aten", "conv_transpose"),
        ("deepspeed", "groupnorm"),
        ("deepspeed", "leaky_relu"),
        ("deepspeed", "bilinear"),
        ("deepspeed", "conv_transpose"),
        ("deepspeed", "adaptive_avgpool"),
        ("deepspeed-macs", "conv_transpose"),
        ("paddle-flops", "leaky_relu"),
        ("paddle-flops", "conv_transpose"),
        ("paddle-flops", "adaptive_avgpool"),
    }
    for key, case in counted:
        assert predict(one_op(CASES[case]), COUNTERS[key]).total > 0, (key, case)


def test_a_wrong_rule_is_caught() -> None:
    """ptflops counts nn.LeakyReLU once per element (F.leaky_relu is not patched); the ReLU rule of 2 fails."""
    graph = one_op(CASES["leaky_relu"])
    right = COUNTERS["ptflops"]
    wrong = replace(right, rules={**right.rules, Op.LEAKY_RELU: per_output(2)})
    measured = measure("ptflops", graph)
    assert predict(graph, right).total == measured == 480
    assert predict(graph, wrong).total != measured


def every_new_op_graph() -> Graph:
    """One node of every new op on one tensor, chained where shapes allow."""
    b = GraphBuilder()
    x = b.input("x", (1, 8, 8, 8))
    g = b.add(Op.GROUPNORM, (x,), "gn", channels=8, groups=2, eps=1e-5)
    a = b.add(Op.LEAKY_RELU, (g,), "leaky", negative_slope=0.1)
    a = b.add(Op.HARDSWISH, (a,), "hswish")
    s = b.add(Op.SIGMOID, (b.add(Op.ADAPTIVE_AVGPOOL, (a,), "pool", size=(1, 1)),), "sig")
    h = b.add(Op.HARDSIGMOID, (s,), "hsig", slope=0.2, offset=0.5)
    m = b.add(Op.MUL, (a, h), "mul")
    m = b.add(Op.DIV, (b.add(Op.SUB, (m, s), "sub"), h), "div")
    up = b.add(Op.RESIZE_BILINEAR, (m,), "up", size=(16, 16), align_corners=False)
    t = b.add(Op.CONV_TRANSPOSE, (m,), "ct", in_channels=8, out_channels=8, kernel=2, stride=2, padding=0, bias=True)
    p = b.add(Op.PAD, (b.add(Op.CHANNEL_SLICE, (b.sum((up, t), "add"),), "half", start=0, stop=4),), "pad", padding=(1, 1, 1, 1))
    b.graph.outputs = {2: p}
    return b.graph


def test_conventions_lists_every_new_op_with_each_counters_count() -> None:
    graph = every_new_op_graph()
    cfg = NeckConfig("fpn")
    by_op = fpnprof_flops_by_op(profile_graph(cfg, graph).nodes)
    predictions = [predict(graph, c) for c in COUNTERS.values()]
    report = conventions_report(cfg, "neck", sum(by_op.values()), by_op, {}, predictions, None)
    rows = {row["op"]: row for row in report.sections[1].rows}
    new = {"groupnorm", "leaky_relu", "hardswish", "hardsigmoid", "sigmoid", "resize_bilinear", "conv_transpose"}
    new |= {"adaptive_avgpool", "mul", "sub", "div", "pad", "channel_slice"}
    assert new <= set(rows)
    for op in new:
        for p in predictions:
            assert rows[op][p.counter.key] == op_cell(p.by_op.get(op, 0), by_op[op]), (op, p.counter.key)
    assert rows["pad"]["fvcore"] == "-" and rows["groupnorm"]["thop"] == f"{4 * 512 / (8 * 512 + 5 * 2):.2f}x"
