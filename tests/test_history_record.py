"""What each recording command writes to the run history, read from the command's own JSON: bench,
compare --bench, sweep --bench, peak, predict, calibrate --validate. Timed commands run on the
simulated machine (``sim_machine.py``); a latency model is fitted on a simulated one. Also: neck
texts and their change, --no-history, FPNPROF_HISTORY, --history, and that recording never fails a
command (a database it cannot write, a newer one, one cut short)."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import run
from history_cases import PEAKS, broken_files, cut_short, install_sim
from test_latency_model import simulated

from fpnprof.history import HistoryStore, StoredRow, load_rows
from fpnprof.history.from_report import Context
from fpnprof.history.recorder import record
from fpnprof.history.schema import SCHEMA_VERSION
from fpnprof.latency.assemble import fit_model
from fpnprof.latency.model import LatencyModel, machine_fingerprint, save_model
from fpnprof.model.config import NeckConfig
from fpnprof.model.neckfile import _LOADED as loaded
from fpnprof.model.necks import NECKS
from fpnprof.model.parts import part_graph

BENCH = ["bench", "fpn", "pafpn", "--variant", "paper", "--part", "neck", "--engine", "eager,inference", "--backend", "paddle"]
SHIPPED = Path(__file__).resolve().parent.parent / "fpnprof" / "model" / "necks" / "files"


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "history.sqlite"
    monkeypatch.setenv("FPNPROF_HISTORY", str(path))
    return path


@pytest.fixture(scope="module")
def fitted() -> LatencyModel:
    return fit_model(simulated(), machine_fingerprint("torch", "cpu", "eager", 1))


def stored(path: Path) -> list[list[StoredRow]]:
    """Every run's rows, oldest run first."""
    store = HistoryStore.open(path, create=False)
    assert store is not None
    with store:
        ids = [r[0] for r in store.conn.execute("SELECT id FROM runs ORDER BY id")]
        return [load_rows(store, i) for i in ids]


