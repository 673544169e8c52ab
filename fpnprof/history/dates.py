"""Dates as ``--since`` and ``prune --before`` take them: ``2026-12-01``, ``2026-12-01 14:30``,
ISO 8601 with a zone, or an age (``7d``, ``12h``, ``2w``, ``30min``) back from now."""

from __future__ import annotations

import re
import time
from datetime import datetime

from fpnprof.errors import ConfigError

_AGE = re.compile(r"^(\d+(?:\.\d+)?)\s*(min|h|d|w)$")
#: ages: minutes are ``min`` (``m`` would read as months to some, minutes to others: refused)
_UNIT_S = {"min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_when(text: str, option: str, now: float | None = None) -> float:
    """Seconds since the epoch; a date or time without a zone is local time."""
    value = text.strip()
    age = _AGE.match(value.lower())
    if age:
        return (time.time() if now is None else now) - float(age[1]) * _UNIT_S[age[2]]
    try:
        when = datetime.fromisoformat(value.replace(" ", "T", 1) if " " in value else value)
    except ValueError:
        raise ConfigError(
            f"{option} takes a date (2026-12-01), a time (2026-12-01 14:30) or an age (30min, 12h, 7d, 2w), got {text!r}"
        ) from None
    return when.timestamp()  # a naive time is local
