"""Where a result came from: fpnprof's and Python's versions, and for measurements the machine, the
frameworks, threads, peaks and the drift probe."""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from typing import Any

from fpnprof import __version__
from fpnprof.backends.machine import cpu_name


def provenance() -> dict[str, Any]:
    """What every result carries."""
    return {"fpnprof": __version__, "python": platform.python_version()}


def bench_provenance(rows: Sequence[Any]) -> dict[str, Any]:
    """:func:`provenance` and the machine, frameworks, threads, peaks and largest probe drift of the
    measured rows."""
    ok = [r for r in rows if "median_ms" in r]
    drifts = [d for r in ok for d in r["probe_drift"]]
    return provenance() | {
        "platform": platform.platform(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "frameworks": sorted({r["framework"] for r in ok}),
        "gpus": sorted({r["device_name"] for r in ok if r["device"] == "gpu"}),
        "threads": sorted({r["threads"] for r in ok}),
        "peaks": sorted(
            {
                (r["device"], r["dtype"], r["matmul_peak_gflops"], r["copy_peak_gbytes_per_s"])
                for r in ok
                if r["matmul_peak_gflops"]
            }
        ),
        "probe_drift_max": max(drifts, key=abs) if drifts else None,
    }