def test_bench_records_every_row_as_its_json_says(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_sim(monkeypatch)
    result = run(*BENCH, "-f", "json")
    assert result.exit_code == 0 and result.stderr == "", result.output
    rows = json.loads(result.stdout)["rows"]
    ((*got,),) = stored(db)
    assert len(got) == len(rows) == 4
    for g, r in zip(got, rows, strict=True):
        assert (g.command, g.argv) == ("bench", "fpnprof " + " ".join(BENCH) + " -f json")
        assert (g.neck, g.label, g.config, g.part, g.engine, g.backend, g.threads) == (
            r["config"]["neck"], r["neck"], r["config"], r["part"], r["engine"], r["backend"], r["threads"]
        )  # fmt: skip
        assert (g.ms, [g.low, g.high], g.resolved, g.is_base) == (r["median_ms"], r["ci95_ms"], r["resolved"], r["is_baseline"])
        assert (g.ratio, [g.ratio_low, g.ratio_high]) == (r["ratio"], r["ratio_ci95"])
        assert g.flags == r["flags"] and g.extra["worker_medians_ms"] == r["worker_medians_ms"]
        assert g.fingerprint["framework"] == "sim" and g.fingerprint["framework_version"] == "1.0"
        assert g.neck_hash == hashlib.sha256((g.neck_text or "").encode()).hexdigest()


def test_compare_records_only_with_bench(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plain = run("compare", "fpn", "bifpn", "--variant", "paper")
    assert plain.exit_code == 0 and not db.exists()
    install_sim(monkeypatch)
    timed = run("compare", "fpn", "bifpn", "--variant", "paper", "--bench", "--backend", "paddle", "-f", "json")
    assert timed.exit_code == 0, timed.output
    bench = json.loads(timed.stdout)["bench"]["rows"]
    ((*got,),) = stored(db)
    assert [(g.label, g.engine, g.ms) for g in got] == [(r["neck"], r["engine"], r.get("median_ms")) for r in bench]
    assert {g.command for g in got} == {"compare"}


def test_sweep_bench_records_each_configuration_with_its_whole_setup(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_sim(monkeypatch)
    args = ["sweep", "fpn", "--variant", "paper", "--channels", "32,64", "--bench", "--backend", "paddle", "--threads", "1"]
    result = run(*args, "--batch", "1", "--workers", "1", "-f", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["rows"]
    ((*got,),) = stored(db)
    for g, r, channels in zip(got, rows, (32, 64), strict=True):
        expected = NeckConfig("fpn", variant="paper", channels=channels, batch=1).as_dict()
        assert g.config == json.loads(json.dumps(expected))
        half = r["latency_ci95_half_pct"] / 100
        assert (g.ms, g.low, g.high) == pytest.approx(
            (r["latency_ms"], r["latency_ms"] * (1 - half), r["latency_ms"] * (1 + half))
        )
        assert (g.part, g.engine, g.backend, g.threads) == ("neck", "eager", "paddle", 1)


def test_peak_records_both_peaks(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = {
        **PEAKS,
        "device_name": "cpu",
        "threads": 1,
        "framework": "torch 2.13.0+cpu",
        "matmul_n": 512,
        "copy_mib": 64,
        "runs": 5,
    }
    monkeypatch.setattr("fpnprof.bench.launch.measure_peak", lambda *key: raw)
    assert run("peak", "--backend", "torch", "--threads", "1").exit_code == 0
    ((matmul, copy),) = stored(db)
    assert (matmul.estimate, matmul.unit, copy.estimate, copy.unit) == (133.0, "GFLOP/s", 17.0, "GB/s")
    assert matmul.neck is None and matmul.ms is None and matmul.framework == "torch 2.13.0+cpu"


def test_predict_records_each_prediction_with_its_interval(db: Path, fitted: LatencyModel, tmp_path: Path) -> None:
    model = save_model(fitted, tmp_path / "model.json")
    args = ["predict", "fpn", "bifpn", "--variant", "paper", "--backend", "torch", "--threads", "1", "--model", str(model)]
    result = run(*args, "-f", "json")
    assert result.exit_code == 0, result.output
    necks = json.loads(result.stdout)["necks"]
    ((*got,),) = stored(db)
    assert [(g.kind, g.label, g.ms, g.low, g.high) for g in got] == [
        ("predicted", n["label"], n["predicted_ms"], n["predicted_low_ms"], n["predicted_high_ms"]) for n in necks
    ]
    assert got[0].fingerprint == {**fitted.fingerprint, "gpu": None}
    assert got[0].extra["model_path"] == str(model)


def test_a_validation_records_each_held_out_neck_as_measured(db: Path, fitted: LatencyModel) -> None:
    from fpnprof.latency.validate import Checked, Validation
    from fpnprof.report.latency_report import validation_report

    configs = [NeckConfig("fpn", channels=16 * (i + 1)) for i in range(3)]
    checked = [Checked(c, 10.0 + i, 8.0, 12.0, 11.0 + i, speed=1.1) for i, c in enumerate(configs)]
    report = validation_report(Validation(checked, None, {}, [1.05, 1.1, 1.2]), fitted, 12.0, 0)
    run_id = record(db, "validate", report.data, Context("fpnprof calibrate --validate", 1000.0))
    ((*got,),) = stored(db)
    assert got[0].run_id == run_id
    assert [(g.config["channels"], g.ms, g.extra["predicted_ms"]) for g in got] == [
        (16, 11.0, 10.0),
        (32, 12.0, 11.0),
        (48, 13.0, 12.0),
    ]
    assert got[0].fingerprint["engine"] == "eager" and got[0].run_summary["machine_speed"] == pytest.approx(1.1)


def test_a_shifted_validation_records_benchs_time_of_each_neck(
    db: Path, fitted: LatencyModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """calibrate --validate --shifted, bench's workers on a machine that runs as the model predicts."""
    from sim_machine import SimMachine

    from fpnprof.latency.predict import predict_graph

    model = save_model(fitted, tmp_path / "model.json")
    sim = SimMachine(lambda spec: predict_graph(fitted, part_graph(spec.config, "neck")).total_ms, overhead_s=2.0, seed=3)
    monkeypatch.setattr("fpnprof.bench.runner.launch_group", sim.launch)
    monkeypatch.setattr("fpnprof.bench.runner.CLOCK", sim.clock)
    args = ["calibrate", "--backend", "torch", "--threads", "1", "--model", str(model), "--validate", "--shifted"]
    result = run(*args, "--held-out", "2", "--max-time", "100", "-f", "json")
    assert result.exit_code == 0, result.output
    necks = json.loads(result.stdout)["necks"]
    ((*got,),) = stored(db)
    assert [(g.config, g.ms, [g.low, g.high]) for g in got] == [(n["config"], n["bench_ms"], n["bench_ci95_ms"]) for n in necks]
    assert [g.extra["predicted_ms"] for g in got] == [n["predicted_ms"] for n in necks]
    assert got[0].command == "validate" and got[0].run_summary["shifted"] is True
    assert [("extrapolated" in g.flags) for g in got] == [n["extrapolated"] for n in necks]


def test_a_neck_files_text_is_recorded_and_a_change_marked(db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    neck = tmp_path / "my.toml"
    original = (SHIPPED / "yolov5-pan.toml").read_text()
    edited = original + "\n# edited\n"
    monkeypatch.chdir(tmp_path)
    for text in (original, original, edited, edited):
        neck.write_text(text)
        loaded.pop("my.toml", None)  # each command is a process of its own: it reads the file afresh
        install_sim(monkeypatch)
        result = run("bench", "my.toml", "--part", "neck", "--repeat", "3", "--no-peak")
        assert result.exit_code == 0, result.output
    with HistoryStore.open(db) as store:  # type: ignore[union-attr]
        rows = list(reversed(store.select(["my.toml"])))
    assert [r.neck_hash for r in rows] == [hashlib.sha256(t.encode()).hexdigest() for t in (original, original, edited, edited)]
    assert [r.neck_text for r in rows] == [original, original, edited, edited]
    assert [r.text_changed for r in rows] == [False, False, True, False]
    loaded.pop("my.toml", None)


def test_a_builtin_necks_text_is_its_definition(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same built-in neck hashes alike run after run (whatever its options); another variant differs;
    the text lists every node of its graph at its defaults."""
    for args in (["bifpn", "--variant", "paper"], ["bifpn", "--variant", "paper", "--channels", "32"], ["bifpn"]):
        install_sim(monkeypatch)
        assert run("bench", *args, "--part", "neck", "--repeat", "3", "--no-peak").exit_code == 0
    (first,), (second,), (tutorial,) = stored(db)
    assert first.neck_hash == second.neck_hash != tutorial.neck_hash
    assert not any(r.text_changed for r in (first, second, tutorial))
    defaults: dict[str, Any] = dict(NECKS["bifpn"].defaults_for("paper"))
    graph = part_graph(NeckConfig("bifpn", variant="paper", **defaults), "neck")
    lines = (first.neck_text or "").splitlines()
    nodes = [m[1] for line in lines if (m := re.match(r"^(\S+) = (\w+)\(", line))]
    assert nodes == [n.id for n in graph]


def test_no_history_skips_and_history_moves_it(db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_sim(monkeypatch)
    assert run("bench", "fpn", "--part", "neck", "--repeat", "3", "--no-peak", "--no-history").exit_code == 0
    assert not db.exists()
    other = tmp_path / "sub" / "elsewhere.sqlite"
    install_sim(monkeypatch)
    assert run("bench", "fpn", "--part", "neck", "--repeat", "3", "--no-peak", "--history", str(other)).exit_code == 0
    assert not db.exists() and len(stored(other)) == 1  # --history over FPNPROF_HISTORY
    install_sim(monkeypatch)
    assert run("bench", "fpn", "--part", "neck", "--repeat", "3", "--no-peak").exit_code == 0
    assert len(stored(db)) == 1  # FPNPROF_HISTORY


def test_recording_never_fails_the_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A database that cannot be written (its folder is a file): one warning line; output and exit stand."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    args = ["bench", "fpn", "--part", "neck", "--repeat", "3", "--no-peak", "-f", "json"]
    install_sim(monkeypatch)
    quiet = run(*args, "--no-history")
    install_sim(monkeypatch)
    broken = run(*args, "--history", str(blocker / "history.sqlite"))
    assert broken.exit_code == quiet.exit_code == 0
    assert json.loads(broken.stdout)["rows"][0]["median_ms"] == json.loads(quiet.stdout)["rows"][0]["median_ms"]
    assert broken.stderr.startswith("warning: not recorded in the run history:") and broken.stderr.count("\n") == 1


def test_a_folder_given_as_history_is_refused_before_any_work(tmp_path: Path) -> None:
    result = run("bench", "fpn", "--history", str(tmp_path))
    assert result.exit_code == 2 and "is a folder" in result.stderr and result.stderr.count("\n") == 1


def test_bench_on_a_newer_database_warns_and_leaves_it(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_sim(monkeypatch)
    assert run("bench", "fpn", "--part", "neck", "--repeat", "3", "--no-peak").exit_code == 0
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    install_sim(monkeypatch)
    result = run("bench", "fpn", "--part", "neck", "--repeat", "3", "--no-peak")
    assert result.exit_code == 0 and result.stderr.count("\n") == 1 and "newer than this fpnprof knows" in result.stderr
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 1
    conn.close()


def test_bench_on_a_database_cut_short_says_so_and_starts_anew(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for _ in range(2):
        install_sim(monkeypatch)
        assert run("bench", "fpn", "pafpn", "--part", "neck", "--repeat", "3", "--no-peak").exit_code == 0
    size = cut_short(db)
    install_sim(monkeypatch)
    result = run("bench", "fpn", "--part", "neck", "--repeat", "3", "--no-peak")
    assert result.exit_code == 0 and result.stderr.count("\n") == 1, result.stderr
    (kept,) = broken_files(db)
    assert "damaged" in result.stderr and kept.name in result.stderr and kept.stat().st_size == size
    assert [len(rows) for rows in stored(db)] == [1]
