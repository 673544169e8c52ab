"""When to start another worker process, and for which group: stop on precision, not on the clock.

Framework-free and clock-injectable, so a simulated machine can drive it. Every group first gets
``min_workers`` workers (round-robin, so groups interleave in time); then, while some interval is
wider than ``precision``, the group behind the widest one gets another worker, as long as the
next worker is expected to end within ``max_time_s``. With ``fixed_workers`` (``--repeat``) every
group gets exactly that many and precision plays no part.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from fpnprof.bench.defaults import MAX_TIME_S, MAX_WORKERS, MIN_WORKERS, PRECISION
from fpnprof.bench.estimate import MIN_CI_WORKERS, Estimate
from fpnprof.bench.protocol import WorkerReply


@dataclass(frozen=True)
class StopRule:
    precision: float = PRECISION
    max_time_s: float = MAX_TIME_S
    min_workers: int = MIN_WORKERS
    max_workers: int = MAX_WORKERS
    fixed_workers: int | None = None


Replies = Sequence[Sequence[WorkerReply]]


@dataclass(frozen=True)
class Target:
    """An interval the run narrows (a ratio, or a row's own median), measured in ``groups``;
    ``estimate`` is None while it cannot be computed (a side failed)."""

    name: str
    groups: tuple[int, ...]
    estimate: Callable[[Replies], Estimate | None]


@dataclass(frozen=True)
class Progress:
    """Units (workers) done, the units the run now expects in all, and the seconds it expects to take still."""

    done: int
    expected: int
    eta_s: float
    what: str
    unit: str = "workers"
    #: a line to print once, above the bar (the plan, said before measuring)
    notice: str | None = None


def missed(estimate: Estimate | None, precision: float) -> float:
    """How far an interval is from the target (half-width over precision; inf without an interval, 0 when
    nothing can be measured)."""
    if estimate is None:
        return 0.0
    half = estimate.half_width
    return math.inf if half is None else half / precision


def resolved(estimate: Estimate | None, rule: StopRule) -> bool:
    """Narrow enough, and from at least the minimum of workers (a few workers that happen to agree
    give a narrow interval by luck more often than many do)."""
    return estimate is not None and estimate.meets(rule.precision) and estimate.workers >= min(rule.min_workers, rule.max_workers)


@dataclass
class Schedule:
    """The state of one run: replies and durations per group."""

    groups: int
    targets: Sequence[Target]
    rule: StopRule
    replies: list[list[WorkerReply]] = field(default_factory=list)
    durations: list[list[float]] = field(default_factory=list)
    failed: set[int] = field(default_factory=set)
    #: a worker's seconds per group, as planned, until one has run
    planned_s: list[float] = field(default_factory=list)
    #: groups to bring to an interval (MIN_CI_WORKERS workers) one after another, before any other
    #: worker: the plan's when the cap cannot give every group one
    first: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.replies = self.replies or [[] for _ in range(self.groups)]
        self.durations = self.durations or [[] for _ in range(self.groups)]

    def projected_s(self, group: int) -> float:
        own = self.durations[group]
        if own:
            return statistics.fmean(own)
        if self.planned_s:
            return self.planned_s[group]
        every = [d for ds in self.durations for d in ds]
        return statistics.fmean(every) if every else 0.0

    def fits(self, group: int, elapsed: float) -> bool:
        return elapsed + self.projected_s(group) <= self.rule.max_time_s

    def open_groups(self) -> list[int]:
        cap = self.rule.fixed_workers or self.rule.max_workers
        return [g for g in range(self.groups) if g not in self.failed and len(self.replies[g]) < cap]

    def unresolved(self) -> list[tuple[float, Target]]:
        """Targets that miss the precision, worst first."""
        scored = []
        for target in self.targets:
            estimate = target.estimate(self.replies)
            if estimate is not None and not resolved(estimate, self.rule):
                scored.append((max(missed(estimate, self.rule.precision), 1.0), target))
        return sorted(scored, key=lambda mt: -mt[0])

    def next_group(self, elapsed: float) -> int | None:
        """The group that gets the next worker, or None: stop."""

        def fewest(gs: list[int]) -> int:
            return min(gs, key=lambda g: (len(self.replies[g]), g))

        groups = self.open_groups()
        if self.rule.fixed_workers is not None:
            return fewest(groups) if groups else None
        for g in self.first:
            if g in groups and len(self.replies[g]) < min(MIN_CI_WORKERS, self.rule.min_workers) and self.fits(g, elapsed):
                return g
        short = [g for g in groups if len(self.replies[g]) < self.rule.min_workers and self.fits(g, elapsed)]
        if short:
            return fewest(short)
        for _, target in self.unresolved():
            candidates = [g for g in target.groups if g in groups and self.fits(g, elapsed)]
            if candidates:
                return fewest(candidates)
        return None

    def expected_workers(self, capped: bool = True) -> list[int]:
        """Per group, the workers the run expects in all, from how the intervals narrow (half-width
        goes as 1/sqrt(workers)); ``capped`` at ``max_workers``."""
        if self.rule.fixed_workers is not None:
            return [0 if g in self.failed else self.rule.fixed_workers for g in range(self.groups)]
        want = [max(self.rule.min_workers, len(r)) for r in self.replies]
        for m, target in self.unresolved():
            for g in target.groups:
                have = max(len(self.replies[g]), 1)
                need = math.ceil(have * m * m) if math.isfinite(m) else self.rule.min_workers
                want[g] = max(want[g], min(self.rule.max_workers, need) if capped else need)
        return [len(self.replies[g]) if g in self.failed else w for g, w in enumerate(want)]

    def more_needed_s(self) -> float:
        """Seconds more workers would take, at the pace so far, for every interval to meet the precision
        (an extrapolation: 0 when all do)."""
        want = self.expected_workers(capped=False)
        return sum(max(0, w - len(r)) * self.projected_s(g) for g, (w, r) in enumerate(zip(want, self.replies, strict=True)))

    def progress(self, elapsed: float, what: str) -> Progress:
        done = sum(len(r) for r in self.replies)
        want = self.expected_workers()
        left = sum(max(0, w - len(r)) * self.projected_s(g) for g, (w, r) in enumerate(zip(want, self.replies, strict=True)))
        if self.rule.fixed_workers is None:
            left = min(left, max(0.0, self.rule.max_time_s - elapsed))
        return Progress(done, max(done, sum(want)), left, what)


def run_schedule(
    groups: int,
    targets: Sequence[Target],
    launch: Callable[[int, int], WorkerReply],
    rule: StopRule,
    *,
    clock: Callable[[], float] = time.monotonic,
    on_progress: Callable[[Progress], None] | None = None,
    label: Callable[[int], str] = str,
    state: Schedule | None = None,
    start: float | None = None,
) -> Schedule:
    """Start workers (``launch(group, index)``) one at a time until :meth:`Schedule.next_group` says stop;
    returns the schedule, every group's replies in it. A worker that failed as a whole ends its group.
    ``state`` and ``start``: a run already under way (its first workers done), to go on with."""
    state = state or Schedule(groups, targets, rule)
    start = clock() if start is None else start
    while (g := state.next_group(clock() - start)) is not None:
        if on_progress is not None:
            on_progress(state.progress(clock() - start, f"{label(g)}: worker {len(state.replies[g]) + 1}"))
        begun = clock()
        reply = launch(g, len(state.replies[g]))
        state.durations[g].append(clock() - begun)
        state.replies[g].append(reply)
        if reply.error is not None:
            state.failed.add(g)
        if reply.cut:  # the cap came: nothing more fits
            break
    return state
