"""``fpnprof calibrate --validate --shifted``: the model checked by ``bench`` itself on necks calibration
never draws.

Calibration and ``--validate`` draw the shipped necks up to 2 GFLOPs (and calibration times its reach
necks besides, :func:`fpnprof.latency.sampling.reach_necks`: those are skipped here). The
*shifted set* holds what users ask about beyond that: the necks named in issue 33 (the
paper FPN and PAFPN at compare's defaults, the tutorial PAFPN at 128 channels, the paper BiFPN at
EfficientDet-D1's width, a 32-channel FPN), every shipped neck at its own defaults, then necks drawn
in turn from three shifts: EfficientDet D0-D3's BiFPN widths and cells, channel counts off a
multiple of 16, and batches of 3-8 (every drawn neck at batch 1-8). A neck calibration timed is
skipped, and so is one whose forward the model prices over :data:`MAX_FORWARD_MS`.

The set is timed as ``bench`` times rows (:func:`fpnprof.bench.runner.run_bench`: fresh workers,
interleaved rounds, a 95% interval per row, its ``--max-time`` planned), the neck alone, with the
model's backend, device, engine, threads and allocator. A few calibration necks (*anchors*, as
``--validate`` times them) are timed in the same run: the median of their bench / calibration times
is the machine's speed against calibration's (a shared machine's moved 13-15% between two hours
here), and each row's median is compared with the prediction at today's speed; the raw error, at
calibration's speed, is kept too.
"""

from __future__ import annotations

import math
import random
import sys
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from fpnprof.bench.protocol import GroupJob, WorkerReply
from fpnprof.bench.rows import BenchRow
from fpnprof.bench.runner import BenchRun, Measurement, OnProgress, run_bench
from fpnprof.bench.spec import BenchSpec
from fpnprof.latency.model import LatencyModel
from fpnprof.latency.predict import Prediction, predict_graph
from fpnprof.latency.sampling import CHANNELS, NECK_FORMS, SIZES, builds_within, shipped_default
from fpnprof.latency.validate import Checked, Validation, machine_speed
from fpnprof.model.config import NeckConfig
from fpnprof.model.parts import part_graph

#: A neck whose forward the model prices over this is left out (a row of bench runs it many times).
MAX_FORWARD_MS = 2000.0
#: Calibration necks timed again beside the set, for the machine's speed (bench rows of their own).
ANCHORS = 6
#: EfficientDet D0-D3's BiFPN: (channels, cells).
EFFICIENTDET = {"D0": (64, 3), "D1": (88, 4), "D2": (112, 5), "D3": (160, 6)}
#: The batches drawn necks take (calibration's: 1-2).
BATCHES = (1, 8)
#: The necks users asked about (issue 33): compare's defaults are C=256, P2-P5, batch 2, 64 px.
ASKED = (
    NeckConfig("fpn", variant="paper"),
    NeckConfig("pafpn", variant="paper"),
    NeckConfig("pafpn", channels=128, batch=1),
    NeckConfig("bifpn", variant="paper", channels=88, cells=4, size=128, batch=1, levels=5, min_level=3),
    NeckConfig("fpn", variant="paper", channels=32, batch=1),
)


@dataclass(frozen=True)
class Shifted:
    """A neck of the shifted set and why it is there (``asked``, ``default``, ``EfficientDet-D2``,
    ``C not x16``, ``batch 3-8``)."""

    config: NeckConfig
    why: str


@dataclass(frozen=True)
class ShiftedSet:
    necks: list[Shifted]
    #: fixed necks left out, and why (a calibration neck; its forward over the cap)
    skipped: list[tuple[Shifted, str]] = field(default_factory=list)


def _at_defaults(form: tuple[str, str], **fields: Any) -> NeckConfig:
    """A shipped neck at its own levels (and cells), with ``fields`` set."""
    return replace(shipped_default(form), **fields)


def _drawn(kind: int, rng: random.Random, turn: int) -> Shifted:
    """One neck of shift ``kind`` (0: EfficientDet's BiFPN, in turn D0-D3; 1: channels off a multiple
    of 16; 2: batch 3-8)."""
    size, batch = rng.choice(SIZES), rng.randint(*BATCHES)
    if kind == 0:
        name = list(EFFICIENTDET)[turn % len(EFFICIENTDET)]
        channels, cells = EFFICIENTDET[name]
        return Shifted(
            _at_defaults(("bifpn", "paper"), channels=channels, cells=cells, size=size, batch=batch), f"EfficientDet-{name}"
        )
    form = rng.choice(NECK_FORMS)
    if kind == 1:
        channels = 16
        while channels % 16 == 0:
            channels = round(math.exp(rng.uniform(math.log(17), math.log(200))))
        return Shifted(_at_defaults(form, channels=channels, size=size, batch=batch), "C not x16")
    return Shifted(_at_defaults(form, channels=rng.choice(CHANNELS), size=size, batch=rng.randint(3, BATCHES[1])), "batch 3-8")


