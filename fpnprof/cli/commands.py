"""One typed function per CLI command; each returns a report (the CLI only renders it)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fpnprof.bench.allocator import ALLOCATORS, DEFAULT_ALLOCATOR
from fpnprof.cost.analysis import profile_graph
from fpnprof.errors import BackendUnavailable, ConfigError
from fpnprof.model.config import BACKBONES, STEMS, VARIANTS, NeckConfig, require_choice
from fpnprof.model.necks import NECKS, build_graph
from fpnprof.report.model import Column, Report, Section
from fpnprof.report.profile_report import profile_report

if TYPE_CHECKING:
    from fpnprof.bench.runner import BenchRun, Measurement, OnProgress
    from fpnprof.cli.latency_commands import Predictor
    from fpnprof.cost.sweep import SweepRow
    from fpnprof.model.graph import Graph
    from fpnprof.report.compare_latency import NeckLatency
    from fpnprof.report.conventions_report import Measured

#: A neck as the user listed it: its label (``fpn``, or ``fpn#2`` for the second ``fpn``) and configuration.
Labeled = tuple[str, NeckConfig]


def with_plot(report: Report, path: Path, draw: Callable[[Path], object]) -> None:
    """Draw the figure to ``path`` and say so under the table."""
    draw(path)
    report.notes.append(f"plot written to {path}")


def labels(names: list[str]) -> list[str]:
    """Each listed neck's label: a neck listed twice is two rows, ``fpn`` and ``fpn#2`` (an A/A check)."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return out


@dataclass(frozen=True)
class Timing:
    """How to time rows, as ``bench``, ``compare --bench`` and ``sweep --bench`` take it."""

    backend: str
    device: str
    threads: int
    warmup: int
    measurement: Measurement
    #: measure the machine's peaks (bench's % peak column); compare and sweep never show them
    peaks: bool = True
    #: the allocator the workers time with; ``both``: every row with each (bench)
    allocator: str = DEFAULT_ALLOCATOR


def run_shapes(cfg: NeckConfig, *, detail: bool = False, by_op: bool = False, verify_with: str | None = None) -> Report:
    graph = build_graph(cfg)
    p = profile_graph(cfg, graph)
    report = profile_report(p, detail=detail, by_op=by_op)
    if verify_with is not None:
        from fpnprof.backends.verify import verify

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
    configs: list[Labeled],
    *,
    batches: list[int],
    sizes: list[int],
    part: str,
    engine: str,
    timing: Timing,
    plot: Path | None = None,
    on_progress: OnProgress | None = None,
    baseline: tuple[str, str] | None = None,
    fail_if_slower: float | None = None,
) -> Report:
    """Expand the sweep, measure every row (paired unless isolated), and build the report; with
    ``fail_if_slower``, judge every row against its baseline (``baseline``: label and variant, else
    the first neck's)."""
    from fpnprof.backends.registry import ENGINE_NAMES, resolve_backend
    from fpnprof.bench.runner import run_bench
    from fpnprof.bench.spec import BenchSpec, expand_sweep
    from fpnprof.cli.options import parse_choices
    from fpnprof.model.parts import PARTS
    from fpnprof.report.bench_report import bench_report

    backend = resolve_backend(timing.backend, timing.device)
    engines = parse_choices(engine, "--engine", ENGINE_NAMES)
    if timing.measurement.breakdown and "eager" not in engines:
        raise ConfigError("--breakdown times each node of fpnprof's own executor: it needs the eager engine in --engine")
    if timing.allocator != "both":
        require_choice("allocator", timing.allocator, (*ALLOCATORS, "both"))
    allocators = list(ALLOCATORS) if timing.allocator == "both" else [timing.allocator]
    template = BenchSpec(
        config=configs[0][1], backend=backend, device=timing.device, threads=timing.threads, warmup=timing.warmup
    )
    swept = expand_sweep(configs, batches, sizes, parse_choices(part, "--part", PARTS), engines, template)
    specs = [replace(spec, allocator=a) for spec in swept for a in allocators]
    if plot is not None and len(batches) < 2 and len(sizes) < 2:  # the file itself: cli preflight
        raise ConfigError("--plot needs a sweep: give --size or --batch several values, e.g. --size 64,128,256")
    run = run_bench(specs, timing.measurement, baseline=baseline, on_progress=on_progress, peaks=timing.peaks)
    report = bench_report(run)
    if plot is not None:
        from fpnprof.report.plots import latency_plot

        with_plot(report, plot, lambda path: latency_plot(run.rows, path))
    if fail_if_slower is not None:
        apply_gate(report, run, fail_if_slower)
    return report


