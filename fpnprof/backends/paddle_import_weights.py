"""Copy a Paddle source's weights onto fpnprof's lowering of the neck imported from it, op by op.

An imported op is named by the layer that holds its parameters (a fusion by its parameter), so
its weights are found by name: ``<name>.weight``, ``.bias``, ``._mean``, ``._variance``. An op that
shares another's weights gets none (the lowering ties it to its owner's).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from paddle import nn

from fpnprof.errors import ImportRefused
from fpnprof.model.graph import Op
from fpnprof.model.graphneck import GraphNeck
from fpnprof.model.graphneck_build import PREFIX

#: The parameters each weighted op takes from its layer, by their Paddle names.
ROLES: dict[Op, tuple[str, ...]] = {
    Op.CONV: ("weight", "bias"),
    Op.CONV_TRANSPOSE: ("weight", "bias"),
    Op.BATCHNORM: ("weight", "bias", "_mean", "_variance"),
    Op.GROUPNORM: ("weight", "bias"),
    Op.FUSION: ("weight",),
    Op.SOFTMAX_FUSION: ("weight",),
}


def module_name(op_name: str) -> str:
    """The key of an imported op's module in a lowered model (its node id, dots as ``__``)."""
    return (PREFIX + op_name).replace(".", "__")


def source_weights(source: nn.Layer, neck: GraphNeck) -> dict[str, dict[str, np.ndarray]]:
    """Each weight-owning op's source tensors (op name -> Paddle name -> array)."""
    params = dict(source.named_parameters())
    layers = dict(source.named_sublayers())
    out: dict[str, dict[str, np.ndarray]] = {}
    for op in neck.ops:
        roles = ROLES.get(op.op)
        if roles is None or op.shares is not None:
            continue
        if op.op in (Op.FUSION, Op.SOFTMAX_FUSION):  # named by its parameter, or by the layer it is the only one of
            own = [n for n, _ in layers[op.name].named_parameters(include_sublayers=False)] if op.name in layers else []
            names = {"weight": f"{op.name}.{own[0]}" if len(own) == 1 else op.name}
        else:
            owner = f"{op.name}." if op.name in layers else ""  # "": the source layer's own (it is a conv itself)
            names = {role: owner + role for role in roles}
            if not op.attrs.get("bias", True):
                names.pop("bias")
        missing = [n for n in names.values() if n not in params]
        if missing:
            raise ImportRefused(f"{op.name}: the source has no parameter {missing[0]!r} to copy")
        out[op.name] = {role: params[name].numpy() for role, name in names.items()}
    return out


def copy_weights(source: nn.Layer, lowered: Any, neck: GraphNeck) -> int:
    """Set ``lowered``'s (a :class:`~fpnprof.backends.paddle_backend.GraphLayer` of
    ``standalone_graph(neck, ...)``) weights to ``source``'s; returns how many tensors it copied."""
    copied = 0
    for op_name, tensors in source_weights(source, neck).items():
        module = lowered.nodes[module_name(op_name)]
        for role, array in tensors.items():
            target = getattr(module, role)
            if tuple(target.shape) != array.shape:
                raise ImportRefused(f"{op_name}.{role}: the source's {array.shape} does not fit fpnprof's {tuple(target.shape)}")
            target.set_value(array.astype(target.numpy().dtype))
            copied += 1
    return copied
