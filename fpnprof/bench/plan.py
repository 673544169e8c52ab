"""How a bench run spends its ``--max-time``: from the first worker's warm-up, what a worker costs,
which rows can get an interval within the cap, and what to say before measuring when not all can.

An interval needs :data:`~fpnprof.bench.estimate.MIN_CI_WORKERS` workers per row. A worker costs its
start (process, imports, probes), every row's build and warm-up, and its rounds. When the rows of a
group cannot all get that many workers in time, the group may be parted by what its rows are
compared with (a ratio pairs rows of one part, engine, batch and size): smaller workers fit the time
left more closely, so some rows get intervals where none would otherwise. Framework-free.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

from fpnprof.bench.estimate import MIN_CI_WORKERS
from fpnprof.bench.groups import Group
from fpnprof.bench.paired import RoundPlan, rounds_ms
from fpnprof.bench.protocol import WarmReport, WorkerReply

#: Seconds kept back at the end of the run for the peaks worker (measured at 3.1-4.4 s on the 2-core
#: development machine, benchmarks/RESULTS.md).
PEAK_RESERVE_S = 5.0
#: Work still to come is planned at this many times its estimate: a forward's time varies from worker
#: to worker (a process carries its own bias, the machine drifts), and a plan that just fits fails
#: half the time.
MARGIN = 1.15


@dataclass(frozen=True)
class Costs:
    """Per row (by spec index) its build and warm-up seconds and its warm forward's milliseconds; the
    seconds a worker takes beyond its rows (its start)."""

    start_s: float
    setup_s: dict[int, float]
    estimate_ms: dict[int, float]

    @classmethod
    def from_warm(cls, rows: Sequence[int], warm: WarmReport) -> Costs:
        built = [(i, s, e) for i, s, e in zip(rows, warm.setup_s, warm.estimate_ms, strict=True) if e > 0]
        start = max(0.0, warm.elapsed_s - sum(s for _, s, _ in built))
        return cls(start, {i: s for i, s, _ in built}, {i: e for i, _, e in built})

    @classmethod
    def from_reply(cls, rows: Sequence[int], reply: WorkerReply) -> Costs:
        """From a whole worker's reply: its start is what its wall time leaves beyond builds and rounds."""
        built = [(i, c) for i, c in zip(rows, reply.candidates, strict=True) if c.estimate_ms > 0]
        timed = sum(t for _, c in built for r in c.rounds for t in r) / 1e3
        start = max(0.0, (reply.wall_s or 0.0) - timed - sum(c.setup_s for _, c in built))
        return cls(start, {i: c.setup_s for i, c in built}, {i: c.estimate_ms for i, c in built})

    def merged(self, other: Costs) -> Costs:
        return Costs(
            max(self.start_s, other.start_s), {**self.setup_s, **other.setup_s}, {**self.estimate_ms, **other.estimate_ms}
        )

    def filled(self, flops: Sequence[float]) -> Costs:
        """Rows no worker built yet, priced by analytic FLOPs from the rows that were, at the cheapest
        rate per FLOP (as a worker predicts them: :func:`fpnprof.bench.worker.predicted_setup_s`);
        unknown when none was."""
        known = [i for i in self.setup_s if flops[i] > 0]
        if not known:
            return self
        setup_per = min(self.setup_s[i] / flops[i] for i in known)
        run_per = min(self.estimate_ms[i] / flops[i] for i in known)
        missing = [i for i in range(len(flops)) if i not in self.setup_s]
        return Costs(
            self.start_s,
            {**self.setup_s, **{i: setup_per * flops[i] for i in missing}},
            {**self.estimate_ms, **{i: run_per * flops[i] for i in missing}},
        )

    def worker_s(self, rows: Sequence[int], plan: RoundPlan) -> float:
        """Seconds one worker on ``rows`` takes (inf where a row's cost is unknown)."""
        if any(i not in self.setup_s for i in rows):
            return math.inf
        return self.start_s + sum(self.setup_s[i] for i in rows) + rounds_ms(plan, [self.estimate_ms[i] for i in rows]) / 1e3


@dataclass(frozen=True)
class Outlook:
    """What the time left gives: ``covered`` groups reach MIN_CI_WORKERS workers within the cap (cheapest
    first); ``need_s``: the run's length, from its start, that would give every group an interval."""

    groups: list[Group]
    worker_s: list[float]
    covered: list[int]
    need_s: float
    #: when the covered groups' workers would be done, from the run's start
    end_s: float = 0.0

    @property
    def fits(self) -> bool:
        return len(self.covered) == len(self.groups)

    def rows_covered(self) -> int:
        return sum(len(self.groups[g].indices) for g in self.covered)


