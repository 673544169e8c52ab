"""One typed function per CLI command; each returns a report (the CLI only renders it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fpnprof.analysis import profile_graph
from fpnprof.config import BACKBONES, DEFAULT_LEVELS, STEMS, VARIANTS, NeckConfig
from fpnprof.necks import NECKS, build_graph
from fpnprof.report.model import Column, Report, Section
from fpnprof.report.profile_report import profile_report


def run_shapes(cfg: NeckConfig, *, detail: bool = False, by_op: bool = False, verify_with: str | None = None) -> Report:
    graph = build_graph(cfg)
    p = profile_graph(cfg, graph)
    report = profile_report(p, detail=detail, by_op=by_op)
    if verify_with is not None:
        from fpnprof.verify import verify

        result = verify(p, graph, verify_with)
        report.notes.append(f"verified with {result.backend} {result.framework_version}: " + ", ".join(result.checks) + " match.")
        report.data["verification"] = {
            "backend": result.backend,
            "framework_version": result.framework_version,
            "nodes_checked": result.nodes_checked,
            "params": result.params,
            "buffers": result.buffers,
            "checks": result.checks,
        }
    return report


def run_bench_command(
    configs: list[NeckConfig],
    *,
    batches: list[int],
    sizes: list[int],
    part: str,
    engine: str,
    device: str,
    backend: str,
    threads: int,
    warmup: int,
    repeat: int | None,
    min_time: float,
    processes: int = 3,
    plot: Path | None = None,
) -> Report:
    """Expand the sweep, measure every row with a progress bar on stderr, and build the report."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from fpnprof.bench import PARTS, BenchSpec, expand_sweep, parse_choices
    from fpnprof.bench_runner import provenance, run_bench
    from fpnprof.report.bench_report import bench_report

    template = BenchSpec(
        config=configs[0],
        backend=backend,
        device=device,
        threads=threads,
        warmup=warmup,
        repeat=repeat,
        min_time=min_time,
        processes=processes,
    )
    specs = expand_sweep(
        configs,
        batches,
        sizes,
        parse_choices(part, "--part", PARTS),
        [e.strip() for e in engine.split(",") if e.strip()],
        template,
    )
    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as progress:
        task = progress.add_task("measuring", total=len(specs))

        def on_row(index: int, spec: BenchSpec) -> None:
            cfg = spec.config
            progress.update(
                task, completed=index, description=f"{cfg.neck}/{cfg.variant} {spec.part} {spec.engine} b{cfg.batch} s{cfg.size}"
            )

        rows = run_bench(specs, on_row)
        progress.update(task, completed=len(specs))
    report = bench_report(rows, provenance(rows))
    if plot is not None:
        from fpnprof.plots import latency_plot

        latency_plot(rows, plot)
        report.notes.append(f"plot written to {plot}")
    return report


def _latency_for(cfg: NeckConfig, *, backend: str, device: str, threads: int, min_time: float) -> dict[str, Any]:
    """Eager and the fastest deployed engine for one neck (the neck alone)."""
    from fpnprof.bench import ENGINES, BenchSpec
    from fpnprof.bench_runner import run_bench

    engines = ENGINES[backend][device]
    specs = [
        BenchSpec(config=cfg, part="neck", backend=backend, device=device, engine=e, threads=threads, min_time=min_time)
        for e in engines
    ]
    rows = run_bench(specs)
    eager = next(r for r in rows if r["engine"] == "eager")
    deployed = min((r for r in rows if r["engine"] != "eager"), key=lambda r: r["median_ms"])
    return {
        "eager_ms": eager["median_ms"],
        "eager_ips": eager["images_per_s"],
        "deployed_engine": deployed["engine"],
        "deployed_ms": deployed["median_ms"],
        "deployed_ips": deployed["images_per_s"],
        "bench_rows": rows,
    }


def run_compare(
    configs: list[NeckConfig],
    *,
    baseline: str | None = None,
    bench: bool = False,
    backend: str = "paddle",
    device: str = "cpu",
    threads: int = 0,
    min_time: float = 1.0,
    plot: Path | None = None,
) -> Report:
    from fpnprof.errors import ConfigError
    from fpnprof.report.compare_report import compare_report

    profiles = [profile_graph(cfg, build_graph(cfg)) for cfg in configs]
    names = [cfg.neck for cfg in configs]
    if baseline is not None and baseline not in names:
        raise ConfigError(f"--baseline {baseline!r} is not among the compared necks ({', '.join(dict.fromkeys(names))})")
    index = names.index(baseline) if baseline is not None else 0
    latency = None
    if bench:
        from rich.console import Console
        from rich.progress import Progress

        console = Console(stderr=True)
        with Progress(console=console, transient=True, disable=not console.is_terminal) as progress:
            task = progress.add_task("measuring", total=len(configs))
            latency = []
            for cfg in configs:
                progress.update(task, description=f"{cfg.neck}/{cfg.variant}")
                latency.append(_latency_for(cfg, backend=backend, device=device, threads=threads, min_time=min_time))
                progress.advance(task)
    report = compare_report(profiles, index, latency)
    if plot is not None:
        from fpnprof.plots import macs_stacked_plot

        macs_stacked_plot(profiles, plot)
        report.notes.append(f"plot written to {plot}")
    return report


def run_graph(cfg: NeckConfig, *, fmt: str, part: str) -> str:
    from fpnprof.bench import PARTS, part_graph
    from fpnprof.config import require_choice
    from fpnprof.draw import DRAW_FORMATS, draw
    from fpnprof.errors import ConfigError

    if fmt not in DRAW_FORMATS:
        raise ConfigError(f"graph draws {' or '.join(DRAW_FORMATS)}, not {fmt!r}")
    require_choice("part", part, PARTS)
    return draw(part_graph(cfg, part), fmt)


def run_list() -> Report:
    from fpnprof.backends import BACKENDS
    from fpnprof.bench import ENGINES

    rows = [
        {"what": "neck", "values": ", ".join(f"{n} (default --levels {DEFAULT_LEVELS[n]})" for n in NECKS)},
        {"what": "variant", "values": ", ".join(VARIANTS)},
        {"what": "stem", "values": ", ".join(STEMS)},
        {"what": "backbone", "values": ", ".join(BACKBONES)},
        {"what": "backend", "values": ", ".join(BACKENDS)},
        *[
            {"what": f"engine ({backend}, {device})", "values": ", ".join(engines)}
            for backend, per_device in ENGINES.items()
            for device, engines in per_device.items()
        ],
    ]
    data = {
        "necks": list(NECKS),
        "variants": list(VARIANTS),
        "stems": list(STEMS),
        "backbones": list(BACKBONES),
        "backends": list(BACKENDS),
        "engines": {backend: dict(per_device) for backend, per_device in ENGINES.items()},
    }
    return Report([Section("fpnprof knows", [Column("what", "kind"), Column("values", "choices")], rows)], data)
