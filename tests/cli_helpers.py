"""Run the CLI in-process with a fixed width and no colour; check golden files and PNG headers."""

from __future__ import annotations

import os
import struct
from pathlib import Path

from typer.testing import CliRunner, Result

from fpnprof.cli import app

ENV = {"COLUMNS": "160", "NO_COLOR": "1", "TERM": "dumb"}


def run(*args: str, columns: int = 160) -> Result:
    return CliRunner(env={**ENV, "COLUMNS": str(columns)}).invoke(app, list(args))


def check_golden(path: Path, text: str) -> None:
    """``text`` equals the golden file (``FPNPROF_UPDATE_GOLDEN=1`` rewrites it instead)."""
    if os.environ.get("FPNPROF_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{path.name} changed; rerun with FPNPROF_UPDATE_GOLDEN=1 if intended"


def png_size(path: Path) -> tuple[int, int]:
    """A PNG's (width, height) from its header, after checking the signature."""
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", header[16:24])
    return width, height
