"""Record a command's result: its run built from the report, written in one transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fpnprof.history.from_report import Context, run_record
from fpnprof.history.records import RunRecord
from fpnprof.history.store import HistoryStore, Notice, is_damaged, move_aside, warn


def record(path: Path, command: str, data: Mapping[str, Any], ctx: Context, on_notice: Notice = warn) -> int:
    """Write ``command``'s result ``data`` to the database at ``path``; the run's id. A file found
    damaged on writing is moved aside (one notice) and the run written to a new one."""
    run = run_record(command, data, ctx)
    try:
        return _insert(path, run, on_notice)
    except sqlite3.DatabaseError as exc:
        if not is_damaged(exc):
            raise
        moved = move_aside(path)
        on_notice(f"history database {path} is damaged ({exc}): moved to {moved.name}, a new one started")
        return _insert(path, run, on_notice)


def _insert(path: Path, run: RunRecord, on_notice: Notice) -> int:
    store = HistoryStore.open(path, on_notice=on_notice)
    assert store is not None
    with store:
        return store.insert(run)
