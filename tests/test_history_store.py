"""The history database: one transaction per run (two processes writing at once lose nothing), WAL
mode, migrations from a hand-made version-1 file, a newer schema refused, a file cut short moved
aside, queries by neck, machine and time, pruning, and ``load_row`` for the regression gate."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest
from history_cases import broken_files, cut_short, hand_run

from fpnprof.history import HistoryError, HistoryStore, load_row, load_rows
from fpnprof.history.necktext import text_hash
from fpnprof.history.schema import CREATE_V1, SCHEMA_VERSION

ROOT = Path(__file__).resolve().parent.parent


def opened(path: Path) -> HistoryStore:
    store = HistoryStore.open(path)
    assert store is not None
    return store


def test_a_run_and_its_rows_come_back_as_written(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    with opened(path) as store:
        run_id = store.insert(hand_run(1000.0, "fpn", ms=10.0, rows=3))
        assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        rows = load_rows(store, run_id)
    assert [r.id for r in rows] == [f"{run_id}:0", f"{run_id}:1", f"{run_id}:2"]
    assert [(r.ms, r.low, r.high) for r in rows] == [(10.0, 9.5, 10.5), (11.0, 10.5, 11.5), (12.0, 11.5, 12.5)]
    row = rows[1]
    assert row.resolved is True and row.config == {"neck": "fpn", "variant": "paper", "batch": 2, "size": 64}
    assert row.neck_text == "text 1" and row.neck_hash == text_hash("text 1")
    assert row.fingerprint["framework"] == "torch" and row.fingerprint["framework_version"] == "2.13.0+cpu"
    assert row.fingerprint["threads"] == 1 and row.fingerprint["engine"] == "eager"


def test_load_row_names_the_row_or_says_in_one_line_why_not(tmp_path: Path) -> None:
    with opened(tmp_path / "h.sqlite") as store:
        one = store.insert(hand_run(1000.0, ms=7.0))
        three = store.insert(hand_run(2000.0, ms=20.0, rows=3))
        assert load_row(store, one).ms == 7.0
        assert load_row(store, three, 2).ms == 22.0
        for args, said in [((99,), "no run 99"), ((three,), "has 3 rows"), ((three, 3), "has no row 3")]:
            with pytest.raises(HistoryError, match=said) as refused:
                load_row(store, *args)
            assert "\n" not in str(refused.value)


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    """Two OS processes, started together, each write 50 runs through the store: 100 runs, 100 rows."""
    path, go = tmp_path / "h.sqlite", tmp_path / "go"
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        sys.path.insert(0, {str(ROOT / "tests")!r})
        from history_cases import hand_run
        from fpnprof.history import HistoryStore
        while not Path({str(go)!r}).exists():
            time.sleep(0.005)
        for i in range(50):
            store = HistoryStore.open(Path({str(path)!r}))  # a fresh connection each time, as commands do
            store.insert(hand_run(1000.0 + i, "writer" + sys.argv[1], ms=float(i)))
            store.close()
        """
    )
    writers = [subprocess.Popen([sys.executable, "-c", script, str(n)], cwd=ROOT, stderr=subprocess.PIPE) for n in (1, 2)]
    go.touch()
    for w in writers:
        _, err = w.communicate(timeout=120)
        assert w.returncode == 0, err.decode()
    with opened(path) as store:
        assert store.counts() == (100, 100)
        for n in (1, 2):
            rows = store.select([f"writer{n}"], machine=None)
            assert sorted(r.ms or 0.0 for r in rows) == [float(i) for i in range(50)]


