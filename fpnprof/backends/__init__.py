"""Backends lower a graph to a framework model. ``load(name)`` imports a framework only when asked."""

from __future__ import annotations

import importlib
import warnings
from types import ModuleType

from fpnprof.errors import BackendUnavailable

BACKENDS = {
    "paddle": ("fpnprof.backends.paddle_backend", "paddle", "pip install paddlepaddle"),
    "torch": ("fpnprof.backends.torch_backend", "torch", "pip install 'fpnprof[torch]'"),
}


def load(name: str) -> ModuleType:
    """Import a backend module, or raise BackendUnavailable with the install command."""
    if name not in BACKENDS:
        raise BackendUnavailable(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)}")
    module, framework, install = BACKENDS[name]
    try:
        with warnings.catch_warnings():
            # Paddle warns about a missing C++ compiler cache on import: nothing to do with the user's run.
            warnings.filterwarnings("ignore", message="No ccache found")
            importlib.import_module(framework)
    except ImportError:
        raise BackendUnavailable(f"the {name} backend needs {framework}: {install}") from None
    return importlib.import_module(module)
