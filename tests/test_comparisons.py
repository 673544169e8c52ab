"""One comparison, one configuration, stated truthfully: typed options apply to every neck, each neck's
own defaults fill the rest (the same in every command), a topology that fixes its levels keeps them,
and no title or JSON states a setting that some row does not use."""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

import pytest
from cli_helpers import run

from fpnprof.model.neckfile import shipped_files

ALL_FIVE = ["fpn", "pafpn", "bifpn", "nasfpn.toml", "yolov5-pan.toml"]


def claims(title: str) -> dict[str, Any]:
    """The settings a title states for every row."""
    out: dict[str, Any] = {}
    if m := re.search(r"\bP(\d+)-P(\d+), C=(\d+)", title):
        out |= {"min_level": int(m[1]), "max_level": int(m[2]), "channels": int(m[3])}
    if m := re.search(r"(\d+) cells", title):
        out["cells"] = int(m[1])
    if m := re.search(r"batch (\d+), (\d+)x\d+, (\w+) stem", title):
        out |= {"batch": int(m[1]), "size": int(m[2]), "stem": m[3]}
    return out


def row_setting(config: dict[str, Any], key: str) -> Any:
    return config["min_level"] + config["levels"] - 1 if key == "max_level" else config[key]


def assert_truthful(data: dict[str, Any], title: str, cells_apply: dict[str, bool]) -> None:
    """Every setting the title or the JSON's shared ``config`` states holds for every row."""
    for row in data["rows"]:
        config = row["config"]
        for key, value in claims(title).items():
            if key == "cells" and not cells_apply[row["neck"]]:
                continue  # a one-pass neck has no cells to disagree with
            assert row_setting(config, key) == value, (title, row["neck"], key)
        for key, value in data["config"].items():
            assert config[key] == value, (row["neck"], key)


def compare(*args: str) -> tuple[dict[str, Any], str]:
    data = json.loads(run("compare", *args, "-f", "json").stdout)
    table = run("compare", *args, columns=200).stdout
    return data, table.splitlines()[0]


CELLS_APPLY = {"fpn": False, "pafpn": False, "bifpn": True, "nasfpn.toml": True, "yolov5-pan.toml": True}


def test_five_necks_of_five_setups_in_one_truthful_table() -> None:
    data, title = compare(*ALL_FIVE, "--variant", "paper")
    rows = {r["neck"]: r for r in data["rows"]}
    assert "per neck" in title and "P2-P" not in title
    assert (rows["fpn"]["levels_text"], rows["fpn"]["channels"], rows["fpn"]["cells"]) == ("P2-P5", 256, None)
    assert (rows["bifpn"]["levels_text"], rows["bifpn"]["channels"], rows["bifpn"]["cells"]) == ("P3-P7", 64, 3)
    assert rows["nasfpn.toml"]["levels_text"] == "P3-P7 fixed" and rows["yolov5-pan.toml"]["levels_text"] == "P3-P5 fixed"
    assert rows["nasfpn.toml"]["variant"] == "-"  # a file neck has one form: no "(paper)"
    assert_truthful(data, title, CELLS_APPLY)
    assert set(data["config"]) >= {"batch", "size", "stem"} and not set(data["config"]) & {"levels", "channels", "min_level"}
    table = run("compare", *ALL_FIVE, "--variant", "paper", columns=200).stdout
    assert "! these necks run at different setups" in table and "keep the levels their topology fixes" in table


def test_typed_settings_apply_to_every_neck_and_the_title_says_them() -> None:
    data, title = compare("fpn", "pafpn", "bifpn", "--variant", "paper", "--levels", "5", "--min-level", "3", "--channels", "128")
    assert "P3-P7, C=128" in title and "per neck" not in title
    assert_truthful(data, title, CELLS_APPLY)
    assert data["config"]["levels"] == 5 and data["config"]["channels"] == 128


def test_a_fixed_topology_keeps_its_levels_among_several_and_the_check_can_fail() -> None:
    data, title = compare("fpn", "nasfpn.toml", "--levels", "4", "--min-level", "2")
    rows = {r["neck"]: r for r in data["rows"]}
    assert rows["fpn"]["levels_text"] == "P2-P5" and rows["nasfpn.toml"]["levels_text"] == "P3-P7 fixed"
    assert_truthful(data, title, CELLS_APPLY)
    # the truthfulness check itself: a title that states P2-P5 for both rows is caught
    with pytest.raises(AssertionError):
        assert_truthful(data, "neck comparison: P2-P5, C=256, batch 2, 64x64, tutorial stem", CELLS_APPLY)


