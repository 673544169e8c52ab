"""What a neck file does by default is written down and shown: the format's defaults are documented,
a file that never says it repeats is one pass, titles show cells wherever a neck repeats, options that
do not apply give one note line, and a file is labelled by its own name, never "paper"."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
from cli_helpers import run

from fpnprof.model.config import NeckConfig
from fpnprof.model.neckfile.schema import _TABLE_KEYS

DOC = Path(__file__).resolve().parent.parent / "docs" / "NECK_FORMAT.md"

#: A small user file that says nothing about repeating.
CHAIN = """
[neck]
levels = 3
[[node]]
name = "lateral"
levels = "all"
inputs = ["in@l"]
block = ["conv1x1"]
[[node]]
name = "td"
levels = "top..bottom"
inputs = ["td@l+1?", "lateral@l"]
block = ["conv3x3"]
"""


def _file(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _neck_params(*args: str) -> int:
    result = run("shapes", *args, "-f", "json")
    assert result.exit_code == 0, result.stderr
    return int(json.loads(result.stdout)["neck_total"]["params"])


def test_the_format_doc_states_every_neck_default() -> None:
    """docs/NECK_FORMAT.md has a row per [neck] key with its default; the numbers are fpnprof's."""
    rows = dict(re.findall(r"^\| `(\w+)` \| ([^|]+) \|", DOC.read_text(), re.M))
    assert set(_TABLE_KEYS["neck"]) <= set(rows), f"keys without a stated default: {set(_TABLE_KEYS['neck']) - set(rows)}"
    defaults = {f.name: f.default for f in dataclasses.fields(NeckConfig)}
    for key in ("channels", "cells", "levels", "min_level"):
        assert str(defaults[key]) in rows[key], (key, rows[key])
    assert "cells" in rows["repeat"], rows["repeat"]  # the default follows whether the file gives cells


def test_a_file_that_never_says_it_repeats_is_one_pass(tmp_path: Path) -> None:
    plain = _file(tmp_path, "plain.toml", CHAIN)
    once = _file(tmp_path, "once.toml", CHAIN.replace("levels = 3\n", "levels = 3\nrepeat = false\n", 1))
    assert _neck_params(plain) == _neck_params(once), "a file without repeat or cells was stacked"
    stacked = _file(tmp_path, "stacked.toml", CHAIN.replace("levels = 3\n", "levels = 3\ncells = 2\n", 1))
    assert _neck_params(stacked, "--cells", "1") < _neck_params(stacked)  # cells = 2 repeats


def test_titles_show_cells_wherever_a_neck_repeats() -> None:
    for neck, cells in (("bifpn-paper.toml", "3 cells"), ("nasfpn.toml", "7 cells"), ("yolov5-pan.toml", "1 cell,")):
        title = run("shapes", neck).stdout.splitlines()[0]
        assert cells in title, title
    assert "cell" not in run("shapes", "fpn-paper.toml").stdout.splitlines()[0]


def test_an_option_that_does_not_apply_gives_one_note_line() -> None:
    out = run("shapes", "fpn", "--cells", "2").stdout
    assert "--cells does not apply to fpn (tutorial): it is one pass" in out, out
    out = run("shapes", "fpn-paper.toml", "--variant", "tutorial").stdout
    assert "--variant does not apply to fpn-paper.toml: a neck file has one form" in out, out
    out = run("compare", "fpn", "pafpn", "bifpn", "--cells", "2").stdout
    lines = [line for line in out.splitlines() if "does not apply" in line]
    assert lines == ["--cells does not apply to fpn (tutorial), pafpn (tutorial): they are one pass."], lines
    for quiet in (("shapes", "bifpn", "--cells", "2"), ("shapes", "fpn-paper.toml"), ("shapes", "fpn", "--variant", "paper")):
        assert "does not apply" not in run(*quiet).stdout, quiet


def test_a_file_is_labelled_by_its_own_name_and_description_never_paper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = CHAIN.replace("[neck]\n", '[neck]\nname = "my-chain"\ndescription = "a top-down chain of 3x3 convs"\n', 1)
    monkeypatch.chdir(tmp_path)
    path = _file(tmp_path, "mine.toml", text) and "mine.toml"
    out = run("shapes", path).stdout
    assert out.splitlines()[0].startswith(f"my-chain ({path}) over ResNet18"), out
    assert "my-chain: a top-down chain of 3x3 convs" in out and "paper" not in out, out
    data = json.loads(run("shapes", path, "-f", "json").stdout)
    assert (data["name"], data["description"]) == ("my-chain", "a top-down chain of 3x3 convs")
    assert data["variant"] is None and data["config"]["variant"] is None, data
    shipped = run("shapes", "bifpn-paper.toml", "--variant", "tutorial").stdout
    assert shipped.splitlines()[0].startswith("bifpn-paper.toml over") and "(paper)" not in shipped, shipped
