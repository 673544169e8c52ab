"""What a new user found: sweep's defaults, the list hint, a node at the wrong size, option checks,
neck-file labels, titles at the terminal's width, small wording, and bench columns the same on every row."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import run
from test_widths import install_sim

from fpnprof.model.neckfile import SHIPPED
from fpnprof.report.model import Column, Report, Section
from fpnprof.report.table_format import render


def _refuse_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any real timing or calibrating fails the test at once (a refusal must come before any work)."""
    import fpnprof.bench.runner
    import fpnprof.cli.latency_commands

    def ran(*args: object, **kwargs: object) -> None:
        raise AssertionError("started work")

    monkeypatch.setattr(fpnprof.bench.runner, "run_bench", ran)
    monkeypatch.setattr(fpnprof.cli.latency_commands, "run_calibrate", ran)


def _one_error(result: object, *phrases: str) -> str:
    message: str = result.stderr.strip()  # type: ignore[attr-defined]
    assert result.exit_code == 2, (result.exit_code, result.output)  # type: ignore[attr-defined]
    assert "\n" not in message and message.startswith("error: "), message
    for phrase in phrases:
        assert phrase in message, message
    return message


# 1 -----------------------------------------------------------------------------------------------
def test_sweep_takes_each_necks_own_defaults_for_what_is_not_typed() -> None:
    (paper,) = json.loads(run("sweep", "bifpn", "--variant", "paper", "-f", "json").stdout)["rows"]
    assert (paper["channels"], paper["cells"], paper["min_level"], paper["levels"]) == (64, 3, 3, 5), paper
    (pan,) = json.loads(run("sweep", "yolov5-pan.toml", "-f", "json").stdout)["rows"]
    assert (pan["channels"], pan["cells"]) == (128, 1), pan
    rows = json.loads(run("sweep", "fpn", "bifpn", "--variant", "paper", "--cells", "2,3", "-f", "json").stdout)["rows"]
    assert {(r["neck"], r["channels"], r["cells"]) for r in rows} == {("fpn", 256, 2), ("bifpn", 64, 2), ("bifpn", 64, 3)}
    help_text = run("sweep", "--help", columns=200).stdout
    for option in ("--channels", "--cells"):
        line = next(x for x in help_text.splitlines() if x.lstrip("│ ").startswith(f"{option} "))
        assert "[default:" not in line and "neck's own" in line, line


