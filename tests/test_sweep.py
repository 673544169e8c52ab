"""``fpnprof sweep``: the Cartesian product, the Pareto front (checked by brute force), the pool."""

from __future__ import annotations

import json

import pytest
from cli_helpers import run

from fpnprof.cost.sweep import expand, pareto_front, run_sweep
from fpnprof.model.config import NeckConfig


def test_pareto_front_by_hand() -> None:
    # (cost, size), both minimised: (1, 5) and (2, 3) and (4, 1) trade off; (3, 4) is beaten by (2, 3);
    # (2, 3) twice keeps both copies; (1, 6) loses to (1, 5) at the same cost; (5, 1) to (4, 1) at the same size
    points = [(1.0, 5.0), (2.0, 3.0), (3.0, 4.0), (4.0, 1.0), (2.0, 3.0), (1.0, 6.0), (5.0, 1.0)]
    assert pareto_front(points) == [True, True, False, True, True, False, False]


def _dominated(row: dict[str, int], rows: list[dict[str, int]]) -> bool:
    """More params for no more MACs, or as many params for fewer MACs."""
    return any(
        (o["params"] > row["params"] and o["macs"] <= row["macs"]) or (o["params"] >= row["params"] and o["macs"] < row["macs"])
        for o in rows
    )


def test_sweep_marks_exactly_the_undominated_configurations() -> None:
    args = ["sweep", "bifpn", "fpn", "--variant", "paper", "--channels", "16,24,40", "--cells", "1,2,3", "--levels", "3,4"]
    data = json.loads(run(*args, "--size", "32", "--workers", "2", "-f", "json").stdout)
    rows = data["rows"]
    assert len(rows) == 3 * 3 * 2 + 3 * 2  # bifpn: channels x cells x levels; fpn is one pass: channels x levels
    assert all(r["error"] is None for r in rows)
    for row in rows:  # brute force, O(n^2): independent of the sort-and-sweep in fpnprof
        assert row["pareto"] == (not _dominated(row, rows)), row
    assert any(r["pareto"] for r in rows) and not all(r["pareto"] for r in rows)


def test_pool_and_single_process_agree_and_refusals_are_kept() -> None:
    bases = [NeckConfig(neck="bifpn", variant="tutorial", channels=8, batch=1, size=64)]
    configs, _ = expand(bases, {"size": [64, 48, 36], "cells": [1, 2], "levels": [3, 5]})
    assert len(configs) == 12
    pooled, single = run_sweep(configs, workers=2), run_sweep(configs, workers=1)
    assert pooled == single
    refused = [r for r in single if r.error]
    assert refused and all("exact halves" in (r.error or "") for r in refused)  # the seed's BiFPN at 36, 5 levels


def test_sweep_table_plot_and_refusals(tmp_path: object) -> None:
    from pathlib import Path

    plot = Path(str(tmp_path)) / "front.svg"
    table = run("sweep", "fpn", "--channels", "32,64", "--plot", str(plot), columns=80)
    assert table.exit_code == 0 and "Pareto front" in table.stdout and plot.stat().st_size > 0
    assert all(len(line) <= 80 for line in table.stdout.splitlines()) and "…" not in table.stdout
    bad = run("sweep", "fpn", "--channels", "0,x")
    assert bad.exit_code == 2 and "--channels" in bad.stderr


@pytest.mark.slow
def test_sweep_bench_marks_the_front_against_measured_latency() -> None:
    args = ["sweep", "bifpn", "--variant", "paper", "--channels", "8,16", "--cells", "1,2", "--size", "32", "--levels", "3"]
    data = json.loads(run(*args, "--bench", "--backend", "torch", "--repeat", "3", "--processes", "3", "-f", "json").stdout)
    rows = data["rows"]
    assert len(rows) == 4 and all(r["latency_ms"] > 0 and r["latency_ci95_half_pct"] >= 0 for r in rows)
    for row in rows:  # brute force against the measured medians
        beaten = any(
            (o["params"] > row["params"] and o["latency_ms"] <= row["latency_ms"])
            or (o["params"] >= row["params"] and o["latency_ms"] < row["latency_ms"])
            for o in rows
        )
        assert row["pareto"] == (not beaten), row


