"""What the parent and a worker process say to each other: a typed job in, a typed reply out (JSON
on the pipe, dataclasses on both ends)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from fpnprof.bench.contention import Load
from fpnprof.bench.paired import RoundPlan
from fpnprof.bench.spec import BenchSpec


@dataclass(frozen=True)
class GroupJob:
    """Build every candidate, warm each up, time them in interleaved rounds (``plan``), framed by the
    drift probe; with ``breakdown``, one per-node pass per eager candidate after every round and the
    fixed cost of a tiny op of each kind. ``neck_texts`` carries each neck file the parent resolved
    (name -> text): a worker builds exactly that neck and never reads the file again.

    ``time_left_s``: seconds left, when the job is launched, before the run's cap: the worker builds
    no candidate and starts no round that would not end before it. ``on_warm`` (in the parent, not
    sent) hears the :class:`WarmReport` as soon as every candidate is built and warm, and answers
    which candidates (positions) the worker times (None: all); the worker waits for that answer."""

    specs: list[BenchSpec]
    plan: RoundPlan
    breakdown: bool = False
    probe: bool = True
    neck_texts: dict[str, str] = field(default_factory=dict)
    time_left_s: float | None = None
    on_warm: Callable[[WarmReport], list[int] | None] | None = field(default=None, compare=False)

    @property
    def ask(self) -> bool:
        """Whether the worker waits, once warm, to be told what to time."""
        return self.on_warm is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "group",
            "specs": [s.to_json() for s in self.specs],
            "plan": asdict(self.plan),
            "breakdown": self.breakdown,
            "probe": self.probe,
            "neck_texts": self.neck_texts,
            "time_left_s": self.time_left_s,
            "ask": self.ask,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GroupJob:
        specs = [BenchSpec.from_json(s) for s in data["specs"]]
        job = cls(
            specs,
            RoundPlan(**data["plan"]),
            data["breakdown"],
            data["probe"],
            data.get("neck_texts", {}),
            data.get("time_left_s"),
        )
        if data.get("ask"):  # in the worker: the parent answers on stdin
            job = replace(job, on_warm=lambda _: None)
        return job


@dataclass(frozen=True)
class WarmReport:
    """What a worker knows once its candidates are built and warm, before it times anything: per
    candidate the seconds its build and warm-up took and its warm forward's milliseconds (0 for one
    not built in time), and the seconds since the worker started (its start-up included)."""

    setup_s: list[float]
    estimate_ms: list[float]
    elapsed_s: float

    def to_json(self) -> dict[str, Any]:
        return {"event": "warm", **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WarmReport:
        return cls(data["setup_s"], data["estimate_ms"], data["elapsed_s"])


@dataclass
class CandidateReply:
    """One candidate's rounds (milliseconds per run, per round); with a breakdown, per round the
    milliseconds of every node in one instrumented pass and of the whole instrumented pass."""

    rounds: list[list[float]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    peak_mem_bytes: int = 0
    peak_mem_kind: str = ""
    node_passes: list[dict[str, float]] = field(default_factory=list)
    pass_ms: list[float] = field(default_factory=list)
    error: str | None = None
    setup_s: float = 0.0
    estimate_ms: float = 0.0
    #: not built: the worker would have passed the run's cap
    skipped: bool = False


@dataclass
class WorkerReply:
    """One worker's answer; ``load`` is filled in by the parent (what other processes took meanwhile),
    ``error`` when the whole worker failed, ``cut`` when the parent stopped it at the run's cap."""

    candidates: list[CandidateReply] = field(default_factory=list)
    probe_before: dict[str, Any] | None = None
    probe_after: dict[str, Any] | None = None
    op_overhead_ms: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    load: Load | None = None
    gpu_others: list[int] | None = None
    wall_s: float | None = None
    cut: bool = False

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["load"] = self.load.to_json() if self.load else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WorkerReply:
        load = data.get("load")
        return cls(
            candidates=[CandidateReply(**c) for c in data.get("candidates", [])],
            probe_before=data.get("probe_before"),
            probe_after=data.get("probe_after"),
            op_overhead_ms=data.get("op_overhead_ms", {}),
            error=data.get("error"),
            load=Load(**load) if load else None,
            gpu_others=data.get("gpu_others"),
            wall_s=data.get("wall_s"),
            cut=data.get("cut", False),
        )

    @classmethod
    def failed(cls, error: str, candidates: int) -> WorkerReply:
        return cls([CandidateReply(error=error) for _ in range(candidates)], error=error)