# 2 -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["sweep", "bifpn", "--cells", "3", "5"], "(--cells 3,5, not --cells 3 5)"),
        (["sweep", "fpn", "--size", "64", "128"], "(--size 64,128, not --size 64 128)"),
        (["bench", "fpn", "--batch", "1", "2"], "(--batch 1,2, not --batch 1 2)"),
        (["sweep", "fpn", "--channels", "64", "96", "128"], "(--channels 64,96,128, not --channels 64 96 128)"),
    ],
)
def test_the_list_hint_names_the_option_typed(args: list[str], hint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _refuse_work(monkeypatch)
    _one_error(run(*args), hint)


# 3 -----------------------------------------------------------------------------------------------
def test_a_node_that_puts_its_level_at_another_size_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "halves.toml"
    path.write_text('[neck]\nlevels = 3\n[[node]]\nname = "a"\nlevels = "all"\ninputs = ["in@l"]\nblock = ["conv3x3(s=2)"]\n')
    _one_error(run("shapes", str(path)), f"{path}: node 'a', key 'block'", "P2", "32x32", "64x64")


# 4 -----------------------------------------------------------------------------------------------
def test_warmup_and_threads_are_checked_one_option_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    _refuse_work(monkeypatch)
    warmup = _one_error(run("bench", "fpn", "--warmup", "0"), "--warmup")
    assert "--threads" not in warmup and "at least 1" in warmup
    threads = _one_error(run("bench", "fpn", "--threads", "-1"), "--threads")
    assert "--warmup" not in threads
    cores = os.cpu_count() or 1
    many = _one_error(run("bench", "fpn", "--threads", str(cores + 97)), "--threads", f"{cores} core")
    assert "--warmup" not in many
    _one_error(run("peak", "--threads", "-1"), "--threads")


# 5 -----------------------------------------------------------------------------------------------
def test_compare_and_sweep_label_a_neck_file_by_its_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (SHIPPED / "fpn-paper.toml").read_text().replace('name = "fpn-paper"', 'name = "my-fpnpan"')
    (tmp_path / "fpnpan.toml").write_text(text.replace("channels = 256", "channels = 128"))
    monkeypatch.chdir(tmp_path)
    label = "my-fpnpan (fpnpan.toml)"
    compare = run("compare", "fpn", "fpnpan.toml", "--variant", "paper").stdout
    assert f" {label} " in compare and f"{label}: P2-P5, C=128" in compare.replace("\n", " "), compare
    sweep = run("sweep", "fpnpan.toml", "--channels", "64,128").stdout
    assert sum(f" {label} " in line for line in sweep.splitlines()) == 2, sweep
    assert json.loads(run("compare", "fpn", "fpnpan.toml", "-f", "json").stdout)["rows"][1]["neck"] == "fpnpan.toml"


# 6 -----------------------------------------------------------------------------------------------
def test_titles_wrap_at_the_terminals_width(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = run("compare", columns=80).stdout.splitlines()
    assert "share of neck MACs per level (blank: a level the neck does not have)" in lines, lines
    install_sim(monkeypatch)
    lines = run("compare", "--variant", "paper", "--bench", "--backend", "paddle", columns=80).stdout.splitlines()
    title = next(x for x in lines if x.startswith("latency of the neck alone, eager"))
    assert title.rstrip().endswith("(paper)'s ms"), title
    from fpnprof.report.bench_report import breakdown_sections

    level = {"name": "P2", "nodes": 1, "ms": 1.0, "share": 1.0, "bytes": 0}
    breakdown: dict[str, Any] = {"instrumented_ms": 1.0, "node_sum_ms": 1.0, "coverage": 1.0, "forward_ms": 1.0}
    breakdown["coverage_ok"] = True
    breakdown |= {"by_level": [level], "by_op": [level], "between_nodes": {"name": "between nodes", "ms": 0.0}}
    row = {"neck": "fpn", "variant": "paper", "part": "neck", "engine": "eager", "batch": 2, "size": 64, "breakdown": breakdown}
    assert breakdown_sections(row)[0].wide_title  # type: ignore[arg-type]  # the long one; 'same, per op type' fits


# 7 -----------------------------------------------------------------------------------------------
def test_one_configuration_usage_lines_and_a_folder_as_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run("sweep", "fpn").stdout.startswith("sweep: 1 configuration,")
    assert "fpnprof sweep [OPTIONS] [NECK]..." in run("sweep", "--help").stdout
    usage = run("shapes", "--help").stdout
    assert "fpnprof shapes [OPTIONS] NECK" in usage and "{NECK}" not in usage, usage[:300]
    _refuse_work(monkeypatch)
    _one_error(run("calibrate", "--model", str(tmp_path)), f"--model {tmp_path}", "folder")
    _one_error(run("predict", "fpn", "--model", str(tmp_path)), f"--model {tmp_path}", "folder")


# 8 -----------------------------------------------------------------------------------------------
def test_a_column_the_same_on_every_row_is_said_once() -> None:
    columns = [Column("neck", "neck", "text"), Column("variant", "variant"), Column("input", "batch x px")]
    columns.append(Column("ms", "ms", "ms"))
    rows = [{"neck": n, "variant": "tutorial", "input": "2 x 64", "ms": ms} for n, ms in (("fpn", 1.0), ("bifpn", 2.0))]
    text = render(Report([Section("t", columns, rows, fold_same=True)], {}), width=80)
    header = next(x for x in text.splitlines() if "neck" in x)
    assert header.split() == ["neck", "ms"], text
    assert "all rows: tutorial, batch 2 x 64 px" in text, text
    one = render(Report([Section("t", columns, rows[:1], fold_same=True)], {}), width=80)
    assert "variant" in one and "all rows" not in one  # one row: nothing to fold


def test_bench_shows_what_every_row_shares_once(monkeypatch: pytest.MonkeyPatch) -> None:
    install_sim(monkeypatch)
    args = ["bench", "--variant", "paper", "--part", "neck", "--engine", "eager,inference", "--backend", "paddle"]
    lines = run(*args, columns=120).stdout.splitlines()
    header = next(x for x in lines if x.lstrip().startswith("neck "))
    assert "variant" not in header and "batch x px" not in header and "workers" in header, header
    assert "all rows: paper, part neck, batch 2 x 64 px" in lines, lines
