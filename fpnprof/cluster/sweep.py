"""The driver of a measured sweep on a Ray cluster: what is stored already is skipped, the rest goes
out a group per task to the nodes of each kind (no more at a time than a kind has nodes: Ray picks
the node, and retries a task whose node died on another node of its kind), each group's results are
stored as soon as they are in, and one progress bar counts configurations, busy nodes and the time
left. Ctrl-C cancels the tasks (their worker processes are killed on the nodes) and keeps what is
stored. A kind that loses every node gives its groups back to the other kinds."""

from __future__ import annotations

import collections
import contextlib
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from fpnprof.bench.schedule import Progress
from fpnprof.cluster.connect import ClusterOption, connected
from fpnprof.cluster.kinds import check_kind_name
from fpnprof.cluster.nodes import Pool, check_threads, discover, pools_of
from fpnprof.cluster.plan import Item, Job, Timer, TimingSetup, group_size, groups_of, items_of
from fpnprof.cluster.results import Measured, measured_of
from fpnprof.cluster.store import Context, ResultStore
from fpnprof.cluster.tasks import niced_note, time_group
from fpnprof.cost.sweep import SweepRow

#: Seconds the driver waits for a result before it looks at the progress and the nodes again.
POLL_S = 0.5
#: How often the driver asks Ray which nodes are alive.
NODES_EVERY_S = 2.0
#: Seconds cancelled tasks get to end before they are killed.
CANCEL_WAIT_S = 5.0
#: Ray retries a task whose worker or node died this many times (on another node of its kind).
MAX_RETRIES = 3


@contextlib.contextmanager
def ctrl_c_noted() -> Iterator[threading.Event]:
    """While the driver waits on Ray, Ctrl-C sets an event the loop checks (within POLL_S) instead of
    raising wherever the main thread happens to be: a test pressing Ctrl-C as results came in saw the
    sweep run on in full suites, the KeyboardInterrupt lost (where is not pinned down; Ray defers
    SIGINT inside some of its calls and raises it on leaving them). Only in the main thread (a handler
    cannot be set elsewhere); another thread gets Python's own."""
    pressed = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield pressed
        return
    before = signal.signal(signal.SIGINT, lambda signum, frame: pressed.set())
    try:
        yield pressed
    finally:
        signal.signal(signal.SIGINT, before)


#: The timer tasks use where the caller gives none (None: real worker processes on the nodes). A test
#: puts a simulated machine here, as it puts its clock in :data:`fpnprof.bench.runner.CLOCK`.
TIMER: Timer | None = None

OnProgress = Callable[[Progress], None]


@dataclass
class ClusterSweep:
    """A cluster sweep's outcome: every configuration's results (stored before, or measured now, on
    one node kind or more), those not measured and why, the pools it ran on, what it stored."""

    rows: list[SweepRow]
    items: list[Item]
    option: ClusterOption
    store: str | None
    results: list[tuple[Item, Measured]] = field(default_factory=list)
    #: sweep row index -> why its configuration has no result
    missing: dict[int, str] = field(default_factory=dict)
    pools: list[Pool] = field(default_factory=list)
    node_kind: str | None = None
    skipped: int = 0
    stored: int = 0
    #: results measured that the store did not take (one line why)
    store_error: str | None = None
    seconds: float = 0.0
    size: int = 0
    groups: int = 0
    notes: list[str] = field(default_factory=list)


def sweep_on_cluster(
    rows: Sequence[SweepRow],
    setup: TimingSetup,
    option: ClusterOption,
    *,
    node_kind: str | None = None,
    store: ResultStore | None = None,
    argv: str = "",
    on_progress: OnProgress | None = None,
    timer: Timer | None = None,
    size: int | None = None,
) -> ClusterSweep:
    """Measure every built configuration of ``rows`` on the cluster (``node_kind``: on nodes of that
    kind only), each paired with the first built one (the baseline) on its node; what ``store`` holds
    for this sweep already (on that kind, or on any) is not measured again. ``size``: configurations
    per group (default: :func:`fpnprof.cluster.plan.group_size`)."""
    start = time.monotonic()
    if node_kind is not None:
        check_kind_name(node_kind, "--node-kind")
    built = [(i, r.config) for i, r in enumerate(rows) if r.error is None]
    items = items_of(built, setup) if built else []
    out = ClusterSweep(list(rows), items, option, store.where if store else None, node_kind=node_kind)
    by_item = {it.item: it for it in items}
    held = [m for m in (store.stored(list(by_item)) if store and items else []) if node_kind in (None, m.kind)]
    out.results = [(by_item[m.item], m.as_stored()) for m in held]
    done = {m.item for m in held}
    todo = [it for it in items if it.item not in done]
    out.skipped = len(items) - len(todo)
    if out.skipped and on_progress is not None:
        said = f"resumed: {out.skipped} of {len(items)} configurations are stored in {out.store} already: skipped"
        on_progress(Progress(out.skipped, len(items), 0.0, "resumed", "configurations", notice=said))
    if todo:
        with connected(option) as ray:
            nodes, notes = discover(ray, setup.backend, setup.device)
            out.pools, more = pools_of(nodes, node_kind)
            check_threads(out.pools, setup.threads)
            out.notes += notes + more
            out.size = size or group_size(len(todo), sum(len(p.nodes) for p in out.pools))
            jobs = groups_of(todo, out.size, setup, items[0])
            out.groups = len(jobs)
            _Driver(ray, out, store, argv, on_progress, timer if timer is not None else TIMER, len(items)).run(jobs)
    out.seconds = time.monotonic() - start
    return out