def test_rows_stream_out_as_they_are_priced(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each row reaches ``on_priced`` before the next configuration is priced (one process)."""
    import fpnprof.cost.sweep as sweep

    log: list[tuple[str, int]] = []
    real = sweep.profile_graph  # type: ignore[attr-defined]

    def logged(cfg: NeckConfig, graph: object) -> object:
        log.append(("price", cfg.channels))
        return real(cfg, graph)  # type: ignore[arg-type]

    monkeypatch.setattr(sweep, "profile_graph", logged)
    configs, _ = expand([NeckConfig("fpn", variant="paper")], {"channels": [16, 32, 48]})
    run_sweep(configs, workers=1, on_priced=lambda row: log.append(("row", row.config.channels)))
    assert log == [("price", 16), ("row", 16), ("price", 32), ("row", 32), ("price", 48), ("row", 48)]


def test_jsonl_streams_rows_then_the_front(tmp_path: object) -> None:
    args = ("sweep", "bifpn", "--variant", "paper", "--channels", "32,64,96", "--cells", "2,3", "--workers", "1")
    lines = [json.loads(line) for line in run(*args, "-f", "jsonl").stdout.splitlines()]
    rows, summary = lines[:-1], lines[-1]["summary"]
    assert [r["index"] for r in rows] == list(range(6)) and all(r["pareto"] is None for r in rows)
    whole = json.loads(run(*args, "-f", "json").stdout)["rows"]
    assert summary["configurations"] == 6
    assert summary["pareto"] == [i for i, r in enumerate(whole) if r["pareto"]]
    assert [r["params"] for r in rows] == [r["params"] for r in whole]
    refused = run(*args, "-f", "jsonl", "--bench")
    assert refused.exit_code == 2 and "with --bench use json" in refused.stderr
    from pathlib import Path

    out = Path(str(tmp_path)) / "sweep.jsonl"
    written = run(*args, "-f", "jsonl", "-o", str(out))
    assert written.exit_code == 0 and written.stdout == ""
    assert json.loads(out.read_text().splitlines()[-1])["summary"]["pareto"] == summary["pareto"]


def test_sweep_bench_with_every_configuration_refused_reports_the_refusals() -> None:
    """Found by the CLI fuzz: nothing built, so nothing to time (was an IndexError in run_bench)."""
    plain = run("sweep", "bifpn", "--size", "7")
    timed = run("sweep", "bifpn", "--size", "7", "--bench")
    assert timed.exception is None or isinstance(timed.exception, SystemExit), repr(timed.exception)
    assert plain.exit_code == timed.exit_code == 0
    assert "1 configuration cannot be built" in timed.stdout


def test_sweep_shows_the_necks_own_peak_beside_the_whole_pass() -> None:
    args = ["sweep", "bifpn", "--variant", "paper", "--channels", "32,64"]
    narrow, wide = json.loads(run(*args, "-f", "json").stdout)["rows"]
    assert narrow["peak_bytes"] == wide["peak_bytes"]  # the backbone's peak: the same for both widths
    assert 0 < narrow["neck_peak_bytes"] < wide["neck_peak_bytes"] < wide["peak_bytes"]
    assert "neck peak MB" in run(*args).stdout


def test_a_front_holding_every_configuration_is_not_printed_twice() -> None:
    text = run("sweep", "fpn", "--channels", "32,64").stdout  # more params for more MACs: both on the front
    assert text.count("front  neck") == 1, text
    assert "every configuration is on the Pareto front" in text


def test_each_input_size_has_its_own_front() -> None:
    data = json.loads(run("sweep", "fpn", "pafpn", "--channels", "16,32", "--size", "32,64", "-f", "json").stdout)
    rows = data["rows"]
    for size in (32, 64):
        same = [r for r in rows if r["size"] == size]
        for row in same:  # brute force within the size: a smaller input is not a cheaper design
            assert row["pareto"] == (not _dominated(row, same)), row
    assert sum(r["pareto"] for r in rows if r["size"] == 64) >= 1
    assert "Pareto front per input size" in run("sweep", "fpn", "pafpn", "--channels", "16,32", "--size", "32,64").stdout


def test_a_list_given_with_spaces_is_told_to_use_commas() -> None:
    result = run("sweep", "fpn", "--channels", "64", "96")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: '96' is not a neck: an option takes several values as one, joined by commas "
        "(--channels 64,96, not --channels 64 96)"
    )
