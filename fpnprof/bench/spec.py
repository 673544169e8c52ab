"""Timing done right, framework-free: specs, engine rules, timers and descriptive statistics.

Backends supply a :class:`Runner` (one forward pass plus a timer that synchronises the device);
rows run in worker subprocesses (``fpnprof.bench.worker``) so thread settings and
``FLAGS_enable_pir_api`` are in the environment before a framework is imported, and so the
spread between processes (memory layout, allocator state) can be measured and put inside the
interval (:mod:`fpnprof.bench.estimate`).
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol

from fpnprof.errors import ConfigError
from fpnprof.model.config import NeckConfig, require_choice
from fpnprof.model.parts import PARTS

DEVICES = ("cpu", "gpu")
#: Engines each backend offers, per device.
ENGINES: dict[str, dict[str, tuple[str, ...]]] = {
    "paddle": {"cpu": ("eager", "static", "inference"), "gpu": ("eager", "static", "inference")},
    "torch": {"cpu": ("eager", "compile"), "gpu": ("eager", "compile", "cudagraph")},
}
#: Dtypes each backend measures, per device.
DTYPES: dict[str, dict[str, tuple[str, ...]]] = {
    "paddle": {"cpu": ("fp32",), "gpu": ("fp32",)},
    "torch": {"cpu": ("fp32", "bf16"), "gpu": ("fp32", "tf32", "bf16", "fp16")},
}
BACKEND_CHOICES = ("auto", *ENGINES)


def check_device(backend: str, device: str) -> None:
    """Refuse a GPU run that the installed build cannot do, from package metadata (no import)."""
    from importlib import metadata

    if device != "gpu":
        return
    if backend == "paddle" and not _installed("paddlepaddle-gpu"):
        raise ConfigError(
            "--device gpu with the paddle backend needs paddlepaddle-gpu (this paddle is a CPU build); or use --backend torch"
        )
    if backend == "torch" and _installed("torch") and "+cpu" in metadata.version("torch"):
        raise ConfigError("--device gpu needs an NVIDIA GPU and a CUDA build of torch; this is a CPU build of torch")


def compare_engines(backend: str, device: str) -> tuple[str, ...]:
    """What ``compare --bench`` times: eager and the deployment engines (Paddle's ``static`` is
    dy2static run through the same Python executor, so Paddle Inference stands for deployment)."""
    return tuple(e for e in ENGINES[backend][device] if not (backend == "paddle" and e == "static"))


def _installed(distribution: str) -> bool:
    from importlib import metadata

    try:
        metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        return False
    return True


def resolve_backend(backend: str, device: str) -> str:
    """``auto``: paddle where the installed paddle can run on the device, else torch; found from
    the installed distributions, without importing a framework."""
    require_choice("backend", backend, BACKEND_CHOICES)
    require_choice("device", device, DEVICES)
    if backend != "auto":
        return backend
    paddle_ok = (
        _installed("paddlepaddle-gpu") if device == "gpu" else _installed("paddlepaddle") or _installed("paddlepaddle-gpu")
    )
    if paddle_ok:
        return "paddle"
    if _installed("torch"):
        return "torch"
    if device == "gpu":
        paddle = "this paddle is a CPU build" if _installed("paddlepaddle") else "paddle is not installed"
        raise ConfigError(
            f"no installed framework can run on the gpu: {paddle}, and torch is not installed; install "
            "paddlepaddle-gpu, or a CUDA build of torch with fpnprof's torch extra: pip install 'fpnprof[torch]'"
        )
    raise ConfigError("no installed framework can run on the cpu: pip install paddlepaddle, or pip install 'fpnprof[torch]'")


@dataclass(frozen=True)
class BenchSpec:
    """One row to measure; ``label`` names it in tables (``fpn#2`` for a neck listed twice)."""

    config: NeckConfig
    part: str = "total"
    backend: str = "paddle"
    device: str = "cpu"
    engine: str = "eager"
    threads: int = 0  # 0: all cores
    warmup: int = 3
    seed: int = 0
    label: str = ""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["config"] = self.config.as_dict()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BenchSpec:
        cfg = dict(data["config"])
        cfg["in_channels"] = tuple(cfg["in_channels"])
        return cls(**{**data, "config": NeckConfig(**cfg)})

    @property
    def effective_threads(self) -> int:
        return self.threads or os.cpu_count() or 1


def check_spec(spec: BenchSpec) -> None:
    """Refuse, with one clear line, a combination that cannot run."""
    require_choice("part", spec.part, PARTS)
    require_choice("device", spec.device, DEVICES)
    require_choice("backend", spec.backend, tuple(ENGINES))
    engines = ENGINES[spec.backend][spec.device]
    if spec.engine not in engines:
        raise ConfigError(
            f"engine {spec.engine!r} does not apply to {spec.backend} on {spec.device}; choose from {', '.join(engines)}"
        )
    dtypes = DTYPES[spec.backend][spec.device]
    if spec.config.dtype not in dtypes:
        raise ConfigError(f"{spec.backend} on {spec.device} measures {', '.join(dtypes)}, not {spec.config.dtype}")
    if spec.warmup < 0 or spec.threads < 0:
        raise ConfigError("--warmup and --threads must be >= 0")
    if spec.part == "backbone" and spec.config.backbone == "none":
        raise ConfigError("--part backbone needs --backbone resnet18")


def parse_int_list(text: str, option: str) -> list[int]:
    """Parse a sweep such as ``1,2,8``."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{option} takes comma-separated integers, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise ConfigError(f"{option} takes positive integers, got {text!r}")
    return values


def parse_choices(text: str, option: str, allowed: tuple[str, ...]) -> list[str]:
    values = [v.strip() for v in text.split(",") if v.strip()]
    bad = [v for v in values if v not in allowed]
    if not values or bad:
        raise ConfigError(f"{option} takes {', '.join(allowed)} (comma-separated), got {text!r}")
    return values


def expand_sweep(
    configs: list[tuple[str, NeckConfig]],
    batches: list[int],
    sizes: list[int],
    parts: list[str],
    engines: list[str],
    template: BenchSpec,
) -> list[BenchSpec]:
    """Every (labelled) config x batch x size x part x engine, in that nesting order."""
    return [
        replace(template, config=replace(cfg, batch=batch, size=size), part=part, engine=engine, label=label)
        for label, cfg in configs
        for batch in batches
        for size in sizes
        for part in parts
        for engine in engines
    ]


# Measuring ------------------------------------------------------------------------------------
class Timer(Protocol):
    def time(self, fn: Callable[[], Any]) -> float:
        """Run ``fn`` once and return its milliseconds, the device synchronised."""
        ...


class CpuTimer:
    """Wall clock around a synchronous call."""

    def time(self, fn: Callable[[], Any]) -> float:
        start = time.perf_counter()
        fn()
        return (time.perf_counter() - start) * 1e3


class EventTimer:
    """Device events around an asynchronous call: sync first, record, sync on the end event."""

    def __init__(self, make_event: Callable[[], Any], synchronize: Callable[[], None]) -> None:
        self.make_event = make_event
        self.synchronize = synchronize

    def time(self, fn: Callable[[], Any]) -> float:
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

    def __init__(self, make_event: Callable[[], Any], synchronize: Callable[[], None]) -> None:
        self.make_event = make_event
        self.synchronize = synchronize
        self.events: dict[str, tuple[Any, Any]] = {}

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


def per_node_pass(run_timed: Callable[[NodeTimer], object], timer: NodeTimer) -> Callable[[], dict[str, float]]:
    """A ``Runner.timed_pass``: one executor pass with ``timer`` around every node, its times out."""

    def timed_pass() -> dict[str, float]:
        run_timed(timer)
        return dict(timer.collect())

    return timed_pass


@dataclass
class Runner:
    """One forward pass, its timer, and what the backend knows about the run.

    ``timed_pass``, where the engine runs fpnprof's own executor (eager), runs one forward pass
    with a :class:`NodeTimer` around every node and returns its per-node milliseconds.
    ``peak_memory`` is the device memory (bytes) this runner's model and runs added since it was
    made, or None on a CPU.
    """

    fn: Callable[[], Any]
    timer: Timer
    info: dict[str, Any] = field(default_factory=dict)
    peak_memory: Callable[[], int | None] = lambda: None
    timed_pass: Callable[[], dict[str, float]] | None = None

    def step_ms(self) -> float:
        return self.timer.time(self.fn)


@dataclass(frozen=True)
class Stats:
    median_ms: float
    iqr_ms: float
    p90_ms: float
    min_ms: float
    mean_ms: float
    runs: int


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default method), q in [0, 100]."""
    if not sorted_values:
        raise ValueError("no samples")
    pos = (len(sorted_values) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def summarize(samples: list[float]) -> Stats:
    values = sorted(samples)
    return Stats(
        median_ms=statistics.median(values),
        iqr_ms=percentile(values, 75) - percentile(values, 25),
        p90_ms=percentile(values, 90),
        min_ms=values[0],
        mean_ms=statistics.fmean(values),
        runs=len(values),
    )


def current_rss() -> int:
    """Resident set size of this process in bytes (Linux /proc; 0 where unknown)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def max_rss() -> int:
    """The process's lifetime peak RSS in bytes (ru_maxrss: KiB on Linux)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class RssPeak:
    """Peak RSS growth over a baseline, without disturbing the timed runs.

    A sampling thread runs only while the model is built and warmed up (``sampling()``); afterwards,
    if the process's lifetime peak (ru_maxrss) rose above what it was at the baseline, that new
    peak is exact; otherwise the sampled peak stands.
    """

    def __init__(self) -> None:
        self.base = current_rss()
        self.maxrss_at_base = max_rss()
        self.sampled = self.base

    @contextmanager
    def sampling(self, interval: float = 0.002) -> Iterator[None]:
        stop = threading.Event()

        def loop() -> None:
            while not stop.is_set():
                self.sampled = max(self.sampled, current_rss())
                stop.wait(interval)

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def growth(self) -> int:
        now_max = max_rss()
        peak = now_max if now_max > self.maxrss_at_base else max(self.sampled, current_rss())
        return max(0, peak - self.base)
