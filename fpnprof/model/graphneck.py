"""A neck as a flat list of ops: the form a neck imported from code takes (``fpnprof import``).

A built-in neck or a block-form neck file is a topology of fusion nodes; an imported neck is the op
graph its framework traced, one :class:`GraphOp` per op, named by module path. Its widths are numbers
(the module's own), its levels are fixed (each op sits at the level its stride gives), and it reads the
backbone's levels by ``in@<level>``. Nothing here imports a framework.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from fpnprof.model.graph import Op

#: How an op names a backbone level it reads: ``in@3`` is C3.
INPUT_PREFIX = "in@"
#: Ops whose ``size`` attribute is a level's side (written ``size = "level"`` when it is).
RESIZE_OPS = frozenset({Op.UPSAMPLE, Op.RESIZE_BILINEAR})


def is_code_source(text: str) -> bool:
    """Whether a neck argument names code (``x.py:NAME`` or ``pkg.mod:NAME``) rather than a neck or file."""
    where, sep, name = text.rpartition(":")
    if not (sep and where and name.isidentifier()):
        return False
    return where.endswith(".py") or all(part.isidentifier() for part in where.split("."))


def input_ref(level: int) -> str:
    """The name an op uses to read backbone level ``level``."""
    return f"{INPUT_PREFIX}{level}"


def input_level(ref: str) -> int | None:
    """The level ``ref`` reads if it names a backbone level (``in@4`` -> 4), else None."""
    if not ref.startswith(INPUT_PREFIX):
        return None
    try:
        return int(ref[len(INPUT_PREFIX) :])
    except ValueError:
        return None


@dataclass(frozen=True)
class GraphOp:
    """One op: a unique ``name`` (its module path), the op, what it reads (earlier ops' names or
    ``in@<level>``), its pyramid ``level``, its attributes as :class:`~fpnprof.model.graph.Op` documents
    them, and the op whose weights it reuses (a module called twice)."""

    name: str
    op: Op
    inputs: tuple[str, ...]
    level: int
    attrs: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    shares: str | None = None


@dataclass(frozen=True)
class SourceInfo:
    """Where an imported neck came from: ``object`` (``file.py:NAME`` or ``package.module:NAME``), its
    framework, the constructor's keyword arguments (JSON text), the source file's SHA-256, and the
    configuration it was traced at."""

    object: str
    framework: str
    kwargs: str = "{}"
    sha256: str = ""
    size: int = 0
    stem: str = ""
    batch: int = 0


@dataclass(frozen=True)
class GraphNeck:
    """A neck as ops: input channels per backbone level, the ops in a topological order, and the
    op that gives each output level."""

    name: str
    in_channels: Mapping[int, int]
    ops: tuple[GraphOp, ...]
    outputs: Mapping[int, str]
    description: str = ""
    source: SourceInfo | None = None

    @property
    def min_level(self) -> int:
        return min(self.outputs)

    @property
    def levels(self) -> int:
        return len(self.outputs)


def settle_levels(neck: GraphNeck) -> GraphNeck:
    """Put each op that only feeds higher levels at the lowest of them: an op is made for the level its
    readers build (BiFPN's P6 is a 1x1 conv and BN of C5, then a pool: all three make P6), as fpnprof's
    own builders place them. An output, and an op read at its own level or below, keeps its level."""
    readers: dict[str, list[str]] = {op.name: [] for op in neck.ops}
    for op in neck.ops:
        for ref in op.inputs:
            if ref in readers:
                readers[ref].append(op.name)
    outputs = set(neck.outputs.values())
    level = {op.name: op.level for op in neck.ops}
    for op in reversed(neck.ops):  # readers come later: settle them first
        users = readers[op.name]
        if op.name in outputs or not users:
            continue
        lowest = min(level[u] for u in users)
        if lowest > op.level:
            level[op.name] = lowest
    ops = tuple(GraphOp(op.name, op.op, op.inputs, level[op.name], op.attrs, op.shares) for op in neck.ops)
    return GraphNeck(neck.name, neck.in_channels, ops, neck.outputs, neck.description, neck.source)
