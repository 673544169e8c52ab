"""Terminals of any width: golden outputs at 80 and 120 columns, and no number ever cut.

``bench`` and ``compare --bench`` run on fixed, fake measurements (the real ratio code attaches
the ratios), so their tables are deterministic.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import run
from fake_rows import fake_row

import fpnprof.bench.runner
from fpnprof.bench.rows import BenchRow
from fpnprof.bench.spec import BenchSpec

GOLDEN = Path(__file__).parent / "golden" / "widths"
#: A fake machine: every neck and engine has a fixed median; rounds vary by a fixed pattern.
MEDIANS = {"fpn": 94.563, "pafpn": 151.25, "bifpn": 1318.436}
ENGINE_SPEED = {"eager": 1.0, "inference": 0.1512, "static": 0.9}


def fake_rows(specs: list[BenchSpec], **kwargs: Any) -> list[BenchRow]:
    rows = []
    for spec in specs:
        cfg = spec.config
        median = MEDIANS[cfg.neck] * ENGINE_SPEED[spec.engine] * (1.0 if cfg.variant == "tutorial" else 0.8)
        rounds = [[median * (1 + 0.004 * ((7 * k) % 5 - 2))] for k in range(12)]
        rows.append(
            fake_row(
                cfg.neck,
                median,
                variant=cfg.variant,
                part=spec.part,
                backend=spec.backend,
                device=spec.device,
                engine=spec.engine,
                dtype=cfg.dtype,
                batch=cfg.batch,
                size=cfg.size,
                ci95_ms=[median * 0.99, median * 1.012],
                ci95_half_pct=1.1,
                noisy="CI ±6.0%" if cfg.neck == "bifpn" and spec.engine == "eager" else None,
                runs=12,
                gflops_per_s=41.5,
                peak_share=0.312,
                rounds_ms=rounds,
                group=1 if spec.engine == "inference" else 0,
            )
        )
    base = kwargs.get("baseline") or (specs[0].config.neck, specs[0].config.variant)
    fpnprof.bench.runner.attach_ratios(rows, base)
    return rows


FIXED_PROVENANCE = {"cpu": "a fixed test CPU", "peaks": [("cpu", "fp32", 133.0, 17.0)], "probe_drift_max": 0.012}


@pytest.fixture
def fake_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fpnprof.bench.runner, "run_bench", fake_rows)
    monkeypatch.setattr(fpnprof.bench.runner, "provenance", lambda rows: FIXED_PROVENANCE)


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
    path = GOLDEN / f"{name}-{columns}.txt"
    if os.environ.get("FPNPROF_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{path.name} changed; rerun with FPNPROF_UPDATE_GOLDEN=1 if intended"


@pytest.mark.parametrize("name", ["compare-bench", "bench"])
def test_narrow_tables_keep_every_number_of_the_wide_one_they_show(name: str, fake_machine: None) -> None:
    """A number printed at 80 columns is printed whole at 160 too (it was not cut to fit)."""
    narrow, wide = run(*CASES[name], columns=80).stdout, run(*CASES[name], columns=160).stdout
    wide_numbers = set(NUMBER.findall(wide))
    assert set(NUMBER.findall(narrow)) <= wide_numbers | set(NUMBER.findall("80"))
