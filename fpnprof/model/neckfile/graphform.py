"""The graph form of a neck file: an imported neck as TOML, written by ``fpnprof import``, read as data.

A file with ``[[op]]`` tables (and no ``[[node]]``) is in this form::

    [neck]                 name, description, min_level, levels (its output levels; fixed)
    [source]               object, framework, kwargs (JSON), sha256, size, stem, batch: where it came from
    [inputs]               levels = [3, 4, 5], channels = [128, 256, 512]
    [[op]]                 name, op, level, inputs = ["in@3" | an earlier op's name], attrs = {...}, shares
    [outputs]              P3 = "fpn_convs.0.conv", ...

Every mistake raises :class:`~fpnprof.errors.NeckFileError` (file, table, key, what was expected).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from fpnprof.errors import NeckFileError
from fpnprof.model.graph import Op
from fpnprof.model.graphneck import RESIZE_OPS, GraphNeck, GraphOp, SourceInfo, input_level, input_ref
from fpnprof.model.neckfile.schema import load_toml

_KEYS = {
    "top level": ("neck", "source", "inputs", "op", "outputs"),
    "[neck]": ("name", "description", "min_level", "levels", "fixed_levels"),
    "[source]": ("object", "framework", "kwargs", "sha256", "size", "stem", "batch"),
    "[inputs]": ("levels", "channels"),
    "[[op]]": ("name", "op", "level", "inputs", "attrs", "shares"),
}
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:#@\-]*$")
_OPS = {op.value: op for op in Op if op is not Op.INPUT}
_OUTPUT = re.compile(r"^P(\d+)$")


def is_graph_form(data: Mapping[str, Any]) -> bool:
    """Whether parsed TOML is a graph-form neck file (it has ``[[op]]`` tables)."""
    return "op" in data


def _fail(path: str, where: str, key: str | None, message: str) -> NeckFileError:
    return NeckFileError(path, where, key, message)


def _known(path: str, table: Mapping[str, Any], where: str) -> None:
    for key in table:
        if key not in _KEYS[where]:
            raise _fail(path, where, key, f"unknown key (known: {', '.join(_KEYS[where])})")


def _table(path: str, data: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise _fail(path, f"[{name}]", None, f"expected a table, got {type(value).__name__}")
    _known(path, value, f"[{name}]")
    return value


def _int(path: str, where: str, key: str, value: object, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise _fail(path, where, key, f"expected an integer >= {low}, got {value!r}")
    return value


def _op(path: str, raw: object, index: int, known: set[str]) -> GraphOp:
    where = f"[[op]] #{index + 1}"
    if not isinstance(raw, dict):
        raise _fail(path, where, None, "expected a table")
    _known(path, raw, "[[op]]")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise _fail(path, where, "name", f"expected a name of letters, digits and _ . : # @ -, got {name!r}")
    if name in known:
        raise _fail(path, where, "name", f"{name!r} is used twice")
    where = f"[[op]] {name!r}"
    kind = raw.get("op")
    if kind not in _OPS:
        raise _fail(path, where, "op", f"expected one of {', '.join(sorted(_OPS))}, got {kind!r}")
    level = _int(path, where, "level", raw.get("level"))
    inputs = raw.get("inputs", [])
    if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
        raise _fail(path, where, "inputs", "expected a list of names")
    for ref in inputs:
        if ref not in known and input_level(ref) is None:
            raise _fail(path, where, "inputs", f"{ref!r} is neither an earlier op nor in@<level>")
    attrs = raw.get("attrs", {})
    if not isinstance(attrs, dict):
        raise _fail(path, where, "attrs", "expected an inline table such as {kernel = 3}")
    shares = raw.get("shares")
    if shares is not None and (not isinstance(shares, str) or shares not in known):
        raise _fail(path, where, "shares", f"expected an earlier op's name, got {shares!r}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in attrs.items()}
    return GraphOp(name, _OPS[kind], tuple(inputs), level, values, shares)


def parse_graph_form(path: str, data: Mapping[str, Any]) -> GraphNeck:
    """Check parsed TOML in the graph form and return the :class:`GraphNeck` it describes."""
    if "node" in data:
        raise _fail(path, "top level", "node", "a file has [[op]] tables (imported) or [[node]] tables, not both")
    _known(path, data, "top level")
    neck, source, inputs_table = (_table(path, data, t) for t in ("neck", "source", "inputs"))
    if neck.get("fixed_levels", True) is not True:
        raise _fail(path, "[neck]", "fixed_levels", "an imported neck's levels are fixed: leave it out or say true")
    levels = inputs_table.get("levels")
    channels = inputs_table.get("channels")
    if not isinstance(levels, list) or not isinstance(channels, list) or len(levels) != len(channels) or not levels:
        raise _fail(path, "[inputs]", "levels", "expected levels = [3, 4, 5] and channels of the same length")
    pairs = zip(levels, channels, strict=True)
    in_channels = {_int(path, "[inputs]", "levels", lvl, 2): _int(path, "[inputs]", "channels", c) for lvl, c in pairs}
    raw_ops = data.get("op")
    if not isinstance(raw_ops, list) or not raw_ops:
        raise _fail(path, "[[op]]", None, "expected one or more [[op]] tables")
    ops: list[GraphOp] = []
    known: set[str] = set()
    for index, raw in enumerate(raw_ops):
        op = _op(path, raw, index, known)
        for ref in op.inputs:
            if input_level(ref) is not None and input_level(ref) not in in_channels:
                raise _fail(path, f"[[op]] {op.name!r}", "inputs", f"{ref!r} is not among [inputs] levels")
        ops.append(op)
        known.add(op.name)
    outputs_table = data.get("outputs")
    if not isinstance(outputs_table, dict) or not outputs_table:
        raise _fail(path, "[outputs]", None, 'expected P<level> = "op name" for each output level')
    outputs: dict[int, str] = {}
    for key, ref in outputs_table.items():
        match = _OUTPUT.match(key)
        if not match:
            raise _fail(path, "[outputs]", key, "expected keys P<level>")
        if not isinstance(ref, str) or (ref not in known and input_level(ref) not in in_channels):
            raise _fail(path, "[outputs]", key, f"expected an op's name, got {ref!r}")
        outputs[int(match.group(1))] = ref
    ordered = sorted(outputs)
    if ordered != list(range(ordered[0], ordered[-1] + 1)):
        raise _fail(path, "[outputs]", None, f"output levels are not contiguous: {ordered}")
    for key in ("min_level", "levels"):
        if key in neck and neck[key] != {"min_level": ordered[0], "levels": len(ordered)}[key]:
            raise _fail(path, "[neck]", key, f"disagrees with [outputs] (P{ordered[0]}..P{ordered[-1]})")
    stem = path.replace("\\", "/").rsplit("/", 1)[-1].removesuffix(".toml")
    info = None
    if source:
        info = SourceInfo(
            object=str(source.get("object", "")),
            framework=str(source.get("framework", "")),
            kwargs=str(source.get("kwargs", "{}")),
            sha256=str(source.get("sha256", "")),
            size=int(source.get("size", 0)),
            stem=str(source.get("stem", "")),
            batch=int(source.get("batch", 0)),
        )
    return GraphNeck(
        name=str(neck.get("name", stem)),
        in_channels=in_channels,
        ops=tuple(ops),
        outputs=dict(sorted(outputs.items())),
        description=str(neck.get("description", "")),
        source=info,
    )


def load_graph_form(path: str, text: str) -> GraphNeck:
    """Parse ``text`` (a graph-form neck file)."""
    return parse_graph_form(path, load_toml(path, text))


# Writing ------------------------------------------------------------------------------------------
def _value(value: Any) -> str:
    """One TOML value: bools, ints, floats (inf and nan included), strings, lists."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} to a neck file")


