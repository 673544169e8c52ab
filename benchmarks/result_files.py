"""Where benchmark scripts write: a new file per run, named by script, tag and time, never over a
committed result (the committed files change only when someone renames a new run onto them)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

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


def save_result(name: str, tag: str, payload: dict[str, Any], table: str | None = None, folder: Path = RESULTS) -> Path:
    """Write ``payload`` as JSON (and ``table`` as Markdown) under a new stem; print the table, or
    where the JSON went."""
    stem = new_result_stem(name, tag, folder)
    stem.with_suffix(".json").write_text(json.dumps(payload, indent=1) + "\n")
    if table is not None:
        stem.with_suffix(".md").write_text(table)
        print(table)
    print(f"wrote {stem}.json" + (" and .md" if table is not None else ""))
    return stem