def test_per_level_shares_align_by_level_and_leave_a_blank_where_a_neck_has_none() -> None:
    data, _ = compare("fpn", "nasfpn.toml")
    shares = run("compare", "fpn", "nasfpn.toml", columns=200).stdout
    header = next(line for line in shares.splitlines() if line.lstrip().startswith("neck") and "P2" in line)
    assert re.findall(r"P\d", header) == ["P2", "P3", "P4", "P5", "P6", "P7"]
    fpn_line = next(line for line in shares.splitlines() if line.startswith(" fpn ") and "%" in line and "█" in line)
    assert fpn_line.count("%") == 4  # P2-P5, nothing printed under P6 and P7 (not 0.0%)
    nas_line = next(line for line in shares.splitlines() if line.startswith(" nasfpn.toml") and "█" in line)
    assert nas_line.count("%") == 5
    assert "P2" not in data["rows"][1]["level_macs"]


@pytest.mark.parametrize(("a", "b"), list(itertools.combinations(shipped_files(), 2)))
def test_any_two_shipped_necks_compare_in_one_table(a: str, b: str) -> None:
    result = run("compare", a, b, "-f", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [r["neck"] for r in data["rows"]] == [a, b]
    table = run("compare", a, b, columns=200)
    assert table.exit_code == 0 and "…" not in table.stdout


def test_one_set_of_defaults_per_neck_in_every_command() -> None:
    shapes = json.loads(run("shapes", "fpn", "-f", "json").stdout)
    compared = json.loads(run("compare", "fpn", "-f", "json").stdout)["rows"][0]
    assert compared["params"] == shapes["neck_total"]["params"] == 2_607_104
    swept = json.loads(run("sweep", "fpn", "--workers", "1", "-f", "json").stdout)["rows"][0]
    assert swept["params"] == shapes["neck_total"]["params"] and swept["levels"] == 4
    # the paper BiFPN and its shipped file agree: EfficientDet-D0's neck
    builtin = json.loads(run("shapes", "bifpn", "--variant", "paper", "-f", "json").stdout)
    shipped = json.loads(run("shapes", "bifpn-paper.toml", "-f", "json").stdout)
    keys = ("min_level", "levels", "channels", "cells")
    assert [builtin["config"][k] for k in keys] == [shipped["config"][k] for k in keys] == [3, 5, 64, 3]
    assert builtin["neck_total"] == shipped["neck_total"]


def test_a_neck_file_refuses_levels_it_cannot_build(tmp_path: Any) -> None:
    result = run("shapes", "yolov5-pan.toml", "--min-level", "2", "--levels", "4")
    assert result.exit_code == 2 and "fixes its levels at P3-P5" in result.stderr
    from fpnprof.model.neckfile import SHIPPED

    loose = tmp_path / "pan-loose.toml"  # the same neck without the fixed_levels guard
    loose.write_text((SHIPPED / "yolov5-pan.toml").read_text().replace("fixed_levels = true", ""))
    result = run("shapes", str(loose), "--min-level", "2", "--levels", "4")
    assert result.exit_code == 2 and "no node is built at P2" in result.stderr and len(result.stderr.splitlines()) == 1


def test_sweep_gives_one_row_and_a_note_for_a_knob_that_does_not_apply() -> None:
    data = json.loads(run("sweep", "fpn", "--cells", "1,2,3", "--workers", "1", "-f", "json").stdout)
    assert len(data["rows"]) == 1
    table = run("sweep", "fpn", "--cells", "1,2,3", columns=200).stdout
    assert "--cells does not apply to fpn" in table
    fixed = json.loads(run("sweep", "nasfpn.toml", "--levels", "3,4,5", "--cells", "1", "--workers", "1", "-f", "json").stdout)
    assert len(fixed["rows"]) == 1 and fixed["rows"][0]["levels"] == 5
    both = json.loads(run("sweep", "bifpn", "--cells", "1,2", "--workers", "1", "-f", "json").stdout)
    assert len(both["rows"]) == 2  # where it applies, every value is a row


def test_bench_rows_carry_their_configuration_and_say_when_it_differs() -> None:
    from fake_rows import fake_bench_run, fake_row

    from fpnprof.model.config import NeckConfig
    from fpnprof.model.setups import setup
    from fpnprof.report.bench_report import bench_report
    from fpnprof.report.table_format import render

    d0 = NeckConfig("bifpn", variant="paper", min_level=3, levels=5, channels=64)
    ratio = {"ratio": 3.0, "ratio_ci95": [2.9, 3.1], "ratio_half_pct": 3.3, "ratio_paired": True}
    rows = [
        fake_row("fpn", 10.0, ratio=1.0, ratio_ci95=[1.0, 1.0]),
        fake_row("bifpn", 30.0, config=d0.as_dict(), **setup(d0), **ratio),
    ]
    text = render(bench_report(fake_bench_run(rows)), width=200)
    assert "P3-P7" in text and "P2-P5" in text and "! these necks run at different setups" in text
