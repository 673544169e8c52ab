"""``fpnprof import`` refuses what it cannot read in one line, exit 2, and leaves no file."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from fpnprof.cli import app

SOURCE = '''
import torch
from torch import nn


class Lateral(nn.Module):
    """One 1x1 conv per level."""

    def __init__(self, in_channels=(128, 256, 512), out_channels=16):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(c, out_channels, 1) for c in in_channels)

    def forward(self, feats):
        return [conv(x) for conv, x in zip(self.convs, feats)]


class Sorting(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(128, 8, 1)

    def forward(self, feats):
        return [torch.sort(self.conv(feats[0]), dim=1).values]


class Branchy(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(128, 8, 1)

    def forward(self, feats):
        y = self.conv(feats[0])
        if y.sum() > 0:
            return [y]
        return [-y]


class NoInputs(nn.Module):
    def forward(self):
        return [torch.zeros(1, 8, 4, 4)]


NOT_CALLABLE = 3
'''


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("code") / "necks.py"
    path.write_text(SOURCE, encoding="utf-8")
    return path


def _run(args: list[str], out: Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["import", *args, "-o", str(out)])
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("target", "extra", "message"),
    [
        ("missing.py:Lateral", [], "no file 'missing.py'"),
        ("{src}:Nothing", [], "no 'Nothing' in it"),
        ("{src}:NOT_CALLABLE", [], "is not a class or a factory"),
        ("{src}:Lateral", ["--kwargs", "{out_channels: 8}"], "--kwargs is not JSON"),
        ("{src}:Lateral", ["--kwargs", "[1, 2]"], "--kwargs must be a JSON object"),
        ("{src}:Lateral", ["--kwargs", '{"width": 8}'], "unexpected keyword argument 'width'"),
        ("no_such_package.necks:FPN", [], "no module 'no_such_package'"),
        ("{src}:Lateral", ["--size", "0"], "give no inputs to trace"),
    ],
)
def test_refused_before_tracing(source: Path, tmp_path: Path, target: str, extra: list[str], message: str) -> None:
    out = tmp_path / "neck.toml"
    code, text = _run([target.format(src=source), "--in-channels", "128,256,512", *extra], out)
    assert code == 2, text
    assert message in text
    assert len(text.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize(
    ("name", "channels", "message"),
    [
        ("Sorting", "128,256", "aten.sort.default in module <root>"),
        ("NoInputs", "128,256", "takes no tensor inputs"),
        ("Branchy", "128,256", "control flow depends on tensor values"),
        ("Lateral", "64,256,512", "channels 64,256,512 do not match the module (its conv2d convs.0 expects 128"),
    ],
)
def test_refused_while_tracing(source: Path, tmp_path: Path, name: str, channels: str, message: str) -> None:
    pytest.importorskip("torch")
    out = tmp_path / "neck.toml"
    code, text = _run([f"{source}:{name}", "--in-channels", channels], out)
    assert code == 2, text
    assert message.lower() in text.lower()
    assert len(text.strip().splitlines()) == 1
    assert not out.exists()


def test_a_neck_in_code_imports_and_proves(source: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    out = tmp_path / "neck.toml"
    code, text = _run([f"{source}:Lateral", "--in-channels", "128,256,512", "--kwargs", '{"out_channels": 8}'], out)
    assert code == 0, text
    assert "proven" in text
    written = out.read_text(encoding="utf-8")
    assert 'object = "' in written and '"out_channels": 8' in written and "sha256" in written


def test_levels_given_and_taken_must_agree(source: Path, tmp_path: Path) -> None:
    """More widths than the forward reads: refused, naming what it reads; fewer: the proof fails on the
    parameters the forward never used, and says what to check."""
    pytest.importorskip("torch")
    out = tmp_path / "neck.toml"
    code, text = _run([f"{source}:Lateral", "--in-channels", "128,256,512,1024"], out)
    assert code == 2 and "gave 4 levels (C3..C6), its forward reads C3..C5" in text, text
    code, text = _run([f"{source}:Lateral", "--in-channels", "128,256"], out)
    assert code == 1 and "does it take more levels than --in-channels gave?" in text, text
    assert not out.exists()


def test_a_misspelt_name_gets_a_suggestion(source: Path, tmp_path: Path) -> None:
    code, text = _run([f"{source}:Latreal", "--in-channels", "128,256,512"], tmp_path / "neck.toml")
    assert code == 2 and "did you mean 'Lateral'?" in text and "NoInputs" in text, text


def test_the_file_header_is_the_command_that_imports_it_again(source: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    out = tmp_path / "neck.toml"
    code, text = _run([f"{source}:Lateral", "--in-channels", "128,256,512", "--kwargs", '{"out_channels": 8}'], out)
    assert code == 0, text
    header = out.read_text(encoding="utf-8").splitlines()[0]
    assert f"`fpnprof import {source}:Lateral --in-channels 128,256,512 --kwargs '{{\"out_channels\": 8}}'`" in header


def test_kwargs_on_a_neck_that_is_not_code_gets_a_note() -> None:
    result = CliRunner().invoke(app, ["shapes", "fpn", "--kwargs", '{"out_channels": 32}'])
    assert result.exit_code == 0 and "--kwargs does not apply to fpn" in result.output, result.output
