"""What to measure: one :class:`BenchSpec` per row, the rules that refuse a combination that
cannot run, and the expansion of a sweep into specs.

Rows run in worker subprocesses (``fpnprof.bench.worker``) so thread settings and
``FLAGS_enable_pir_api`` are in the environment before a framework is imported, and so the
spread between processes (memory layout, allocator state) can be measured and put inside the
interval (:mod:`fpnprof.bench.estimate`).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace
from typing import Any

from fpnprof.backends.registry import DEVICES, backend_info, check_dtype
from fpnprof.bench.allocator import ALLOCATORS, DEFAULT_ALLOCATOR
from fpnprof.bench.warmup import WARMUP_RUNS
from fpnprof.errors import ConfigError
from fpnprof.model.config import NeckConfig, require_choice
from fpnprof.model.parts import PARTS


def effective_threads(threads: int) -> int:
    """``--threads 0`` means every core."""
    return threads or os.cpu_count() or 1


@dataclass(frozen=True)
class BenchSpec:
    """One row to measure; ``label`` names it in tables (``fpn#2`` for a neck listed twice)."""

    config: NeckConfig
    part: str = "total"
    backend: str = "paddle"
    device: str = "cpu"
    engine: str = "eager"
    threads: int = 0  # 0: all cores
    warmup: int = WARMUP_RUNS
    seed: int = 0
    label: str = ""
    allocator: str = DEFAULT_ALLOCATOR

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["config"] = self.config.as_dict()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BenchSpec:
        return cls(**{**data, "config": NeckConfig.from_dict(data["config"])})

    @property
    def effective_threads(self) -> int:
        return effective_threads(self.threads)


def check_spec(spec: BenchSpec) -> None:
    """Refuse, with one clear line, a combination that cannot run."""
    require_choice("part", spec.part, PARTS)
    require_choice("device", spec.device, DEVICES)
    require_choice("allocator", spec.allocator, ALLOCATORS)
    info = backend_info(spec.backend)
    engines = info.engines[spec.device]
    if spec.engine not in engines:
        raise ConfigError(
            f"engine {spec.engine!r} does not apply to {spec.backend} on {spec.device}; choose from {', '.join(engines)}"
        )
    check_dtype(spec.backend, spec.device, spec.config.dtype)
    if spec.warmup < 0 or spec.threads < 0:
        raise ConfigError("--warmup and --threads must be >= 0")
    if spec.part == "backbone" and spec.config.backbone == "none":
        raise ConfigError("--part backbone needs --backbone resnet18")


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
