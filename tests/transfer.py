"""Copy a Paddle model's weights into the torch model of the same graph, by explicit names."""

from __future__ import annotations

from typing import Any

import numpy as np

from fpnprof.model.graph import Graph, Op

#: Paddle parameter name -> torch tensor name, per op that holds weights.
NAME_MAP: dict[Op, dict[str, str]] = {
    Op.CONV: {"weight": "weight", "bias": "bias"},
    Op.BATCHNORM: {"weight": "weight", "bias": "bias", "_mean": "running_mean", "_variance": "running_var"},
    Op.FUSION: {"weight": "weight"},
    Op.SOFTMAX_FUSION: {"weight": "weight"},
    Op.GROUPNORM: {"weight": "weight", "bias": "bias"},
    Op.CONV_TRANSPOSE: {"weight": "weight", "bias": "bias"},  # both frameworks: (in, out / groups, k, k)
}


def paddle_to_torch(paddle_model: Any, torch_model: Any, graph: Graph) -> int:
    """Copy every owned weight (shared ones once); return how many tensors were copied."""
    import torch

    copied = 0
    for node in graph:
        if node.op not in NAME_MAP or node.shares is not None:
            continue
        src = paddle_model.nodes[node.module_name]
        dst = torch_model.nodes[node.module_name]
        for p_name, t_name in NAME_MAP[node.op].items():
            p_tensor = getattr(src, p_name, None)
            if p_tensor is None:
                continue
            target = getattr(dst, t_name)
            value = torch.from_numpy(np.asarray(p_tensor.numpy()))
            if tuple(value.shape) != tuple(target.shape):
                raise ValueError(f"{node.id}.{p_name}: paddle {tuple(value.shape)} vs torch {tuple(target.shape)}")
            with torch.no_grad():
                target.copy_(value)
            copied += 1
    return copied


def randomize_paddle(paddle_model: Any, graph: Graph, seed: int = 0) -> None:
    """Give every BN random affine terms and running statistics, and fusions random positive
    weights, so a wrong BN or fusion lowering cannot hide behind identity defaults."""
    import paddle

    rng = np.random.default_rng(seed)
    for node in graph:
        if node.shares is not None:
            continue
        if node.op not in (Op.BATCHNORM, Op.FUSION, Op.SOFTMAX_FUSION):
            continue
        layer = paddle_model.nodes[node.module_name]
        if node.op is Op.BATCHNORM:
            c = node.attrs["channels"]
            for name, value in (
                ("weight", rng.uniform(0.5, 1.5, c)),
                ("bias", rng.normal(0, 0.1, c)),
                ("_mean", rng.normal(0, 0.5, c)),
                ("_variance", rng.uniform(0.5, 2.0, c)),
            ):
                getattr(layer, name).set_value(paddle.to_tensor(value.astype("float32")))
        else:
            layer.weight.set_value(paddle.to_tensor(rng.uniform(0.2, 1.5, node.attrs["arity"]).astype("float32")))


def torch_to_paddle(torch_model: Any, paddle_model: Any, graph: Graph) -> int:
    """The reverse of :func:`paddle_to_torch`: every owned weight of the torch lowering into the Paddle
    lowering of the same graph; return how many tensors were copied."""
    copied = 0
    for node in graph:
        if node.op not in NAME_MAP or node.shares is not None:
            continue
        src = torch_model.nodes[node.module_name]
        dst = paddle_model.nodes[node.module_name]
        for p_name, t_name in NAME_MAP[node.op].items():
            target = getattr(dst, p_name, None)
            value = getattr(src, t_name, None)
            if target is None or value is None:
                continue
            array = value.detach().cpu().float().numpy()
            if tuple(array.shape) != tuple(target.shape):
                raise ValueError(f"{node.id}.{p_name}: torch {tuple(array.shape)} vs paddle {tuple(target.shape)}")
            target.set_value(array)
            copied += 1
    return copied
