"""Pieces the neck builders share."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from fpnprof.errors import ConfigError
from fpnprof.model.builder import GraphBuilder
from fpnprof.model.config import VARIANTS, NeckConfig

#: A neck builder: adds the neck for the features (level -> node id) and returns its outputs.
NeckBuilder = Callable[[GraphBuilder, NeckConfig, dict[int, str]], dict[int, str]]


def by_variant(tutorial: NeckBuilder, paper: NeckBuilder) -> NeckBuilder:
    """A builder that builds the tutorial's form or the paper's, as the config's variant says."""

    def build(b: GraphBuilder, cfg: NeckConfig, features: dict[int, str]) -> dict[int, str]:
        return (tutorial if cfg.variant == "tutorial" else paper)(b, cfg, features)

    return build


@dataclass(frozen=True)
class NeckSpec:
    """A neck fpnprof knows: the CLI, ``list``, help and completion read these (``fpnprof.model.necks.NECKS``)."""

    name: str
    build: NeckBuilder
    default_levels: int
    description: str
    variants: tuple[str, ...] = VARIANTS
    #: Values for --channels, --cells, --levels, --min-level when they are not typed (a neck file's).
    defaults: Mapping[str, int] = field(default_factory=dict)
    #: The same per variant, where a variant has its own (the paper BiFPN: EfficientDet-D0's neck).
    variant_defaults: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    #: The neck file it was read from (None for a built-in neck).
    source: str | None = None
    #: A neck file's own name (its ``[neck] name``, else the file's stem); titles show it.
    title: str | None = None
    #: Whether --cells repeats the neck (False for one-pass necks: FPN, PAFPN, files with repeat = false).
    repeats: bool = True
    #: Whether its topology fixes its levels (nodes at set levels, as NAS-FPN's and the YOLOv5 PAN's).
    fixed_levels: bool = False
    #: Whether its widths are its own (an imported neck): --channels does not apply.
    fixed_widths: bool = False
    #: Where an imported neck came from: (framework, ``file.py:NAME``); None for any other neck.
    origin: tuple[str, str] | None = None

    def defaults_for(self, variant: str) -> dict[str, int]:
        """Its defaults for --channels, --cells, --levels and --min-level in ``variant``."""
        return {"levels": self.default_levels, **self.defaults, **self.variant_defaults.get(variant, {})}

    def level_span(self, variant: str) -> tuple[int, int]:
        """(min_level, levels) by default in ``variant``; the only ones it takes if ``fixed_levels``."""
        d = self.defaults_for(variant)
        return d.get("min_level", 2), d["levels"]


def at_level(b: GraphBuilder, level: int, prefix: str) -> None:
    """Point the builder at a level and a name prefix."""
    b.level = level
    b.prefix = prefix


def require_side(cfg: NeckConfig, level: int, side: int) -> None:
    """Refuse a pyramid level under 1x1."""
    if side < 1:
        raise ConfigError(
            f"P{level} would be under 1x1 at --size {cfg.size} with the {cfg.stem} stem; use fewer --levels or a larger --size"
        )


def seed_extra_inputs(b: GraphBuilder, cfg: NeckConfig, features: dict[int, str]) -> dict[int, str]:
    """The seed's C_to_P: each missing top level is an adaptive max pool of the level below to half
    its side (rounding down), same channels; it is then fed to the neck like a backbone level."""
    feats = {lvl: features[lvl] for lvl in range(cfg.min_level, cfg.top_input_level + 1)}
    for level in range(cfg.top_input_level + 1, cfg.max_level + 1):
        at_level(b, level, "neck.")
        h, w = b.hw(feats[level - 1])
        require_side(cfg, level, min(h // 2, w // 2))
        feats[level] = b.adaptive_maxpool(feats[level - 1], (h // 2, w // 2), f"extra.c_to_p{level}")
    return feats


def maxpool_extra_outputs(b: GraphBuilder, cfg: NeckConfig, outputs: dict[int, str], top: int) -> None:
    """detectron2/mmdet's extra levels: max pool kernel 1 stride 2 of the output below, repeatedly."""
    for level in range(top + 1, cfg.max_level + 1):
        at_level(b, level, "neck.")
        outputs[level] = b.maxpool(outputs[level - 1], 1, 2, f"extra.p{level}_pool")