def test_a_database_cut_short_is_moved_aside_and_a_new_one_started(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    with opened(path) as store:
        for i in range(300):
            store.insert(hand_run(1000.0 + i, ms=float(i)))
    size = cut_short(path)
    said: list[str] = []
    with HistoryStore.open(path, on_notice=said.append) as store:  # type: ignore[union-attr]
        assert store.counts() == (0, 0)
        store.insert(hand_run(5000.0))
    (kept,) = broken_files(path)
    assert kept.stat().st_size == size  # kept as it was, never deleted
    assert len(said) == 1 and "damaged" in said[0] and kept.name in said[0] and "\n" not in said[0]
    with opened(path) as store:
        assert store.counts() == (1, 1)


def test_a_newer_schema_is_refused_in_one_line_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    with opened(path) as store:
        store.insert(hand_run(1000.0))
        store.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = path.read_bytes()
    with pytest.raises(HistoryError, match="newer than this fpnprof knows") as refused:
        HistoryStore.open(path)
    assert "\n" not in str(refused.value)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
    assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 1
    conn.close()
    assert not broken_files(path) and len(path.read_bytes()) == len(before)


def test_another_programs_sqlite_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (x TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(HistoryError, match="not fpnprof's history"):
        HistoryStore.open(path)


def test_a_version_1_database_made_by_hand_is_migrated(tmp_path: Path) -> None:
    """Version 1 kept each row's neck text inline; version 2 keeps each text once, by hash."""
    path = tmp_path / "v1.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(CREATE_V1)
    conn.execute(
        "INSERT INTO runs (id, at, command, argv, machine, machine_info, versions, summary, flags) "
        "VALUES (7, 1000.0, 'bench', 'fpnprof bench a.toml', 'm1', '{\"cpu\": \"x\", \"cores\": 2}', '{}', '{}', '[]')"
    )
    for position, (text, ms) in enumerate([("A = 1\n", 3.0), ("A = 1\n", 4.0), ("B = 2\n", 5.0)]):
        conn.execute(
            "INSERT INTO results (run_id, position, at, neck, variant, label, config, neck_text, neck_hash, kind, unit, "
            "estimate, flags, extra) VALUES (7, ?, 1000.0, ?, 'paper', ?, '{}', ?, ?, 'measured', 'ms', ?, '[]', '{}')",
            (position, f"n{text[0]}", f"n{text[0]}", text, text_hash(text), ms),
        )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()

    with opened(path) as store:
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        columns = {r[1] for r in store.conn.execute("PRAGMA table_info(results)")}
        assert "neck_text" not in columns
        texts = dict(store.conn.execute("SELECT hash, text FROM neck_texts").fetchall())
        assert texts == {text_hash("A = 1\n"): "A = 1\n", text_hash("B = 2\n"): "B = 2\n"}
        rows = load_rows(store, 7)
        assert [(r.neck, r.ms, r.neck_text) for r in rows] == [
            ("nA", 3.0, "A = 1\n"),
            ("nA", 4.0, "A = 1\n"),
            ("nB", 5.0, "B = 2\n"),
        ]
        assert store.insert(hand_run(2000.0)) == 8  # ids go on from the old ones


def test_queries_by_neck_machine_time_and_count(tmp_path: Path) -> None:
    with opened(tmp_path / "h.sqlite") as store:
        ids = [store.insert(hand_run(1000.0 * (i + 1), neck=["fpn", "bifpn"][i % 2], ms=float(i))) for i in range(6)]
        other = store.insert(hand_run(9000.0, "fpn", machine="elsewhere"))
        here = load_row(store, ids[0]).machine
        newest = store.select(machine=here, last=2)
        assert [r.run_id for r in newest] == [ids[5], ids[4]]
        assert [r.run_id for r in store.select(["fpn"], machine=here)] == [ids[4], ids[2], ids[0]]
        assert [r.run_id for r in store.select(["fpn"])] == [other, ids[4], ids[2], ids[0]]
        assert [r.run_id for r in store.select(machine=here, since=3500.0)] == [ids[5], ids[4], ids[3]]


def test_text_changed_marks_the_first_run_after_a_change(tmp_path: Path) -> None:
    """Same neck and variant, another text than its previous run's: that run is marked, and only it."""
    with opened(tmp_path / "h.sqlite") as store:
        texts = ["v1", "v1", "v2", "v2", None, "v1"]
        ids = [store.insert(hand_run(1000.0 + i, "my.toml", text=t)) for i, t in enumerate(texts)]
        store.insert(hand_run(1002.5, "other.toml", text="zzz"))  # another neck does not count
        marked = {r.run_id: r.text_changed for r in store.select(["my.toml"])}
    assert [marked[i] for i in ids] == [False, False, True, False, False, True]


def test_prune_deletes_old_runs_and_the_texts_no_row_needs(tmp_path: Path) -> None:
    with opened(tmp_path / "h.sqlite") as store:
        for i, text in enumerate(["old", "old", "kept"]):
            store.insert(hand_run(1000.0 * (i + 1), text=text, rows=2))
        assert store.prune(2500.0) == (2, 4)
        assert store.counts() == (1, 2)
        assert [r[0] for r in store.conn.execute("SELECT text FROM neck_texts")] == ["kept"]


def test_rows_keep_their_json_fields(tmp_path: Path) -> None:
    run = hand_run(1000.0)
    row = run.rows[0]
    extra = {"worker_medians_ms": [1.0, 2.0], "nested": {"a": [1, None]}}
    run.rows[0] = replace(row, flags=["noisy", "busy"], extra=extra)
    with opened(tmp_path / "h.sqlite") as store:
        got = load_row(store, store.insert(run))
    assert got.flags == ["noisy", "busy"] and got.extra == extra
    assert json.loads(json.dumps(got.to_json()))["id"] == got.id
