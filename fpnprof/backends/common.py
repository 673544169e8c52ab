"""Framework-free pieces both lowerings use."""

from __future__ import annotations

from typing import Any

#: Environment variable naming the folder where workers share deployment exports (set by the parent).
EXPORT_CACHE = "FPNPROF_EXPORT_CACHE"
#: Peak-kernel sizes per device: an n x n matmul, and a copy of this many bytes.
PEAK_SIZES = {"cpu": (1024, 64 * 2**20), "gpu": (8192, 2**30)}


def add_all(*xs: Any) -> Any:
    """x0 + x1 + ... with the framework's own ``+`` (one add op per extra operand)."""
    out = xs[0]
    for x in xs[1:]:
        out = out + x
    return out
