"""Result dataclasses: what commands compute, before any formatting."""

from __future__ import annotations

from dataclasses import dataclass, field

from fpnprof.model.config import NeckConfig
from fpnprof.model.graph import Shape


@dataclass(frozen=True)
class Totals:
    params: int = 0
    buffers: int = 0
    macs: int = 0
    flops: int = 0
    bytes: int = 0

    def __add__(self, other: Totals) -> Totals:
        return Totals(
            self.params + other.params,
            self.buffers + other.buffers,
            self.macs + other.macs,
            self.flops + other.flops,
            self.bytes + other.bytes,
        )


@dataclass(frozen=True)
class NodeRow:
    """One node's analytic numbers; params and buffers are 0 for a node that shares weights."""

    id: str
    op: str
    level: int
    part: str
    shape: Shape
    totals: Totals
    shares: str | None = None


@dataclass(frozen=True)
class LevelRow:
    """One pyramid level of the neck: its input feature, its output, and the neck's cost at it."""

    level: int
    stride: int
    input_shape: Shape | None
    output_shape: Shape
    totals: Totals

    @property
    def name(self) -> str:
        return f"P{self.level}"


@dataclass(frozen=True)
class OpRow:
    """Cost of one op type in the neck."""

    op: str
    count: int
    macs: int
    flops: int


@dataclass
class Profile:
    """Everything the analytic model says about one configuration."""

    config: NeckConfig
    levels: list[LevelRow]
    neck_total: Totals
    backbone_total: Totals
    #: live activations at their highest over the whole forward pass, and while the neck's nodes run
    peak_bytes: int
    nodes: list[NodeRow] = field(default_factory=list)
    by_op: list[OpRow] = field(default_factory=list)
    neck_peak_bytes: int = 0

    @property
    def model_total(self) -> Totals:
        return self.neck_total + self.backbone_total