def apply_gate(report: Report, run: BenchRun, pct: float) -> int:
    """Judge every row against its baseline (:mod:`fpnprof.bench.gate`): the verdicts go first among
    the report's notes and into its JSON (``gate``); returns the exit code (0, 1 slower, 3 inconclusive)."""
    from fpnprof.bench.gate import exit_code, gate_rows

    if not 0 <= pct < 1000:
        raise ConfigError(f"--fail-if-slower is a percentage from 0, got {pct:g}")
    verdicts = gate_rows(run.rows, pct, run.seconds)
    if not verdicts:
        raise ConfigError("--fail-if-slower needs a row to judge against a baseline: give two necks, or --against OLD")
    code = exit_code(verdicts)
    report.data["gate"] = {"fail_if_slower_pct": pct, "exit_code": code, "verdicts": [v.as_dict() for v in verdicts]}
    report.notes[:0] = [f"gate: {v.line()}" for v in verdicts]
    return code


def run_peak(*, device: str, backend: str, dtype: str, threads: int) -> Report:
    """Matmul GFLOP/s and copy GB/s in the framework, in a worker with the bench's thread settings."""
    from fpnprof.backends.registry import check_device, check_dtype, resolve_backend
    from fpnprof.bench.launch import measure_peak
    from fpnprof.bench.spec import effective_threads

    backend = resolve_backend(backend, device)
    check_dtype(backend, device, dtype)
    check_device(backend, device)
    if threads < 0:
        raise ConfigError("--threads must be >= 0")
    result = measure_peak(backend, device, effective_threads(threads), dtype)
    row = {
        "backend": backend,
        "device": device,
        "device_name": result["device_name"],
        "dtype": dtype,
        "threads": result["threads"],
        "matmul_gflops": result["matmul_gflops"],
        "copy_gbytes_per_s": result["copy_gbytes_per_s"],
        "ridge": result["matmul_gflops"] / result["copy_gbytes_per_s"],
        "framework": result["framework"],
    }
    columns = [
        Column("backend", "backend"),
        Column("device_name", "device"),
        Column("dtype", "dtype"),
        Column("threads", "threads", "int"),
        Column("matmul_gflops", "matmul GFLOP/s", "float"),
        Column("copy_gbytes_per_s", "copy GB/s", "float"),
        Column("ridge", "ridge FLOP/B", "float"),
    ]
    notes = [
        f"{result['framework']}; matmul {result['matmul_n']}x{result['matmul_n']} (2n^3 FLOPs), copy "
        f"{result['copy_mib']:.0f} MiB (bytes read + written); each the fastest of {result['runs']} runs after a warm-up. "
        "A kernel whose FLOPs per byte moved is under the ridge point is memory-bound."
    ]
    return Report(
        [Section("peaks measured on the spot", columns, [row])], {"schema_version": 1, "peak": row, "raw": result}, notes
    )


