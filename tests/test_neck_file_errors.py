"""Broken neck files: each mistake is one line on stderr naming the file, where in it (node or
table) and the key, with exit 2; a fuzz over mutated shipped files never raises anything else."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest
from cli_helpers import run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fpnprof.cost.analysis import profile_graph
from fpnprof.errors import FpnprofError
from fpnprof.model.config import NeckConfig
from fpnprof.model.neckfile import SHIPPED, shipped_files
from fpnprof.model.neckfile.build import build_file_neck
from fpnprof.model.neckfile.schema import parse_neck_file
from fpnprof.model.necks import build_graph
from fpnprof.model.necks.common import NeckSpec

FPN = (SHIPPED / "fpn-paper.toml").read_text()
PAFPN = (SHIPPED / "pafpn-paper.toml").read_text()
BIFPN = (SHIPPED / "bifpn-paper.toml").read_text()
NASFPN = (SHIPPED / "nasfpn.toml").read_text()

MINI = """
[neck]
levels = 3
[[node]]
name = "a"
levels = "all"
inputs = ["in@l"]
block = ["conv1x1"]
"""


def edit(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


#: (case id, file text, extra CLI options, where, key, a phrase of the message)
BROKEN = [
    (
        "unknown-input",
        edit(FPN, '"merge@l+1?", "lateral@l"', '"merge@l+1?", "laterl@l"'),
        (),
        "node 'merge'",
        "inputs",
        "unknown input 'laterl'",
    ),
    (
        "cycle",
        MINI + '[[node]]\nname = "b"\nlevels = "all"\ninputs = ["c@l"]\n[[node]]\nname = "c"\nlevels = "all"\ninputs = ["b@l"]\n',
        (),
        "node 'b'",
        "inputs",
        "cycle b -> c -> b",
    ),
    ("self-at-own-level", edit(MINI, '"in@l"', '"a@l"'), (), "node 'a'", "inputs", "reads the node itself"),
    (
        "input-level-unreachable",
        edit(FPN, '"merge@l+1?", "lateral@l"', '"merge@l+1?", "lateral@l+9"'),
        (),
        "node 'merge'",
        "inputs",
        "outside this neck's",
    ),
    ("node-level-outside", edit(NASFPN, "levels = [7]", "levels = [8]"), (), "node 'gp_54_7'", "levels", "P8 is outside"),
    ("channel-mismatch-sum", edit(BIFPN, 'width = ["conv1x1", "bn"]', ""), (), "node 'td'", "fusion", "needs equal widths"),
    ("unknown-op", edit(FPN, '["conv3x3"]', '["gelu"]'), (), "node 'output'", "block", "unknown block item 'gelu'"),
    (
        "unknown-op-argument",
        edit(PAFPN, '"conv3x3(s=2)"', '"conv3x3(stride=2)"'),
        (),
        "[resample]",
        "down",
        "takes s, out, bias, groups",
    ),
    (
        "bad-argument-value",
        edit(BIFPN, "maxpool(k=3, s=2, pad=same)", "maxpool(k=0, s=2)"),
        (),
        "[resample]",
        "down",
        "k takes an integer >= 1",
    ),
    (
        "output-level-missing",
        edit(FPN, 'from = "output"\nblock = ["maxpool(k=1, s=2)"]', "").replace("[extra]", "#"),
        ("--levels", "6"),
        "[extra]",
        None,
        "asks for P6..P7",
    ),
    ("size-underflow", NASFPN, ("--size", "16"), "[extra]", "block", "P7 would be 0x0"),
    (
        "unknown-node-key",
        edit(FPN, 'inputs = ["in@l"]', 'inptus = ["in@l"]'),
        (),
        "node 'lateral'",
        "inptus",
        "did you mean 'inputs'",
    ),
    ("unknown-table", "[nekc]\nname = 'x'\n" + MINI, (), "top level", "nekc", "unknown key"),
    ("not-toml", MINI + "[[node]\nname = 'b'\n", (), "TOML", None, "not valid TOML"),
    (
        "unknown-fusion",
        edit(FPN, 'fusion = "sum"', 'fusion = "mean"'),
        (),
        "node 'merge'",
        "fusion",
        "expected one of none, sum, concat",
    ),
    (
        "none-fusion-two-inputs",
        edit(FPN, 'fusion = "sum"', 'fusion = "none"'),
        (),
        "node 'merge'",
        "fusion",
        "'none' takes one input, got 2",
    ),
    (
        "attention-three-inputs",
        edit(NASFPN, 'inputs = ["in@6", "in@4"]', 'inputs = ["in@6", "in@4", "in@5"]'),
        (),
        "node 'gp_64_4'",
        "fusion",
        "takes two inputs",
    ),
    (
        "bad-width",
        edit(MINI, 'block = ["conv1x1"]', 'width = "3d"\nblock = ["conv1x1"]'),
        (),
        "node 'a'",
        "width",
        "expected a width",
    ),
    ("bad-levels", edit(MINI, 'levels = "all"', 'levels = "upward"'), (), "node 'a'", "levels", 'expected "all", a range'),
    ("reference-without-level", edit(MINI, '"in@l"', '"in"'), (), "node 'a'", "inputs", "expected name@level"),
    ("bad-default", edit(MINI, "levels = 3", "levels = 3\nchannels = 0"), (), "[neck]", "channels", "an integer from 1 to 16384"),
    ("no-down-block", edit(PAFPN, 'down = ["conv3x3(s=2)"]', ""), (), "node 'pan'", "inputs", "has no down block"),
    (
        "defined-below",
        MINI + '[[node]]\nname = "b"\nlevels = "all"\ninputs = ["c@l"]\n[[node]]\nname = "c"\nlevels = "all"\ninputs = ["a@l"]\n',
        (),
        "node 'b'",
        "inputs",
        "'c' is defined below 'b'",
    ),
    ("missing-optional-mark", edit(FPN, '"merge@l+1?"', '"merge@l+1"'), (), "node 'merge'", "inputs", "mark it optional with ?"),
    ("duplicate-name", MINI + '[[node]]\nname = "a"\nlevels = "all"\ninputs = ["in@l"]\n', (), "node 'a'", "name", "used by two"),
    (
        "sizes-do-not-meet",
        edit(PAFPN, 'down = ["conv3x3(s=2)"]', 'down = ["maxpool(k=3, s=3)"]'),
        (),
        "node 'pan'",
        "inputs",
        "inputs reach P3 at sizes",
    ),
    ("level-listed-twice", edit(NASFPN, "levels = [7]", "levels = [7, 7]"), (), "node 'gp_54_7'", "levels", "listed twice"),
    ("too-many-bottlenecks", edit(MINI, '["conv1x1"]', '["c3(n=5000)"]'), (), "node 'a'", "block", "at most 32"),
    ("no-nodes", "[neck]\nlevels = 3\n", (), "top level", "node", "one or more [[node]] tables"),
    (
        "groups-do-not-divide",
        edit(FPN, '["conv3x3"]', '["conv3x3(groups=3)"]'),
        (),
        "node 'output'",
        "block",
        "groups=3 does not divide",
    ),
]


@pytest.mark.parametrize(("case", "text", "options", "where", "key", "phrase"), BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_file_gives_one_line_naming_file_node_and_key(
    tmp_path: Path, case: str, text: str, options: tuple[str, ...], where: str, key: str | None, phrase: str
) -> None:
    path = tmp_path / f"{case}.toml"
    path.write_text(text)
    result = run("shapes", str(path), *options)
    assert result.exit_code == 2, result.stdout
    message = result.stderr.strip()
    assert "\n" not in message and "Traceback" not in message
    assert message.startswith(f"error: {path}: {where}")
    if key is not None:
        assert f"key {key!r}" in message
    assert phrase in message, message


def test_there_are_at_least_twenty_broken_files() -> None:
    assert len({case for case, *_ in BROKEN}) >= 20


def test_a_missing_file_is_one_line_too() -> None:
    result = run("shapes", "no-such-neck.toml")
    assert result.exit_code == 2 and "neck file 'no-such-neck.toml' not found (shipped:" in result.stderr


# Fuzz -------------------------------------------------------------------------------------------
TOKENS = ['"in@l"', '"latest@l+1"', '"x@l"', '"td@l+1?"', '"all"', '"top..bottom"', '"bottom+1..top"', "[4]", "[9]",
          '["conv3x3"]', '["maxpool(k=ratio, s=ratio)"]', '["bn", "relu"]', '["c3(n=2)"]', '["cbs(k=3, s=2, out=in)"]',
          '"sum"', '"concat"', '"attention"', '"fast_normalized"', '"2c"', '"c/2"', '"in"', "0", "1", "3", "-1", "1e-3",
          "true", '""', "[]", '"resample"', '"output"', "{}", "=", "[[node]]", "[neck]"]  # fmt: skip
SOURCES = [(SHIPPED / name).read_text() for name in shipped_files()]


def mutate(text: str, rng: random.Random, edits: int) -> str:
    lines = text.splitlines()
    for _ in range(edits):
        i = rng.randrange(len(lines))
        kind = rng.randrange(4)
        if kind == 0 and "=" in lines[i]:  # a new value for a key
            lines[i] = lines[i].split("=", 1)[0] + "= " + rng.choice(TOKENS)
        elif kind == 1:  # a line dropped
            del lines[i]
        elif kind == 2:  # a line repeated elsewhere
            lines.insert(rng.randrange(len(lines) + 1), lines[i])
        else:  # a token swapped inside a line
            words = lines[i].split(" ")
            words[rng.randrange(len(words))] = rng.choice(TOKENS)
            lines[i] = " ".join(words)
        if not lines:
            lines = ["[neck]"]
    return "\n".join(lines) + "\n"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    source=st.sampled_from(range(len(SOURCES))),
    seed=st.integers(0, sys.maxsize),
    edits=st.integers(1, 4),
    levels=st.integers(2, 7),
    min_level=st.integers(2, 5),
    size=st.sampled_from([16, 32, 64, 100]),
    stem=st.sampled_from(["tutorial", "imagenet"]),
)
def test_a_mutated_file_builds_or_fails_with_one_of_our_errors(
    source: int, seed: int, edits: int, levels: int, min_level: int, size: int, stem: str
) -> None:
    text = mutate(SOURCES[source], random.Random(seed), edits)
    try:
        nf = parse_neck_file("fuzz.toml", text)
        cfg = NeckConfig(
            "fuzz.toml", variant="paper", levels=levels, min_level=min_level, channels=16, cells=2, size=size, stem=stem
        )
        spec = NeckSpec("fuzz.toml", lambda b, c, f: build_file_neck(nf, b, c, f), 3, "fuzz", ("paper",))
        from fpnprof.model import necks

        necks.NECKS["fuzz.toml"] = spec
        try:
            profile_graph(cfg, build_graph(cfg))
        finally:
            del necks.NECKS["fuzz.toml"]
    except FpnprofError as exc:
        assert "\n" not in str(exc)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(source=st.sampled_from(range(len(SOURCES))), seed=st.integers(0, sys.maxsize), edits=st.integers(1, 3))
def test_the_cli_on_a_mutated_file_prints_a_table_or_one_error_line(tmp_path: Path, source: int, seed: int, edits: int) -> None:
    path = tmp_path / "mutated.toml"
    path.write_text(mutate(SOURCES[source], random.Random(seed), edits))
    result = run("shapes", str(path), "--cells", "1", "--channels", "16")
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (0, 2) and "Traceback" not in result.output
    if result.exit_code == 2:
        assert result.stderr.count("\n") == 1 and result.stderr.startswith(f"error: {path}: ")
