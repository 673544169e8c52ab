"""Run the popular FLOP counters on fpnprof's lowering of a graph (``conventions --measure``).

Each returns the counter's own total for one forward pass of the graph's random inputs, on the
torch lowering (paddle.flops: the Paddle one). A counter that is not installed raises
:class:`CounterMissing`, one that cannot run in this environment :class:`CounterBroken`; anything it
raises itself is the caller's to report. Imports the framework and the counters only when called.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from fpnprof.backends import load
from fpnprof.model.graph import Graph


class CounterMissing(Exception):
    """The counter's package is not installed."""


class CounterBroken(Exception):
    """The counter is installed but cannot run here; the message says why and what to install."""


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Counters print tables and warnings of their own: keep them off the user's terminal."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _counter_module(name: str) -> Any:
    """The counter's module, or :class:`CounterMissing` when its package is not installed."""
    try:
        return importlib.import_module(name)
    except ImportError:
        raise CounterMissing from None


def _lowered(graph: Graph) -> tuple[Any, tuple[Any, ...]]:
    tb: Any = load("torch")
    return tb.lower(graph), tuple(tb.random_inputs(graph))


def _fvcore(graph: Graph) -> int:
    """fvcore's total, as ``shapes --verify`` gets it (``torch_backend.fvcore_counts``)."""
    _counter_module("fvcore.nn")
    from fpnprof.backends import torch_backend

    model, inputs = _lowered(graph)
    return torch_backend.fvcore_counts(model, inputs)[0]


def _flopcounter(graph: Graph) -> int:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    model, inputs = _lowered(graph)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(*inputs)
    return int(counter.get_total_flops())


def _thop(graph: Graph) -> int:
    thop = _counter_module("thop")
    model, inputs = _lowered(graph)
    return int(thop.profile(model, inputs, verbose=False)[0])


def _ptflops(backend: str) -> Callable[[Graph], int]:
    def run(graph: Graph) -> int:
        ptflops = _counter_module("ptflops")
        import torch

        model, inputs = _lowered(graph)

        class Positional(torch.nn.Module):  # ptflops calls model(**input_constructor(...))
            def __init__(self) -> None:
                super().__init__()
                self.inner = model

            def forward(self, xs: tuple[torch.Tensor, ...]) -> Any:
                return self.inner(*xs)

        macs, _ = ptflops.get_model_complexity_info(
            Positional(),
            (1,),
            input_constructor=lambda _: {"xs": inputs},
            as_strings=False,
            print_per_layer_stat=False,
            backend=backend,
        )
        return int(macs or 0)

    return run


def _deepspeed(index: int) -> Callable[[Graph], int]:
    """DeepSpeed's ``get_model_profile``: index 0 its FLOPs, 1 its MACs."""

    def run(graph: Graph) -> int:
        profiler = _counter_module("deepspeed.profiling.flops_profiler")
        model, inputs = _lowered(graph)
        counts = profiler.get_model_profile(model, args=list(inputs), print_profile=False, detailed=False, as_string=False)
        return int(counts[index])

    return run


def _paddle_flops(graph: Graph) -> int:
    """``paddle.flops`` on the Paddle lowering. It feeds a model one random tensor, so the graph's
    inputs are made inside a wrapper's ``forward`` (tensor creation is no layer: nothing counted)."""
    import numpy

    if tuple(int(p) for p in numpy.__version__.split(".")[:2]) >= (2, 4):
        raise CounterBroken(f"paddle.flops crashes with numpy >= 2.4 (here {numpy.__version__}): pip install 'numpy<2.4'")
    import paddle

    pb: Any = load("paddle")
    model, inputs = pb.lower(graph), pb.random_inputs(graph)

    class FromGraphInputs(paddle.nn.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(self, _: Any) -> Any:
            return self.inner(inputs)

    return int(paddle.flops(FromGraphInputs(), [1]))


MEASURE: dict[str, Callable[[Graph], int]] = {
    "fvcore": _fvcore,
    "flopcounter": _flopcounter,
    "thop": _thop,
    "ptflops": _ptflops("pytorch"),
    "ptflops-aten": _ptflops("aten"),
    "deepspeed": _deepspeed(0),
    "deepspeed-macs": _deepspeed(1),
    "paddle-flops": _paddle_flops,
}


def measure(key: str, graph: Graph) -> int:
    """The counter's total on the graph's lowering, its own output silenced."""
    with _quiet():
        return MEASURE[key](graph)
