"""Say truthfully what configuration each row of a comparison ran at.

What is typed applies to every neck and each neck's own defaults fill the rest, so necks compared in
one table may run at different levels, widths or cells. A title then states only what every row
shares; each row shows its own setup, and one line warns that the ratios compare different setups.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fpnprof.model.config import NeckConfig
from fpnprof.model.graphneck import is_code_source
from fpnprof.model.necks import neck_spec

#: The settings a neck may resolve differently from its neighbours (its own defaults, fixed levels).
PER_NECK = ("min_level", "levels", "channels", "cells")


def is_file(cfg: NeckConfig) -> bool:
    return neck_spec(cfg.neck).source is not None


def variant_text(cfg: NeckConfig) -> str:
    """A file neck has one form: no variant is shown for it."""
    return "-" if is_file(cfg) else cfg.variant


def variant_json(cfg: NeckConfig) -> str | None:
    """The variant as JSON states it: null for a neck file, which has one form."""
    return None if is_file(cfg) else cfg.variant


def config_json(cfg: NeckConfig) -> dict[str, Any]:
    """The configuration as JSON reports state it (a neck file's variant null; not for NeckConfig.from_dict)."""
    return cfg.as_dict() | {"variant": variant_json(cfg)}


def neck_label(cfg: NeckConfig) -> str:
    """How titles and notes name a neck: ``fpn (tutorial)``; a neck file by its own name, with the path as
    typed where the two differ (``my-neck (necks/mine.toml)``), never by a variant."""
    title = neck_spec(cfg.neck).title
    if not is_file(cfg):
        return f"{cfg.neck} ({cfg.variant})"
    stem = cfg.neck.replace("\\", "/").rsplit("/", 1)[-1].removesuffix(".toml")
    return cfg.neck if title in (None, stem) else f"{title} ({cfg.neck})"


def row_label(label: str, cfg: NeckConfig) -> str:
    """How a table row or note names a neck listed as ``label`` (``fpn``, ``fpn#2`` for a repeat): a neck
    file by :func:`neck_label`, keeping a repeat's ``#n``; a built-in neck as listed (its variant is shown apart)."""
    if not is_file(cfg) or label.startswith(neck_label(cfg)):
        return label
    return neck_label(cfg) + (label.removeprefix(cfg.neck) if label.startswith(cfg.neck) else "")


def about(cfg: NeckConfig) -> str | None:
    """A neck file's ``name: description`` line, or None (a built-in neck, or a file without one)."""
    spec = neck_spec(cfg.neck)
    return f"{spec.title}: {spec.description}" if is_file(cfg) and spec.description else None


def inapplicable(option: str, configs: Sequence[NeckConfig]) -> str | None:
    """One line for an option given that does not apply to some of ``configs``' necks (``cells``: a
    one-pass neck; ``variant``: a neck file; ``levels``: a neck whose topology fixes its levels), or None."""
    rules: dict[str, tuple[Callable[[NeckConfig], bool], str, str]] = {
        "cells": (lambda c: cells_of(c) is None, "it is one pass", "they are one pass"),
        "variant": (is_file, "a neck file has one form", "neck files have one form"),
        "levels": (lambda c: neck_spec(c.neck).fixed_levels, "its topology fixes P{lo}-P{hi}", "their topologies fix theirs"),
        "channels": (lambda c: neck_spec(c.neck).fixed_widths, "its widths are its module's own", "their widths are their own"),
        "kwargs": (lambda c: not is_code_source(c.neck), "it is not a neck in code (file.py:NAME)", "they are not necks in code"),
    }
    applies_not, one, many = rules[option]
    off = [c for c in configs if applies_not(c)]
    names = list(dict.fromkeys(neck_label(c) for c in off))
    if not names:
        return None
    why = one.format(lo=off[0].min_level, hi=off[0].max_level) if len(names) == 1 else many
    return f"--{option} does not apply to {', '.join(names)}: {why}"


def levels_text(cfg: NeckConfig) -> str:
    fixed = " fixed" if neck_spec(cfg.neck).fixed_levels else ""
    return f"P{cfg.min_level}-P{cfg.max_level}{fixed}"


def cells_of(cfg: NeckConfig) -> int | None:
    """The cells the neck runs, or None where --cells does not apply (one-pass necks)."""
    return cfg.cells if neck_spec(cfg.neck).repeats else None


def setup(cfg: NeckConfig) -> dict[str, Any]:
    """A row's own setup, for tables: levels, width, cells."""
    return {"levels_text": levels_text(cfg), "channels": width_of(cfg), "cells": cells_of(cfg)}


def same_setup(configs: Sequence[NeckConfig]) -> bool:
    """Whether every row runs at the same levels, width and (where they apply) cells."""
    keys = {(c.min_level, c.levels, width_of(c)) for c in configs}
    cells = {c for c in (cells_of(cfg) for cfg in configs) if c is not None}
    return len(keys) == 1 and len(cells) <= 1


def shared(configs: Sequence[NeckConfig]) -> dict[str, Any]:
    """The configuration fields every row has in common (what a title or JSON may state for all)."""
    first, *rest = [c.as_dict() for c in configs]
    return {k: v for k, v in first.items() if all(other[k] == v for other in rest) and k not in ("neck", "variant")}


def cells_text(cfg: NeckConfig) -> str:
    """``, 3 cells`` where the neck repeats, else nothing (titles add it after the width)."""
    cells = cells_of(cfg)
    return f", {cells} cell{'s' if cells != 1 else ''}" if cells is not None else ""


def width_text(cfg: NeckConfig) -> str:
    """``C=256``, or ``its own widths`` for a neck whose widths are its module's (an imported one)."""
    return "its own widths" if neck_spec(cfg.neck).fixed_widths else f"C={cfg.channels}"


def width_of(cfg: NeckConfig) -> int | None:
    """The width --channels gives the neck, or None where its widths are its own."""
    return None if neck_spec(cfg.neck).fixed_widths else cfg.channels


def setup_text(cfg: NeckConfig) -> str:
    return f"{levels_text(cfg)}, {width_text(cfg)}{cells_text(cfg)}"


def shared_title(cfg: NeckConfig, configs: Sequence[NeckConfig]) -> str:
    """The settings to state in a title: levels and width when every row shares them, else 'per neck'."""
    common = f"batch {cfg.batch}, {cfg.size}x{cfg.size}, {cfg.stem} stem"
    if not same_setup(configs):
        return f"levels and width per neck (in each row), {common}"
    cells = {c for c in (cells_of(x) for x in configs) if c is not None}
    one_pass = any(cells_of(x) is None for x in configs)
    if len(cells) == 1:
        (n,) = cells
        said = f", {n} cell{'s' if n != 1 else ''}" + (" where a neck repeats" if one_pass else "")
    else:
        said = ", cells as each row says" if cells else ""
    return f"P{cfg.min_level}-P{cfg.max_level}, {width_text(cfg)}{said}, {common}"


def mixed_setup_note(labels: Sequence[str], configs: Sequence[NeckConfig]) -> str | None:
    """One line when the rows run at different setups: which, and what to type to align them."""
    if same_setup(configs):
        return None
    groups: dict[str, list[str]] = {}
    for name, cfg in zip(labels, configs, strict=True):
        groups.setdefault(setup_text(cfg), []).append(row_label(name, cfg))
    parts = "; ".join(f"{', '.join(dict.fromkeys(names))}: {text}" for text, names in groups.items())
    fixed = [row_label(name, cfg) for name, cfg in zip(labels, configs, strict=True) if neck_spec(cfg.neck).fixed_levels]
    fixed_text = f" ({', '.join(dict.fromkeys(fixed))} keep the levels their topology fixes)" if fixed else ""
    return (
        f"! these necks run at different setups ({parts}): their ratios compare different setups{fixed_text}; give "
        "--levels, --min-level, --channels and --cells to run every neck at one."
    )