def _latency(
    configs: list[Labeled], baseline: int, timing: Timing, on_progress: OnProgress | None
) -> tuple[list[NeckLatency], BenchRun]:
    """Eager and every deployed engine for every neck (the neck alone), paired in one run; per
    neck, eager and the fastest deployed engine, each with its ratio to the baseline neck's."""
    from fpnprof.backends.registry import backend_info, resolve_backend
    from fpnprof.bench.runner import run_bench
    from fpnprof.bench.spec import BenchSpec
    from fpnprof.report.compare_latency import NeckLatency

    backend, device = resolve_backend(timing.backend, timing.device), timing.device
    specs = [
        BenchSpec(
            config=cfg,
            part="neck",
            backend=backend,
            device=device,
            engine=e,
            threads=timing.threads,
            warmup=timing.warmup,
            label=label,
        )
        for label, cfg in configs
        for e in backend_info(backend).compare_engines(device)
    ]
    base_label, base_cfg = configs[baseline]
    run = run_bench(specs, timing.measurement, baseline=(base_label, base_cfg.variant), on_progress=on_progress, peaks=False)
    rows = run.rows
    failed = [r for r in rows if r.get("error")]
    if failed:
        raise BackendUnavailable(f"{failed[0]['neck']} {failed[0]['engine']}: {failed[0]['error']}")
    mine = [[r for r in rows if (r["neck"], r["config"]["variant"]) == (label, cfg.variant)] for label, cfg in configs]
    return [NeckLatency.from_rows(m) for m in mine], run


def run_compare(
    configs: list[Labeled],
    *,
    baseline: str | None = None,
    bench: Timing | None = None,
    plot: Path | None = None,
    on_progress: OnProgress | None = None,
    fail_if_slower: float | None = None,
) -> Report:
    """Analytic numbers side by side as ratios to ``baseline``; with ``bench``, latency too (and with
    ``fail_if_slower``, every row judged against the baseline neck's)."""
    if fail_if_slower is not None and bench is None:
        raise ConfigError("--fail-if-slower judges measured latency: add --bench")
    from fpnprof.report.compare_report import compare_report

    profiles = [profile_graph(cfg, build_graph(cfg)) for _, cfg in configs]
    names = [label for label, _ in configs]
    if baseline is not None and baseline not in names:
        raise ConfigError(f"--baseline {baseline!r} is not among the compared necks ({', '.join(dict.fromkeys(names))})")
    index = names.index(baseline) if baseline is not None else 0
    latency, run = _latency(configs, index, bench, on_progress) if bench else (None, None)
    report = compare_report(profiles, names, index, latency, run)
    if fail_if_slower is not None and run is not None:
        apply_gate(report, run, fail_if_slower)
    if plot is not None:
        from fpnprof.model.setups import row_label
        from fpnprof.report.plots import macs_stacked_plot

        shown = [row_label(name, p.config) for name, p in zip(names, profiles, strict=True)]
        with_plot(report, plot, lambda path: macs_stacked_plot(profiles, path, shown))
    return report


def run_graph(cfg: NeckConfig, *, fmt: str, part: str) -> str:
    from fpnprof.model.config import require_choice
    from fpnprof.model.parts import PARTS, part_graph
    from fpnprof.report.draw import DRAW_FORMATS, draw

    if fmt not in DRAW_FORMATS:
        raise ConfigError(f"graph draws {' or '.join(DRAW_FORMATS)}, not {fmt!r}")
    require_choice("part", part, PARTS)
    return draw(part_graph(cfg, part), fmt)


def neck_defaults() -> list[dict[str, Any]]:
    """Every built-in neck (per variant) and shipped neck file with the setup it runs at when
    --levels, --min-level, --channels and --cells are not typed."""
    from fpnprof.model.config import NeckConfig as Config
    from fpnprof.model.neckfile import shipped_files
    from fpnprof.model.necks import neck_spec

    rows = []
    for name in [*NECKS, *shipped_files()]:
        spec = neck_spec(name)
        for variant in spec.variants:
            d = spec.defaults_for(variant)
            min_level, levels = spec.level_span(variant)
            cfg = Config(name, variant=variant, min_level=min_level, levels=levels, channels=d.get("channels", 256))
            rows.append(
                {
                    "neck": name,
                    "variant": "-" if spec.source else variant,
                    "levels": f"P{cfg.min_level}-P{cfg.max_level}" + (" (fixed)" if spec.fixed_levels else ""),
                    "channels": None if spec.fixed_widths else cfg.channels,
                    "cells": d.get("cells", 3) if spec.repeats else None,
                    "framework": spec.origin[0] if spec.origin else None,
                    "imported_from": spec.origin[1] if spec.origin else None,
                }
            )
    return rows


