"""Run the popular FLOP counters on fpnprof's torch lowering of a graph (``conventions --measure``).

Each returns the counter's own total for one forward pass of the graph's random inputs. A counter
that is not installed raises :class:`CounterMissing`; anything it raises itself is the caller's to
report. Imports torch and the counters only when called.
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


MEASURE: dict[str, Callable[[Graph], int]] = {
    "fvcore": _fvcore,
    "flopcounter": _flopcounter,
    "thop": _thop,
    "ptflops": _ptflops("pytorch"),
    "ptflops-aten": _ptflops("aten"),
    "deepspeed": _deepspeed(0),
    "deepspeed-macs": _deepspeed(1),
}


def measure(key: str, graph: Graph) -> int:
    """The counter's total on the graph's torch lowering, its own output silenced."""
    with _quiet():
        return MEASURE[key](graph)
