"""Terminals of any width: golden outputs at 80 and 120 columns, and no number ever cut.

``bench`` and ``compare --bench`` run on a seeded simulated machine through fpnprof's own worker
rounds, estimator and stopping rule, so their tables are deterministic.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cli_helpers import check_golden, run
from sim_machine import SimMachine

import fpnprof.bench.runner
import fpnprof.report.bench_report
from fpnprof.bench.spec import BenchSpec

GOLDEN = Path(__file__).parent / "golden" / "widths"
#: A simulated machine: every neck and engine has a true median; runs vary as sim_machine says.
MEDIANS = {"fpn": 94.563, "pafpn": 151.25, "bifpn": 1318.436}
ENGINE_SPEED = {"eager": 1.0, "inference": 0.1512, "static": 0.9}


def true_ms(spec: BenchSpec) -> float:
    cfg = spec.config
    return MEDIANS[cfg.neck] * ENGINE_SPEED[spec.engine] * (1.0 if cfg.variant == "tutorial" else 0.8)


FIXED_PROVENANCE = {"cpu": "a fixed test CPU", "peaks": [("cpu", "fp32", 133.0, 17.0)], "probe_drift_max": 0.012}


def install_sim(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh seeded simulated machine for the next run."""
    sim = SimMachine(true_ms, bias_sd=0.01, seed=7)
    monkeypatch.setattr(fpnprof.bench.runner, "launch_group", sim.launch)
    monkeypatch.setattr(fpnprof.bench.runner, "CLOCK", sim.clock)
    monkeypatch.setattr(fpnprof.bench.runner, "measure_peak", lambda *key: {"matmul_gflops": 133.0, "copy_gbytes_per_s": 17.0})
    monkeypatch.setattr(fpnprof.report.bench_report, "bench_provenance", lambda rows: FIXED_PROVENANCE)


@pytest.fixture
def fake_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    install_sim(monkeypatch)


CASES = {
    "shapes-fpn": ["shapes", "fpn"],
    "shapes-bifpn-detail": ["shapes", "bifpn", "--levels", "6", "--detail"],
    "compare-both": ["compare", "--variant", "both"],
    "compare-bench": ["compare", "--variant", "paper", "--bench", "--backend", "paddle"],
    "bench": ["bench", "--variant", "paper", "--part", "neck", "--engine", "eager,inference", "--backend", "paddle"],
    "list": ["list"],
}
NUMBER = re.compile(r"(?<![\w.])\d[\d,]*\.?\d*")


@pytest.mark.parametrize("columns", [80, 120])
@pytest.mark.parametrize("name", list(CASES))
def test_golden_at_width(name: str, columns: int, fake_machine: None) -> None:
    result = run(*CASES[name], columns=columns)
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "…" not in text
    assert all(len(line) <= columns for line in text.splitlines()), max(text.splitlines(), key=len)
    check_golden(GOLDEN / f"{name}-{columns}.txt", text)


@pytest.mark.parametrize("name", ["compare-bench", "bench"])
def test_narrow_tables_keep_every_number_of_the_wide_one_they_show(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A number printed at 80 columns is printed whole at 160 too (it was not cut to fit)."""
    install_sim(monkeypatch)
    narrow = run(*CASES[name], columns=80).stdout
    install_sim(monkeypatch)
    wide = run(*CASES[name], columns=160).stdout
    wide_numbers = set(NUMBER.findall(wide))
    assert set(NUMBER.findall(narrow)) <= wide_numbers | set(NUMBER.findall("80"))
