"""The README's walkthrough, reproduced block by block: every ``console`` block is run and its output
compared with the README's, so the docs cannot drift.

Blocks were made at 100 columns, unless the command sets ``COLUMNS=``. A command may end in ``| head
-N``, ``| tail -N`` or ``| grep TEXT``; a line ``...`` in the README stands for any lines. A block
right after ``<!-- measured: ... -->`` shows a measurement (latency, peaks): it is not reproduced,
only checked to be marked. ``FPNPROF_UPDATE_README=1`` rewrites the reproduced outputs in place.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest
from cli_helpers import run

README = Path(__file__).resolve().parent.parent / "README.md"
WIDTH = 100
MEASURED = "<!-- measured"
BLOCK = re.compile(r"(?P<before>[^\n]*\n)?```console\n(?P<body>.*?)```", re.S)


@dataclass
class Step:
    command: str
    expected: list[str]


def blocks(text: str) -> list[tuple[bool, list[Step]]]:
    """(measured, steps) for each console block."""
    out = []
    for match in BLOCK.finditer(text):
        steps: list[Step] = []
        for line in match["body"].splitlines():
            if line.startswith("$ "):
                steps.append(Step(line[2:], []))
            elif steps:
                steps[-1].expected.append(line)
        out.append((MEASURED in (match["before"] or ""), steps))
    return out


def execute(command: str) -> list[str]:
    """Run ``[COLUMNS=N] fpnprof ARGS [| head -N | tail -N | grep TEXT]`` in-process; its output lines."""
    first, *pipes = command.split(" | ")
    words = shlex.split(first)
    columns = WIDTH
    if words[0].startswith("COLUMNS="):
        columns = int(words.pop(0).split("=", 1)[1])
    assert words[0] == "fpnprof", command
    result = run(*words[1:], columns=columns)
    lines = (result.stdout + result.stderr).splitlines()
    for pipe in pipes:
        tool, *rest = shlex.split(pipe)
        if tool == "head":
            lines = lines[: int(rest[0].lstrip("-n"))]
        elif tool == "tail":
            lines = lines[-int(rest[0].lstrip("-n")) :]
        elif tool == "grep":
            lines = [line for line in lines if rest[0] in line]
        else:
            raise AssertionError(f"unsupported pipe {pipe!r} in {command!r}")
    return [line.rstrip() for line in lines]


def matches(expected: list[str], got: list[str]) -> bool:
    """Line by line (trailing spaces ignored); ``...`` matches any run of lines."""
    pattern = "\n".join(".*?" if line.strip() == "..." else re.escape(line.rstrip()) for line in expected)
    return re.fullmatch(pattern, "\n".join(got), re.S) is not None


def reproduced() -> list[Step]:
    return [step for measured, steps in blocks(README.read_text(encoding="utf-8")) if not measured for step in steps]


def test_the_readme_has_both_kinds_of_block() -> None:
    kinds = [measured for measured, _ in blocks(README.read_text(encoding="utf-8"))]
    assert kinds.count(False) >= 8 and kinds.count(True) >= 2


@pytest.mark.parametrize("step", reproduced(), ids=lambda s: s.command[:60])
def test_a_readme_block_reproduces(step: Step) -> None:
    got = execute(step.command)
    if os.environ.get("FPNPROF_UPDATE_README"):
        text = README.read_text(encoding="utf-8")
        old = "\n".join([f"$ {step.command}", *step.expected])
        assert old in text, step.command
        README.write_text(text.replace(old, "\n".join([f"$ {step.command}", *got]), 1), encoding="utf-8")
        return
    assert matches(step.expected, got), "\n".join([f"$ {step.command}", *got])


def test_measured_blocks_show_fpnprof_commands_that_parse() -> None:
    """A measured block is not rerun, but its command must still be one fpnprof takes (the options exist)."""
    for measured, steps in blocks(README.read_text(encoding="utf-8")):
        if not measured:
            continue
        for step in steps:
            words = shlex.split(step.command.split(" | ")[0])
            words = [w for w in words if not w.startswith("COLUMNS=")]
            assert words[0] == "fpnprof"
            result = run(*words[1:], "--help")
            assert result.exit_code == 0, step.command
            for option in [w for w in words if w.startswith("--")]:
                assert option in result.stdout, (step.command, option)