def run_list() -> Report:
    from fpnprof.backends.registry import BACKENDS
    from fpnprof.model.neckfile import shipped_files

    rows = [
        {"what": "neck", "values": ", ".join(NECKS)},
        {"what": "neck file", "values": ", ".join(shipped_files()) + " (shipped; or a path to your own)"},
        {"what": "variant", "values": ", ".join(VARIANTS)},
        {"what": "stem", "values": ", ".join(STEMS)},
        {"what": "backbone", "values": ", ".join(BACKBONES)},
        {"what": "backend", "values": ", ".join(BACKENDS)},
        *[
            {"what": f"engine ({backend.name}, {device})", "values": ", ".join(engines)}
            for backend in BACKENDS.values()
            for device, engines in backend.engines.items()
        ],
    ]
    defaults = neck_defaults()
    data = {
        "necks": list(NECKS),
        "neck_files": shipped_files(),
        "defaults": defaults,
        "variants": list(VARIANTS),
        "stems": list(STEMS),
        "backbones": list(BACKBONES),
        "backends": list(BACKENDS),
        "engines": {backend.name: dict(backend.engines) for backend in BACKENDS.values()},
    }
    default_columns = [
        Column("neck", "neck", "text"),
        Column("variant", "variant"),
        Column("levels", "levels"),
        Column("channels", "C", "int"),
        Column("cells", "cells", "int"),
    ]
    imported = [row for row in defaults if row["imported_from"]]
    origin_columns = [Column("neck", "neck", "text"), Column("framework", "from"), Column("imported_from", "source", "text")]
    return Report(
        [
            Section("fpnprof knows", [Column("what", "kind"), Column("values", "choices", "text")], rows),
            Section(
                "each neck's defaults, used wherever --levels, --min-level, --channels or --cells is not typed",
                default_columns,
                defaults,
            ),
            Section("shipped necks imported from code (fpnprof import), proven against it", origin_columns, imported),
        ],
        data,
        [
            "cells '-': the neck is one pass, and --cells does not apply; fixed: its topology takes only those levels; "
            "C '-': its widths are its module's own."
        ],
    )


def run_sweep_command(
    bases: list[NeckConfig],
    axes: dict[str, list[int]],
    *,
    workers: int | None = None,
    bench: Timing | None = None,
    plot: Path | None = None,
    on_progress: OnProgress | None = None,
    on_priced: Callable[[SweepRow], None] | None = None,
    predictor: Predictor | None = None,
) -> Report:
    """Price the Cartesian product analytically (all cores) and mark the Pareto front of params
    against MACs; with ``bench``, time every neck too (eager, paired) and mark it against latency;
    with ``predictor``, mark it against predicted latency instead. ``on_priced`` gets each row as it
    is priced (streaming)."""
    import time

    from fpnprof.cost.sweep import expand, latency_key, mark_front, predicted_key, run_sweep
    from fpnprof.report.sweep_report import sweep_report

    configs, knob_notes = expand(bases, axes)
    if not configs:
        raise ConfigError("the sweep has no configuration fpnprof can take")
    start = time.perf_counter()
    progress = None
    if on_progress is not None:
        from fpnprof.bench.schedule import Progress

        def progress(done: int, total: int) -> None:
            elapsed = time.perf_counter() - start
            eta = elapsed / done * (total - done) if done else 0.0
            on_progress(Progress(done, total, eta, "pricing", "configurations"))

    rows = run_sweep(
        configs, workers=workers, on_row=progress, on_priced=on_priced, extra=predictor.row if predictor is not None else None
    )
    seconds = time.perf_counter() - start
    if bench is not None:
        rows = mark_front(_time_sweep(rows, bench, on_progress), latency_key)
    if predictor is not None:
        rows = mark_front(rows, predicted_key)
    report = sweep_report(
        rows,
        [a for a in axes if len(axes[a]) > 1],
        seconds,
        timed=bench is not None,
        predicted=predictor.setup_text if predictor is not None else None,
    )
    if predictor is not None and predictor.warning:
        report.notes.insert(0, predictor.warning)
    report.notes += knob_notes
    if plot is not None:
        from fpnprof.report.plots import pareto_plot

        with_plot(report, plot, lambda path: pareto_plot(rows, path))
    return report


