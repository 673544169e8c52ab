"""Design sweeps: the analytic cost of every configuration in a Cartesian product, and its Pareto front.

Framework-free. Configurations are priced in a process pool (``workers`` processes, in chunks), so a
sweep of a thousand configurations uses every core.
"""

from __future__ import annotations

import functools
import itertools
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, replace
from typing import Any

from fpnprof.cost.analysis import profile_graph
from fpnprof.errors import ConfigError
from fpnprof.model.config import NeckConfig
from fpnprof.model.graph import Graph
from fpnprof.model.necks import build_graph

#: Axes a sweep may vary, as NeckConfig fields.
AXES = ("channels", "cells", "levels", "size")
#: Fewer configurations than this are priced in this process (starting a pool costs more).
POOL_FROM = 8


@dataclass(frozen=True)
class SweepRow:
    """One configuration's neck cost (params, MACs, FLOPs), its peak activations while the neck runs and
    over the whole forward; ``error`` instead when the configuration cannot be built."""

    config: NeckConfig
    params: int = 0
    macs: int = 0
    flops: int = 0
    peak_bytes: int = 0
    neck_peak_bytes: int = 0
    error: str | None = None
    front: bool = False
    #: with ``sweep --bench``: the neck's eager median and its CI half-width (% of the median)
    latency_ms: float | None = None
    latency_ci_pct: float | None = None
    #: with ``sweep --latency predicted``: the latency model's prediction and its interval (never measured)
    predicted_ms: float | None = None
    predicted_low_ms: float | None = None
    predicted_high_ms: float | None = None
    #: past the ranges the latency model was fitted on (its interval widened for it)
    predicted_extrapolated: bool | None = None

    def to_json(self) -> dict[str, Any]:
        c = self.config
        return {
            "neck": c.neck,
            "variant": c.variant,
            "channels": c.channels,
            "cells": c.cells,
            "levels": c.levels,
            "min_level": c.min_level,
            "size": c.size,
            "params": self.params,
            "macs": self.macs,
            "flops": self.flops,
            "neck_peak_bytes": self.neck_peak_bytes,
            "peak_bytes": self.peak_bytes,
            "pareto": self.front,
            "error": self.error,
            "latency_ms": self.latency_ms,
            "latency_ci95_half_pct": self.latency_ci_pct,
            "predicted_latency_ms": self.predicted_ms,
            "predicted_low_ms": self.predicted_low_ms,
            "predicted_high_ms": self.predicted_high_ms,
            "predicted_extrapolated": self.predicted_extrapolated,
        }


def axes_for(base: NeckConfig, axes: Mapping[str, Sequence[int]]) -> tuple[dict[str, Sequence[int]], list[str]]:
    """The axes that apply to ``base``'s neck, and a note for each one that does not: --cells on a
    one-pass neck, --levels on a neck whose topology fixes its levels (one row, never duplicates)."""
    from fpnprof.model.necks import neck_spec
    from fpnprof.model.setups import inapplicable

    spec = neck_spec(base.neck)
    own: dict[str, Sequence[int]] = dict(axes)
    notes = []
    if not spec.repeats and len(axes.get("cells", ())) > 1:
        own["cells"] = [base.cells]
        notes.append(f"{inapplicable('cells', [base])}, so it has one row per setting")
    if spec.fixed_levels and len(axes.get("levels", ())) > 1:
        own["levels"] = [base.levels]
        notes.append(f"{inapplicable('levels', [base])}")
    return own, notes


def expand(bases: Sequence[NeckConfig], axes: Mapping[str, Sequence[int]]) -> tuple[list[NeckConfig], list[str]]:
    """Every base configuration with every combination of the axes that apply to it (base order, then
    axes), and the notes of :func:`axes_for`."""
    unknown = set(axes) - set(AXES)
    if unknown:
        raise ConfigError(f"a sweep varies {', '.join(AXES)}, not {', '.join(sorted(unknown))}")
    configs: list[NeckConfig] = []
    notes: list[str] = []
    for base in bases:
        own, why = axes_for(base, axes)
        notes += why
        names = [a for a in AXES if a in own]
        for values in itertools.product(*(own[a] for a in names)):
            try:
                changes: dict[str, Any] = dict(zip(names, values, strict=True))
                configs.append(replace(base, **changes))
            except ConfigError:  # e.g. --levels 11: outside what any neck takes
                continue
    return list(dict.fromkeys(configs)), list(dict.fromkeys(notes))


