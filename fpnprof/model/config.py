"""What to profile: one validated, immutable configuration."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from typing import Any

from fpnprof.errors import ConfigError

VARIANTS = ("tutorial", "paper")
STEMS = ("tutorial", "imagenet")
BACKBONES = ("resnet18", "none")
#: ResNet18's stage widths, C2..C5.
RESNET18_CHANNELS = (64, 128, 256, 512)
MIN_LEVEL_RANGE = (2, 5)
LEVELS_RANGE = (2, 10)
#: Bounds on the sizes fpnprof takes; past them the numbers mean nothing (16384 channels is 40x
#: EfficientDet-D7's widest neck) and a run could not finish.
SIZE_RANGES = {"channels": (1, 16384), "cells": (1, 64), "batch": (1, 65536), "size": (1, 65536)}
DTYPE_BYTES: dict[str, int] = {"fp32": 4, "tf32": 4, "bf16": 2, "fp16": 2}


@dataclass(frozen=True)
class NeckConfig:
    """A neck over a backbone, at one input size and batch."""

    neck: str
    variant: str = "tutorial"
    levels: int = 4
    min_level: int = 2
    channels: int = 256
    cells: int = 3
    batch: int = 2
    size: int = 64
    stem: str = "tutorial"
    backbone: str = "resnet18"
    in_channels: tuple[int, ...] = field(default=RESNET18_CHANNELS)
    dtype: str = "fp32"

    def __post_init__(self) -> None:
        for name, (low, high) in SIZE_RANGES.items():
            value = getattr(self, name)
            if not low <= value <= high:
                raise ConfigError(f"--{name} must be between {low} and {high}, got {value}")
        lo, hi = MIN_LEVEL_RANGE
        if not lo <= self.min_level <= hi:
            raise ConfigError(f"--min-level must be between {lo} and {hi} (C2..C5), got {self.min_level}")
        lo, hi = LEVELS_RANGE
        if not lo <= self.levels <= hi:
            raise ConfigError(f"--levels must be between {lo} and {hi}, got {self.levels}")
        require_choice("variant", self.variant, VARIANTS)
        require_choice("stem", self.stem, STEMS)
        require_choice("backbone", self.backbone, BACKBONES)
        require_choice("dtype", self.dtype, tuple(DTYPE_BYTES))
        if not self.in_channels or any(c < 1 for c in self.in_channels):
            raise ConfigError("--in-channels needs positive channel counts, e.g. 256,512,1024,2048")
        if self.backbone == "resnet18" and self.in_channels != RESNET18_CHANNELS:
            raise ConfigError("--in-channels applies to --backbone none only")
        if self.min_level - 2 >= len(self.in_channels):
            raise ConfigError(f"--in-channels gives C2..C{len(self.in_channels) + 1}, below --min-level {self.min_level}")

    @property
    def max_level(self) -> int:
        return self.min_level + self.levels - 1

    @property
    def top_input_level(self) -> int:
        """The highest backbone level fed to the neck; levels above it are made by the neck."""
        return min(self.max_level, len(self.in_channels) + 1)

    def stride(self, level: int) -> int:
        """Nominal stride of a pyramid level (tutorial stem: C2 at stride 1)."""
        return 1 << (level - 2 if self.stem == "tutorial" else level)

    @property
    def dtype_bytes(self) -> int:
        return DTYPE_BYTES[self.dtype]

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["in_channels"] = list(self.in_channels)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NeckConfig:
        """The configuration :meth:`as_dict` wrote (JSON turns its tuple into a list)."""
        return cls(**{**data, "in_channels": tuple(data["in_channels"])})


def require_choice(what: str, value: str, choices: Collection[str]) -> None:
    """Refuse a value outside ``choices`` with the list of valid ones."""
    if value not in choices:
        raise ConfigError(f"unknown {what} {value!r}; choose from {', '.join(choices)}")