def failure(exc: BaseException) -> str:
    """A failed task in one line: what Ray says, or the task's own error."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):
        exc = cause
    text = (str(exc).strip().splitlines() or [""])[0][:160]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass
class _Driver:
    """One dispatch: jobs out to the pools, results in, stored, progress said."""

    ray: ModuleType
    out: ClusterSweep
    store: ResultStore | None
    argv: str
    on_progress: OnProgress | None
    timer: Timer | None
    total: int
    running: dict[Any, tuple[Job, Pool]] = field(default_factory=dict)
    #: task seconds and the configurations they held, for the pace
    busy_s: float = 0.0
    timed: int = 0
    done: int = 0

    def run(self, jobs: list[Job]) -> None:
        self.done = self.out.skipped
        queue = collections.deque(jobs)
        remote = self.ray.remote(time_group)
        checked = time.monotonic()
        try:
            with ctrl_c_noted() as pressed:
                while queue or self.running:
                    if pressed.is_set():
                        raise KeyboardInterrupt
                    self._step(queue, remote)
                    if time.monotonic() - checked >= NODES_EVERY_S:
                        checked = time.monotonic()
                        self._check_nodes(queue)
        except BaseException as exc:  # Ctrl-C, SIGTERM (or an error): cancel what runs, keep what is stored
            cancelled = self._cancel()
            if not isinstance(exc, Exception):  # an interruption: say what it kept (an error keeps its own words)
                before = f" (and {self.out.skipped} from before)" if self.out.skipped else ""
                kept = (
                    f"{self.out.stored} results stored in {self.out.store} by this run are kept{before}: the same command "
                    "measures only what is missing"
                    if self.out.store
                    else "nothing was stored (--no-history)"
                )
                exc.args = (f"{cancelled} task{'s' if cancelled != 1 else ''} cancelled; {kept}",)
            raise

    def _step(self, queue: collections.deque[Job], remote: Any) -> None:
        """Dispatch what each kind has room for, then collect what is done (waiting POLL_S at most)."""
        for pool in self.out.pools:
            while queue and self._load(pool) < len(pool.alive):
                job = queue.popleft()
                options = {**pool.options(), "max_retries": MAX_RETRIES, "retry_exceptions": False}
                self.running[remote.options(**options).remote(job, self.timer)] = (job, pool)
        self._say(len(queue))
        ready, _ = self.ray.wait(list(self.running), num_returns=1, timeout=POLL_S)
        for ref in ready:
            self._collect(ref, *self.running.pop(ref))

    def _load(self, pool: Pool) -> int:
        return sum(1 for _, p in self.running.values() if p is pool)

    def _collect(self, ref: Any, job: Job, pool: Pool) -> None:
        try:
            result = self.ray.get(ref)
        except Exception as exc:  # Ray's retries spent, or the task's own error
            why = f"its task failed on the cluster ({failure(exc)})"
            self.out.missing.update({item.index: why for item in job.items})
            self.done += len(job.items)
            return
        measured, missing = measured_of(job, result)
        if self.store is not None and measured:
            ctx = Context(self.argv, job.index, result.node_id, result.identity, result.seconds, job.setup)
            try:
                self.out.stored += self.store.put([m for _, m in measured], ctx)
            except Exception as exc:  # the results still show; a rerun measures them again
                self.out.store_error = self.out.store_error or failure(exc)
        if result.niceness > 0 and (note := niced_note(result.identity.hostname, result.niceness)) not in self.out.notes:
            self.out.notes.append(note)
        self.out.results += measured
        self.out.missing.update({u.index: u.why for u in missing})
        self.done += len(job.items)
        self.busy_s += result.seconds
        self.timed += len(job.items)

    def _check_nodes(self, queue: collections.deque[Job]) -> None:
        """Forget dead nodes; a pool with none left gives its jobs back (to other kinds), or, with no
        pool left, every job left is failed."""
        alive = {n["NodeID"] for n in self.ray.nodes() if n.get("Alive")}
        for pool in list(self.out.pools):
            pool.alive &= alive
            if pool.alive:
                continue
            self.out.pools.remove(pool)
            lost = [(ref, job) for ref, (job, p) in self.running.items() if p is pool]
            for ref, job in lost:
                self.ray.cancel(ref, force=True)
                del self.running[ref]
                queue.appendleft(job)
            self.out.notes.append(f"node kind {pool.kind} lost every node: its {len(lost)} groups went to the others")
        if not self.out.pools:
            for job in [*queue, *(job for job, _ in self.running.values())]:
                self.out.missing.update({item.index: "no node left to time it on" for item in job.items})
                self.done += len(job.items)
            queue.clear()
            self.running.clear()

    def _cancel(self) -> int:
        refs = list(self.running)
        for ref in refs:
            self.ray.cancel(ref)
        _, left = self.ray.wait(refs, num_returns=len(refs), timeout=CANCEL_WAIT_S) if refs else ([], [])
        for ref in left:
            self.ray.cancel(ref, force=True)
        return len(refs)

    def _say(self, queued: int) -> None:
        if self.on_progress is None:
            return
        nodes = sum(len(p.alive) for p in self.out.pools) or 1
        busy = min(len(self.running), nodes)
        if self.timed:  # the pace so far: a node's seconds per configuration timed
            eta = (self.total - self.done) * (self.busy_s / self.timed) / nodes
        else:  # before any group is in: each wave of groups at most the cap
            eta = math.ceil((queued + len(self.running)) / nodes) * self._cap_s()
        self.on_progress(Progress(self.done, self.total, eta, f"cluster: {busy}/{nodes} nodes busy", "configurations"))

    def _cap_s(self) -> float:
        running = next(iter(self.running.values()), None)
        return running[0].setup.measurement.max_time_s if running else 0.0
