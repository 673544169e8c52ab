"""Properties over random valid configurations (hypothesis), and a CLI fuzz.

For every config hypothesis draws (tiny sizes, odd and even): the analytic node shapes, params and
BN statistics equal torch's, the MACs equal fvcore's (in total and per level), and the per-level
rows add up to the neck's parameters as torch holds them (a route that never reads the level rows'
code). The fuzz throws random argument lists at the CLI: never a traceback, exit 0 or 2.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import run
from frameworks import build, check_torch_counts
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

import fpnprof.bench.launch
from fpnprof.backends import load
from fpnprof.errors import BackendUnavailable, ConfigError
from fpnprof.model.config import NeckConfig
from fpnprof.model.graph import Part


@st.composite
def configs(draw: st.DrawFn) -> NeckConfig:
    backbone = draw(st.sampled_from(["resnet18", "none"]))
    kw: dict[str, object] = {}
    if backbone == "none":
        kw["in_channels"] = tuple(draw(st.lists(st.integers(1, 24), min_size=1, max_size=4)))
    try:
        return NeckConfig(
            neck=draw(st.sampled_from(["fpn", "pafpn", "bifpn"])),
            variant=draw(st.sampled_from(["tutorial", "paper"])),
            levels=draw(st.integers(2, 6)),
            min_level=draw(st.integers(2, 5)),
            channels=draw(st.sampled_from([1, 3, 4, 8])),
            cells=draw(st.integers(1, 2)),
            batch=draw(st.integers(1, 2)),
            size=draw(st.integers(8, 48)),
            stem=draw(st.sampled_from(["tutorial", "imagenet"])),
            backbone=backbone,
            **kw,  # type: ignore[arg-type]
        )
    except ConfigError:
        reject()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(cfg=configs())
def test_analytic_numbers_equal_torch_and_fvcore(cfg: NeckConfig) -> None:
    try:
        built = build(cfg)
    except ConfigError:
        reject()  # e.g. the seed's BiFPN at a size that does not halve exactly: refused, tested elsewhere
    tb = load("torch")
    model = tb.lower(built.graph)
    inputs = tb.random_inputs(built.graph)
    assert tb.node_shapes(model, inputs) == {n.id: tuple(n.shape) for n in built.profile.nodes}
    check_torch_counts(built)
    neck_modules = {n.module_name for n in built.graph if n.part is Part.NECK and n.shares is None}
    torch_neck_params = sum(p.numel() for name, p in model.nodes.named_parameters() if name.split(".", 1)[0] in neck_modules)
    assert sum(row.totals.params for row in built.profile.levels) == torch_neck_params


#: option -> (valid values, bad values)
VALUES = {
    "--variant": (["tutorial", "paper"], ["both", "x"]),
    "--levels": (["2", "3", "6"], ["-1", "0", "11", "a"]),
    "--min-level": (["2", "3"], ["1", "6"]),
    "--channels": (["1", "8"], ["0", "x"]),
    "--cells": (["1", "2"], ["0"]),
    "--batch": (["1", "2"], ["0", "x"]),
    "--size": (["7", "33", "64"], ["-5", "0", "1"]),
    "--stem": (["tutorial", "imagenet"], ["foo"]),
    "--backbone": (["resnet18", "none"], ["foo"]),
    "--in-channels": (["8,16", "16,32,64,128,256"], ["0", "a,b"]),
    "--format": (["table", "json", "csv", "markdown"], ["mermaid", "xml"]),
    "--backend": (["auto", "paddle", "torch"], ["jax"]),
    "--device": (["cpu"], ["gpu", "tpu"]),
    "--engine": (["eager", "inference", "compile"], ["cudagraph", "eager,x"]),
    "--dtype": (["fp32"], ["bf16", "fp8"]),
    "--part": (["neck", "total"], ["head"]),
    "--baseline": (["fpn", "bifpn"], ["foo"]),
    "--threads": (["0", "1"], ["-1"]),
    "--repeat": (["1"], ["0"]),
    "--processes": (["1"], ["0"]),
    "--precision": (["2.5", "10"], ["0", "-1", "100", "x"]),
    "--max-time": (["1"], ["0", "-5"]),
    "--output": (["{tmp}/out.txt"], ["{tmp}", "/no/such/dir/x"]),
    "--plot": (["{tmp}/p.png"], ["{tmp}/p.txt", "{tmp}"]),
    "--workers": (["0", "1"], ["-1"]),
}
NECK_OPTIONS = ["--variant", "--levels", "--min-level", "--channels", "--cells", "--batch", "--size", "--stem"]
OPTIONS = {
    "shapes": [*NECK_OPTIONS, "--backbone", "--in-channels", "--format", "--backend", "--output"],
    "compare": [
        *NECK_OPTIONS,
        "--backbone",
        "--in-channels",
        "--format",
        "--baseline",
        "--output",
        "--plot",
        "--device",
        "--precision",
        "--max-time",
    ],
    "bench": [
        *NECK_OPTIONS,
        "--format",
        "--backend",
        "--device",
        "--engine",
        "--dtype",
        "--part",
        "--threads",
        "--repeat",
        "--processes",
        "--precision",
        "--max-time",
    ],
    "graph": [*NECK_OPTIONS[:-1], "--part", "--output"],
    "peak": ["--device", "--backend", "--dtype", "--threads", "--format", "--output"],
    "list": ["--format", "--output"],
    "sweep": [
        "--variant",
        "--channels",
        "--cells",
        "--levels",
        "--size",
        "--stem",
        "--workers",
        "--format",
        "--output",
        "--plot",
    ],
}
FLAGS = {
    "shapes": ["--detail", "--by-op"],
    "compare": ["--bench", "--isolated"],
    "bench": ["--isolated", "--breakdown"],
    "sweep": ["--bench", "--isolated"],
}


@st.composite
def argument_lists(draw: st.DrawFn) -> list[str]:
    """Mostly valid argument lists for each command, with now and then a bad value, a stray flag
    or an option of another command: runs that get far, and every kind of refusal."""
    command = draw(st.sampled_from(sorted(OPTIONS)))
    args = [command]
    if command in ("shapes", "graph"):
        args.append(draw(st.sampled_from(["fpn", "pafpn", "bifpn", "bifpn", "fpnn"])))
    elif command in ("bench", "compare", "sweep"):
        args += draw(st.lists(st.sampled_from(["fpn", "pafpn", "bifpn"]), max_size=2))
    for _ in range(draw(st.integers(0, 4))):
        option = draw(st.sampled_from(OPTIONS[command] + ["--output"] * 2))
        good, bad = VALUES[option]
        args += [option, draw(st.sampled_from(good if draw(st.integers(0, 4)) else bad))]
    if draw(st.integers(0, 3)) == 0:
        args.append(draw(st.sampled_from([*FLAGS.get(command, []), "--help", "--plot", "-x", "extra"])))
    return args


@pytest.fixture
def no_measuring(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fuzz checks argument handling: a run that gets as far as a worker is refused at once."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise BackendUnavailable("workers are off in this test")

    monkeypatch.setattr(fpnprof.bench.launch, "call_worker", refuse)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(args=argument_lists())
def test_cli_fuzz_never_a_traceback(args: list[str], tmp_path: Path, no_measuring: None) -> None:
    result = run(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert result.exit_code in (0, 2), (args, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), (args, result.exception)
    assert "Traceback" not in result.output
