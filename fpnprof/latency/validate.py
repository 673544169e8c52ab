"""``fpnprof calibrate --validate``: time held-out necks beside their predictions.

The necks are random configurations of every shipped neck and random valid neck files
(:mod:`fpnprof.latency.random_files`), drawn with a seed of their own (never the calibration's),
timed as calibration times necks: in each of six fresh processes, every neck built and warmed up,
then its forward passes spread over interleaved rounds (a burst of load elsewhere touches a few of
them) and their median taken; the six medians' mean is the neck's time. The error
distribution says how far to trust a prediction; the share of necks inside their interval checks
the interval's stated coverage; the odd processes' mean against the even ones' (an A/A) says how
far the measurement itself moves.

A shared machine's speed moves between sessions (16-36% here), and it moves every neck together: a
prediction priced at calibration's speed is then off by that much for reasons no kernel model can
hold. So a few calibration necks (*anchors*) are timed again in the same processes and rounds as the
held-out necks; the median of their now / then is the machine's speed against calibration's, and
each prediction is compared at today's speed (its raw error, at calibration's speed, is kept too).
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
PROCESSES = 6
#: Calibration necks timed again beside the held-out ones, for the machine's speed.
ANCHORS = 10


def machine_speed(anchor_ratios: Sequence[float]) -> float:
    """The machine's speed against calibration's: the median of the anchors' now / then (1: none)."""
    return statistics.median(anchor_ratios) if anchor_ratios else 1.0


@dataclass(frozen=True)
class Checked:
    config: NeckConfig
    predicted_ms: float
    low_ms: float
    high_ms: float
    measured_ms: float
    #: the machine's speed against calibration's (measured / calibration's times of the anchors)
    speed: float = 1.0
    #: the mean of the even-numbered processes and of the odd (None: fewer than 2 processes)
    halves: tuple[float, float] | None = None

    @property
    def error(self) -> float:
        """predicted at today's speed / measured - 1"""
        return self.predicted_ms * self.speed / self.measured_ms - 1

    @property
    def raw_error(self) -> float:
        """predicted (at calibration's speed) / measured - 1"""
        return self.predicted_ms / self.measured_ms - 1

    @property
    def inside(self) -> bool:
        return self.low_ms * self.speed <= self.measured_ms <= self.high_ms * self.speed


@dataclass(frozen=True)
class Validation:
    rows: list[Checked]
    #: cores other processes took while the necks were timed, as a share of the machine's
    others_share: float | None = None
    #: the random neck files among the necks: name -> text
    neck_texts: Mapping[str, str] = field(default_factory=dict)
    #: the machine's speed against calibration's, and each anchor's now / then (empty: none timed)
    anchor_ratios: list[float] = field(default_factory=list)

    @property
    def speed(self) -> float:
        return machine_speed(self.anchor_ratios)

    def of_files(self, files: bool) -> Validation:
        """The rows of the random neck files (or of the shipped necks' configurations) alone."""
        rows = [r for r in self.rows if (r.config.neck in self.neck_texts) is files]
        return Validation(rows, self.others_share, self.neck_texts, self.anchor_ratios)

    def _abs(self) -> list[float]:
        return sorted(abs(r.error) for r in self.rows)

    @property
    def raw_within_10pct(self) -> float:
        """The share within ±10% at calibration's speed (no anchors)."""
        return sum(abs(r.raw_error) <= 0.10 for r in self.rows) / len(self.rows)

    @property
    def raw_median_abs_error(self) -> float:
        return statistics.median(abs(r.raw_error) for r in self.rows)

    @property
    def within_10pct(self) -> float:
        return sum(e <= 0.10 for e in self._abs()) / len(self.rows)

    @property
    def median_abs_error(self) -> float:
        return statistics.median(self._abs())

    @property
    def p90_abs_error(self) -> float:
        errors = self._abs()
        return statistics.quantiles(errors, n=10, method="inclusive")[-1] if len(errors) > 1 else errors[0]

    @property
    def coverage(self) -> float:
        return sum(r.inside for r in self.rows) / len(self.rows)

    def _halves(self) -> list[float]:
        return sorted(abs(a / b - 1) for a, b in (r.halves for r in self.rows if r.halves is not None))

    @property
    def halves_within_10pct(self) -> float | None:
        """The measurement held to itself (an A/A): the share of necks whose two halves of processes
        agree within ±10%. Each half averages half the processes, so this is a pessimistic ceiling on
        how close any prediction can come to the whole mean."""
        diffs = self._halves()
        return sum(d <= 0.10 for d in diffs) / len(diffs) if diffs else None

    @property
    def halves_median(self) -> float | None:
        diffs = self._halves()
        return statistics.median(diffs) if diffs else None


def validate(
    model: LatencyModel,
    necks: Sequence[NeckConfig],
    *,
    runs: int,
    seed: int,
    workers: int = PROCESSES,
    on_done: Callable[[int], None] | None = None,
    neck_texts: Mapping[str, str] | None = None,
    anchors: Sequence[tuple[NeckConfig, float]] = (),
) -> Validation:
    """Each neck's measured time: the mean over ``workers`` fresh processes of the median of its runs.
    ``anchors``: calibration necks and their calibration times, timed with them (``neck_texts`` holds
    the texts of any neck files among both)."""
    fp = model.fingerprint
    spec = {key: fp[key] for key in ("device", "engine", "threads", "allocator")} | {"dtype": "fp32"}
    started, before = time.monotonic(), cpu_sample()
    timed = [*necks, *(cfg for cfg, _ in anchors)]
    apart = time_necks_apart(
        str(fp["backend"]), timed, spec, runs=runs, passes=0, seed=seed, workers=workers, on_done=on_done, neck_texts=neck_texts
    )
    measured = [statistics.fmean(w[i].median_ms for w in apart) for i in range(len(timed))]
    # the processes ran one after another: halves of alternate processes span the same minutes
    halves = [
        (statistics.fmean(w[i].median_ms for w in apart[0::2]), statistics.fmean(w[i].median_ms for w in apart[1::2]))
        if len(apart) > 1
        else None
        for i in range(len(necks))
    ]
    ratios = [now / then for now, (_, then) in zip(measured[len(necks) :], anchors, strict=True)]
    speed = machine_speed(ratios)
    rows = []
    for i, cfg in enumerate(necks):
        p = predict_graph(model, part_graph(cfg, "neck"))
        rows.append(Checked(cfg, p.total_ms, p.low_ms, p.high_ms, measured[i], speed, halves[i]))
    load = load_between(before, cpu_sample(), time.monotonic() - started)
    files = {k: v for k, v in (neck_texts or {}).items() if any(c.neck == k for c in necks)}
    return Validation(rows, load.other_share if load is not None else None, files, ratios)
