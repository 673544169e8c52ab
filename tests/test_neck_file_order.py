"""A node never reads a node its own pass builds later: a reversed range is refused with a line that
names both nodes and the fix, rather than silently dropping a path; ``?`` leaves an input out only
where it cannot exist, and the hints offer the ``|`` fallback where that is what was meant."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import run

from fpnprof.model.neckfile import SHIPPED, shipped_files
from fpnprof.model.neckfile.schema import parse_neck_file

#: A user's FPN+PAN, written the way the issue's user wrote it (top-down range reversed).
FPN_PAN = """
[neck]
name = "my-fpn-pan"
levels = 4
repeat = false
[resample]
down = ["conv3x3(s=2)"]
[[node]]
name = "lateral"
levels = "all"
inputs = ["in@l"]
block = ["conv1x1"]
[[node]]
name = "td"
levels = "bottom..top"
inputs = ["td@l+1?", "lateral@l"]
[[node]]
name = "fpn"
levels = "all"
inputs = ["td@l"]
block = ["conv3x3"]
[[node]]
name = "bu"
levels = "bottom+1..top"
inputs = ["fpn@l", "bu@l-1 | fpn@l-1"]
[[node]]
name = "output"
levels = "all"
inputs = ["bu@l | fpn@l"]
block = ["conv3x3"]
"""

#: The nodes of the shipped files whose meaning depends on the order of their range: each reads
#: itself or ``latest`` at another level (file, node, the range as written, the input that reads it).
ORDERED = [
    ("fpn-paper.toml", "merge", "top..bottom", "merge@l+1?"),
    ("pafpn-paper.toml", "merge", "top..bottom", "merge@l+1?"),
    ("pafpn-paper.toml", "pan", "bottom+1..top", "pan@l-1 | fpn@l-1"),
    ("pafpn-tutorial.toml", "inner", "bottom+1..top", "inner@l-1 | inner_bottom@l-1"),
    ("bifpn-paper.toml", "td", "top-1..bottom", "latest@l+1"),
    ("bifpn-paper.toml", "bu", "bottom+1..top", "latest@l-1"),
    ("bifpn-tutorial.toml", "td", "top-1..bottom+1", "td@l+1 | in@l+1"),
    ("bifpn-tutorial.toml", "out", "bottom+1..top", "out@l-1 | out_bottom@l-1"),
]


def _reverse(text: str, node: str, span: str) -> str:
    """``text`` with node ``node``'s ``levels = "A..B"`` written ``"B..A"``."""
    a, b = span.split("..")
    old = f'name = "{node}"\nlevels = "{span}"'
    assert old in text, old
    return text.replace(old, f'name = "{node}"\nlevels = "{b}..{a}"', 1)


def _shapes(tmp_path: Path, text: str, *options: str, name: str = "mine.toml") -> tuple[int, str, str]:
    path = tmp_path / name
    path.write_text(text)
    result = run("shapes", str(path), *options)
    return result.exit_code, result.stdout, result.stderr.strip()


def _built_later(message: str, node: str, reads: str) -> None:
    assert "\n" not in message and "Traceback" not in message, message
    assert f"node {node!r}, key 'inputs'" in message, message
    assert f"{reads!r} at P" in message and "builds later" in message, message
    assert "reverse the range" in message and "or read " in message, message


def test_every_order_dependent_shipped_node_is_listed() -> None:
    """ORDERED holds every ranged node of the shipped files that reads itself or latest at another level."""
    found = set()
    for name in shipped_files():
        text = (SHIPPED / name).read_text()
        if "[[op]]" in text:  # an imported neck (the graph form): no ranged nodes
            continue
        for group in parse_neck_file(name, text).nodes:
            chained = any(c.name in (group.name, "latest") and c.level.offset != 0 for ref in group.inputs for c in ref.choices)
            if isinstance(group.levels, tuple) and chained:
                found.add((name, group.name))
    assert found == {(f, n) for f, n, *_ in ORDERED}


