"""A neck's text and its hash, to tell when a neck changed between two runs.

A neck file's (or a neck in code's) text is the file fpnprof read; a built-in neck's is a canonical
description: its name, variant, description, defaults, and its graph at those defaults (every node's
op, inputs, level and attributes), so a change to the neck's code between fpnprof versions shows too.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from typing import Any


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _attr(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_attr(v)}" for k, v in sorted(value.items())) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_attr(v) for v in value) + "]"
    return str(getattr(value, "value", value))


@functools.lru_cache(maxsize=64)
def builtin_text(name: str, variant: str) -> str:
    """The canonical text of built-in neck ``name`` in ``variant``."""
    from fpnprof.model.config import NeckConfig
    from fpnprof.model.necks import NECKS
    from fpnprof.model.parts import part_graph

    spec = NECKS[name]
    defaults: dict[str, Any] = dict(spec.defaults_for(variant))
    lines = [
        "# fpnprof built-in neck: its definition, and its graph at its defaults",
        f"neck = {name!r}",
        f"variant = {variant!r}",
        f"description = {spec.description!r}",
        f"defaults = {_attr(defaults)}",
    ]
    try:
        graph = part_graph(NeckConfig(neck=name, variant=variant, **defaults), "neck")
    except Exception as exc:  # the description alone still names the neck
        lines.append(f"# graph: not built ({type(exc).__name__})")
    else:
        lines += [
            f"{n.id} = {n.op.value}({', '.join(n.inputs)}) P{n.level} {_attr(dict(n.attrs))}"
            + (f" shares {n.shares}" if n.shares else "")
            for n in graph
        ]
    return "\n".join(lines) + "\n"


def neck_text(config: Mapping[str, Any], known: Mapping[str, str] | None = None) -> str | None:
    """The text of the neck ``config`` names: given in ``known`` (name -> text), read by this process
    (a neck file, a neck in code), or a built-in neck's; None where it cannot be told."""
    name, variant = config.get("neck"), config.get("variant")
    if not isinstance(name, str):
        return None
    if known and name in known:
        return known[name]
    from fpnprof.model.necks import NECKS

    if name in NECKS:
        return builtin_text(name, variant if isinstance(variant, str) else NECKS[name].variants[0])
    from fpnprof.model.neckfile import neck_text as loaded_text

    return loaded_text(name)
