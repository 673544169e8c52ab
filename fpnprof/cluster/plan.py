"""What goes out: the sweep's configurations in groups, each a job timed side by side with the
sweep's baseline on one node, and the key each configuration's result is stored under.

A group's worker processes build every row of it, so a group is as large as the nodes allow: all the
configurations on one node (the same run as the plain measured sweep), fewer per group on more nodes,
and never more than :data:`MAX_GROUP` (a worker builds and warms each of them).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from fpnprof.bench.protocol import GroupJob as WorkerJob
from fpnprof.bench.protocol import WorkerReply
from fpnprof.bench.runner import Measurement
from fpnprof.bench.spec import BenchSpec
from fpnprof.model.config import NeckConfig
from fpnprof.model.neckfile import neck_text

#: The most configurations in one group (each worker process builds them all, with the baseline).
MAX_GROUP = 16
#: What a configuration's result is keyed by, as of this fpnprof: a change in how results are made
#: changes it, and stored results of the old way are then not taken for new ones.
KEY_VERSION = 1


@dataclass(frozen=True)
class TimingSetup:
    """How every configuration is timed (``sweep --bench``'s options): backend (resolved), device,
    threads (0: all of a node's cores), warm-up runs, and the measurement (precision, cap, workers)."""

    backend: str
    device: str
    threads: int
    warmup: int
    measurement: Measurement = field(default_factory=Measurement)

    def identity(self) -> dict[str, Any]:
        """What a result depends on; --max-time caps a group's run and is left out (a longer cap
        does not change what is measured, only how much)."""
        m = self.measurement
        return {
            "backend": self.backend,
            "device": self.device,
            "threads": self.threads,
            "warmup": self.warmup,
            "part": "neck",
            "engine": "eager",
            "precision": m.precision,
            "processes": m.processes,
            "repeat": m.repeat,
            "isolated": m.isolated,
        }


@dataclass(frozen=True)
class Item:
    """One configuration of the sweep: its row in the sweep (``index``), its number among those that
    built (``configuration N``, the baseline is 1), and the key of its results (``item``, before the kind)."""

    index: int
    number: int
    config: NeckConfig
    item: str

    @property
    def label(self) -> str:
        return f"configuration {self.number}"


def _text_sha(config: NeckConfig) -> str | None:
    text = neck_text(config.neck)
    return None if text is None else hashlib.sha256(text.encode()).hexdigest()


def item_key(config: NeckConfig, baseline: NeckConfig, setup: TimingSetup) -> str:
    """The stable key of a configuration's result in this sweep (its neck's text included, the
    baseline it is a ratio to, the timing setup): 32 hex digits; a result adds ``/KIND``."""
    what = {
        "version": KEY_VERSION,
        "config": config.as_dict(),
        "text": _text_sha(config),
        "baseline": baseline.as_dict(),
        "baseline_text": _text_sha(baseline),
        "setup": setup.identity(),
    }
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:32]


def result_key(item: str, kind: str) -> str:
    """``ITEM/KIND``: a configuration's result on one node kind (stored at most once)."""
    return f"{item}/{kind}"


def items_of(configs: Sequence[tuple[int, NeckConfig]], setup: TimingSetup) -> list[Item]:
    """The built configurations (row index, config) as items; the first is the baseline."""
    baseline = configs[0][1]
    return [Item(index, n + 1, cfg, item_key(cfg, baseline, setup)) for n, (index, cfg) in enumerate(configs)]


def group_size(count: int, nodes: int) -> int:
    """Configurations per group: spread over the nodes, at most :data:`MAX_GROUP`."""
    return max(1, min(MAX_GROUP, math.ceil(count / max(1, nodes))))


#: What a group's worker processes are started by, and the clock the run reads (:func:`fpnprof.bench.runner.run_bench`'s).
Launch = Callable[[WorkerJob, dict[str, str]], WorkerReply]
Clock = Callable[[], float]


class Timer(Protocol):
    """Where a group is timed, on its node: the worker launcher and clock for ``run_bench`` (real worker
    processes when a run has no timer). Must pickle: it travels to the nodes with each job (tests send a
    simulated machine)."""

    def __call__(self, job: Job) -> tuple[Launch, Clock]: ...


@dataclass(frozen=True)
class Job:
    """One task: ``items`` timed side by side with ``baseline`` (the sweep's configuration 1, timed
    first in every group, so that each ratio is measured on the node of its configuration)."""

    index: int
    items: tuple[Item, ...]
    baseline: Item
    setup: TimingSetup
    #: each neck file's text (name -> text): a node builds exactly the driver's neck, never reads a file
    neck_texts: dict[str, str] = field(default_factory=dict)

    def spec(self, item: Item) -> BenchSpec:
        s = self.setup
        return BenchSpec(
            config=item.config,
            part="neck",
            backend=s.backend,
            device=s.device,
            threads=s.threads,
            warmup=s.warmup,
            label=item.label,
            seed=self.index,
        )

    @property
    def timed(self) -> list[Item]:
        """The rows the node times: the baseline first, unless the group holds it."""
        return list(self.items) if self.baseline in self.items else [self.baseline, *self.items]

    @property
    def specs(self) -> list[BenchSpec]:
        return [self.spec(item) for item in self.timed]


def groups_of(items: Sequence[Item], size: int, setup: TimingSetup, baseline: Item) -> list[Job]:
    """``items`` in order, ``size`` to a group."""
    texts = {i.config.neck: t for i in (baseline, *items) if (t := neck_text(i.config.neck)) is not None}
    chunks = [tuple(items[k : k + size]) for k in range(0, len(items), size)]
    return [Job(g, chunk, baseline, setup, texts) for g, chunk in enumerate(chunks)]