@pytest.mark.parametrize(("file", "node", "span", "reads"), ORDERED, ids=[f"{f}:{n}" for f, n, *_ in ORDERED])
def test_a_shipped_file_with_a_reversed_range_is_refused(tmp_path: Path, file: str, node: str, span: str, reads: str) -> None:
    text = _reverse((SHIPPED / file).read_text(), node, span)
    code, out, err = _shapes(tmp_path, text, "--cells", "2")
    assert code == 2, out
    a, b = span.split("..")
    assert f'levels = "{a}..{b}"' in err, err  # the fix: the range as it was
    _built_later(err, node, reads)


def test_a_user_fpn_pan_with_its_top_down_range_reversed_is_refused(tmp_path: Path) -> None:
    """The issue's file built with exit 0: td@l+1 was dropped at every level, 0 upsamples."""
    code, out, err = _shapes(tmp_path, FPN_PAN)
    assert code == 2, out
    _built_later(err, "td", "td@l+1?")
    assert "'td' at P3" in err and 'levels = "top..bottom"' in err and "'lateral@l+1'" in err, err


def test_the_user_fpn_pan_built_top_down_has_its_top_down_path(tmp_path: Path) -> None:
    fixed = FPN_PAN.replace('levels = "bottom..top"\ninputs = ["td@l+1?"', 'levels = "top..bottom"\ninputs = ["td@l+1?"')
    path = tmp_path / "mine.toml"
    path.write_text(fixed)
    shapes = run("shapes", str(path), "--detail", "-f", "json")
    assert shapes.exit_code == 0, shapes.stderr
    ops = [n["op"] for n in json.loads(shapes.stdout)["nodes"]]
    assert ops.count("upsample_nearest") == 3  # P5->P4, P4->P3, P3->P2


def test_a_missing_chain_start_offers_the_fallback_not_a_question_mark(tmp_path: Path) -> None:
    """bu@l-1 at the bottom+1 level: the fix is 'bu@l-1 | fpn@l-1', not '?' (which drops the P2 path)."""
    fixed = FPN_PAN.replace('levels = "bottom..top"\ninputs = ["td@l+1?"', 'levels = "top..bottom"\ninputs = ["td@l+1?"')
    code, out, err = _shapes(tmp_path, fixed.replace('"bu@l-1 | fpn@l-1"', '"bu@l-1"'))
    assert code == 2, out
    assert "node 'bu', key 'inputs'" in err and "'bu@l-1 | fpn@l-1'" in err, err
    assert "optional with ?" not in err, err
    code, out, err = _shapes(tmp_path, fixed.replace('"bu@l-1 | fpn@l-1"', '"bu@l-1?"'), name="optional.toml")
    assert code == 2, out  # '?' would start the bottom-up path at P3, leaving fpn's P2 out of it
    assert "'bu@l-1 | fpn@l-1'" in err and "outside the neck" in err, err


def test_question_mark_still_drops_a_level_outside_the_neck_and_another_nodes_gap(tmp_path: Path) -> None:
    """fpn-paper's merge@l+1? at the top (P6 is outside) and bifpn-paper's td@l? at the top (td has no
    node there) still leave the input out; the shipped files still build (tests/test_neck_files.py)."""
    for name in ("fpn-paper.toml", "bifpn-paper.toml"):
        assert run("shapes", name, "-f", "json").exit_code == 0
    code, _, err = _shapes(tmp_path, (SHIPPED / "fpn-paper.toml").read_text().replace('"merge@l+1?"', '"merge@l+1"'))
    assert code == 2 and "mark it optional with ?" in err, err


def test_a_reversed_range_that_reads_only_earlier_nodes_still_builds(tmp_path: Path) -> None:
    """fpn-tutorial's merge reads lateral (built before it) at l+1: its order does not matter."""
    text = _reverse((SHIPPED / "fpn-tutorial.toml").read_text(), "merge", "top..bottom")
    code, out, err = _shapes(tmp_path, text, "-f", "json")
    assert code == 0, err
    shipped = json.loads(run("shapes", "fpn-tutorial.toml", "-f", "json").stdout)
    assert json.loads(out)["neck_total"] == shipped["neck_total"]
