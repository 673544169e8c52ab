"""Where benchmark scripts write: a new file per run, named by script, tag and time, never over a
committed result (the committed files change only when someone renames a new run onto them)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def new_result_stem(name: str, tag: str, folder: Path = RESULTS) -> Path:
    """``folder/name-tag-YYYY-MM-DD-HHMM`` (with ``-2``, ``-3``... if that run already exists);
    add ``.json`` / ``.md`` to it."""
    folder.mkdir(parents=True, exist_ok=True)
    base = f"{name}-{tag}-{datetime.now().strftime('%Y-%m-%d-%H%M')}"
    stem, n = folder / base, 1
    while any(stem.with_name(stem.name + s).exists() for s in (".json", ".md")):
        n += 1
        stem = folder / f"{base}-{n}"
    return stem
