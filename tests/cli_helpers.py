"""Run the CLI in-process with a fixed width and no colour."""

from __future__ import annotations

from typer.testing import CliRunner, Result

from fpnprof.cli import app

ENV = {"COLUMNS": "160", "NO_COLOR": "1", "TERM": "dumb"}


def run(*args: str, columns: int = 160) -> Result:
    return CliRunner(env={**ENV, "COLUMNS": str(columns)}).invoke(app, list(args))
