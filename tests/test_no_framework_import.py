"""``fpnprof --help`` and the analytic commands never import paddle or torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

BLOCK = "import sys\nfor m in ('paddle', 'torch', 'fvcore'): sys.modules[m] = None\n"


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["shapes", "bifpn", "--levels", "6"],
        ["shapes", "fpn", "-f", "json", "--detail", "--by-op"],
        ["list"],
        ["conventions", "nasfpn.toml", "--per-level"],
    ],
)
def test_analytic_commands_run_with_frameworks_blocked(argv: list[str]) -> None:
    code = BLOCK + "from fpnprof.cli import app\napp(" + repr(argv) + ", standalone_mode=False)\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout


def test_importing_cli_loads_no_framework() -> None:
    code = "import sys, fpnprof.cli\nprint(','.join(m for m in ('paddle', 'torch') if m in sys.modules) or 'none')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "none"
