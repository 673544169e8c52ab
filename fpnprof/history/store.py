"""The history database: opened in WAL mode with a busy timeout (several fpnprof processes may write
at once), a run and its rows written in one transaction, read back by neck, machine and time.

A file SQLite finds damaged (cut short, overwritten) is moved aside to ``<name>.broken-<time>``
(kept, never deleted) with one line saying so, and a new database is started in its place.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from fpnprof.history.errors import HistoryError
from fpnprof.history.records import RunRecord, StoredRow, StoredRun
from fpnprof.history.schema import prepare

#: How long a writer waits for another one's transaction (seconds).
BUSY_TIMEOUT_S = 30.0
#: SQLite's result codes for a damaged file: SQLITE_CORRUPT, SQLITE_NOTADB.
DAMAGED_CODES = frozenset({11, 26})

Notice = Callable[[str], None]


def warn(line: str) -> None:
    """A notice as one line on stderr."""
    print(f"warning: {line}", file=sys.stderr, flush=True)


def is_damaged(exc: sqlite3.DatabaseError) -> bool:
    """Whether SQLite says the file itself is damaged (not busy, locked or unwritable)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return int(code) & 0xFF in DAMAGED_CODES
    text = str(exc)
    return type(exc) is sqlite3.DatabaseError and ("malformed" in text or "not a database" in text)


def move_aside(path: Path) -> Path:
    """Rename ``path`` (and its -wal and -shm files) to ``<name>.broken-<time>``; never delete."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target, n = path.with_name(f"{path.name}.broken-{stamp}"), 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.broken-{stamp}-{n}")
    os.replace(path, target)
    for suffix in ("-wal", "-shm"):
        side = Path(f"{path}{suffix}")
        if side.exists():
            os.replace(side, Path(f"{target}{suffix}"))
    return target


def _dumps(value: Any) -> str:
    return json.dumps(value, default=str)


_RUN_COLUMNS = ("at", "command", "argv", "machine", "machine_info", "versions", "summary", "flags")
_ROW_COLUMNS = (
    "run_id",
    "position",
    "at",
    "neck",
    "variant",
    "label",
    "config",
    "neck_hash",
    "part",
    "engine",
    "backend",
    "device",
    "threads",
    "allocator",
    "dtype",
    "framework",
    "kind",
    "unit",
    "estimate",
    "low",
    "high",
    "resolved",
    "ratio",
    "ratio_low",
    "ratio_high",
    "is_base",
    "flags",
    "extra",
    "key",
)
#: Each row with its run and its neck's text; ``prev_hash``: the text hash the same neck (and
#: variant) had in its previous run (an index lookup per row: results_neck_at).
_SELECT_ROWS = """
SELECT results.*, runs.command, runs.argv, runs.machine, runs.machine_info, runs.versions, runs.flags AS run_flags,
       runs.summary AS run_summary,
       neck_texts.text AS neck_text,
       (SELECT p.neck_hash FROM results AS p
         WHERE p.neck = results.neck AND p.variant IS results.variant AND p.at < results.at AND p.neck_hash IS NOT NULL
         ORDER BY p.at DESC LIMIT 1) AS prev_hash
