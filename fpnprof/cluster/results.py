"""One configuration's result on one node kind, as a task measured it and as a store keeps it: the
neck's ms on its node with the interval, its ratio to the baseline timed beside it on that node with
the ratio's interval, and the node's kind and fingerprint (absolute ms mean nothing without them)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from fpnprof.cluster.kinds import NodeIdentity
from fpnprof.cluster.plan import Item, Job, result_key

#: The bench row's keys a task sends back for each row (its per-round data stays on the node).
ROW_KEYS = (
    "neck",
    "median_ms",
    "ci95_ms",
    "ci95_half_pct",
    "ratio",
    "ratio_ci95",
    "ratio_half_pct",
    "ratio_paired",
    "resolved",
    "is_baseline",
    "workers",
    "flags",
    "error",
    "framework",
    "threads",
    "allocator",
    "dtype",
    "device_name",
)


def sent_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """What a task sends back of one bench row."""
    return {k: row[k] for k in ROW_KEYS if k in row}


@dataclass(frozen=True)
class GroupResult:
    """A finished task: the rows it timed (the job's ``timed`` order: the baseline first), where, how long."""

    index: int
    node_id: str
    identity: NodeIdentity
    rows: list[dict[str, Any]]
    seconds: float
    workers: int
    #: the niceness its worker processes ran at (0: a plain run's priority; :func:`fpnprof.cluster.tasks.timing_priority`)
    niceness: int = 0


@dataclass(frozen=True)
class Measured:
    """A configuration measured on a node of kind ``kind``; ``key`` = ``item/kind`` is stored at most once."""

    key: str
    item: str
    kind: str
    kind_text: str
    node: str
    fingerprint: dict[str, Any]
    config: dict[str, Any]
    ms: float
    low: float | None
    high: float | None
    half_pct: float | None
    ratio: float | None
    ratio_low: float | None
    ratio_high: float | None
    ratio_half_pct: float | None
    resolved: bool
    workers: int
    baseline_ms: float | None
    framework: str | None = None
    threads: int | None = None
    flags: list[str] = field(default_factory=list)
    at: float = 0.0
    #: read back from the store (a resumed run), not measured by this one
    stored: bool = False

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("stored")
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, stored: bool = True) -> Measured:
        names = set(cls.__dataclass_fields__) - {"stored"}
        return cls(**{k: data[k] for k in names if k in data}, stored=stored)

    def as_stored(self) -> Measured:
        return replace(self, stored=True)


@dataclass(frozen=True)
class Unmeasured:
    """A configuration a finished group did not give a time (failed, or not timed within the cap)."""

    index: int
    why: str


def _pair(value: Any) -> tuple[float | None, float | None]:
    return (float(value[0]), float(value[1])) if isinstance(value, (list, tuple)) and len(value) == 2 else (None, None)


def measured_of(job: Job, result: GroupResult) -> tuple[list[tuple[Item, Measured]], list[Unmeasured]]:
    """The group's results: each item timed (``median_ms``) as a :class:`Measured` of the node's kind;
    the others with why not."""
    items, timed = job.items, job.timed
    rows = dict(zip([i.number for i in timed], result.rows, strict=True))
    base = rows[timed[0].number]
    node = result.identity.hostname or result.node_id[:12]
    out, missing = [], []
    for item in items:
        row = rows[item.number]
        if row.get("median_ms") is None:
            missing.append(Unmeasured(item.index, str(row.get("error") or "not timed within --max-time on its node")))
            continue
        low, high = _pair(row.get("ci95_ms"))
        ratio_low, ratio_high = _pair(row.get("ratio_ci95"))
        is_base = item.number == timed[0].number
        out.append(
            (
                item,
                Measured(
                    key=result_key(item.item, result.identity.kind),
                    item=item.item,
                    kind=result.identity.kind,
                    kind_text=result.identity.description,
                    node=node,
                    fingerprint=result.identity.fingerprint,
                    config=item.config.as_dict(),
                    ms=float(row["median_ms"]),
                    low=low,
                    high=high,
                    half_pct=row.get("ci95_half_pct"),
                    ratio=1.0 if is_base else row.get("ratio"),
                    ratio_low=1.0 if is_base else ratio_low,
                    ratio_high=1.0 if is_base else ratio_high,
                    ratio_half_pct=0.0 if is_base else row.get("ratio_half_pct"),
                    resolved=bool(row.get("resolved", False)),
                    workers=int(row.get("workers") or 0),
                    baseline_ms=base.get("median_ms"),
                    framework=row.get("framework"),
                    threads=row.get("threads"),
                    flags=list(row.get("flags") or []),
                    at=time.time(),
                ),
            )
        )
    return out, missing
