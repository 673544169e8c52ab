"""The history's one-line errors (exit 2, as every fpnprof error)."""

from __future__ import annotations

from fpnprof.errors import FpnprofError


class HistoryError(FpnprofError):
    """A history database fpnprof cannot use, or a run or row it does not hold."""
