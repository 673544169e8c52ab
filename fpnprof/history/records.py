"""What the history holds: a run (one command's result) and its rows, as written and as read back."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any


@dataclass(frozen=True)
class RowRecord:
    """One result: a neck (or a peak) at one configuration, part and engine, its estimate and interval.
    ``kind``: measured (bench's workers, a validation's processes), predicted (the latency model) or
    peak (GFLOP/s, GB/s in ``unit``)."""

    kind: str
    unit: str = "ms"
    neck: str | None = None
    variant: str | None = None
    label: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    neck_text: str | None = None
    neck_hash: str | None = None
    part: str | None = None
    engine: str | None = None
    backend: str | None = None
    device: str | None = None
    threads: int | None = None
    allocator: str | None = None
    dtype: str | None = None
    #: the framework and its version, as the row ran (``torch 2.13.0+cpu``)
    framework: str | None = None
    estimate: float | None = None
    low: float | None = None
    high: float | None = None
    #: whether the row's ratio met the precision (bench); None where nothing was to resolve
    resolved: bool | None = None
    ratio: float | None = None
    ratio_low: float | None = None
    ratio_high: float | None = None
    is_base: bool = False
    flags: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    #: what the result is of, where a command needs to find it again (a cluster sweep: its configuration,
    #: timing setup and node kind, ``ITEM/KIND``); a key is stored at most once
    key: str | None = None


@dataclass
class RunRecord:
    """One recorded command: when, as typed, where (the machine), with what versions, how it went."""

    command: str
    argv: str
    at: float
    machine: str
    machine_info: dict[str, Any]
    versions: dict[str, Any]
    summary: dict[str, Any] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    rows: list[RowRecord] = field(default_factory=list)


@dataclass(frozen=True)
class StoredRow(RowRecord):
    """A row read back, with its run's context: ``run_id:position`` names it (``run:ID`` in bench)."""

    run_id: int = 0
    position: int = 0
    at: float = 0.0
    command: str = ""
    argv: str = ""
    machine: str = ""
    machine_info: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, Any] = field(default_factory=dict)
    run_flags: list[str] = field(default_factory=list)
    run_summary: dict[str, Any] = field(default_factory=dict)
    #: the neck's text differs from the one its previous run (same neck and variant) recorded
    text_changed: bool = False

    @property
    def id(self) -> str:
        return f"{self.run_id}:{self.position}"

    @property
    def ms(self) -> float | None:
        return self.estimate if self.unit == "ms" else None

    @property
    def fingerprint(self) -> dict[str, Any]:
        """The machine fingerprint as the latency model's (:func:`fpnprof.latency.model.machine_fingerprint`)."""
        framework, _, version = (self.framework or "").partition(" ")
        return {
            "cpu": self.machine_info.get("cpu"),
            "cores": self.machine_info.get("cores"),
            "gpu": self.machine_info.get("gpu") if self.device == "gpu" else None,
            "backend": self.backend,
            "framework": framework or None,
            "framework_version": version or None,
            "device": self.device,
            "engine": self.engine,
            "threads": self.threads,
            "allocator": self.allocator,
        }

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out = {"id": self.id, "run_id": out.pop("run_id"), "position": out.pop("position"), **out}
        out["when"] = iso_time(self.at)
        out["fingerprint"] = self.fingerprint
        return out


@dataclass(frozen=True)
class StoredRun:
    """A run read back with all its rows (``history show``)."""

    id: int
    at: float
    command: str
    argv: str
    machine: str
    machine_info: dict[str, Any]
    versions: dict[str, Any]
    summary: dict[str, Any]
    flags: list[str]
    rows: list[StoredRow]

    def to_json(self) -> dict[str, Any]:
        texts = {r.neck_hash: r.neck_text for r in self.rows if r.neck_hash}
        return {
            "id": self.id,
            "when": iso_time(self.at),
            "at": self.at,
            "command": self.command,
            "argv": self.argv,
            "machine": self.machine,
            "machine_info": self.machine_info,
            "versions": self.versions,
            "summary": self.summary,
            "flags": self.flags,
            "rows": [{k: v for k, v in r.to_json().items() if k not in _RUN_KEYS} for r in self.rows],
            "neck_texts": texts,
        }


#: Keys a run's rows share with it: said once, on the run, in ``history show``'s JSON.
_RUN_KEYS = frozenset(
    {"at", "when", "command", "argv", "machine", "machine_info", "versions", "run_flags", "run_summary", "neck_text"}
)


def iso_time(at: float) -> str:
    """A stored time (seconds since the epoch) in ISO 8601, local time with its offset."""
    return datetime.fromtimestamp(at, timezone.utc).astimezone().isoformat(timespec="seconds")
