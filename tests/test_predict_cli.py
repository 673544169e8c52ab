"""``fpnprof predict`` as a new user meets it: a missing model's hint that works when followed, the
model it used named, a line when the necks run at different setups, titles at the terminal's width,
and no row for a term the model does not have."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import replace
from pathlib import Path

import pytest
from cli_helpers import run
from test_latency_model import simulated

from fpnprof.latency import calibrate as calibration
from fpnprof.latency.calibrate import UNCALIBRATED, CalibrationPlan, fit_model
from fpnprof.latency.model import LatencyModel, machine_fingerprint, save_model
from fpnprof.model.config import NeckConfig
from fpnprof.model.setups import mixed_setup_note
from fpnprof.report.profile_report import title

TORCH_1T = ("--backend", "torch", "--threads", "1")


@pytest.fixture(scope="module")
def fitted() -> LatencyModel:
    return fit_model(simulated(), machine_fingerprint("torch", "cpu", "eager", 1))


@pytest.fixture
def model_file(fitted: LatencyModel, tmp_path: Path) -> Path:
    return save_model(fitted, tmp_path / "model.json")


@pytest.mark.parametrize(
    "args",
    [
        TORCH_1T,
        ("--backend", "paddle", "--threads", "1"),
        ("--backend", "torch"),
        (*TORCH_1T, "--model", "MODEL"),
        ("--backend", "torch", "--engine", "compile", "--threads", "1"),
        ("--backend", "torch", "--engine", "compile", "--threads", "1", "--model", "MODEL"),
    ],
    ids=["torch-1t", "paddle-1t", "all-cores", "model-path", "compile", "compile-model-path"],
)
def test_the_no_model_hint_when_followed_makes_the_model_predict_looks_for(
    args: tuple[str, ...], fitted: LatencyModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Follow the hint: its calibrate command (real option parsing and checks, a simulated machine's
    fit instead of minutes of timing) must write the model predict then finds and accepts."""
    monkeypatch.setenv("FPNPROF_DATA_DIR", str(tmp_path / "data"))
    plans: list[CalibrationPlan] = []

    def fake_calibrate(plan: CalibrationPlan, progress: object = None) -> LatencyModel:
        plans.append(plan)
        return replace(fitted, fingerprint=machine_fingerprint(plan.backend, plan.device, plan.engine, plan.threads))

    monkeypatch.setattr(calibration, "calibrate", fake_calibrate)
    predict = ["predict", "fpn", "--channels", "16", *(str(tmp_path / "my model.json") if a == "MODEL" else a for a in args)]
    missing = run(*predict)
    assert missing.exit_code == 2 and missing.stderr.strip().count("\n") == 0, missing.output
    hints = re.findall(r"'(fpnprof calibrate [^']*)'", missing.stderr)
    assert len(hints) == 1, missing.stderr
    hint = shlex.split(hints[0])
    engine = hint[hint.index("--engine") + 1]
    assert engine not in UNCALIBRATED, missing.stderr
    made = run(*hint[1:])
    assert made.exit_code == 0, made.output
    assert len(plans) == 1
    if "--engine" in predict:  # an engine calibrate refuses: the hint's engine instead
        predict[predict.index("--engine") + 1] = engine
    again = run(*predict)
    assert again.exit_code == 0, f"following {hints[0]!r}, predict still says: {again.stderr.strip()}"


def test_the_compile_hint_says_calibrate_refuses_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FPNPROF_DATA_DIR", str(tmp_path))
    result = run("predict", "fpn", "--backend", "torch", "--engine", "compile", "--threads", "1")
    assert result.exit_code == 2 and "--engine compile" in result.stderr
    assert "calibrate --backend torch --device cpu --engine compile" not in result.stderr
    assert "calibrate refuses --engine compile" in result.stderr, result.stderr


def test_predict_names_the_model_it_used(model_file: Path, fitted: LatencyModel) -> None:
    args = ("predict", "fpn", "--channels", "16", *TORCH_1T, "--model", str(model_file))
    data = json.loads(run(*args, "-f", "json").stdout)["model"]
    seal = json.loads(model_file.read_text())["sha256"]
    assert data["path"] == str(model_file) and data["sha256"] == seal and data["created"] == fitted.created
    table = run(*args, columns=400).stdout
    named = [line for line in table.splitlines() if line.startswith("latency model: ")]
    assert named, "no line names the model:\n" + table
    line = named[0]
    fp = fitted.fingerprint
    for part in (str(model_file), f"calibrated {fitted.created.replace('T', ' ')}", seal[:12], fp["cpu"], f"{fp['cores']} cores"):
        assert part in line, f"{part!r} not in {line!r}"


def test_predict_says_when_its_necks_run_at_different_setups(model_file: Path) -> None:
    common = ("--variant", "paper", *TORCH_1T, "--model", str(model_file))
    mixed = run("predict", "fpn", "bifpn", *common, columns=400)
    configs = [cfg for _, cfg in _necks(model_file)]
    note = mixed_setup_note(["fpn", "bifpn"], configs)
    assert note is not None and note in mixed.stdout, mixed.stdout
    same = run("predict", "fpn", "pafpn", *common, columns=400)
    assert same.exit_code == 0 and "different setups" not in same.stdout


def test_predict_titles_wrap_at_the_terminal_not_the_table(model_file: Path) -> None:
    result = run("predict", "fpn", "bifpn", "--variant", "paper", *TORCH_1T, "--model", str(model_file), columns=160)
    lines = result.stdout.splitlines()
    titles = [f"{label}: predicted per level: {title(cfg)}" for label, cfg in _necks(model_file)]
    for text in titles:
        assert text in lines, f"{text!r} is not one line:\n{result.stdout}"
    narrow = run("predict", "fpn", "bifpn", "--variant", "paper", *TORCH_1T, "--model", str(model_file), columns=80)
    assert max(len(line.rstrip()) for line in narrow.stdout.splitlines()) <= 80 and "…" not in narrow.stdout


def _necks(model_file: Path) -> list[tuple[str, NeckConfig]]:
    """The labels and configurations ``predict fpn bifpn --variant paper`` prices (each neck's own defaults)."""
    out = run("predict", "fpn", "bifpn", "--variant", "paper", *TORCH_1T, "--model", str(model_file), "-f", "json")
    return [(n["label"], NeckConfig.from_dict(n["config"])) for n in json.loads(out.stdout)["necks"]]


def test_no_row_for_an_executor_term_the_model_does_not_have(fitted: LatencyModel, tmp_path: Path) -> None:
    args = ("predict", "fpn", "--channels", "16", *TORCH_1T, "--model")
    with_base = run(*args, str(save_model(fitted, tmp_path / "a.json")))
    assert "executor (a pass)" in with_base.stdout and "0.400" in with_base.stdout
    zero = replace(fitted, executor=replace(fitted.executor, base_ms=0.0))
    without = run(*args, str(save_model(zero, tmp_path / "b.json")))
    assert without.exit_code == 0 and "executor (a pass)" not in without.stdout, without.stdout