FROM {source}
JOIN runs ON runs.id = results.run_id
LEFT JOIN neck_texts ON neck_texts.hash = results.neck_hash
"""


def _stored_row(r: sqlite3.Row) -> StoredRow:
    prev, mine = r["prev_hash"], r["neck_hash"]
    return StoredRow(
        kind=r["kind"],
        unit=r["unit"],
        neck=r["neck"],
        variant=r["variant"],
        label=r["label"],
        config=json.loads(r["config"]),
        neck_text=r["neck_text"],
        neck_hash=mine,
        part=r["part"],
        engine=r["engine"],
        backend=r["backend"],
        device=r["device"],
        threads=r["threads"],
        allocator=r["allocator"],
        dtype=r["dtype"],
        framework=r["framework"],
        estimate=r["estimate"],
        low=r["low"],
        high=r["high"],
        resolved=None if r["resolved"] is None else bool(r["resolved"]),
        ratio=r["ratio"],
        ratio_low=r["ratio_low"],
        ratio_high=r["ratio_high"],
        is_base=bool(r["is_base"]),
        flags=json.loads(r["flags"]),
        extra=json.loads(r["extra"]),
        key=r["key"],
        run_id=r["run_id"],
        position=r["position"],
        at=r["at"],
        command=r["command"],
        argv=r["argv"],
        machine=r["machine"],
        machine_info=json.loads(r["machine_info"]),
        versions=json.loads(r["versions"]),
        run_flags=json.loads(r["run_flags"]),
        run_summary=json.loads(r["run_summary"]),
        text_changed=prev is not None and mine is not None and prev != mine,
    )


class HistoryStore:
    """An open history database (:meth:`open`); use it as a context manager to close it."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn, self.path = conn, path

    @classmethod
    def open(cls, path: Path, *, create: bool = True, on_notice: Notice = warn) -> HistoryStore | None:
        """The database at ``path``, made or migrated as needed (``create=False``: None if there is
        none). A damaged file is moved aside with one notice and a new one started."""
        if not path.exists():
            if not create:
                return None
            path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            raise HistoryError(f"history database {path} is a folder: give a file, e.g. {path / 'history.sqlite'}")
        try:
            return cls(_connect(path), path)
        except sqlite3.DatabaseError as exc:
            if not is_damaged(exc):
                raise HistoryError(f"history database {path}: {exc}") from None
            moved = move_aside(path)
            on_notice(f"history database {path} is damaged ({exc}): moved to {moved.name}, a new one started")
            return cls(_connect(path), path)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _transaction(self, work: Callable[[sqlite3.Connection], Any]) -> Any:
        """``work`` in one write transaction (waits for another writer's)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            out = work(self.conn)
            self.conn.execute("COMMIT")
            return out
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise

    def insert(self, run: RunRecord) -> int:
        """Write ``run`` and its rows in one transaction; its id."""
        run_id, _ = self.insert_new(run)
        assert run_id is not None
        return run_id

    def insert_new(self, run: RunRecord) -> tuple[int | None, int]:
        """Write ``run`` with those of its rows whose key is not stored yet (a row without a key is
        always new), in one transaction: the check and the write see the same database, whoever else
        writes. Its id (None when every row was stored already: nothing is written) and the rows written."""

        def write(conn: sqlite3.Connection) -> tuple[int | None, int]:
            keys = [r.key for r in run.rows if r.key is not None]
            held = self._held(conn, keys)
            fresh = [r for r in run.rows if r.key is None or r.key not in held]
            if len({r.key for r in fresh if r.key is not None}) < sum(r.key is not None for r in fresh):
                raise HistoryError(f"a run to record holds the same key twice: {sorted(keys)}")
            if run.rows and not fresh:  # every row held already (a run of no rows is written as ever)
                return None, 0
            values = [run.at, run.command, run.argv, run.machine, *map(_dumps, (run.machine_info, run.versions))]
            values += [_dumps(run.summary), _dumps(run.flags)]
            marks = ", ".join("?" * len(_RUN_COLUMNS))
            run_id = conn.execute(f"INSERT INTO runs ({', '.join(_RUN_COLUMNS)}) VALUES ({marks})", values).lastrowid
            assert run_id is not None
            rows = [
                (
                    run_id,
                    i,
                    run.at,
                    r.neck,
                    r.variant,
                    r.label,
                    _dumps(r.config),
                    r.neck_hash,
                    r.part,
                    r.engine,
                    r.backend,
                    r.device,
                    r.threads,
                    r.allocator,
                    r.dtype,
                    r.framework,
                    r.kind,
                    r.unit,
                    r.estimate,
                    r.low,
                    r.high,
                    None if r.resolved is None else int(r.resolved),
                    r.ratio,
                    r.ratio_low,
                    r.ratio_high,
                    int(r.is_base),
                    _dumps(r.flags),
                    _dumps(r.extra),
                    r.key,
                )
                for i, r in enumerate(fresh)
            ]
            marks = ", ".join("?" * len(_ROW_COLUMNS))
            conn.executemany(f"INSERT INTO results ({', '.join(_ROW_COLUMNS)}) VALUES ({marks})", rows)
            texts = {r.neck_hash: r.neck_text for r in fresh if r.neck_hash and r.neck_text is not None}
            conn.executemany("INSERT OR IGNORE INTO neck_texts (hash, text) VALUES (?, ?)", list(texts.items()))
            return int(run_id), len(fresh)

        result: tuple[int | None, int] = self._transaction(write)
        return result

    @staticmethod
    def _held(conn: sqlite3.Connection, keys: Sequence[str]) -> set[str]:
        """Which of ``keys`` are stored (by the key index, a few hundred at a time)."""
        held: set[str] = set()
        for start in range(0, len(keys), 500):
            chunk = list(keys[start : start + 500])
            marks = ", ".join("?" * len(chunk))
            held |= {r[0] for r in conn.execute(f"SELECT key FROM results WHERE key IN ({marks})", chunk)}
        return held

    def keyed(self, prefixes: Sequence[str]) -> list[StoredRow]:
        """The rows whose key starts with one of ``prefixes`` followed by ``/`` (a cluster sweep's
        configuration, on any node kind: ``ITEM/KIND``), oldest first."""
        out: list[StoredRow] = []
        sql = _SELECT_ROWS.format(source="results") + " WHERE results.key >= ? AND results.key < ? ORDER BY results.id"
        for prefix in dict.fromkeys(prefixes):
            out += [_stored_row(r) for r in self.conn.execute(sql, (f"{prefix}/", f"{prefix}0"))]
        return out

    def select(
        self,
        necks: Sequence[str] = (),
        *,
        machine: str | None = None,
        since: float | None = None,
        last: int | None = None,
    ) -> list[StoredRow]:
        """Rows of the ``last`` runs (newest first; all if None) on ``machine`` since ``since``;
        with ``necks``, runs that hold one of them and only their rows (by name or label)."""
        where: list[str] = []
        args: list[Any] = []
        if machine is not None:
            where.append("machine = ?")
            args.append(machine)
        if since is not None:
            where.append("at >= ?")
            args.append(since)
        names = list(dict.fromkeys(necks))
        marks = ", ".join("?" * len(names))
        neck_match = f"(results.neck IN ({marks}) OR results.label IN ({marks}))"
        if names:
            where.append(f"EXISTS (SELECT 1 FROM results WHERE results.run_id = runs.id AND {neck_match})")
            args += names * 2
        chosen = f"SELECT id FROM runs {'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY at DESC, id DESC LIMIT ?"
        args.append(-1 if last is None else last)
        sql = _SELECT_ROWS.format(source=f"({chosen}) AS chosen JOIN results ON results.run_id = chosen.id")
        if names:
            sql += f" WHERE {neck_match}"
            args += names * 2
        sql += " ORDER BY runs.at DESC, runs.id DESC, results.position"
        return [_stored_row(r) for r in self.conn.execute(sql, args)]

    def run(self, run_id: int) -> StoredRun | None:
        """One run with every row, or None."""
        r = self.conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if r is None:
            return None
        sql = _SELECT_ROWS.format(source="results") + " WHERE results.run_id = ? ORDER BY results.position"
        rows = [_stored_row(x) for x in self.conn.execute(sql, (run_id,))]
        return StoredRun(
            id=r["id"],
            at=r["at"],
            command=r["command"],
            argv=r["argv"],
            machine=r["machine"],
            machine_info=json.loads(r["machine_info"]),
            versions=json.loads(r["versions"]),
            summary=json.loads(r["summary"]),
            flags=json.loads(r["flags"]),
            rows=rows,
        )

    def prune(self, before: float) -> tuple[int, int]:
        """Delete the runs recorded before ``before`` (and texts no row needs any more): (runs, rows) deleted."""

        def delete(conn: sqlite3.Connection) -> tuple[int, int]:
            old = "SELECT id FROM runs WHERE at < ?"
            rows = conn.execute(f"DELETE FROM results WHERE run_id IN ({old})", (before,)).rowcount
            runs = conn.execute("DELETE FROM runs WHERE at < ?", (before,)).rowcount
            conn.execute("DELETE FROM neck_texts WHERE hash NOT IN (SELECT neck_hash FROM results WHERE neck_hash IS NOT NULL)")
            return runs, rows

        result: tuple[int, int] = self._transaction(delete)
        return result

    def counts(self) -> tuple[int, int]:
        """(runs, rows) held."""
        runs = self.conn.execute("SELECT count(*) FROM runs").fetchone()[0]
        rows = self.conn.execute("SELECT count(*) FROM results").fetchone()[0]
        return int(runs), int(rows)


def _connect(path: Path) -> sqlite3.Connection:
    """Connect in WAL mode with a busy timeout, and make or migrate the schema. The first statements
    read the file's header and schema: a damaged file raises here."""
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None)
    try:
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        prepare(conn, str(path))
        conn.execute("SELECT max(id) FROM runs").fetchone()
        conn.execute("SELECT count(*) FROM neck_texts").fetchone()
    except BaseException:
        conn.close()
        raise
    return conn


def load_rows(store: HistoryStore, run_id: int) -> list[StoredRow]:
    """Every row of run ``run_id``; a one-line error if there is no such run."""
    run = store.run(run_id)
    if run is None:
        raise HistoryError(f"no run {run_id} in the history ({store.path}): fpnprof history lists the runs")
    return run.rows


def load_row(store: HistoryStore, run_id: int, row: int | None = None) -> StoredRow:
    """Row ``row`` (0-based, as ``history`` numbers them ``ID:ROW``) of run ``run_id``; without ``row``,
    the run's only row. A one-line error if it is missing (or, without ``row``, not the only one)."""
    rows = load_rows(store, run_id)
    if row is None:
        if len(rows) != 1:
            raise HistoryError(f"run {run_id} has {len(rows)} rows: name one as {run_id}:ROW (0-{len(rows) - 1})")
        return rows[0]
    if not 0 <= row < len(rows):
        span = f"0-{len(rows) - 1}" if rows else "none"
        raise HistoryError(f"run {run_id} has no row {row} (its rows: {span})")
    return rows[row]
