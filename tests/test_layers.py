"""The layers contract (pyproject.toml, import-linter): model < cost < backends < bench < report < cli.

The real tree keeps it; a copy of the package with one upward import breaks it, so the check can fail."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    lint = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(lint), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": str(lint.parent)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_package_keeps_its_layers() -> None:
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 kept, 0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "upward"),
    [("model/graph.py", "fpnprof.cost.rules"), ("backends/common.py", "fpnprof.bench.timers"), ("cost/rules.py", "fpnprof.cli")],
)
def test_an_upward_import_breaks_the_contract(tmp_path: Path, module: str, upward: str) -> None:
    shutil.copytree(ROOT / "fpnprof", tmp_path / "fpnprof", ignore=shutil.ignore_patterns("__pycache__"))
    path = tmp_path / "fpnprof" / module
    path.write_text(path.read_text() + f"\nimport {upward}  # a back door\n")
    done = lint_imports(tmp_path)
    assert done.returncode != 0 and "BROKEN" in done.stdout, done.stdout
    low = module.split("/")[0]
    assert f"fpnprof.{low} is not allowed to import fpnprof.{upward.split('.')[1]}" in done.stdout
