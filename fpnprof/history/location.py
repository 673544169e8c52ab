"""Where the history database lives: ``--history PATH``, else ``FPNPROF_HISTORY``, else
``history.sqlite`` in fpnprof's data directory (``FPNPROF_DATA_DIR``, as latency models, else the
user's data directory from platformdirs)."""

from __future__ import annotations

import os
from pathlib import Path

#: The environment variable that moves the database.
ENV = "FPNPROF_HISTORY"
FILE_NAME = "history.sqlite"


def history_path(option: Path | None = None) -> Path:
    """The database file the running command reads or writes."""
    if option is not None:
        return option.expanduser()
    moved = os.environ.get(ENV)
    if moved:
        return Path(moved).expanduser()
    data = os.environ.get("FPNPROF_DATA_DIR")
    if data:
        return Path(data).expanduser() / FILE_NAME
    from platformdirs import user_data_path

    return user_data_path("fpnprof") / FILE_NAME
