"""The history database's layout: the first layout (version 1), the migrations that bring any older
database to :data:`SCHEMA_VERSION`, and the version itself in ``PRAGMA user_version``.

A new database is made as version 1 and migrated like an old one, so every migration runs on every
new database too. A database newer than this fpnprof knows is refused, never changed.

- 1: runs and their rows; each row kept its neck's text.
- 2: neck texts kept once, by their SHA-256, in ``neck_texts`` (a neck benched 500 times is stored once).
- 3: a result may carry a ``key`` (a cluster sweep's: its configuration, timing setup and node kind), indexed,
  so that a sweep run again finds what is stored and never stores a result twice.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from fpnprof.history.errors import HistoryError

SCHEMA_VERSION = 3

#: Version 1, as first written.
CREATE_V1 = """
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    command TEXT NOT NULL,
    argv TEXT NOT NULL,
    machine TEXT NOT NULL,
    machine_info TEXT NOT NULL,
    versions TEXT NOT NULL,
    summary TEXT NOT NULL,
    flags TEXT NOT NULL
);
CREATE TABLE results (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    at REAL NOT NULL,
    neck TEXT,
    variant TEXT,
    label TEXT,
    config TEXT NOT NULL,
    neck_text TEXT,
    neck_hash TEXT,
    part TEXT,
    engine TEXT,
    backend TEXT,
    device TEXT,
    threads INTEGER,
    allocator TEXT,
    dtype TEXT,
    framework TEXT,
    kind TEXT NOT NULL,
    unit TEXT NOT NULL,
    estimate REAL,
    low REAL,
    high REAL,
    resolved INTEGER,
    ratio REAL,
    ratio_low REAL,
    ratio_high REAL,
    is_base INTEGER NOT NULL DEFAULT 0,
    flags TEXT NOT NULL,
    extra TEXT NOT NULL,
    UNIQUE (run_id, position)
);
CREATE INDEX runs_at ON runs(at);
CREATE INDEX runs_machine_at ON runs(machine, at);
CREATE INDEX results_neck_at ON results(neck, variant, at);
"""


def _v1_to_v2(conn: sqlite3.Connection) -> None:
    """Neck texts move to a table of their own, keyed by their hash."""
    conn.execute("CREATE TABLE neck_texts (hash TEXT PRIMARY KEY, text TEXT NOT NULL) WITHOUT ROWID")
    conn.execute(
        "INSERT OR IGNORE INTO neck_texts (hash, text) SELECT neck_hash, neck_text FROM results "
        "WHERE neck_hash IS NOT NULL AND neck_text IS NOT NULL"
    )
    conn.execute("ALTER TABLE results DROP COLUMN neck_text")


def _v2_to_v3(conn: sqlite3.Connection) -> None:
    """Results gain a key (NULL for every result recorded before), looked up by its index."""
    conn.execute("ALTER TABLE results ADD COLUMN key TEXT")
    conn.execute("CREATE INDEX results_key ON results(key) WHERE key IS NOT NULL")


#: ``MIGRATIONS[n]`` brings a version-n database to version n + 1.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _v1_to_v2, 2: _v2_to_v3}


def version_of(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def refuse_newer(version: int, where: str) -> None:
    if version > SCHEMA_VERSION:
        raise HistoryError(
            f"history database {where} has schema {version}, newer than this fpnprof knows ({SCHEMA_VERSION}): "
            "upgrade fpnprof to read it, or give --history another file"
        )


def prepare(conn: sqlite3.Connection, where: str) -> None:
    """Make a new database, or migrate an old one, in one transaction (another process doing the
    same waits, then finds it done); refuse a newer one or another program's database."""
    version = version_of(conn)
    refuse_newer(version, where)
    if version == SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = version_of(conn)
        refuse_newer(version, where)
        if version == 0:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if tables:  # a file some other program made
                raise HistoryError(f"{where} is an SQLite database but not fpnprof's history: give --history another file")
            for statement in CREATE_V1.split(";"):
                if statement.strip():
                    conn.execute(statement)
            version = 1
        while version < SCHEMA_VERSION:
            MIGRATIONS[version](conn)
            version += 1
        conn.execute(f"PRAGMA user_version = {version}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
