"""The fusion rules the latency model prices Paddle Inference by hold on what Paddle Inference runs:
its optimized program (saved after its IR passes) holds exactly the fused convs, fused adds and the
BatchNorms and activations left that the rules say, on every shipped neck and on every chain the
calibration samples draw."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from engine_fusion_graphs import fusion_graphs

from fpnprof.bench.launch import worker_env
from fpnprof.latency import kernels as kernel_rules
from fpnprof.latency.kernels import CONV_BN_ACT, fusion_mismatches

pytest.importorskip("paddle")


@pytest.fixture(scope="module")
def engine_ops() -> dict[str, dict[str, int]]:
    """Op counts of every graph after Paddle Inference's passes, from a process of its own (Paddle's
    IR flag must be set before its import)."""
    script = Path(__file__).with_name("engine_fusion_graphs.py")
    done = subprocess.run([sys.executable, str(script)], env=worker_env(1), capture_output=True, text=True, check=True)
    ops: dict[str, dict[str, int]] = json.loads(done.stdout.strip().splitlines()[-1])
    return ops


def test_paddle_inference_fuses_as_the_rules_say(engine_ops: dict[str, dict[str, int]]) -> None:
    graphs = fusion_graphs()
    assert set(engine_ops) == set(graphs)
    for name, graph in graphs.items():
        assert fusion_mismatches(graph, "inference", engine_ops[name]) == [], name
    # the checked ops are there to be checked: every rule's sign shows up
    seen = {op for ops in engine_ops.values() for op in ops}
    assert {"fused_conv2d", "fused_elementwise_add", "batch_norm", "relu", "swish"} <= seen


def test_the_textbook_rule_is_refuted_by_the_engine(
    engine_ops: dict[str, dict[str, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deliberately wrong rules (every conv absorbing BatchNorm and activation, bias or not; adds
    absorbing nothing) disagree with the engine's program."""
    monkeypatch.setitem(kernel_rules.FUSION_RULES, "inference", (CONV_BN_ACT,))
    graphs = fusion_graphs()
    wrong = {name: fusion_mismatches(g, "inference", engine_ops[name]) for name, g in graphs.items()}
    assert wrong["bifpn paper"] and wrong["nasfpn.toml paper"] and wrong["patterns"]
    assert any(line.startswith("batch_norm: the rules say 0, the engine runs 30") for line in wrong["bifpn paper"])