#: More to work out per configuration from its built graph, in the pricing process (``sweep --latency
#: predicted``: the latency model's prediction); must pickle, to travel to the pool.
RowExtra = Callable[[SweepRow, Graph], SweepRow]


def price(cfg: NeckConfig, extra: RowExtra | None = None) -> SweepRow:
    """One configuration's analytic numbers (a refused configuration keeps its reason), then ``extra``
    on the row and the graph built for it."""
    try:
        graph = build_graph(cfg)
        p = profile_graph(cfg, graph)
    except ConfigError as exc:
        return SweepRow(cfg, error=str(exc))
    t = p.neck_total
    row = SweepRow(cfg, params=t.params, macs=t.macs, flops=t.flops, peak_bytes=p.peak_bytes, neck_peak_bytes=p.neck_peak_bytes)
    return extra(row, graph) if extra is not None else row


def pareto_front(points: Sequence[tuple[float, float]]) -> list[bool]:
    """For each (cost, size) point, whether no other point is at most as large on both and smaller
    on one (both minimised). Ties on both keep every copy on the front."""
    order = sorted(range(len(points)), key=lambda i: points[i])
    front = [False] * len(points)
    best_size = float("inf")
    for rank, i in enumerate(order):
        size = points[i][1]
        same_as_previous = rank > 0 and points[order[rank - 1]] == points[i] and front[order[rank - 1]]
        if size < best_size or same_as_previous:
            front[i] = True
            best_size = min(best_size, size)
    return front


def mark_front(rows: Sequence[SweepRow], key: Callable[[SweepRow], tuple[float, float] | None]) -> list[SweepRow]:
    """The rows with ``front`` set on the Pareto-optimal ones among those that built and have a key
    (a latency front leaves out the rows that were not timed), one front per input size: a smaller
    input is not a cheaper design."""
    on_front: set[int] = set()
    for size in {r.config.size for r in rows}:
        keyed = [(i, k) for i, r in enumerate(rows) if r.config.size == size and r.error is None and (k := key(r)) is not None]
        flags = pareto_front([k for _, k in keyed])
        on_front |= {i for (i, _), flag in zip(keyed, flags, strict=True) if flag}
    return [replace(r, front=i in on_front) for i, r in enumerate(rows)]


def macs_key(row: SweepRow) -> tuple[float, float] | None:
    """Compute against capacity: MACs up, params down (both minimised)."""
    return (row.macs, -row.params)


def latency_key(row: SweepRow) -> tuple[float, float] | None:
    """Measured time against capacity (``sweep --bench``); None for a row that was not timed."""
    return None if row.latency_ms is None else (row.latency_ms, -row.params)


def predicted_key(row: SweepRow) -> tuple[float, float] | None:
    """Predicted time against capacity (``sweep --latency predicted``)."""
    return None if row.predicted_ms is None else (row.predicted_ms, -row.params)


def run_sweep(
    configs: Sequence[NeckConfig],
    *,
    workers: int | None = None,
    on_row: Callable[[int, int], None] | None = None,
    on_priced: Callable[[SweepRow], None] | None = None,
    extra: RowExtra | None = None,
) -> list[SweepRow]:
    """Price every configuration (in ``workers`` processes; 1 = in this one; ``extra`` on each row there
    too), in input order, then
    mark the Pareto front of capacity against compute, per input size: the configurations with the most
    params for their MACs (none other of their size has more params for fewer or equal MACs). ``on_priced`` gets each row as
    soon as it is priced (before the front is known)."""
    workers = workers or os.cpu_count() or 1
    done: list[SweepRow] = []
    with ExitStack() as stack:
        one = functools.partial(price, extra=extra)
        rows: Iterable[SweepRow] = map(one, configs)
        if workers > 1 and len(configs) >= POOL_FROM:
            pool = ProcessPoolExecutor(max_workers=workers)
            stack.callback(pool.shutdown, cancel_futures=True)  # Ctrl-C: drop what has not started
            rows = pool.map(one, configs, chunksize=max(1, len(configs) // (4 * workers)))
        for row in rows:
            done.append(row)
            if on_priced is not None:
                on_priced(row)
            if on_row is not None:
                on_row(len(done), len(configs))
    return mark_front(done, macs_key)