def shifted_set(
    count: int,
    seed: int,
    forward_ms: Callable[[NeckConfig], float],
    *,
    seen: Collection[NeckConfig] = (),
    max_ms: float = MAX_FORWARD_MS,
) -> ShiftedSet:
    """``count`` necks (fewer where draws keep failing): the asked necks, the shipped necks' defaults,
    then drawn shifts in turn (seeded by ``seed``); none in ``seen`` (calibration's necks), none that
    ``forward_ms`` (the model's prediction) prices over ``max_ms``, none twice."""
    fixed = [Shifted(c, "asked") for c in ASKED] + [Shifted(shipped_default(f), "default") for f in NECK_FORMS]
    out: list[Shifted] = []
    skipped: list[tuple[Shifted, str]] = []
    taken = set(seen)

    def why_not(n: Shifted) -> str | None:
        if n.config in seen:
            return "a calibration neck"
        if n.config in taken:
            return "a duplicate"
        if not builds_within(n.config, sys.maxsize):
            return "it does not build"
        return f"predicted forward over {max_ms / 1e3:g} s" if forward_ms(n.config) > max_ms else None

    for n in fixed:
        if len(out) == count:
            break
        reason = why_not(n)
        if reason is None:
            out.append(n)
            taken.add(n.config)
        elif reason != "a duplicate":
            skipped.append((n, reason))
    rng = random.Random(seed)
    turns = [0, 0, 0]
    for _ in range(50 * count):
        if len(out) == count:
            break
        # the shifts in turn counted over drawn necks alone: which fixed necks calibration happened
        # to time (skipped above) changes how many are drawn, never which
        kind = sum(turns) % 3
        n = _drawn(kind, rng, turns[kind])
        if why_not(n) is None:
            out.append(n)
            taken.add(n.config)
            turns[kind] += 1
    return ShiftedSet(out, skipped)


@dataclass(frozen=True)
class ShiftedRow:
    neck: Shifted
    prediction: Prediction
    #: bench's row for it (``median_ms`` and ``ci95_ms`` once timed; ``error`` where it failed)
    bench: BenchRow
    #: the machine's speed against calibration's (bench / calibration's times of the anchors)
    speed: float = 1.0

    @property
    def checked(self) -> Checked | None:
        """The prediction beside bench's median, at today's speed (None: not timed)."""
        ms = self.bench.get("median_ms")
        if not ms or self.bench.get("error"):
            return None
        p = self.prediction
        return Checked(self.neck.config, p.total_ms, p.low_ms, p.high_ms, float(ms), self.speed)


@dataclass(frozen=True)
class ShiftedCheck:
    rows: list[ShiftedRow]
    run: BenchRun
    #: each timed anchor's bench / calibration time (empty: none timed)
    anchor_ratios: list[float] = field(default_factory=list)

    @property
    def speed(self) -> float:
        return machine_speed(self.anchor_ratios)

    def part(self, extrapolated: bool | None) -> Validation:
        """The timed rows (past the model's fitted ranges, inside them, or all: None) as a Validation."""
        return Validation(
            [c for r in self.rows if (c := r.checked) is not None and extrapolated in (None, r.prediction.extrapolated)],
            anchor_ratios=self.anchor_ratios,
        )


def bench_specs(model: LatencyModel, necks: Sequence[Shifted], seed: int = 0) -> list[BenchSpec]:
    """One bench row per neck: the neck alone, on the model's backend, device, engine, threads and allocator."""
    fp = model.fingerprint
    return [
        BenchSpec(
            n.config,
            part="neck",
            backend=str(fp["backend"]),
            device=str(fp["device"]),
            engine=str(fp["engine"]),
            threads=int(fp["threads"]),
            allocator=str(fp["allocator"]),
            seed=seed,
            label=f"#{i + 1} {n.config.neck}",
        )
        for i, n in enumerate(necks)
    ]


def check_shifted(
    model: LatencyModel,
    necks: Sequence[Shifted],
    measurement: Measurement,
    *,
    seed: int = 0,
    on_progress: OnProgress | None = None,
    launch: Callable[[GroupJob, dict[str, str]], WorkerReply] | None = None,
    clock: Callable[[], float] | None = None,
    anchors: Sequence[tuple[NeckConfig, float]] = (),
) -> ShiftedCheck:
    """Time every neck and ``anchors`` (calibration necks with their calibration times) with ``bench``
    (no peaks) in one run, and put each neck beside its prediction at the anchors' speed (``launch``
    and ``clock``: a simulated machine, in tests)."""
    timed = [*necks, *(Shifted(cfg, "anchor") for cfg, _ in anchors)]
    run = run_bench(
        bench_specs(model, timed, seed), measurement, on_progress=on_progress, peaks=False, launch=launch, clock=clock
    )
    anchor_rows = run.rows[len(necks) :]
    ratios = [
        float(row["median_ms"]) / then
        for row, (_, then) in zip(anchor_rows, anchors, strict=True)
        if row.get("median_ms") and not row.get("error")
    ]
    speed = machine_speed(ratios)
    rows = [
        ShiftedRow(n, predict_graph(model, part_graph(n.config, "neck")), row, speed)
        for n, row in zip(necks, run.rows[: len(necks)], strict=True)
    ]
    return ShiftedCheck(rows, run, ratios)
