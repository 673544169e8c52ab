"""Build a parsed neck file into a graph: inputs, extra levels, cells of nodes, outputs.

Every problem found while building (a level outside the neck, an input that does not exist at a
level, widths a sum cannot take, a size that underflows) raises
:class:`~fpnprof.errors.NeckFileError` naming the file, the node and the key.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

from fpnprof.errors import GraphError, NeckFileError
from fpnprof.model.builder import GraphBuilder
from fpnprof.model.config import NeckConfig
from fpnprof.model.neckfile.blocks import BlockContext, apply_block, whole_gap
from fpnprof.model.neckfile.schema import EQUAL_WIDTH_FUSIONS, NeckFile, NodeGroup
from fpnprof.model.neckfile.syntax import Choice, LevelExpr, Reference
from fpnprof.model.necks.common import at_level


@dataclass
class _Cell:
    """What one cell has built so far: nodes by name and level, the newest node per level, node levels,
    and the levels of the node being built, in its order."""

    by_name: dict[str, dict[int, str]]
    latest: dict[int, str]
    level_of: dict[str, int] = field(default_factory=dict)
    order: list[int] = field(default_factory=list)


class FileNeckBuilder:
    """Builds one :class:`NeckFile` for one configuration."""

    def __init__(self, nf: NeckFile, b: GraphBuilder, cfg: NeckConfig) -> None:
        self.nf, self.b, self.cfg = nf, b, cfg
        self.bottom = cfg.min_level
        self.top = cfg.top_input_level if nf.extra_from == "output" else cfg.max_level
        self.hw: dict[int, tuple[int, int]] = {}
        self.down_owners: dict[str, str] | None = {} if nf.share_down else None

    def fail(self, where: str, key: str | None, message: str) -> NeckFileError:
        return NeckFileError(self.nf.path, where, key, message)

    def guarded(self, where: str, key: str, step: Callable[[], str]) -> str:
        """Run one building step, turning a shape error into a line naming ``where`` and ``key``."""
        try:
            return step()
        except (GraphError, ValueError) as exc:
            raise self.fail(where, key, _plain(str(exc), self.cfg)) from None

    def ctx(
        self, width: int, ratio: int = 2, shared: dict[str, str] | None = None, target: tuple[int, int] | None = None
    ) -> BlockContext:
        return BlockContext(
            width=width, neck_width=self.cfg.channels, bn_eps=self.nf.bn_eps, ratio=ratio, shared=shared, target=target
        )

    # Inputs and extra levels -----------------------------------------------------------------
    def build(self, features: dict[int, str]) -> dict[int, str]:
        cfg, nf = self.cfg, self.nf
        feats: dict[int, str] = {}
        for level in range(cfg.min_level, cfg.top_input_level + 1):
            at_level(self.b, level, f"neck.input.p{level}.")
            feats[level] = self.guarded(
                "[inputs]",
                "block",
                functools.partial(apply_block, self.b, features[level], nf.input_block, self.ctx(cfg.channels)),
            )
            self.check_size("[inputs]", feats[level], level, self.b.hw(features[level]))
        extra = range(cfg.top_input_level + 1, cfg.max_level + 1)
        if extra and nf.extra_from is None:
            raise self.fail(
                "[extra]",
                None,
                f"--levels {cfg.levels} asks for P{extra[0]}..P{extra[-1]} above the backbone's C{cfg.top_input_level}, "
                "and the file has no [extra] table to make them; use fewer --levels or add one",
            )
        if nf.extra_from == "input":
            self.make_extra(feats, extra)
        for level in range(self.bottom, self.top + 1):
            self.hw[level] = self.b.hw(feats[level])
        for cell in range(cfg.cells if nf.repeat else 1):
            feats = self.cell(cell, feats)
        self.require_nodes_at_every_level()
        if nf.extra_from == "output":
            self.make_extra(feats, extra)
        return feats

    def make_extra(self, feats: dict[int, str], levels: range) -> None:
        for level in levels:
            at_level(self.b, level, f"neck.extra.p{level}.")
            src = feats[level - 1]
            if self.nf.extra_block is None:
                feats[level] = self.resample(src, level - 1, level, self.cfg.channels, "sum", "[extra]", "block")
            else:
                make = functools.partial(apply_block, self.b, src, self.nf.extra_block, self.ctx(self.cfg.channels))
                feats[level] = self.guarded("[extra]", "block", make)
            h, w = self.b.hw(feats[level])
            if min(h, w) < 1:
                raise self.fail("[extra]", "block", f"P{level} would be {h}x{w} at --size {self.cfg.size}; use fewer --levels")

    # Cells ------------------------------------------------------------------------------------
    def require_nodes_at_every_level(self) -> None:
        """An output level where no node is built would hand the raw input on as that level's output."""
        built = {level for group in self.nf.nodes for level in self.levels(group)}
        empty = [level for level in range(self.bottom, self.top + 1) if level not in built]
        if empty:
            at = ", ".join(f"P{level}" for level in empty)
            has = ", ".join(f"P{level}" for level in sorted(built))
            raise self.fail(
                "[[node]]", "levels", f"no node is built at {at} ({self.span()}); this neck builds {has}: give levels it covers"
            )

    def cell(self, cell: int, feats: dict[int, str]) -> dict[int, str]:
        state = _Cell(by_name={"in": dict(feats)}, latest=dict(feats))
        state.level_of = {node_id: level for level, node_id in feats.items()}
        for group in self.nf.nodes:
            state.by_name[group.name] = {}
            state.order = self.levels(group)
            for level in state.order:
                at_level(self.b, level, f"neck.cell{cell}.{group.name}_p{level}.")
                out = self.node(group, level, state)
                state.by_name[group.name][level] = state.latest[level] = out
                state.level_of[out] = level
        return {level: state.latest[level] for level in range(self.bottom, self.top + 1)}

    def value(self, expr: LevelExpr, level: int | None) -> int:
        return expr.value(l=level, bottom=self.bottom, top=self.top)

    def levels(self, group: NodeGroup) -> list[int]:
        where = f"node {group.name!r}"
        if isinstance(group.levels, tuple):
            start, end = group.levels
            nominal = start.value(l=None, bottom=0, top=100), end.value(l=None, bottom=0, top=100)
            step = 1 if nominal[1] >= nominal[0] else -1
            a, b = self.value(start, None), self.value(end, None)
            levels = list(range(a, b + step, step)) if (b - a) * step >= 0 else []
        else:
            levels = [self.value(expr, None) for expr in group.levels]
        for level in levels:
            if not self.bottom <= level <= self.top:
                raise self.fail(where, "levels", f"P{level} is outside this neck's P{self.bottom}..P{self.top} ({self.span()})")
        return levels

    def span(self) -> str:
        return f"--min-level {self.cfg.min_level} --levels {self.cfg.levels}"

    def resolve(self, group: NodeGroup, ref: Reference, level: int, state: _Cell) -> str | None:
        """The node ``ref`` reads at ``level``: its first choice that exists. ``?`` leaves it out where
        none can exist; a node its own pass builds later, or a chain read below its start, is refused."""
        where = f"node {group.name!r}"
        reasons, chain_start = [], None
        own = state.by_name[group.name]
        for choice in ref.choices:
            target = self.value(choice.level, level)
            if choice.name == group.name and target == level:
                raise self.fail(where, "inputs", f"{ref.text!r} at P{level} reads the node itself (a cycle)")
            if not self.bottom <= target <= self.top:
                reasons.append(f"P{target} is outside this neck's P{self.bottom}..P{self.top} ({self.span()})")
                continue
            if choice.name in (group.name, "latest") and target in state.order and target not in own:
                raise self.fail(where, "inputs", self.built_later(group, ref, choice, (level, target), state.order))
            if choice.name == group.name and target not in own:
                chain_start = chain_start or choice
                built = ", ".join(f"P{x}" for x in state.order)
                reasons.append(f"{group.name!r} is not built at P{target} (its {_levels_text(group)} build {built})")
                continue
            table = state.latest if choice.name == "latest" else state.by_name.get(choice.name, {})
            if target in table:
                return table[target]
            built = ", ".join(f"P{x}" for x in sorted(table))
            reasons.append(f"{choice.name!r} has no node at P{target} (built at {built})")
        if chain_start is not None:  # '?' here would start the chain a level late, dropping a path
            fallback = f"{ref.text.removesuffix('?')} | {self.fallback(group, group.name)}@{chain_start.level}"
            why = "; ? leaves an input out only where its level is outside the neck" if ref.optional else ""
            said = "; ".join(dict.fromkeys(reasons))
            message = f"{ref.text!r} at P{level}: {said}{why}: start the chain with a fallback, {fallback!r}"
            raise self.fail(where, "inputs", message)
        if ref.optional:
            return None
        outside = all("outside" in r for r in reasons)
        hint = "mark it optional with ? if it may be missing" if outside else "give a fallback with | or mark it optional with ?"
        raise self.fail(where, "inputs", f"{ref.text!r} at P{level}: {'; '.join(dict.fromkeys(reasons))}; {hint}")

    def fallback(self, group: NodeGroup, name: str) -> str:
        """An earlier node ``group`` reads that a chain of its own may start from (else the cell's input)."""
        others = [c.name for r in group.inputs for c in r.choices if c.name not in (group.name, "latest", name)]
        return others[0] if others else "in"

    def built_later(self, group: NodeGroup, ref: Reference, choice: Choice, at: tuple[int, int], order: list[int]) -> str:
        """Why reading ``choice`` at a level is refused (``at``: that level and the one it reads): the
        node's own pass builds the level it reads later. Names both nodes and the fix."""
        level, target = at
        reads = f"reads {group.name!r} at P{target}" if choice.name == group.name else f"reads the newest node at P{target}"
        if isinstance(group.levels, tuple):
            start, end = group.levels
            fix = f'reverse the range (levels = "{end}..{start}") to build P{target} first'
        else:
            fix = f"list P{target} before P{level} in its levels"
        other = self.fallback(group, choice.name)
        return (
            f"{ref.text!r} at P{level} {reads}, which {group.name!r} builds later ({_levels_text(group)} "
            f"run {', '.join(f'P{x}' for x in order)}); {fix}, or read an earlier node "
            f"({f'{other}@{choice.level}'!r})"
        )

    def node(self, group: NodeGroup, level: int, state: _Cell) -> str:
        where = f"node {group.name!r}"
        sources = [s for ref in group.inputs if (s := self.resolve(group, ref, level, state)) is not None]
        if not sources:
            raise self.fail(where, "inputs", f"no input exists at P{level}")
        if group.fusion == "attention" and len(sources) != 2:
            raise self.fail(where, "inputs", f"attention takes two inputs, {len(sources)} exist at P{level}")
        try:
            width = group.width.value(self.cfg.channels, 0)
        except ValueError as exc:
            raise self.fail(where, "width", str(exc)) from None
        edges = []
        for k, src in enumerate(sources):
            base = self.b.prefix
            if len(sources) > 1:
                self.b.prefix = f"{base}edge{k}."
            edges.append(self.resample(src, state.level_of[src], level, width, group.fusion, where, "inputs"))
            self.b.prefix = base
        self.check_edges(group, level, edges)
        x = edges[0] if len(edges) == 1 else self.guarded(where, "fusion", lambda: self.fuse(group.fusion, edges))
        out = self.guarded(where, "block", lambda: apply_block(self.b, x, group.block, self.ctx(width)))
        self.check_size(where, out, level, self.hw[level])
        return out

    def check_size(self, where: str, node: str, level: int, needed: tuple[int, int]) -> None:
        """A block that resizes (a strided conv, a pool) would put the level's output at another level's size."""
        h, w = self.b.hw(node)
        if (h, w) != needed:
            raise self.fail(
                where,
                "block",
                f"its block makes P{level} {h}x{w}, but P{level} is {needed[0]}x{needed[1]} at --size {self.cfg.size}; "
                "a block must keep its level's size (resample between levels in [resample])",
            )

    def fuse(self, fusion: str, edges: list[str]) -> str:
        if fusion == "sum":
            return self.b.sum(tuple(edges), "fuse")
        if fusion == "concat":
            return self.b.concat(tuple(edges), "fuse")
        if fusion == "fast_normalized":
            return self.b.fusion(tuple(edges), "fuse")
        if fusion == "softmax":
            return self.b.softmax_fusion(tuple(edges), "fuse")
        return self.b.attention(edges[0], edges[1], "fuse")

    def check_edges(self, group: NodeGroup, level: int, edges: list[str]) -> None:
        where = f"node {group.name!r}"
        sides = {self.b.hw(e) for e in edges} | {self.hw[level]}
        if len(sides) > 1:
            shown = ", ".join(f"{h}x{w}" for h, w in sorted(sides))
            raise self.fail(
                where, "inputs", f"inputs reach P{level} at sizes {shown}; P{level} is {self.hw[level][0]}x{self.hw[level][1]}"
            )
        widths = [self.b.channels(e) for e in edges]
        if group.fusion in EQUAL_WIDTH_FUSIONS and len(set(widths)) > 1:
            raise self.fail(
                where,
                "fusion",
                f"a {group.fusion} fusion needs equal widths, got {', '.join(map(str, widths))} at P{level}; "
                "add a [resample] width block or make the widths match",
            )

    def resample(self, src: str, src_level: int, level: int, width: int, fusion: str, where: str, key: str) -> str:
        """Bring ``src`` to ``level`` (and to ``width`` where the fusion needs equal widths)."""
        x = src
        if fusion in EQUAL_WIDTH_FUSIONS and self.b.channels(x) != width and self.nf.width_block:
            x = self.guarded(where, key, lambda: apply_block(self.b, src, self.nf.width_block, self.ctx(width), "width"))
        if src_level > level:
            return self.guarded(where, key, lambda: self.b.upsample(x, self.hw[level], "upsample"))
        if src_level < level:
            down = self.nf.down
            if not down:
                raise self.fail(where, key, f"P{src_level} must be downsampled to P{level}, and [resample] has no down block")
            gap = level - src_level
            if whole_gap(down):
                ctx = self.ctx(width, 2**gap, self.down_owners, self.hw[level])
                return self.guarded(where, key, lambda: apply_block(self.b, x, down, ctx, "down"))
            for step in range(gap):
                step_ctx = self.ctx(width, shared=self.down_owners)
                x = self.guarded(where, key, functools.partial(apply_block, self.b, x, down, step_ctx, f"down{step}_"))
        return x


def _levels_text(group: NodeGroup) -> str:
    """A node's levels as its file writes them (a range in its order): 'levels "top..bottom"'."""
    if isinstance(group.levels, tuple):
        return f'levels "{group.levels[0]}..{group.levels[1]}"'
    return f"levels [{', '.join(map(str, group.levels))}]"


def _plain(message: str, cfg: NeckConfig) -> str:
    """A shape error in the user's terms: which size gave it."""
    if "output would be" in message or "would be under" in message:
        return f"{message} at --size {cfg.size}; use a larger --size or fewer --levels"
    return message


def build_file_neck(nf: NeckFile, b: GraphBuilder, cfg: NeckConfig, features: dict[int, str]) -> dict[int, str]:
    """The neck described by ``nf`` over ``features`` (level -> node id); returns its outputs by level."""
    return FileNeckBuilder(nf, b, cfg).build(features)
