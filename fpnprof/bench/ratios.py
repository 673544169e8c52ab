"""Each row against its baseline row: which row that is, the ratio's estimate (paired when both were
timed in the same workers' rounds), and the intervals the scheduler narrows."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace

from fpnprof.bench.estimate import Estimate, paired_ratio, unpaired_ratio
from fpnprof.bench.groups import Group
from fpnprof.bench.rows import BenchRow, Measured, estimate_of
from fpnprof.bench.schedule import Replies, StopRule, Target, resolved
from fpnprof.bench.spec import BenchSpec


def comparison_key(spec: BenchSpec) -> tuple[object, ...]:
    """A ratio compares rows that differ in the neck only: they share this key."""
    c = spec.config
    return (spec.part, spec.engine, c.batch, c.size, c.dtype, spec.backend, spec.device, spec.allocator)


def baselines(specs: Sequence[BenchSpec], baseline: tuple[str, str]) -> list[int | None]:
    """Per row, the index of its baseline row: the baseline neck's row that differs from it in the
    neck only (None where there is none)."""
    base_rows: dict[tuple[object, ...], int] = {}
    for i, spec in enumerate(specs):
        if (spec.label or spec.config.neck, spec.config.variant) == baseline:
            base_rows.setdefault(comparison_key(spec), i)
    return [base_rows.get(comparison_key(spec)) for spec in specs]


@dataclass(frozen=True)
class Layout:
    """Where each row was measured: its group and its position in that group's candidates."""

    groups: Sequence[Group]

    def group_of(self, row: int) -> int:
        return next(g for g, group in enumerate(self.groups) if row in group.indices)

    def measured(self, replies: Replies, row: int) -> Measured:
        g = self.group_of(row)
        return Measured(replies[g], self.groups[g].indices.index(row))


def ratio_estimate(layout: Layout, replies: Replies, row: int, base: int) -> Estimate | None:
    """``row`` over ``base``: paired when they share a group, else unpaired; None if a side failed."""
    a, b = layout.measured(replies, row), layout.measured(replies, base)
    if a.error or b.error or not a.per_worker or not b.per_worker:
        return None
    if layout.group_of(row) == layout.group_of(base):
        both = [(x.rounds, y.rounds) for x, y in zip(a.candidates, b.candidates, strict=True) if x.rounds and y.rounds]
        if not both:
            return None
        return paired_ratio([x for x, _ in both], [y for _, y in both])
    return unpaired_ratio(a.per_worker, b.per_worker)


def _ratio_target(layout: Layout, replies: Replies, *, row: int, base: int) -> Estimate | None:
    return ratio_estimate(layout, replies, row, base)


def _median_target(layout: Layout, replies: Replies, *, row: int) -> Estimate | None:
    return estimate_of(layout.measured(replies, row))


def targets(specs: Sequence[BenchSpec], layout: Layout, bases: Sequence[int | None]) -> list[Target]:
    """What the run narrows: every ratio, and the median of a row that is in no ratio."""
    out: list[Target] = []
    in_ratio = {i for i, b in enumerate(bases) if b is not None and b != i} | {b for i, b in enumerate(bases) if b != i}
    for i, b in enumerate(bases):
        name = f"{specs[i].label or specs[i].config.neck} {specs[i].part} {specs[i].engine}"
        if b is not None and b != i:
            groups = tuple(dict.fromkeys((layout.group_of(i), layout.group_of(b))))
            out.append(Target(name, groups, functools.partial(_ratio_target, layout, row=i, base=b)))
        elif i not in in_ratio:
            out.append(Target(name, (layout.group_of(i),), functools.partial(_median_target, layout, row=i)))
    return out


def attach_ratios(rows: list[BenchRow], layout: Layout, replies: Replies, bases: Sequence[int | None], rule: StopRule) -> None:
    """Each row's ratio to its baseline row, its 95% interval and whether that is resolved (meets the
    precision, from enough workers: :func:`fpnprof.bench.schedule.resolved`); a row that is in no
    ratio (its own baseline, with no other row against it) is resolved by its own median's interval."""
    compared = {b for j, b in enumerate(bases) if b is not None and b != j}
    for i, (row, b) in enumerate(zip(rows, bases, strict=True)):
        if "median_ms" not in row:
            continue
        if b is None or "median_ms" not in rows[b] or (b == i and i not in compared):  # judged by its own interval
            row["resolved"] = resolved(estimate_of(layout.measured(replies, i)), rule)
            continue
        estimate = Estimate(1.0, 1.0, 1.0, row["workers"]) if b == i else ratio_estimate(layout, replies, i, b)
        if estimate is None:
            continue
        half = estimate.half_width
        row.update(
            {
                "baseline": f"{rows[b]['neck']} ({rows[b]['variant']})",
                "ratio": estimate.value,
                "ratio_ci95": None if estimate.low is None or estimate.high is None else [estimate.low, estimate.high],
                "ratio_half_pct": None if half is None else 100 * half,
                "ratio_paired": layout.group_of(i) == layout.group_of(b),
                "ratio_workers": estimate.workers,
                "is_baseline": b == i,
                "ratio_between_worker_share": estimate.between_share,
                "resolved": b == i or resolved(estimate, rule),
            }
        )


def attach_allocator_ratios(rows: list[BenchRow], specs: Sequence[BenchSpec], layout: Layout, replies: Replies) -> None:
    """A row timed with glibc's default allocator over its twin held steady (the same row otherwise;
    workers of their own, so an unpaired ratio with a Welch interval): what the default costs."""
    steady = {replace(spec, allocator="steady"): i for i, spec in enumerate(specs) if spec.allocator == "steady"}
    for i, spec in enumerate(specs):
        j = steady.get(replace(spec, allocator="steady")) if spec.allocator == "default" else None
        if j is None:
            continue
        a, b = layout.measured(replies, i), layout.measured(replies, j)
        if a.error or b.error or not a.per_worker or not b.per_worker:
            continue
        estimate = unpaired_ratio(a.per_worker, b.per_worker)
        rows[i]["allocator_ratio"] = estimate.value
        rows[i]["allocator_ratio_ci95"] = None if estimate.low is None or estimate.high is None else [estimate.low, estimate.high]
