"""Say truthfully what configuration each row of a comparison ran at.

What is typed applies to every neck and each neck's own defaults fill the rest, so necks compared in
one table may run at different levels, widths or cells. A title then states only what every row
shares; each row shows its own setup, and one line warns that the ratios compare different setups.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fpnprof.model.config import NeckConfig
from fpnprof.model.necks import neck_spec

#: The settings a neck may resolve differently from its neighbours (its own defaults, fixed levels).
PER_NECK = ("min_level", "levels", "channels", "cells")


def is_file(cfg: NeckConfig) -> bool:
    return neck_spec(cfg.neck).source is not None


def variant_text(cfg: NeckConfig) -> str:
    """A file neck has one form: no variant is shown for it."""
    return "-" if is_file(cfg) else cfg.variant


def levels_text(cfg: NeckConfig) -> str:
    fixed = " fixed" if neck_spec(cfg.neck).fixed_levels else ""
    return f"P{cfg.min_level}-P{cfg.max_level}{fixed}"


def cells_of(cfg: NeckConfig) -> int | None:
    """The cells the neck runs, or None where --cells does not apply (one-pass necks)."""
    return cfg.cells if neck_spec(cfg.neck).repeats else None


def setup(cfg: NeckConfig) -> dict[str, Any]:
    """A row's own setup, for tables: levels, width, cells."""
    return {"levels_text": levels_text(cfg), "channels": cfg.channels, "cells": cells_of(cfg)}


def same_setup(configs: Sequence[NeckConfig]) -> bool:
    """Whether every row runs at the same levels, width and (where they apply) cells."""
    keys = {(c.min_level, c.levels, c.channels) for c in configs}
    cells = {c for c in (cells_of(cfg) for cfg in configs) if c is not None}
    return len(keys) == 1 and len(cells) <= 1


def shared(configs: Sequence[NeckConfig]) -> dict[str, Any]:
    """The configuration fields every row has in common (what a title or JSON may state for all)."""
    first, *rest = [c.as_dict() for c in configs]
    return {k: v for k, v in first.items() if all(other[k] == v for other in rest) and k not in ("neck", "variant")}


def setup_text(cfg: NeckConfig) -> str:
    cells = cells_of(cfg)
    return f"{levels_text(cfg)}, C={cfg.channels}" + (f", {cells} cell{'s' if cells != 1 else ''}" if cells is not None else "")


def shared_title(cfg: NeckConfig, configs: Sequence[NeckConfig]) -> str:
    """The settings to state in a title: levels and width when every row shares them, else 'per neck'."""
    common = f"batch {cfg.batch}, {cfg.size}x{cfg.size}, {cfg.stem} stem"
    if not same_setup(configs):
        return f"levels and width per neck (in each row), {common}"
    cells = next((c for c in (cells_of(x) for x in configs) if c is not None), None)
    return f"P{cfg.min_level}-P{cfg.max_level}, C={cfg.channels}" + (f", {cells} cells" if cells else "") + f", {common}"


def mixed_setup_note(labels: Sequence[str], configs: Sequence[NeckConfig]) -> str | None:
    """One line when the rows run at different setups: which, and what to type to align them."""
    if same_setup(configs):
        return None
    groups: dict[str, list[str]] = {}
    for name, cfg in zip(labels, configs, strict=True):
        groups.setdefault(setup_text(cfg), []).append(name)
    parts = "; ".join(f"{', '.join(dict.fromkeys(names))}: {text}" for text, names in groups.items())
    fixed = [name for name, cfg in zip(labels, configs, strict=True) if neck_spec(cfg.neck).fixed_levels]
    fixed_text = f" ({', '.join(dict.fromkeys(fixed))} keep the levels their topology fixes)" if fixed else ""
    return (
        f"! these necks run at different setups ({parts}): their ratios compare different setups{fixed_text}; give "
        "--levels, --min-level, --channels and --cells to run every neck at one."
    )