def _literal(text: str) -> str:
    """A TOML literal string ('...': JSON reads as typed) where the text allows one, else a basic one."""
    return f"'{text}'" if "'" not in text and text.isprintable() else _value(text)


def _inline(attrs: Mapping[str, Any]) -> str:
    return "{" + ", ".join(f"{k} = {_value(v)}" for k, v in attrs.items()) + "}"


def level_sized(ops: tuple[GraphOp, ...], sides: Mapping[int, tuple[int, int]]) -> tuple[GraphOp, ...]:
    """The ops with each resize whose size is its level's side (``sides``, as traced) written as
    ``size = "level"`` and its ``scale`` dropped, so that the file builds at any input size."""
    out = []
    for op in ops:
        if op.op in RESIZE_OPS and tuple(op.attrs.get("size", ())) == tuple(sides.get(op.level, ())):
            attrs = {k: v for k, v in op.attrs.items() if k != "scale"}
            attrs["size"] = "level"
            op = GraphOp(op.name, op.op, op.inputs, op.level, attrs, op.shares)
        out.append(op)
    return tuple(out)


def write_graph_form(neck: GraphNeck, header: str = "") -> str:
    """The neck as graph-form TOML (``header``: comment lines to put first)."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    lines += [
        "[neck]",
        f"name = {_value(neck.name)}",
        f"description = {_value(neck.description)}",
        f"min_level = {neck.min_level}",
        f"levels = {neck.levels}",
        "fixed_levels = true",
    ]
    if neck.source is not None:
        s = neck.source
        lines += ["", "[source]", f"object = {_value(s.object)}", f"framework = {_value(s.framework)}"]
        lines += [f"kwargs = {_literal(s.kwargs)}", f"sha256 = {_value(s.sha256)}"]
        lines += [f"size = {s.size}", f"stem = {_value(s.stem)}", f"batch = {s.batch}"]
    levels = sorted(neck.in_channels)
    lines += ["", "[inputs]", f"levels = {_value(levels)}", f"channels = {_value([neck.in_channels[lvl] for lvl in levels])}"]
    for op in neck.ops:
        lines += ["", "[[op]]", f"name = {_value(op.name)}", f"op = {_value(op.op.value)}", f"level = {op.level}"]
        lines.append(f"inputs = {_value(list(op.inputs))}")
        if op.attrs:
            lines.append(f"attrs = {_inline(op.attrs)}")
        if op.shares:
            lines.append(f"shares = {_value(op.shares)}")
    lines += ["", "[outputs]"] + [f"P{level} = {_value(ref)}" for level, ref in sorted(neck.outputs.items())]
    return "\n".join(lines) + "\n"


__all__ = ["input_ref", "is_graph_form", "level_sized", "load_graph_form", "parse_graph_form", "write_graph_form"]
