"""What a user reads: user text printed literally (markup and control characters), footers that say
only what applies, numbers never cut at any width, help that reads at 80 columns, widths that are
exact or refused, plots that show every neck, and clear words for a GPU that is not there."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from cli_helpers import run
from fake_rows import fake_bench_run, fake_row

from fpnprof.cli import app
from fpnprof.cli.help import EXAMPLE_WIDTH, flow
from fpnprof.model.neckfile import SHIPPED
from fpnprof.report.bench_report import bench_report
from fpnprof.report.table_format import printable, render

COMMANDS = [c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands]


# User text is printed as it is ------------------------------------------------------------------
@pytest.mark.parametrize("name", ["ev[il].toml", "[bold]x.toml", "[red]r[.toml"])
def test_a_neck_file_path_prints_literally(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    shutil.copy(SHIPPED / "fpn-paper.toml", path)
    result = run("shapes", str(path), columns=200)
    assert result.exit_code == 0, result.output
    assert str(path) in result.stdout.replace("\n", "")


def test_a_folder_with_a_closing_tag_prints_literally(tmp_path: Path) -> None:
    folder = tmp_path / "a["
    folder.mkdir()
    path = folder / "b]c.toml"
    shutil.copy(SHIPPED / "fpn-paper.toml", path)
    for command in (["shapes", str(path)], ["compare", "fpn", str(path)], ["sweep", str(path), "--workers", "1"]):
        result = run(*command, columns=250)
        assert result.exit_code == 0 and result.exception is None, result.output
        assert str(path) in result.stdout.replace("\n", "")


def test_control_characters_are_shown_escaped(tmp_path: Path) -> None:
    path = tmp_path / "red\x1b[31m.toml"
    shutil.copy(SHIPPED / "fpn-paper.toml", path)
    result = run("shapes", str(path), columns=250)
    assert result.exit_code == 0 and "\x1b" not in result.stdout and "red\\x1b[31m.toml" in result.stdout.replace("\n", "")
    missing = run("shapes", str(tmp_path / "gone\x07.toml"))
    assert missing.exit_code == 2 and "\x07" not in missing.stderr and "gone\\x07.toml" in missing.stderr
    assert printable("a\tb\x00c\x9b") == "a\tb\\x00c\\x9b"


# Footers say what applies --------------------------------------------------------------------------
def test_bench_footer_says_only_what_applies() -> None:
    one = fake_row("fpn", 10.0, backend="torch", engine="eager", math_mode={"allow_tf32_matmul": False, "cudnn_benchmark": False})
    text = render(bench_report(fake_bench_run([one])), width=120)
    assert "x base" not in text  # one neck: no ratio column, so no word about it
    assert "tf32" not in text.lower() and "cudnn" not in text  # no GPU switches on a CPU
    assert "850 ms" not in text and "1.6x" not in text  # no old measurement told as if it were now
    over = fake_row("bifpn", 10.0, peak_share=1.78, ratio=2.0, ratio_ci95=[1.9, 2.1], ratio_half_pct=2.4)
    text = render(bench_report(fake_bench_run([fake_row("fpn", 5.0, ratio=1.0, ratio_ci95=[1.0, 1.0]), over])), width=120)
    assert "178.0%" in text and "Over 100%" in text and "x base" in text


def test_hidden_columns_are_named_without_ambiguity() -> None:
    text = run("compare", "--variant", "both", columns=80).stdout
    note = next(line for line in text.replace("\n(", " (").splitlines() if "hidden at 80" in line) + text
    assert re.search(r"hidden at 80 columns: [^)]*GFLOPs ratio", note.replace("\n", " "))
    assert not re.search(r"hidden at \d+ columns: (x,|.*, x[,;])", text.replace("\n", " "))


@pytest.mark.parametrize("columns", [40, 52, 64])
def test_below_80_columns_numbers_are_never_cut(columns: int) -> None:
    for args in (["compare", "--variant", "both"], ["shapes", "bifpn", "--detail"], ["list"]):
        narrow, wide = run(*args, columns=columns).stdout, run(*args, columns=300).stdout
        assert "…" not in narrow
        numbers = set(re.findall(r"(?<![\w.])\d[\d,]*\.\d+", narrow))
        assert numbers <= set(re.findall(r"(?<![\w.])\d[\d,]*\.\d+", wide)), args


# Help --------------------------------------------------------------------------------------------
def test_help_reflows_prose_and_keeps_examples_whole() -> None:
    assert (
        flow("One\nsentence.\n\nTwo\nlines.\n\n  fpnprof a\n\n  fpnprof b")
        == "One sentence.\n\nTwo lines.\n\n  fpnprof a\n\n  fpnprof b"
    )
    top = run("--help", columns=80).stdout
    assert "NAS-FPN" in top and "YOLOv5" in top and "neck file" in top
    for command in COMMANDS:
        text = run(command, "--help", columns=80).stdout
        assert "<list[str]>" not in text and "<bool>" not in text, command
        doc = app.registered_commands[COMMANDS.index(command)].callback.__doc__ or ""
        for example in [line.strip() for line in doc.splitlines() if line.strip().startswith("fpnprof ")]:
            assert len(example) <= EXAMPLE_WIDTH, example
            assert example in text, f"{command}: {example!r} wraps at 80 columns"
    bench = run("bench", "--help", columns=80).stdout
    assert "worker process, so drift" in " ".join(bench.split())  # a sentence, not broken where the source line ended


# Widths are exact or refused ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("width", "channels", "expected"),
    [("c", 128, 128), ("2c", 128, 256), ("3c", 128, 384), ("c/2", 128, 64), ("3c/2", 128, 192), ("96", 128, 96), ("c/3", 96, 32)],
)
def test_width_expressions_are_exact(width: str, channels: int, expected: int) -> None:
    from fpnprof.model.neckfile.syntax import parse_width

    assert parse_width(width).value(channels, 0) == expected


@pytest.mark.parametrize("width", ["2*c", "c / 2", "c/0", "0c", "x", "-1", "c2"])
def test_width_expressions_outside_the_grammar_are_refused(width: str) -> None:
    from fpnprof.model.neckfile.syntax import parse_width

    with pytest.raises(ValueError, match="expected a width"):
        parse_width(width)


def test_a_fraction_that_is_not_whole_is_refused_not_floored(tmp_path: Path) -> None:
    text = (SHIPPED / "fpn-paper.toml").read_text()
    path = tmp_path / "third.toml"
    path.write_text(text.replace('name = "output"', 'name = "output"\nwidth = "c/3"', 1))
    result = run("shapes", str(path), "--channels", "128")
    assert result.exit_code == 2 and "width c/3 is not a whole number of channels at C=128" in result.stderr
    assert "key 'width'" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert run("shapes", str(path), "--channels", "96").exit_code == 0


# Plots -------------------------------------------------------------------------------------------
def test_compare_plot_shows_every_neck_on_a_log_axis() -> None:
    from fpnprof.cost.analysis import profile
    from fpnprof.model.config import NeckConfig
    from fpnprof.report.plots import _pyplot, macs_figure

    profiles = [profile(NeckConfig(n)) for n in ("fpn", "pafpn", "bifpn")]
    plt = _pyplot(Path("x.png"))
    fig = macs_figure(plt, profiles)
    total, shares = fig.axes
    assert total.get_xscale() == "log" and len(total.patches) == 3
    lo, hi = total.get_xlim()
    assert lo <= min(p.neck_total.macs / 1e9 for p in profiles) and hi >= max(p.neck_total.macs / 1e9 for p in profiles)
    assert shares.get_xlim() == (0.0, 1.0)
    plt.close(fig)


def test_sweep_plot_labels_the_front() -> None:
    from fpnprof.cost.sweep import expand, run_sweep
    from fpnprof.model.config import NeckConfig
    from fpnprof.report.plots import _pyplot, pareto_figure

    configs, _ = expand([NeckConfig("bifpn", variant="paper")], {"channels": [32, 64], "cells": [1, 2, 3]})
    rows = run_sweep(configs, workers=1)
    plt = _pyplot(Path("x.png"))
    fig = pareto_figure(plt, rows)
    labels = [t.get_text() for t in fig.axes[0].texts]
    plt.close(fig)
    assert len(labels) == sum(r.front for r in rows) and all(re.fullmatch(r"C\d+ x\d P2-P5", t) for t in labels)


# A GPU that is not there -------------------------------------------------------------------------
def test_gpu_with_only_the_cpu_paddle_installed_names_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import fpnprof.backends.registry as registry
    from fpnprof.errors import ConfigError

    monkeypatch.setattr(registry, "installed", lambda name: name == "paddlepaddle")
    with pytest.raises(ConfigError) as info:
        registry.resolve_backend("auto", "gpu")
    message = str(info.value)
    assert "paddlepaddle-gpu" in message and "CPU build" in message and "fpnprof[torch]" in message
    assert "pip install paddlepaddle," not in message


def test_progress_counts_against_the_workers_expected_with_an_eta() -> None:
    from fpnprof.bench.estimate import Estimate
    from fpnprof.bench.protocol import CandidateReply, WorkerReply
    from fpnprof.bench.schedule import Progress, StopRule, Target, run_schedule

    seen: list[Progress] = []
    clock = [0.0]

    def launch(group: int, index: int) -> WorkerReply:
        clock[0] += 2.0
        return WorkerReply([CandidateReply(rounds=[[1.0]])])

    def wide(replies: object) -> Estimate:
        n = len(replies[0])  # type: ignore[index]
        return Estimate(1.0, 0.9, 1.1, n) if n < 6 else Estimate(1.0, 0.99, 1.01, n)

    run_schedule(
        1,
        [Target("x", (0,), wide)],
        launch,
        StopRule(precision=0.02, min_workers=3),
        clock=lambda: clock[0],
        on_progress=seen.append,
    )
    assert seen and all(p.expected >= p.done and p.expected > 0 for p in seen)
    assert seen[0].done == 0 and seen[-1].done == 5 and all(p.eta_s >= 0 for p in seen)
    assert any(p.eta_s > 0 for p in seen[1:])
    json.dumps([p.__dict__ for p in seen])


# Columns say what they hold --------------------------------------------------------------------
def test_shapes_level_bytes_are_named_as_every_tensor_written_there() -> None:
    from fpnprof.cost.analysis import profile
    from fpnprof.model.config import NeckConfig

    p = profile(NeckConfig(neck="fpn"))
    p2 = [n for n in p.nodes if n.part == "neck" and n.level == 2]
    assert len(p2) > 1 and p.levels[0].totals.bytes == sum(n.totals.bytes for n in p2)  # every node's output, not the level's
    text = run("shapes", "fpn").stdout
    assert "MB written" in text and "act. MB" not in text
    assert "MB written: every tensor the neck's nodes at that level write" in " ".join(text.split())


def test_conventions_keeps_each_counts_unit_at_80_columns() -> None:
    text = run("conventions", "fpn", columns=80).stdout
    counts = re.findall(r"\d{1,3}(?:,\d{3}){3}\s+(MACs|FLOPs)?", text.split("per op kind")[0])
    assert len(counts) == 9 and all(counts), counts  # fpnprof's FLOPs and eight counters, each with its unit
    assert "unit" not in text.split("hidden at 80 columns:")[-1].split("\n")[0]


def test_help_at_80_columns_gives_descriptions_room_and_marks_variadic_necks() -> None:
    bench = run("bench", "--help", columns=80).stdout
    # 131 lines before the help was tightened; the gate (--against, --fail-if-slower, --force), the run
    # history (--history, --no-history) and necks in code (--kwargs) have since added 24
    assert len(bench.splitlines()) <= 125, len(bench.splitlines())
    precision = next(line for line in bench.splitlines() if "--precision " in line)
    start = len(precision) - len(precision.split("<float>")[1].lstrip())
    # descriptions get 40+ of the 80 columns (before: 31, from column 47); --fail-if-slower, the longest
    # option name, sets the column at 37
    assert start <= 37, precision
    for command in ("bench", "compare", "sweep", "predict"):
        assert "[NECK]..." in run(command, "--help", columns=80).stdout, command