def outlook(
    groups: Sequence[Group], have: Sequence[int], costs: Costs, plan: RoundPlan, elapsed_s: float, cap_s: float
) -> Outlook:
    """Which groups can reach an interval (``have``: the workers each has) by ``cap_s``."""
    worker_s = [costs.worker_s(g.indices, plan) for g in groups]
    more = [MARGIN * max(0, MIN_CI_WORKERS - h) * w for h, w in zip(have, worker_s, strict=True)]
    spent, covered = elapsed_s, []
    for g in sorted(range(len(groups)), key=lambda g: more[g]):
        if spent + more[g] <= cap_s:
            spent += more[g]
            covered.append(g)
    return Outlook(list(groups), worker_s, sorted(covered), elapsed_s + sum(more), spent)


def split_by(groups: Sequence[Group], keys: Sequence[Hashable]) -> list[Group]:
    """Each group parted by its rows' keys (the rows a ratio compares share one), in first-seen order."""
    out = []
    for group in groups:
        parts: dict[Hashable, list[int]] = {}
        for i in group.indices:
            parts.setdefault(keys[i], []).append(i)
        out += [Group(indices, group.why) for indices in parts.values()]
    return out


def choose(whole: Outlook, parted: Outlook) -> Outlook:
    """Keep the groups as they are when they fit; else the layout that gives more rows an interval
    (then the one that would need less time)."""
    if whole.fits:
        return whole
    return max((whole, parted), key=lambda o: (o.rows_covered(), -o.need_s))


def best_layout(
    layouts: Sequence[Sequence[Group]],
    have: Callable[[Group], int],
    costs: Costs,
    plan: RoundPlan,
    elapsed_s: float,
    cap_s: float,
) -> Outlook:
    """The outlook :func:`choose` keeps of the two ``layouts`` (whole groups, parted ones), each group
    with the workers ``have`` gives it."""
    whole, parted = (outlook(gs, [have(g) for g in gs], costs, plan, elapsed_s, cap_s) for gs in layouts)
    return choose(whole, parted)


def max_time_needed(chosen: Outlook, reserve_s: float) -> int | None:
    """The --max-time that would give every row an interval (the time kept back for the peaks
    included), rounded up to 5 s; None where a row's cost is unknown."""
    return math.ceil((chosen.need_s + reserve_s) / 5) * 5 if math.isfinite(chosen.need_s) else None


def notice(
    chosen: Outlook, rows: int, cap_s: float, names: Sequence[str], estimated: int | None = None, reserve_s: float = 0.0
) -> str | None:
    """One line, said before measuring, when the cap cannot give every row an interval; ``names``:
    a short name per row; ``estimated``: how many rows the first worker times (all by default);
    ``reserve_s``: the seconds the run keeps back for the peaks."""
    if chosen.fits:
        return None
    need = max_time_needed(chosen, reserve_s)
    would = f"intervals on every row need about {need} s here (--max-time {need})" if need else "no forward ran in time"
    covered = [i for g in chosen.covered for i in chosen.groups[g].indices]
    listed = ", ".join(names[i] for i in sorted(covered))
    gives = [f"within {cap_s:g} s, intervals for {len(covered)} of {rows} rows ({listed})"] if covered else []
    estimated = rows if estimated is None else estimated
    only = estimated - len(covered)
    rest = [f"an estimate without an interval for {'the other' if covered else 'each of the'} {only}"] if only else []
    rest += [f"{rows - estimated} not timed"] if estimated < rows else []
    return "; ".join([would, *gives, ", ".join(rest)]) + "."


def what_to_time(
    rows: Sequence[int], layouts: Sequence[Sequence[Group]], costs: Costs, plan: RoundPlan, elapsed_s: float, cap_s: float
) -> tuple[Outlook, list[int] | None]:
    """The first worker is warm on ``rows``: it times them all when their rounds fit the time left,
    so that every row has an estimate before the time left goes to intervals; else the rows of the
    cheapest comparisons (``layouts[-1]``: the parted groups) that fit. Returns the outlook after it
    and the rows it times (None: all)."""

    def after(timed: Sequence[int]) -> float:
        return elapsed_s + MARGIN * rounds_ms(plan, [costs.estimate_ms[i] for i in timed]) / 1e3

    def best(timed: set[int]) -> Outlook:
        return best_layout(layouts, lambda g: int(all(i in timed for i in g.indices)), costs, plan, after(sorted(timed)), cap_s)

    plain = elapsed_s + MARGIN * sum(costs.estimate_ms[i] for i in rows) / 1e3  # one run each: a worker short of time
    if min(after(rows), plain) <= cap_s:
        return best(set(rows)), None
    timed: list[int] = []
    for group in sorted(layouts[-1], key=lambda g: after([i for i in g.indices if i in rows])):
        more = [i for i in group.indices if i in rows]
        if more and after(timed + more) <= cap_s:
            timed += more
    return best(set(timed)), sorted(timed)
