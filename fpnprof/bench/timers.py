"""Timers built once for every backend from the device's clock a backend hands up
(:class:`~fpnprof.backends.primitives.DeviceClock`): the wall clock around a synchronous call on a
CPU, synchronised events on a GPU; per-node timers for the breakdown; and the :class:`Runner` the
rounds call."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from fpnprof.backends.primitives import DeviceClock, Event, Executable


class Timer(Protocol):
    def time(self, fn: Callable[[], object]) -> float:
        """Run ``fn`` once and return its milliseconds, the device synchronised."""
        ...


class CpuTimer:
    """Wall clock around a synchronous call."""

    def time(self, fn: Callable[[], object]) -> float:
        start = time.perf_counter()
        fn()
        return (time.perf_counter() - start) * 1e3


class EventTimer:
    """Device events around an asynchronous call: sync first, record, sync on the end event."""

    def __init__(self, make_event: Callable[[], Event], synchronize: Callable[[], object]) -> None:
        self.make_event = make_event
        self.synchronize = synchronize

    def time(self, fn: Callable[[], object]) -> float:
        self.synchronize()
        start, end = self.make_event(), self.make_event()
        start.record()
        fn()
        end.record()
        end.synchronize()
        return float(start.elapsed_time(end))


class NodeTimer(Protocol):
    """Times each node of one forward pass: ``start``/``stop`` around a node, ``collect`` after."""

    def start(self, node_id: str) -> None: ...

    def stop(self, node_id: str) -> None: ...

    def collect(self) -> dict[str, float]:
        """Milliseconds per node id of the pass just run (the device synchronised)."""
        ...


class CpuNodeTimer:
    """Wall clock around each node of a synchronous executor."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self.started: dict[str, float] = {}
        self.times: dict[str, float] = {}

    def start(self, node_id: str) -> None:
        self.started[node_id] = self.clock()

    def stop(self, node_id: str) -> None:
        self.times[node_id] = (self.clock() - self.started.pop(node_id)) * 1e3

    def collect(self) -> dict[str, float]:
        times, self.times = self.times, {}
        return times


class EventNodeTimer:
    """Device events recorded around each node (no sync between nodes); one sync at ``collect``."""

    def __init__(self, make_event: Callable[[], Event], synchronize: Callable[[], object]) -> None:
        self.make_event = make_event
        self.synchronize = synchronize
        self.events: dict[str, tuple[Event, Event]] = {}

    def start(self, node_id: str) -> None:
        begin, end = self.make_event(), self.make_event()
        begin.record()
        self.events[node_id] = (begin, end)

    def stop(self, node_id: str) -> None:
        self.events[node_id][1].record()

    def collect(self) -> dict[str, float]:
        self.synchronize()
        events, self.events = self.events, {}
        return {k: float(begin.elapsed_time(end)) for k, (begin, end) in events.items()}


def timer_for(clock: DeviceClock) -> Timer:
    if clock.make_event is not None and clock.synchronize is not None:
        return EventTimer(clock.make_event, clock.synchronize)
    return CpuTimer()


def node_timer_for(clock: DeviceClock) -> NodeTimer:
    if clock.make_event is not None and clock.synchronize is not None:
        return EventNodeTimer(clock.make_event, clock.synchronize)
    return CpuNodeTimer()


def per_node_pass(run_with_hook: Callable[[NodeTimer], object], timer: NodeTimer) -> Callable[[], dict[str, float]]:
    """A ``Runner.timed_pass``: one executor pass with ``timer`` around every node, its times out."""

    def timed_pass() -> dict[str, float]:
        run_with_hook(timer)
        return dict(timer.collect())

    return timed_pass


@dataclass
class Runner:
    """One forward pass, its timer, and what the backend knows about the run.

    ``timed_pass``, where the engine runs fpnprof's own executor (eager), runs one forward pass
    with a :class:`NodeTimer` around every node and returns its per-node milliseconds;
    ``profiled_pass`` does the same with the engine's profiler, where it runs a program of its own.
    ``peak_memory`` is the device memory (bytes) this runner's model and runs added since it was
    made, or None on a CPU.
    """

    fn: Callable[[], object]
    timer: Timer
    info: dict[str, object] = field(default_factory=dict)
    peak_memory: Callable[[], int | None] = lambda: None
    timed_pass: Callable[[], dict[str, float]] | None = None
    profiled_pass: Callable[[], dict[str, float]] | None = None

    def step_ms(self) -> float:
        return self.timer.time(self.fn)

    @property
    def node_pass(self) -> Callable[[], dict[str, float]] | None:
        """A pass with per-node times: the executor's timer, or else the engine's profiler."""
        return self.timed_pass or self.profiled_pass


def runner_for(executable: Executable) -> Runner:
    """The timed form of what a backend's ``make_runner`` handed up."""
    hook = executable.run_with_hook
    timed = per_node_pass(hook, node_timer_for(executable.clock)) if hook is not None else None
    return Runner(
        executable.fn, timer_for(executable.clock), executable.info, executable.peak_memory, timed, executable.profiled_pass
    )
