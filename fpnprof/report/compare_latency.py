"""``compare --bench``'s latency per neck, typed: eager and its fastest deployed engine, each with its
interval and ratio to the baseline. JSON keeps the flat ``eager_*`` / ``deployed_*`` keys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fpnprof.bench.rows import BenchRow
from fpnprof.report.bench_report import ci_text, ratio_text

KINDS = ("eager", "deployed")


@dataclass(frozen=True)
class EngineLatency:
    """One engine's row of one neck, as compare shows it."""

    ms: float
    ci: str
    ci95_ms: list[float] | None
    ips: float
    ratio: float | None
    ratio_ci95: list[float] | None
    resolved: bool | None
    ratio_text: str
    flags: list[str]

    @classmethod
    def from_row(cls, row: BenchRow) -> EngineLatency:
        return cls(
            ms=row["median_ms"],
            ci=ci_text(row),
            ci95_ms=row["ci95_ms"],
            ips=row["images_per_s"],
            ratio=row.get("ratio"),
            ratio_ci95=row.get("ratio_ci95"),
            resolved=row.get("resolved"),
            ratio_text=ratio_text(row),
            flags=row.get("flags", []),
        )


@dataclass(frozen=True)
class NeckLatency:
    """A neck's eager row and its fastest deployed one (eager again where nothing is deployed)."""

    eager: EngineLatency
    deployed: EngineLatency
    deployed_engine: str
    breakdown: dict[str, Any] | None
    noisy: bool

    @classmethod
    def from_rows(cls, rows: list[BenchRow]) -> NeckLatency:
        eager = next(r for r in rows if r["engine"] == "eager")
        deployed = min((r for r in rows if r["engine"] != "eager"), key=lambda r: r["median_ms"], default=eager)
        return cls(
            EngineLatency.from_row(eager),
            EngineLatency.from_row(deployed),
            deployed["engine"],
            eager.get("breakdown"),
            any(r.get("noisy") for r in (eager, deployed)),
        )

    def engine(self, kind: str) -> EngineLatency:
        return self.eager if kind == "eager" else self.deployed

    def to_json(self) -> dict[str, Any]:
        """The flat keys compare's JSON rows carry (``eager_ms``, ``deployed_ratio_ci95``, ...)."""
        out: dict[str, Any] = {"deployed_engine": self.deployed_engine, "breakdown": self.breakdown}
        for kind in KINDS:
            e = self.engine(kind)
            out |= {f"{kind}_{key}": value for key, value in vars(e).items()}
        out["noisy"] = self.noisy
        return out

    def table_rows(self, name: dict[str, Any]) -> list[dict[str, Any]]:
        """Two latency-table rows: eager, then the deployed engine; ``name`` holds the neck's name columns."""
        return [
            {
                **name,
                "engine": "eager" if kind == "eager" else f"{self.deployed_engine} (deployed)",
                "ms": self.engine(kind).ms,
                "ci": self.engine(kind).ci,
                "ratio_text": self.engine(kind).ratio_text,
                "ips": self.engine(kind).ips,
            }
            for kind in KINDS
        ]
