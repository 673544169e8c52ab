"""``fpnprof history``: the table (both forms, ``history NECK`` and ``history list NECK``), its filters,
``show``, ``export``, ``prune``, the trend plot, and one line for what it cannot read."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cli_helpers import png_size, run
from history_cases import broken_files, cut_short, hand_run

from fpnprof.history import HistoryStore
from fpnprof.history.records import RunRecord
from fpnprof.history.schema import SCHEMA_VERSION

#: 2026-12-01 00:00 UTC and a day.
T0, DAY = 1796083200.0, 86400.0


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, timezone.utc).isoformat()


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """fpn on day 0, 1, 2 (its text changed on day 2), bifpn on day 1, and fpn on another machine."""
    path = tmp_path / "history.sqlite"
    monkeypatch.setenv("FPNPROF_HISTORY", str(path))
    runs: list[RunRecord] = [
        hand_run(T0, "fpn", ms=10.0, text="fpn v1"),
        hand_run(T0 + DAY, "fpn", ms=11.0, text="fpn v1", rows=2),
        hand_run(T0 + DAY + 60, "bifpn", ms=30.0, text="bifpn v1"),
        hand_run(T0 + 2 * DAY, "fpn", ms=12.5, text="fpn v2"),
        hand_run(T0 + 3 * DAY, "fpn", ms=99.0, text="fpn v2", machine="another-machine"),
    ]
    with HistoryStore.open(path) as store:  # type: ignore[union-attr]
        for r in runs:
            store.insert(r)
    return path


def rows_of(result_stdout: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(result_stdout)))


def test_the_table_lists_this_machines_runs_newest_first(db: Path) -> None:
    result = run("history", "-f", "csv")
    assert result.exit_code == 0, result.output
    rows = rows_of(result.stdout)
    assert [(r["id"], r["neck"], r["ms"], r["interval"]) for r in rows] == [
        ("4:0", "fpn", "12.500", "12.000-13.000"),
        ("3:0", "bifpn", "30.000", "29.500-30.500"),
        ("2:0", "fpn", "11.000", "10.500-11.500"),
        ("2:1", "fpn", "12.000", "11.500-12.500"),
        ("1:0", "fpn", "10.000", "9.500-10.500"),
    ]
    assert [r["text"] for r in rows] == ["changed", "", "", "", ""]
    table = run("history", columns=160).stdout
    assert "99.000" not in table and "text changed:" in table and "--machine all" in table


def test_both_forms_give_the_same_table(db: Path) -> None:
    short, long = run("history", "fpn", "--last", "2"), run("history", "list", "fpn", "--last", "2")
    assert short.exit_code == long.exit_code == 0
    assert short.stdout == long.stdout and "12.500" in short.stdout and "11.000" in short.stdout
    assert "10.000" not in short.stdout and "bifpn" not in short.stdout


def test_filters_machine_and_since(db: Path) -> None:
    every = rows_of(run("history", "--machine", "all", "-f", "csv").stdout)
    assert every[0]["id"] == "5:0" and every[0]["ms"] == "99.000" and len(every) == 6
    since = rows_of(run("history", "--since", iso(T0 + DAY + 30), "-f", "csv").stdout)
    assert [r["id"] for r in since] == ["4:0", "3:0"]
    bad = run("history", "--since", "last tuesday")
    assert bad.exit_code == 2 and bad.stderr.count("\n") == 1 and "--since takes a date" in bad.stderr
    assert run("history", "--machine", "mine").exit_code == 2


def test_json_has_every_field_of_every_row(db: Path) -> None:
    data = json.loads(run("history", "bifpn", "-f", "json").stdout)
    (row,) = data["results"]
    assert (row["id"], row["estimate"], row["low"], row["high"], row["resolved"]) == ("3:0", 30.0, 29.5, 30.5, True)
    assert row["config"] == {"neck": "bifpn", "variant": "paper", "batch": 2, "size": 64} and "neck_text" not in row
    assert data["filters"]["necks"] == ["bifpn"] and data["database"] == str(db)


def test_show_prints_the_whole_run_and_its_neck_text(db: Path) -> None:
    table = run("history", "show", "4", columns=160)
    assert table.exit_code == 0, table.output
    for text in ("fpnprof bench fpn", "12.500", "neck text: fpn", "fpn v2", "changed since its previous run"):
        assert text in table.stdout, text
    run_json = json.loads(run("history", "show", "2", "-f", "json").stdout)["run"]
    assert [r["id"] for r in run_json["rows"]] == ["2:0", "2:1"] and run_json["argv"] == "fpnprof bench fpn"
    assert list(run_json["neck_texts"].values()) == ["fpn v1"]
    one = json.loads(run("history", "show", "run:2:1", "-f", "json").stdout)["run"]
    assert [r["estimate"] for r in one["rows"]] == [12.0]
    for args, said in [(["9"], "no run 9"), (["2:5"], "has no row 5"), (["two"], "a run is named by its id")]:
        result = run("history", "show", *args)
        assert result.exit_code == 2 and said in result.stderr and result.stderr.count("\n") == 1, result.stderr


def test_export_json_and_csv_hold_every_run(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "h.json"
    assert run("history", "export", "-o", str(out)).exit_code == 0
    data = json.loads(out.read_text())
    assert [r["id"] for r in data["runs"]] == [5, 4, 3, 2, 1]  # every machine's, by default
    assert [len(r["rows"]) for r in data["runs"]] == [1, 1, 1, 2, 1]
    assert sorted(data["neck_texts"].values()) == ["bifpn v1", "fpn v1", "fpn v2"]
    lines = rows_of(run("history", "export", "fpn", "--format", "csv", "--machine", "this").stdout)
    assert [(r["id"], float(r["estimate"]), r["text_changed"]) for r in lines] == [
        ("4:0", 12.5, "1"),
        ("2:0", 11.0, "0"),
        ("2:1", 12.0, "0"),
        ("1:0", 10.0, "0"),
    ]
    assert json.loads(lines[0]["config"])["neck"] == "fpn"
    assert run("history", "export", "--format", "markdown").exit_code == 2


def test_prune_deletes_runs_before_a_date(db: Path) -> None:
    result = run("history", "prune", "--before", iso(T0 + DAY + 30))
    assert result.exit_code == 0 and "pruned 2 runs (3 results)" in result.stdout and "3 left" in result.stdout
    left = json.loads(run("history", "export").stdout)["runs"]
    assert [r["id"] for r in left] == [5, 4, 3]
    assert run("history", "prune").exit_code == 2  # --before is required


def test_the_plot_draws_a_trend_per_neck(db: Path, tmp_path: Path) -> None:
    plot = tmp_path / "trend.png"
    result = run("history", "--plot", str(plot))
    assert result.exit_code == 0 and f"plot written to {plot}" in result.stdout
    assert png_size(plot) == (900, 580)  # two necks: two panels
    from fpnprof.history.plot import plotted

    with HistoryStore.open(db) as store:  # type: ignore[union-attr]
        panels = plotted(store.select())
    assert {name: [r.id for r in rows] for name, rows in panels.items()} == {
        "fpn (paper)": ["1:0", "2:0", "2:1", "4:0", "5:0"],
        "bifpn (paper)": ["3:0"],
    }


def test_no_database_yet_is_said_not_made(tmp_path: Path) -> None:
    path = tmp_path / "none.sqlite"
    result = run("history", "--history", str(path))
    assert result.exit_code == 0 and "no runs recorded yet" in result.stdout and not path.exists()


def test_a_newer_database_is_refused_in_one_line(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    result = run("history")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "newer than this fpnprof knows" in result.stderr


def test_a_database_cut_short_is_said_moved_and_started_anew(db: Path) -> None:
    with HistoryStore.open(db) as store:  # type: ignore[union-attr]
        for i in range(200):
            store.insert(hand_run(T0 + i, "fpn", ms=float(i)))
    size = cut_short(db)
    result = run("history")
    assert result.exit_code == 0 and result.stderr.count("\n") == 1 and "damaged" in result.stderr, result.output
    (kept,) = broken_files(db)
    assert kept.stat().st_size == size and "no runs recorded yet" in result.stdout
