"""The paths of a torch module's tensors: a tensor that modules share has several."""

from __future__ import annotations

from torch import nn


def tensor_names(module: nn.Module) -> dict[str, set[str]]:
    """Every path of every parameter and buffer, by each of its paths."""
    by_tensor: dict[int, set[str]] = {}
    named = [*module.named_parameters(remove_duplicate=False), *module.named_buffers(remove_duplicate=False)]
    for path, tensor in named:
        by_tensor.setdefault(id(tensor), set()).add(path)
    return {path: by_tensor[id(tensor)] for path, tensor in named}
