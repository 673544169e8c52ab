"""What a backend hands up to the timing layer, framework-free: a forward pass to call, the device's
clock (synchronise, events), a memory probe, a run with a hook around every node, and peak kernels.

Timers, rounds and statistics live above, in :mod:`fpnprof.bench`, and are written once for every
backend; a backend only says how its device synchronises and records events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from typing_extensions import Self


class Event(Protocol):
    """A device event (``torch.cuda.Event``, ``paddle.device.cuda.Event``) made with timing on."""

    def record(self) -> object: ...
    def synchronize(self) -> object: ...
    def elapsed_time(self, end: Self, /) -> float: ...


@dataclass(frozen=True)
class DeviceClock:
    """How to time on the device: on a CPU neither is set (the wall clock around a synchronous call);
    on a GPU both are (events around an asynchronous call, the device synchronised)."""

    make_event: Callable[[], Event] | None = None
    synchronize: Callable[[], object] | None = None


#: The CPU: calls are synchronous, the wall clock times them.
CPU_CLOCK = DeviceClock()


class NodeHook(Protocol):
    """Called around every node by the shared executor (a per-node timer, in :mod:`fpnprof.bench`)."""

    def start(self, node_id: str) -> None: ...
    def stop(self, node_id: str) -> None: ...


@dataclass
class Executable:
    """One forward pass of a lowered graph on an engine, ready to time.

    ``run_with_hook``, where the engine runs fpnprof's own executor (eager), runs one forward pass
    calling a :class:`NodeHook` around every node. ``profiled_pass``, where an engine that runs a
    program of its own has a profiler (Paddle Inference on a CPU), runs one forward pass under it and
    returns per-node milliseconds (a fused kernel's on the last node it absorbed). ``peak_memory`` is
    the device memory (bytes) this model and its runs added since it was made, or None on a CPU.
    """

    fn: Callable[[], object]
    clock: DeviceClock = CPU_CLOCK
    info: dict[str, object] = field(default_factory=dict)
    peak_memory: Callable[[], int | None] = lambda: None
    run_with_hook: Callable[[NodeHook], object] | None = None
    profiled_pass: Callable[[], dict[str, float]] | None = None


@dataclass
class PeakKernels:
    """A matmul and a large copy with their work (FLOPs; bytes read + written), on the device's clock."""

    matmul: Callable[[], object]
    matmul_flops: int
    copy: Callable[[], object]
    copy_bytes: int
    clock: DeviceClock = CPU_CLOCK
    info: dict[str, object] = field(default_factory=dict)
