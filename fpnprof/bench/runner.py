"""A whole bench run: check every row, group the rows that can share a worker process, start
workers until every interval is as narrow as asked (or the time cap is hit), then make the rows.

Rows that share a backend, device, thread count and dtype form a *group*: each worker builds the
whole group and times it in shuffled, interleaved rounds. ``isolated`` gives every row workers of
its own instead (unpaired ratios). Estimates and intervals come from the workers
(:mod:`fpnprof.bench.estimate`); when to stop is :mod:`fpnprof.bench.schedule`'s.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fpnprof.backends.registry import check_device
from fpnprof.bench.defaults import MAX_TIME_S, MIN_WORKERS, PRECISION
from fpnprof.bench.flags import flag_rows
from fpnprof.bench.groups import Group, machine_key, plan_groups
from fpnprof.bench.launch import launch_group, measure_peak, worker_env
from fpnprof.bench.paired import RoundPlan
from fpnprof.bench.protocol import GroupJob, WorkerReply
from fpnprof.bench.ratios import Layout, attach_ratios, baselines, targets
from fpnprof.bench.rows import BenchRow, make_row
from fpnprof.bench.schedule import Progress, StopRule, run_schedule
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
        if not 0 < self.precision < 1:
            raise ConfigError(f"--precision is a percentage between 0 and 100 (exclusive), got {100 * self.precision:g}")
        if self.max_time_s <= 0:
            raise ConfigError(f"--max-time must be positive, got {self.max_time_s:g}")
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
    real worker process, the monotonic clock; tests substitute a simulated machine and its clock)."""
    m = measurement or Measurement()
    launch = launch or launch_group
    clock = clock or CLOCK
    profiles = check_all(specs)
    texts = {s.config.neck: text for s in specs if (text := neck_text(s.config.neck)) is not None}
    groups = plan_groups(specs, profiles, isolated=m.isolated, memory=available_bytes())
    layout = Layout(groups)
    first = specs[0]
    bases = baselines(specs, baseline or (first.label or first.config.neck, first.config.variant))
    start = clock()
    with tempfile.TemporaryDirectory(prefix="fpnprof-") as exports:  # one Paddle Inference export per graph

        def start_worker(g: int, index: int) -> WorkerReply:
            members = [specs[i] for i in groups[g].indices]
            job = GroupJob(members, m.plan(index, members[0].seed), breakdown=m.breakdown, neck_texts=texts)
            return launch(job, worker_env(members[0].threads, exports))

        schedule = run_schedule(
            len(groups),
            targets(specs, layout, bases),
            start_worker,
            m.rule,
            clock=clock,
            on_progress=on_progress,
            label=lambda g: _label(specs, groups[g]),
        )
    replies = schedule.replies
    _raise_if_nothing_ran(replies)
    peak_of: dict[tuple[str, str, int, str], dict[str, Any]] = {}
    for i, spec in enumerate(specs):
        key = machine_key(spec)
        if (peaks or m.breakdown) and key not in peak_of and layout.measured(replies, i).error is None:
            peak_of[key] = measure_peak(*key)
    rows = [
        make_row(
            spec,
            layout.measured(replies, i),
            profiles[i],
            groups[layout.group_of(i)],
            layout.group_of(i),
            peak_of.get(machine_key(spec)),
        )
        for i, spec in enumerate(specs)
    ]
    attach_ratios(rows, layout, replies, bases, m.rule)
    flag_rows(rows, bases, m.precision)
    run = BenchRun(rows, clock() - start, sum(len(r) for r in replies), m)
    run.extra["more_needed_s"] = schedule.more_needed_s() if run.unresolved and m.repeat is None else 0.0
    return run


def _label(specs: Sequence[BenchSpec], group: Group) -> str:
    return ", ".join(dict.fromkeys(f"{specs[i].label or specs[i].config.neck}/{specs[i].engine}" for i in group.indices))


def _raise_if_nothing_ran(replies: Sequence[Sequence[WorkerReply]]) -> None:
    """When every worker failed for one reason, say it once instead of a table of failed rows."""
    errors = {c.error for rs in replies for r in rs for c in r.candidates}
    if None not in errors and len(errors) == 1:
        raise BackendUnavailable(str(errors.pop()))
