"""Backends lower a graph to a framework model. ``load(name)`` imports a framework only when asked;
every backend's facts (engines, dtypes, install hints) are in :mod:`fpnprof.backends.registry`."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, cast

from fpnprof.backends.registry import BACKENDS, FVCORE_MACS, backend_info
from fpnprof.errors import BackendUnavailable

if TYPE_CHECKING:  # annotations only: importing the registry (as the CLI does) stays light
    from fpnprof.backends.primitives import Executable, PeakKernels
    from fpnprof.cost.results import Profile
    from fpnprof.model.graph import Graph, Node, Op

__all__ = ["BACKENDS", "FVCORE_MACS", "Backend", "load"]


class Backend(Protocol):
    """What a backend module provides. It supplies its op table (``LOWER``) and framework glue;
    the executor is the shared :class:`fpnprof.backends.common.ExecutionPlan`. Framework tensors
    and models are ``Any`` inside; what crosses into timing is framework-free
    (:mod:`fpnprof.backends.primitives`)."""

    @property
    def NAME(self) -> str: ...
    @property
    def CAPABILITIES(self) -> frozenset[str]:
        """Optional abilities, e.g. :data:`FVCORE_MACS`; callers ask these, never the backend's name."""

    @property
    def LOWER(self) -> Mapping[Op, Callable[[Node], Any]]: ...

    def lower(self, graph: Graph) -> Any: ...
    def random_inputs(self, graph: Graph, seed: int = 0) -> list[Any]: ...
    def node_shapes(self, model: Any, inputs: Sequence[Any]) -> dict[str, tuple[int, ...]]: ...
    def count_parameters(self, model: Any) -> tuple[int, int]: ...
    def version(self) -> str: ...
    def check_macs(self, model: Any, graph: Graph, p: Profile) -> list[str]: ...
    def make_runner(self, graph: Graph, *, device: str, engine: str, dtype: str, threads: int, seed: int = 0) -> Executable: ...
    def peak_kernels(self, *, device: str, dtype: str, threads: int, best: bool = True) -> PeakKernels: ...
    def engine_ops(self, graph: Graph, *, engine: str, threads: int) -> dict[str, int] | None:
        """The ops the engine runs for the graph after its own fusions, by type (None: not known)."""


def load(name: str) -> Backend:
    """Import a backend module, or raise BackendUnavailable with the install command."""
    if name not in BACKENDS:
        raise BackendUnavailable(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)}")
    info = backend_info(name)
    try:
        with warnings.catch_warnings():
            # Paddle warns about a missing C++ compiler cache on import: nothing to do with the user's run.
            warnings.filterwarnings("ignore", message="No ccache found")
            importlib.import_module(info.framework)
    except ImportError:
        raise BackendUnavailable(f"the {name} backend needs {info.framework}: {info.install}") from None
    return cast(Backend, importlib.import_module(info.module))


if TYPE_CHECKING:  # mypy checks that both modules satisfy the protocol
    from fpnprof.backends import paddle_backend, torch_backend

    _PADDLE: Backend = paddle_backend
    _TORCH: Backend = torch_backend