def _time_sweep(rows: list[SweepRow], timing: Timing, on_progress: OnProgress | None) -> list[SweepRow]:
    """Each built configuration's neck, eager, timed side by side (paired rounds), every ratio to the
    first configuration narrowed to the precision."""
    from dataclasses import replace

    from fpnprof.backends.registry import resolve_backend
    from fpnprof.bench.runner import run_bench
    from fpnprof.bench.spec import BenchSpec

    backend = resolve_backend(timing.backend, timing.device)
    built = [i for i, r in enumerate(rows) if r.error is None]
    if not built:  # every configuration was refused: nothing to time, the refusals are the answer
        return list(rows)
    specs = [
        BenchSpec(
            config=rows[i].config,
            part="neck",
            backend=backend,
            device=timing.device,
            threads=timing.threads,
            warmup=timing.warmup,
            label=f"configuration {n + 1}",
        )
        for n, i in enumerate(built)
    ]
    measured = run_bench(specs, timing.measurement, on_progress=on_progress, peaks=False).rows
    out = list(rows)
    for i, m in zip(built, measured, strict=True):
        if "median_ms" in m:
            out[i] = replace(rows[i], latency_ms=m["median_ms"], latency_ci_pct=m["ci95_half_pct"])
        else:
            out[i] = replace(rows[i], error=m.get("error") or "not timed")
    return out


def run_conventions(cfg: NeckConfig, *, part: str = "neck", per_level: bool = False, measure: bool = False) -> Report:
    """Every counter's predicted count for the neck; with ``measure``, each installed counter run for real."""
    from fpnprof.cost.counters import COUNTERS, fpnprof_flops_by_op, predict
    from fpnprof.model.config import require_choice
    from fpnprof.model.parts import PARTS, part_graph
    from fpnprof.report.conventions_report import conventions_report

    require_choice("part", part, PARTS)
    graph = part_graph(cfg, part)
    p = profile_graph(cfg, graph)
    predictions = [predict(graph, c) for c in COUNTERS.values()]
    measured = _measure_counters(graph) if measure else None
    by_op = fpnprof_flops_by_op(p.nodes)
    by_level = {row.level: row.totals.flops for row in p.levels}
    return conventions_report(cfg, part, sum(by_op.values()), by_op, by_level, predictions, measured, per_level=per_level)


def _measure_counters(graph: Graph) -> dict[str, Measured]:
    """Each counter on its lowering: its total, or one line on why not."""
    from fpnprof.backends import load
    from fpnprof.backends.counting import CounterBroken, CounterMissing, measure
    from fpnprof.backends.registry import installed_version
    from fpnprof.cost.counters import COUNTERS
    from fpnprof.report.conventions_report import Measured

    load("torch")  # one clear error when torch is missing
    out = {}
    for key, c in COUNTERS.items():
        version = installed_version(c.package)
        try:
            out[key] = Measured(measure(key, graph), version)
        except CounterMissing:
            out[key] = Measured(None, None, "not installed: pip install 'fpnprof[counters]'")
        except CounterBroken as exc:
            out[key] = Measured(None, version, f"cannot run: {exc}")
        except Exception as exc:  # a counter that crashes gets one line, the others still run
            first = (str(exc).strip().splitlines() or [""])[0]
            out[key] = Measured(None, version, f"crashed: {type(exc).__name__}: {first}"[:120])
    return out
