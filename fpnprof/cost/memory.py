"""How much memory a run needs and whether the machine has it."""

from __future__ import annotations

import os

from fpnprof.cost.results import Profile
from fpnprof.errors import BackendUnavailable

#: Frameworks keep workspace beside the live activations; be conservative.
OVERHEAD_FACTOR = 2
FIXED_OVERHEAD = 512 * 2**20


def available_bytes() -> int:
    """MemAvailable from /proc/meminfo, else physical pages (POSIX)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def estimated_bytes(p: Profile) -> int:
    """Weights, BN statistics and the peak of live activations, with headroom."""
    total = p.model_total
    weights = (total.params + total.buffers) * p.config.dtype_bytes
    return OVERHEAD_FACTOR * (weights + p.peak_bytes) + FIXED_OVERHEAD


def require_memory(p: Profile, available: int | None = None) -> None:
    need = estimated_bytes(p)
    have = available_bytes() if available is None else available
    if need > have:
        raise BackendUnavailable(
            f"this run needs about {need / 2**30:.1f} GiB but only {have / 2**30:.1f} GiB is available; lower --batch or --size"
        )
