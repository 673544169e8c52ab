"""Run a graph's lowering and an independent reference neck on the same weights and inputs.

Weights are not copied from one model to the other: both are filled by the same fixed function of
(layer key, tensor name, shape), so a layer that exists on one side only, or with another shape,
shows up as a structure difference before any output is compared.
"""

from __future__ import annotations

import zlib
from dataclasses import replace
from typing import Any

import numpy as np

from fpnprof.backends import load
from fpnprof.model.config import NeckConfig
from fpnprof.model.graph import WEIGHTED_OPS, Graph
from fpnprof.model.necks import build_graph


def fixed_value(layer_key: str, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """A deterministic tensor for one weight: positive where the math needs it (variances, scales)."""
    rng = np.random.default_rng(zlib.crc32(f"{layer_key}/{name}".encode()))
    if name in ("_variance", "running_var"):
        return rng.uniform(0.5, 2.0, shape).astype("float32")
    if name in ("_mean", "running_mean"):
        return rng.normal(0.0, 0.5, shape).astype("float32")
    if name == "bias":
        return rng.normal(0.0, 0.1, shape).astype("float32")
    if len(shape) == 1:  # BN scale or fusion weights
        return rng.uniform(0.5, 1.5, shape).astype("float32")
    fan_in = int(np.prod(shape[1:]))
    return rng.normal(0.0, 1.0 / np.sqrt(fan_in), shape).astype("float32")


def _state(layer: Any) -> dict[str, Any]:
    return {k: v for k, v in layer.state_dict().items() if k != "num_batches_tracked"}


def weight_shapes(layers: dict[str, Any]) -> dict[str, dict[str, tuple[int, ...]]]:
    return {k: {n: tuple(t.shape) for n, t in _state(layer).items()} for k, layer in layers.items()}


def fill(layers: dict[str, Any], framework: str) -> None:
    for layer_key, layer in layers.items():
        for name, tensor in _state(layer).items():
            value = fixed_value(layer_key, name, tuple(tensor.shape))
            if framework == "paddle":
                tensor.set_value(value)
            else:
                import torch

                with torch.no_grad():
                    tensor.copy_(torch.from_numpy(value))


def graph_layers(model: Any, graph: Graph) -> dict[str, Any]:
    """The lowered model's weighted layers that own their weights, by key."""
    return {n.module_name: model.nodes[n.module_name] for n in graph if n.op in WEIGHTED_OPS and n.shares is None}


def framework_of(cfg: NeckConfig) -> str:
    """The seed's necks are Paddle code; the papers' reference implementations are torch code."""
    return "paddle" if cfg.variant == "tutorial" else "torch"


def reference_for(cfg: NeckConfig) -> Any:
    used = list(cfg.in_channels[cfg.min_level - 2 : cfg.top_input_level - 1])
    if cfg.neck.endswith(".toml") and "nasfpn" in cfg.neck.rsplit("/", 1)[-1]:
        from reference_nasfpn_torch import NasFpnReference

        return NasFpnReference(used, cfg.channels, cfg.cells).eval()
    if cfg.variant == "tutorial":
        from reference_seed_paddle import SeedNeck

        return SeedNeck(cfg.neck, cfg.min_level, cfg.max_level, used, cfg.channels, cfg.cells).eval()
    from reference_paper_torch import paper_neck

    return paper_neck(cfg.neck, cfg.min_level, cfg.max_level, used, cfg.channels, cfg.cells).eval()


def reference_errors(cfg: NeckConfig, graph: Graph | None = None) -> list[float]:
    """Relative L2 error per output level between the graph's lowering and the reference neck.

    ``cfg`` must have ``backbone='none'``. Raises AssertionError when the two models' weighted
    layers differ (a layer missing on one side, or another shape).
    """
    assert cfg.backbone == "none"
    graph = graph or build_graph(cfg)
    fw = framework_of(cfg)
    backend = load(fw)
    model = backend.lower(graph)
    ref = reference_for(cfg)
    mine, theirs = graph_layers(model, graph), dict(ref.nodes.items())
    assert weight_shapes(mine) == weight_shapes(theirs), "the graph's weighted layers differ from the reference's"
    fill(mine, fw)
    fill(theirs, fw)
    rng = np.random.default_rng(7)
    xs = [rng.standard_normal(n.attrs["shape"]).astype("float32") for n in graph.inputs]
    if fw == "paddle":
        import paddle

        with paddle.no_grad():
            got = [t.numpy() for t in model([paddle.to_tensor(x) for x in xs])]
            want = [t.numpy() for t in ref([paddle.to_tensor(x) for x in xs])]
    else:
        import torch

        with torch.no_grad():
            got = [t.numpy() for t in model(*[torch.from_numpy(x) for x in xs])]
            want = [t.numpy() for t in ref([torch.from_numpy(x) for x in xs])]
    got = got[: len(graph.outputs)]
    assert [g.shape for g in got] == [w.shape for w in want], "output shapes differ from the reference's"
    return [float(np.linalg.norm(g - w) / np.linalg.norm(w)) for g, w in zip(got, want, strict=True)]


def rewire(graph: Graph, node_id: str, inputs: tuple[str, ...]) -> None:
    """Point one node at other inputs, in place (for deliberate miswirings), and put the nodes back in
    an order that runs (its canonical one)."""
    graph.nodes[node_id] = replace(graph[node_id], inputs=inputs)
    graph.reorder(graph.canonical_order())
