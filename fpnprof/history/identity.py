"""Which machine and which versions a run was on: the machine as the latency model names it (CPU,
cores, GPU), a short key for ``history --machine this``, and the versions of fpnprof, Python and the
frameworks."""

from __future__ import annotations

import hashlib
import os
import platform
from collections.abc import Iterable
from typing import Any


def machine_info(gpus: Iterable[str] = ()) -> dict[str, Any]:
    """This machine: its CPU and cores (as :func:`fpnprof.latency.model.machine_fingerprint` names
    them), the GPUs the run used, and the platform."""
    from fpnprof.backends.machine import cpu_name

    names = sorted(set(gpus))
    return {
        "cpu": cpu_name(),
        "cores": os.cpu_count() or 1,
        "gpu": ", ".join(names) or None,
        "platform": platform.platform(),
    }


def machine_key(info: dict[str, Any] | None = None) -> str:
    """A short key for the machine (its CPU and cores): ``history --machine this`` keeps its runs."""
    info = info or machine_info()
    return hashlib.sha256(f"{info['cpu']}|{info['cores']}".encode()).hexdigest()[:12]


def versions(frameworks: Iterable[str] = ()) -> dict[str, Any]:
    """fpnprof's and Python's versions, and each framework the run used as it reported itself
    (``torch 2.13.0+cpu``)."""
    from fpnprof import __version__

    return {"fpnprof": __version__, "python": platform.python_version(), "frameworks": sorted(set(frameworks))}


def installed_framework(backend: str) -> str | None:
    """``<framework> <version>`` of a backend as installed (package metadata, nothing imported)."""
    from fpnprof.backends.registry import backend_info, installed_version

    info = backend_info(backend)
    version = next(filter(None, (installed_version(d) for d in info.distributions)), None)
    return f"{info.framework} {version}" if version else info.framework
