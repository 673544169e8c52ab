"""A whole bench run: check every row, group the rows that can share a worker process, start
workers until every interval is as narrow as asked (or the time cap is hit), then make the rows.

Rows that share a backend, device, thread count and dtype form a *group*: each worker builds the
whole group and times it in shuffled, interleaved rounds. ``isolated`` gives every row workers of
its own instead (unpaired ratios). Estimates and intervals come from the workers
(:mod:`fpnprof.bench.estimate`); when to stop is :mod:`fpnprof.bench.schedule`'s.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from fpnprof.backends.registry import check_device
from fpnprof.bench.defaults import MAX_TIME_S, MIN_WORKERS, PRECISION
from fpnprof.bench.flags import flag_rows
from fpnprof.bench.groups import Group, machine_key, plan_groups
from fpnprof.bench.launch import launch_group, measure_peak, worker_env
from fpnprof.bench.paired import RoundPlan
from fpnprof.bench.plan import PEAK_RESERVE_S, Costs, Outlook, best_layout, max_time_needed, notice, split_by, what_to_time
from fpnprof.bench.protocol import GroupJob, WarmReport, WorkerReply
from fpnprof.bench.ratios import Layout, attach_allocator_ratios, attach_ratios, baselines, comparison_key, targets
from fpnprof.bench.rows import BenchRow, make_row
from fpnprof.bench.schedule import Progress, Schedule, StopRule, run_schedule
from fpnprof.bench.spec import BenchSpec, check_spec
from fpnprof.cost.analysis import profile_graph
from fpnprof.cost.memory import available_bytes, require_memory
from fpnprof.errors import BackendUnavailable, ConfigError
from fpnprof.model.neckfile import neck_text
from fpnprof.model.parts import part_graph

OnProgress = Callable[[Progress], None]
#: The clock a run reads (a test puts a simulated machine's clock here, with its worker launcher).
CLOCK: Callable[[], float] = time.monotonic


@dataclass(frozen=True)
class Measurement:
    """How a run measures: stop once every ratio's 95% interval is within ``precision`` (relative
    half-width) or after ``max_time_s``; at least ``processes`` workers per group; or, with ``repeat``,
    exactly that many timed runs per row, one per round, over ``min(processes, repeat)`` workers."""

    precision: float = PRECISION
    max_time_s: float = MAX_TIME_S
    processes: int = MIN_WORKERS
    repeat: int | None = None
    isolated: bool = False
    breakdown: bool = False

    def __post_init__(self) -> None:
        if not 0 < self.precision < 1:  # nan fails it too
            raise ConfigError(f"--precision is a percentage between 0 and 100 (exclusive), got {100 * self.precision:g}")
        if not 0 < self.max_time_s < math.inf:
            raise ConfigError(f"--max-time is a number of seconds above 0, got {self.max_time_s:g}")
        if self.processes < 1:
            raise ConfigError("--processes must be >= 1")
        if self.repeat is not None and self.repeat < 1:
            raise ConfigError("--repeat must be >= 1")

    @property
    def rule(self) -> StopRule:
        if self.repeat is not None:
            return StopRule(self.precision, self.max_time_s, fixed_workers=min(self.processes, self.repeat))
        return StopRule(self.precision, self.max_time_s, min_workers=self.processes)

    def plan(self, worker: int, seed: int) -> RoundPlan:
        """Worker ``worker``'s rounds: --repeat's runs split over the workers, or the round budget."""
        if self.repeat is None:
            return RoundPlan(seed=seed + worker)
        workers = self.rule.fixed_workers or 1
        return RoundPlan(rounds=self.repeat // workers + (1 if worker < self.repeat % workers else 0), seed=seed + worker)


@dataclass
class BenchRun:
    """The rows, and how the run went."""

    rows: list[BenchRow]
    seconds: float
    workers: int
    measurement: Measurement
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def unresolved(self) -> list[BenchRow]:
        return [r for r in self.rows if "median_ms" in r and not r.get("resolved", True)]


def check_all(specs: Sequence[BenchSpec]) -> list[Any]:
    """Refuse a row that cannot run before anything is timed; the analytic profile of each."""
    profiles = []
    for spec in specs:
        check_spec(spec)
        check_device(spec.backend, spec.device)
        profile = profile_graph(spec.config, part_graph(spec.config, spec.part))
        if spec.device == "cpu":
            require_memory(profile)
        profiles.append(profile)
    return profiles


def run_bench(
    specs: list[BenchSpec],
    measurement: Measurement | None = None,
    *,
    baseline: tuple[str, str] | None = None,
    on_progress: OnProgress | None = None,
    peaks: bool = True,
    launch: Callable[[GroupJob, dict[str, str]], WorkerReply] | None = None,
    clock: Callable[[], float] | None = None,
) -> BenchRun:
    """Measure every spec; ``peaks``: also measure the peaks (a worker per backend, device, threads
    and dtype) for % peak. ``launch`` starts one worker and ``clock`` reads the time (default: a
    real worker process, the monotonic clock; tests substitute a simulated machine and its clock).

    Without ``--repeat`` the run keeps to ``max_time_s``: the peaks' time is kept back, each worker
    is told the time left (it builds and times nothing that would end past it), and the first worker
    of each group plans the rest (:mod:`fpnprof.bench.plan`)."""
    m = measurement or Measurement()
    launch = launch or launch_group
    clock = clock or CLOCK
    profiles = check_all(specs)
    texts = {s.config.neck: text for s in specs if (text := neck_text(s.config.neck)) is not None}
    first = specs[0]
    bases = baselines(specs, baseline or (first.label or first.config.neck, first.config.variant))
    want_peaks = peaks or m.breakdown
    reserve = PEAK_RESERVE_S * len({machine_key(s) for s in specs}) if want_peaks else 0.0
    rule = m.rule if m.repeat is not None else replace(m.rule, max_time_s=max(0.0, m.max_time_s - reserve))
    groups = plan_groups(specs, profiles, isolated=m.isolated, memory=available_bytes())
    run = _Run(specs, m, rule, groups, clock, on_progress, reserve_s=reserve)
    with tempfile.TemporaryDirectory(prefix="fpnprof-") as exports:  # one Paddle Inference export per graph

        def start_worker(g: int, index: int, on_warm: Callable[[WarmReport], None] | None = None) -> WorkerReply:
            members = [specs[i] for i in run.groups[g].indices]
            job = GroupJob(
                members,
                m.plan(index, members[0].seed),
                breakdown=m.breakdown,
                neck_texts=texts,
                time_left_s=run.time_left_s(),
                on_warm=on_warm,
            )
            return launch(job, worker_env(members[0].threads, exports))

        state = run.plan(start_worker, profiles) if m.repeat is None else None
        layout = Layout(run.groups)
        if state is not None:
            state.targets = targets(specs, layout, bases)
        schedule = run_schedule(
            len(run.groups),
            targets(specs, layout, bases),
            start_worker,
            rule,
            clock=clock,
            on_progress=on_progress,
            label=lambda g: _label(specs, run.groups[g]),
            state=state,
            start=run.start,
        )
    replies = schedule.replies
    _raise_if_nothing_ran(replies)
    peak_of: dict[tuple[str, str, int, str], dict[str, Any]] = {}
    for i, spec in enumerate(specs):
        key = machine_key(spec)
        fits = m.repeat is not None or clock() - run.start + PEAK_RESERVE_S <= m.max_time_s
        if want_peaks and key not in peak_of and layout.measured(replies, i).error is None and fits:
            peak_of[key] = measure_peak(*key)
    rows = [
        make_row(
            spec,
            layout.measured(replies, i),
            profiles[i],
            run.groups[layout.group_of(i)],
            layout.group_of(i),
            peak_of.get(machine_key(spec)),
        )
        for i, spec in enumerate(specs)
    ]
    attach_ratios(rows, layout, replies, bases, m.rule)
    attach_allocator_ratios(rows, specs, layout, replies)
    flag_rows(rows, bases, m.precision, m.rule.min_workers)
    result = BenchRun(rows, clock() - run.start, sum(len(r) for r in replies), m)
    result.extra["more_needed_s"] = schedule.more_needed_s() if result.unresolved and m.repeat is None else 0.0
    result.extra["stopped"] = _why_stopped(rows, schedule, m)
    result.extra["plan"] = run.notice
    result.extra["max_time_needed_s"] = run.needed_s
    result.extra["peaks_skipped"] = want_peaks and not peak_of and any(r.get("median_ms") for r in rows)
    return result


@dataclass
class _Run:
    """A run under way: its groups (as planned), its clock and the notice its plan gave."""

    specs: Sequence[BenchSpec]
    m: Measurement
    rule: StopRule
    groups: list[Group]
    clock: Callable[[], float]
    on_progress: OnProgress | None
    start: float = 0.0
    notice: str | None = None
    #: seconds kept back for the peaks
    reserve_s: float = 0.0
    #: the --max-time the plan says would give every row an interval (None: it fits, or unknown)
    needed_s: int | None = None

    def __post_init__(self) -> None:
        self.start = self.clock()

    def time_left_s(self) -> float | None:
        return None if self.m.repeat is not None else self.rule.max_time_s - (self.clock() - self.start)

    def names(self) -> list[str]:
        """Each row as the plan names it: neck and part, and the engine where rows differ in it."""
        engines = len({s.engine for s in self.specs}) > 1
        return [f"{s.label or s.config.neck} {s.part}" + (f" {s.engine}" if engines else "") for s in self.specs]

    def plan(self, start_worker: Callable[..., WorkerReply], profiles: Sequence[Any]) -> Schedule:
        """Run each group's first worker (its warm-up prices every row), then lay the groups out for
        the time left (:mod:`fpnprof.bench.plan`); the notice, when not every row can get an interval,
        is said as soon as the first warm-up is done. Returns the schedule to go on with."""
        flops = [float(p.model_total.flops) for p in profiles]
        whole_groups = self.groups
        layouts = [whole_groups, split_by(whole_groups, [comparison_key(s) for s in self.specs])]
        plan = self.m.plan(0, 0)
        replies: list[WorkerReply] = []
        costs = Costs(0.0, {}, {})
        elapsed = self.clock() - self.start

        def say(chosen: Outlook, estimated: int | None = None) -> None:
            """The first notice the plan gives is said once, and its --max-time is the footer's advice."""
            said = notice(chosen, len(self.specs), self.m.max_time_s, self.names(), estimated, self.reserve_s)
            if self.notice:
                return
            self.notice, self.needed_s = said, None if chosen.fits else max_time_needed(chosen, self.reserve_s)
            if said and self.on_progress is not None:
                self.on_progress(Progress(0, len(self.specs), 0.0, "planning", notice=said))

        def on_warm(g: int, report: WarmReport) -> list[int] | None:
            """The first warm-up of a group: what its worker times, and the notice, said now."""
            indices = whole_groups[g].indices
            seen = costs.merged(Costs.from_warm(indices, report)).filled(flops)
            built = [i for i, e in zip(indices, report.estimate_ms, strict=True) if e > 0]
            chosen, rows = what_to_time(built, layouts, seen, plan, self.clock() - self.start, self.rule.max_time_s)
            say(chosen, len(self.specs) - len(indices) + (len(built) if rows is None else len(rows)))
            return None if rows is None else [indices.index(i) for i in rows]

        for g, group in enumerate(whole_groups):
            if self.on_progress is not None:
                what = f"{_label(self.specs, group)}: worker 1 (warm-up prices the rows)"
                self.on_progress(Progress(g, len(whole_groups), max(0.0, self.rule.max_time_s - elapsed), what))
            begun = self.clock()
            reply = start_worker(g, 0, functools.partial(on_warm, g))
            reply.wall_s = reply.wall_s if reply.wall_s is not None else self.clock() - begun
            replies.append(reply)
            costs = costs.merged(Costs.from_reply(group.indices, reply))
            elapsed = self.clock() - self.start
        position = {i: (g, group.indices.index(i)) for g, group in enumerate(whole_groups) for i in group.indices}

        def have(group: Group) -> int:
            return int(all(replies[position[i][0]].candidates[position[i][1]].rounds for i in group.indices))

        chosen = best_layout(layouts, have, costs.filled(flops), plan, elapsed, self.rule.max_time_s)
        say(chosen)
        self.groups = chosen.groups
        state = Schedule(len(chosen.groups), [], self.rule)
        for g, group in enumerate(chosen.groups):
            source = replies[position[group.indices[0]][0]]
            picked = [source.candidates[position[i][1]] for i in group.indices]
            if source.error is not None or any(c.rounds for c in picked):  # an empty worker is no worker
                state.replies[g].append(dataclasses.replace(source, candidates=picked))
                state.durations[g].append(chosen.worker_s[g] if math.isfinite(chosen.worker_s[g]) else source.wall_s or 0.0)
                if source.error is not None:
                    state.failed.add(g)
        state.planned_s = [w if math.isfinite(w) else 0.0 for w in chosen.worker_s]
        state.first = [] if chosen.fits else chosen.covered
        return state


def _why_stopped(rows: Sequence[BenchRow], schedule: Schedule, m: Measurement) -> str:
    """``repeat`` (--repeat), ``precision`` (every row measured and resolved), ``workers`` (every group
    that could go on has --max-workers' worth or failed), or ``cap`` (--max-time)."""
    if m.repeat is not None:
        return "repeat"
    if all(r.get("error") or (r.get("ci95_half_pct") is not None and r.get("resolved", False)) for r in rows):
        return "precision"
    return "workers" if not schedule.open_groups() else "cap"


def _label(specs: Sequence[BenchSpec], group: Group) -> str:
    return ", ".join(dict.fromkeys(f"{specs[i].label or specs[i].config.neck}/{specs[i].engine}" for i in group.indices))


def _raise_if_nothing_ran(replies: Sequence[Sequence[WorkerReply]]) -> None:
    """When every worker failed for one reason, say it once instead of a table of failed rows."""
    errors = {c.error for rs in replies for r in rs for c in r.candidates}
    if None not in errors and len(errors) == 1:
        raise BackendUnavailable(str(errors.pop()))
