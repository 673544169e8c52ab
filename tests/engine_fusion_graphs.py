"""Graphs whose fusions are checked against Paddle Inference's optimized program: every shipped neck
form, and every chain :data:`fpnprof.latency.sampling.EPILOGUES` draws after every op a rule names
(conv with and without a bias, depthwise and grouped convs, BatchNorm, the adds, fusions and
attention), beside ops that absorb nothing (concat, upsample, pools, lone activations).

Run as a script (``python tests/engine_fusion_graphs.py``, Paddle's IR flag set by the caller), it
prints every graph's op counts after Paddle Inference's passes as JSON."""

from __future__ import annotations

import json
import sys
from dataclasses import replace

from fpnprof.bench.kernels import KernelSample, samples_graph
from fpnprof.latency.sampling import EPILOGUES, NECK_FORMS
from fpnprof.model.config import NeckConfig
from fpnprof.model.graph import Graph, Op
from fpnprof.model.necks import neck_spec
from fpnprof.model.parts import part_graph

X = (1, 32, 16, 16)


def _conv(bias: bool, kernel: int = 3, groups: int = 1) -> dict[str, object]:
    return dict(in_channels=32, out_channels=32, kernel=kernel, stride=1, padding=kernel // 2, groups=groups, bias=bias)


def pattern_samples() -> list[KernelSample]:
    heads = [
        KernelSample(Op.CONV, (X,), _conv(True)),
        KernelSample(Op.CONV, (X,), _conv(False)),
        KernelSample(Op.CONV, (X,), _conv(False, 1)),
        KernelSample(Op.CONV, (X,), _conv(True, 3, 32)),
        KernelSample(Op.CONV, (X,), _conv(False, 3, 32)),
        KernelSample(Op.CONV, (X,), _conv(False, 3, 4)),
        KernelSample(Op.BATCHNORM, (X,), {"channels": 32, "eps": 1e-5}),
        KernelSample(Op.ADD, (X, X), {}),
        KernelSample(Op.ADD, (X, X, X), {}),
        KernelSample(Op.FUSION, (X, X), {"arity": 2, "eps": 1e-4}),
        KernelSample(Op.SOFTMAX_FUSION, (X, X, X), {"arity": 3}),
        KernelSample(Op.ATTENTION, (X, X), {}),
    ]
    out = [replace(s, epilogue=e) for s in heads for e in EPILOGUES[s.op]]
    acts = ((), (Op.RELU,), (Op.SWISH,), (Op.BATCHNORM,))
    loners = [
        KernelSample(Op.CONCAT, (X, X), {}),
        KernelSample(Op.UPSAMPLE, (X,), {"size": (32, 32)}),
        KernelSample(Op.MAXPOOL, (X,), {"kernel": 3, "stride": 2, "padding": (0, 1, 0, 1)}),
        KernelSample(Op.RELU, (X,), {}),
        KernelSample(Op.SWISH, (X,), {}),
    ]
    return out + [replace(s, epilogue=e) for s in loners for e in acts]


def fusion_graphs() -> dict[str, Graph]:
    graphs = {"patterns": samples_graph(pattern_samples())}
    for neck, variant in NECK_FORMS:
        d = neck_spec(neck).defaults_for(variant)
        cfg = NeckConfig(neck, variant=variant, channels=32, size=64, levels=d["levels"])
        graphs[f"{neck} {variant}"] = part_graph(replace(cfg, min_level=d.get("min_level", cfg.min_level)), "neck")
    return graphs


def main() -> None:
    from fpnprof.backends import load

    backend = load("paddle")
    ops = {name: backend.engine_ops(g, engine="inference", threads=1) for name, g in fusion_graphs().items()}
    sys.stdout.write(json.dumps(ops) + "\n")


if __name__ == "__main__":
    main()
