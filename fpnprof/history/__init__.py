"""The run history: every timed or predicted result recorded in an SQLite database (``fpnprof
history`` reads it). Framework-free: nothing here imports paddle or torch.

For other commands (the regression gate's ``bench --against run:ID``)::

    from fpnprof.history import HistoryStore, history_path, load_row

    with HistoryStore.open(history_path()) as store:
        row = load_row(store, 42, 1)  # row.ms, row.low, row.high, row.resolved, row.config, ...
"""

from __future__ import annotations

from fpnprof.history.errors import HistoryError
from fpnprof.history.location import history_path
from fpnprof.history.records import RowRecord, RunRecord, StoredRow, StoredRun
from fpnprof.history.store import HistoryStore, load_row, load_rows

__all__ = [
    "HistoryError",
    "HistoryStore",
    "RowRecord",
    "RunRecord",
    "StoredRow",
    "StoredRun",
    "history_path",
    "load_row",
    "load_rows",
]
