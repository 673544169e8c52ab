"""``fpnprof calibrate --validate``: time held-out necks beside their predictions.

The necks are random configurations of every shipped neck and random valid neck files
(:mod:`fpnprof.latency.random_files`), drawn with a seed of their own (never the calibration's),
timed as calibration times necks: the median of plain forward passes in each of two fresh
processes, their mean taken, the necks in an order shuffled so build order is no bias. The error
distribution says how far to trust a prediction; the share of necks inside their interval checks
the interval's stated coverage.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from fpnprof.bench.contention import cpu_sample, load_between
from fpnprof.bench.kernels import time_necks_apart
from fpnprof.latency.model import LatencyModel
from fpnprof.latency.predict import predict_graph
from fpnprof.model.config import NeckConfig
from fpnprof.model.parts import part_graph

#: Fresh processes that each time every held-out neck; a neck's measurement is their mean.
PROCESSES = 2


@dataclass(frozen=True)
class Checked:
    config: NeckConfig
    predicted_ms: float
    low_ms: float
    high_ms: float
    measured_ms: float

    @property
    def error(self) -> float:
        """predicted / measured - 1"""
        return self.predicted_ms / self.measured_ms - 1

    @property
    def inside(self) -> bool:
        return self.low_ms <= self.measured_ms <= self.high_ms


@dataclass(frozen=True)
class Validation:
    rows: list[Checked]
    #: cores other processes took while the necks were timed, as a share of the machine's
    others_share: float | None = None
    #: the random neck files among the necks: name -> text
    neck_texts: Mapping[str, str] = field(default_factory=dict)

    def of_files(self, files: bool) -> Validation:
        """The rows of the random neck files (or of the shipped necks' configurations) alone."""
        rows = [r for r in self.rows if (r.config.neck in self.neck_texts) is files]
        return Validation(rows, self.others_share, self.neck_texts)

    def _abs(self) -> list[float]:
        return sorted(abs(r.error) for r in self.rows)

    @property
    def within_10pct(self) -> float:
        return sum(e <= 0.10 for e in self._abs()) / len(self.rows)

    @property
    def median_abs_error(self) -> float:
        return statistics.median(self._abs())

    @property
    def p90_abs_error(self) -> float:
        return statistics.quantiles(self._abs(), n=10, method="inclusive")[-1]

    @property
    def coverage(self) -> float:
        return sum(r.inside for r in self.rows) / len(self.rows)


def validate(
    model: LatencyModel,
    necks: Sequence[NeckConfig],
    *,
    runs: int,
    seed: int,
    workers: int = PROCESSES,
    on_done: Callable[[int], None] | None = None,
    neck_texts: Mapping[str, str] | None = None,
) -> Validation:
    """Each neck's measured time: the mean over ``workers`` fresh processes of the median of its runs."""
    fp = model.fingerprint
    spec = {"device": fp["device"], "engine": fp["engine"], "dtype": "fp32", "threads": fp["threads"]}
    started, before = time.monotonic(), cpu_sample()
    apart = time_necks_apart(
        str(fp["backend"]), necks, spec, runs=runs, passes=0, seed=seed, workers=workers, on_done=on_done, neck_texts=neck_texts
    )
    rows = []
    for i, cfg in enumerate(necks):
        p = predict_graph(model, part_graph(cfg, "neck"))
        rows.append(Checked(cfg, p.total_ms, p.low_ms, p.high_ms, statistics.fmean(w[i].median_ms for w in apart)))
    load = load_between(before, cpu_sample(), time.monotonic() - started)
    return Validation(rows, load.other_share if load is not None else None, dict(neck_texts or {}))
