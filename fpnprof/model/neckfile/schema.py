"""Read a neck file's TOML into plain, checked data (:class:`NeckFile`); nothing is built here.

Every mistake raises :class:`~fpnprof.errors.NeckFileError`: one line with the file, the table or
node, the key, and what was expected.
"""

from __future__ import annotations

import difflib
import sys
from dataclasses import dataclass
from typing import Any

from fpnprof.errors import NeckFileError
from fpnprof.model.config import LEVELS_RANGE, MIN_LEVEL_RANGE, SIZE_RANGES
from fpnprof.model.neckfile.blocks import check_item
from fpnprof.model.neckfile.syntax import (
    REFERENCE_WORDS,
    Item,
    LevelExpr,
    Reference,
    Width,
    is_name,
    parse_item,
    parse_levels,
    parse_reference,
    parse_width,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

FUSIONS = ("none", "sum", "concat", "fast_normalized", "softmax", "attention")
#: Fusions whose inputs must have equal widths (a [resample] width block is applied where they differ).
EQUAL_WIDTH_FUSIONS = ("sum", "fast_normalized", "softmax", "attention")
EXTRA_SOURCES = ("input", "output")

_TABLE_KEYS = {
    "neck": ("name", "description", "channels", "cells", "levels", "min_level", "bn_eps", "repeat", "fixed_levels"),
    "inputs": ("block",),
    "extra": ("from", "block"),
    "resample": ("up", "down", "width", "share"),
    "node": ("name", "levels", "inputs", "fusion", "block", "width"),
}
#: Defaults a file may set, with the range each must fall in.
_DEFAULT_RANGES = {
    "channels": SIZE_RANGES["channels"],
    "cells": SIZE_RANGES["cells"],
    "levels": LEVELS_RANGE,
    "min_level": MIN_LEVEL_RANGE,
}


@dataclass(frozen=True)
class NodeGroup:
    """One ``[[node]]``: a node built at each of its levels."""

    name: str
    levels: tuple[LevelExpr, LevelExpr] | list[LevelExpr]
    inputs: tuple[Reference, ...]
    fusion: str
    block: tuple[Item, ...]
    width: Width


@dataclass(frozen=True)
class NeckFile:
    """A parsed neck file: defaults, how inputs and extra levels are made, resampling, and nodes."""

    path: str
    name: str  # [neck] name, else the file's stem: titles show it
    description: str  # [neck] description, else ""
    defaults: dict[str, int]
    bn_eps: float
    repeat: bool  # False (unless the file gives cells): the cell is the whole neck, --cells does not apply
    fixed_levels: bool  # True: its nodes sit at set levels; it takes only its own levels and min_level
    input_block: tuple[Item, ...]
    extra_from: str | None
    extra_block: tuple[Item, ...] | None  # None: the [resample] rules ("resample")
    down: tuple[Item, ...]
    share_down: bool  # every down block reuses the first one's conv and BN weights (the seed PAFPN)
    width_block: tuple[Item, ...]
    nodes: tuple[NodeGroup, ...]


class _Reader:
    """Checks one file's tables; ``fail`` raises with the file's name."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, where: str, key: str | None, message: str) -> NeckFileError:
        return NeckFileError(self.path, where, key, message)

    def table(self, data: dict[str, Any], name: str) -> dict[str, Any]:
        value = data.get(name, {})
        if not isinstance(value, dict):
            raise self.fail(f"[{name}]", None, f"expected a table [{name}], got {type(value).__name__}")
        self.known_keys(value, f"[{name}]", _TABLE_KEYS[name])
        return value

    def known_keys(self, table: dict[str, Any], where: str, known: tuple[str, ...]) -> None:
        for key in table:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(known)})"
                raise self.fail(where, key, f"unknown key{hint}")

    def text(self, table: dict[str, Any], where: str, key: str, default: str | None = None) -> str:
        value = table.get(key, default)
        if not isinstance(value, str):
            raise self.fail(where, key, f"expected text, got {_show(value)}")
        return value

    def block(self, table: dict[str, Any], where: str, key: str) -> tuple[Item, ...]:
        value = table.get(key, [])
        if not isinstance(value, list):
            raise self.fail(where, key, f'expected a list of items such as ["conv3x3", "bn"], got {_show(value)}')
        items = []
        for raw in value:
            try:
                item = parse_item(raw)
                check_item(item)
            except ValueError as exc:
                raise self.fail(where, key, str(exc)) from None
            items.append(item)
        return tuple(items)

    def choice(self, table: dict[str, Any], where: str, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.text(table, where, key, default)
        if value not in choices:
            raise self.fail(where, key, f"expected one of {', '.join(choices)}, got {value!r}")
        return value


def _show(value: object) -> str:
    return "nothing" if value is None else f"{type(value).__name__} {value!r}"


def _node(reader: _Reader, raw: object, index: int) -> NodeGroup:
    if not isinstance(raw, dict):
        raise reader.fail(f"[[node]] #{index + 1}", None, f"expected a table, got {_show(raw)}")
    name = raw.get("name")
    if not isinstance(name, str) or not is_name(name) or name in REFERENCE_WORDS:
        where = f"[[node]] #{index + 1}"
        raise reader.fail(
            where, "name", f"expected a name of lower-case letters, digits and _ (not in or latest), got {_show(name)}"
        )
    where = f"node {name!r}"
    reader.known_keys(raw, where, _TABLE_KEYS["node"])
    if "levels" not in raw:
        raise reader.fail(where, "levels", 'missing; e.g. levels = "all", "top-1..bottom" or [4]')
    try:
        levels = parse_levels(raw["levels"])
    except ValueError as exc:
        raise reader.fail(where, "levels", str(exc)) from None
    inputs_raw = raw.get("inputs")
    if not isinstance(inputs_raw, list) or not inputs_raw or not all(isinstance(i, str) for i in inputs_raw):
        raise reader.fail(where, "inputs", f'expected a non-empty list such as ["in@l", "td@l+1"], got {_show(inputs_raw)}')
    try:
        inputs = tuple(parse_reference(i) for i in inputs_raw)
    except ValueError as exc:
        raise reader.fail(where, "inputs", str(exc)) from None
    fusion = reader.choice(raw, where, "fusion", FUSIONS, "none" if len(inputs) == 1 else "sum")
    if fusion == "none" and len(inputs) > 1:
        raise reader.fail(where, "fusion", f"'none' takes one input, got {len(inputs)}; choose {', '.join(FUSIONS[1:])}")
    if fusion == "attention" and len(inputs) != 2:
        raise reader.fail(where, "fusion", f"'attention' takes two inputs (x1, x2), got {len(inputs)}")
    try:
        width = parse_width(raw.get("width", "c"))
    except ValueError as exc:
        raise reader.fail(where, "width", str(exc)) from None
    if width.same_as_input:
        raise reader.fail(where, "width", "a node's width cannot be 'in'; give c, 2c, c/2 or a number")
    return NodeGroup(name, levels, inputs, fusion, reader.block(raw, where, "block"), width)


def _check_order(reader: _Reader, nodes: list[NodeGroup]) -> None:
    """Names must exist, and a node may only read nodes above it in the file (or itself at other levels)."""
    index: dict[str, int] = {}
    for i, node in enumerate(nodes):
        if node.name in index:
            raise reader.fail(f"node {node.name!r}", "name", "used by two [[node]] tables")
        index[node.name] = i
    uses = {node.name: {c.name for r in node.inputs for c in r.choices} - set(REFERENCE_WORDS) for node in nodes}
    for i, node in enumerate(nodes):
        for ref in node.inputs:
            for choice in ref.choices:
                if choice.name in REFERENCE_WORDS:
                    continue
                if choice.name not in index:
                    close = difflib.get_close_matches(choice.name, list(index), n=1)
                    hint = f"; did you mean {close[0]!r}?" if close else f" (known: in, latest, {', '.join(index)})"
                    raise reader.fail(f"node {node.name!r}", "inputs", f"unknown input {choice.name!r} in {ref.text!r}{hint}")
                if index[choice.name] > i:
                    cycle = _path(uses, choice.name, node.name)
                    if cycle:
                        loop = " -> ".join([node.name, *cycle])
                        raise reader.fail(f"node {node.name!r}", "inputs", f"cycle {loop}: a neck must be acyclic")
                    raise reader.fail(
                        f"node {node.name!r}",
                        "inputs",
                        f"{choice.name!r} is defined below {node.name!r}; nodes are built in file order, move it up",
                    )


def _path(uses: dict[str, set[str]], start: str, goal: str) -> list[str] | None:
    """A chain of names from ``start`` to ``goal`` following inputs, if there is one."""
    stack, seen = [(start, [start])], {start}
    while stack:
        name, trail = stack.pop()
        if name == goal:
            return trail
        for nxt in sorted(uses.get(name, ())):
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*trail, nxt]))
    return None


def load_toml(path: str, text: str) -> dict[str, Any]:
    """A neck file's contents as TOML data (either form); invalid TOML is one line naming the file."""
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _Reader(path).fail("TOML", None, f"not valid TOML: {exc}") from None
    return data


def parse_neck_file(path: str, text: str) -> NeckFile:
    """Check ``text`` (a neck file's contents) and return it as a :class:`NeckFile`."""
    return parse_neck_data(path, load_toml(path, text))


def parse_neck_data(path: str, data: dict[str, Any]) -> NeckFile:
    """Check a block-form neck file's TOML data and return it as a :class:`NeckFile`."""
    reader = _Reader(path)
    reader.known_keys(data, "top level", tuple(_TABLE_KEYS))
    neck = reader.table(data, "neck")
    defaults = {}
    for key, (lo, hi) in _DEFAULT_RANGES.items():
        if key in neck:
            value = neck[key]
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise reader.fail("[neck]", key, f"expected an integer from {lo} to {hi}, got {_show(value)}")
            defaults[key] = value
    bn_eps = neck.get("bn_eps", 1e-5)
    if isinstance(bn_eps, bool) or not isinstance(bn_eps, (int, float)) or not 0 < bn_eps < 1:
        raise reader.fail("[neck]", "bn_eps", f"expected a number between 0 and 1, got {_show(bn_eps)}")
    repeat = neck.get("repeat", "cells" in defaults)  # a file that gives cells repeats; one that says nothing is one pass
    if not isinstance(repeat, bool):
        raise reader.fail("[neck]", "repeat", f"expected true or false, got {_show(repeat)}")
    if not repeat and "cells" in defaults:
        raise reader.fail("[neck]", "cells", "a neck with repeat = false is one pass: leave cells out, or set repeat = true")
    fixed_levels = neck.get("fixed_levels", False)
    if not isinstance(fixed_levels, bool):
        raise reader.fail("[neck]", "fixed_levels", f"expected true or false, got {_show(fixed_levels)}")
    if fixed_levels and not {"levels", "min_level"} <= set(defaults):
        raise reader.fail("[neck]", "fixed_levels", "a neck with fixed levels must give its levels and min_level")
    stem = path.replace("\\", "/").rsplit("/", 1)[-1].removesuffix(".toml")
    inputs, extra, resample = (reader.table(data, name) for name in ("inputs", "extra", "resample"))
    extra_from = reader.choice(extra, "[extra]", "from", EXTRA_SOURCES, "input") if extra else None
    extra_block = None if extra.get("block") == "resample" else reader.block(extra, "[extra]", "block")
    if extra and extra_block == ():
        raise reader.fail("[extra]", "block", 'expected items that make a level from the one below, or "resample"')
    share_down = resample.get("share", False)
    if not isinstance(share_down, bool):
        raise reader.fail("[resample]", "share", f"expected true or false, got {_show(share_down)}")
    up = reader.choice(resample, "[resample]", "up", ("nearest",), "nearest")
    del up  # the only upsampling mode; read so that a typo is refused
    raw_nodes = data.get("node")
    if not isinstance(raw_nodes, list) or not raw_nodes:
        raise reader.fail("top level", "node", "expected one or more [[node]] tables")
    nodes = [_node(reader, raw, i) for i, raw in enumerate(raw_nodes)]
    _check_order(reader, nodes)
    return NeckFile(
        path=path,
        name=reader.text(neck, "[neck]", "name", stem),
        description=reader.text(neck, "[neck]", "description", ""),
        defaults=defaults,
        bn_eps=float(bn_eps),
        repeat=repeat,
        fixed_levels=fixed_levels,
        input_block=reader.block(inputs, "[inputs]", "block"),
        extra_from=extra_from,
        extra_block=extra_block,
        down=reader.block(resample, "[resample]", "down"),
        share_down=share_down,
        width_block=reader.block(resample, "[resample]", "width"),
        nodes=tuple(nodes),
    )
