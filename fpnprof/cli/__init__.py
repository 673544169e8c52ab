"""The ``fpnprof`` command line: thin Typer commands that parse, call one typed function in
:mod:`fpnprof.cli.commands`, and render. Options live in :mod:`fpnprof.cli.options`, output in
:mod:`fpnprof.cli.output`.

Importing this module never imports paddle or torch; commands that run a model import the
backend they need when they need it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from typer._click.globals import get_current_context

from fpnprof import __version__
from fpnprof.backends.registry import BACKEND_NAMES
from fpnprof.bench.kernels import NECK_RUNS
from fpnprof.cli.code_necks import load_code_neck
from fpnprof.cli.help import Command, Group, flow
from fpnprof.cli.history_cli import history_app, history_options
from fpnprof.cli.options import (
    NECK_NAMES,
    Against,
    Allocator,
    BackendOpt,
    Breakdown,
    Device,
    Dtype,
    F,
    FailIfSlower,
    ForceStored,
    Format,
    Neck,
    NeckList,
    NeckOptions,
    OnePart,
    Output,
    Save,
    Threads,
    TimingOptions,
    check_threads,
    completer,
    engine_names,
    neck_options,
    part_names,
    timing_options,
)
from fpnprof.cli.output import JsonLines, deliver, emit, guarded, on_sigterm_unwind, preflight, progress_display, save_json
from fpnprof.model import necks as neck_registry
from fpnprof.model.config import VARIANTS, require_choice
from fpnprof.model.necks import NECKS
from fpnprof.report import FORMATS
from fpnprof.report.model import Report

#: sweep's formats: the shared ones, and JSON Lines streamed as configurations are priced.
SWEEP_FORMATS = (*FORMATS, "jsonl")

#: The latency model's file and how strictly it must match this machine (calibrate, predict).


def _model_file(param: typer.CallbackParam, value: Path | None) -> Path | None:
    """--model names a file: a folder is refused before any work (calibrating takes minutes)."""
    if value is not None and value.is_dir():
        raise typer.BadParameter(f"{param.opts[0]} {value} is a folder: give the model's file, e.g. {value / 'model.json'}")
    return value


ModelPath = Annotated[
    Path | None,
    typer.Option(
        "--model",
        help="The latency model file (default: one per setup in the user's data directory).",
        metavar="PATH",
        callback=_model_file,
    ),
]
Force = Annotated[
    bool,
    typer.Option("--force", help="Use a model from another machine or framework version (every table warns).", metavar=""),
]
LatencyOpt = Annotated[
    str | None,
    typer.Option(
        help="predicted: add the latency model's predicted ms (fpnprof calibrate), marked predicted.",
        show_default=False,
        autocompletion=completer(lambda: ("predicted",)),
    ),
]
LatencyEngine = Annotated[
    str,
    typer.Option(
        "--latency-engine",
        help="With --latency predicted: the engine the model is for (eager; inference: Paddle Inference).",
        autocompletion=completer(engine_names),
    ),
]
OneEngine = Annotated[
    str,
    typer.Option(
        help="The engine the model is for: eager (kernels timed one by one), or a fusing one such as inference "
        "(Paddle Inference: kernels timed by its profiler, its fusion rules checked against its program); see fpnprof list.",
        autocompletion=completer(engine_names),
    ),
]


ClusterOpt = Annotated[
    str | None,
    typer.Option(
        "--cluster",
        help="Run on a Ray cluster (the cluster extra): ray, a local Ray instance; ray=ADDRESS, the cluster whose head is "
        "at HOST:PORT (or auto).",
        metavar="ray[=ADDRESS]",
        show_default=False,
    ),
]
NodeKind = Annotated[
    str | None,
    typer.Option(
        "--node-kind",
        help="With --cluster: only the nodes of this kind (the table names each kind).",
        metavar="KIND",
        show_default=False,
    ),
]

neck_registry.CODE_LOADER = load_code_neck  # a NECK written as file.py:NAME is imported on the fly

app = typer.Typer(
    name="fpnprof",
    help="Profile feature-pyramid necks over ResNet18: shapes, params, MACs, FLOPs and latency per pyramid level, proven "
    "against the frameworks. Necks: FPN, PAFPN and BiFPN (the seed tutorial's form and the papers'), NAS-FPN, a "
    "YOLOv5 PAN, RetinaNet, YOLOv8, PP-YOLOE and PicoDet necks, your own neck file (TOML), or your neck in code "
    "(fpnprof import).",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    cls=Group,
)


def command(name: str | None = None) -> Callable[[F], F]:
    """Register a command: its docstring is its help, reflowed (:func:`fpnprof.cli.help.flow`)."""

    def register(fn: F) -> F:
        registered: F = app.command(name, cls=Command, help=flow(fn.__doc__))(fn)
        return registered

    return register


def gate_exit(report: Report, fmt: str, output: Path | None) -> None:
    """After a gated run (--fail-if-slower): its verdict lines on stderr where the table's notes did not
    show them (another format, or a file), and its exit code (1 slower, 3 inconclusive)."""
    gate = report.data.get("gate")
    if not gate:
        return
    if fmt != "table" or output is not None:
        for line in report.notes:
            if line.startswith(("gate: ", "against run:")):
                typer.echo(line, err=True)
    if gate["exit_code"]:
        raise typer.Exit(gate["exit_code"])


def _version(value: bool) -> None:
    if value:
        typer.echo(f"fpnprof {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.", metavar="")
    ] = False,
) -> None:
    """Profile feature-pyramid necks over ResNet18."""


@command()
@guarded
@neck_options
def shapes(
    neck: Neck,
    opts: NeckOptions,
    detail: Annotated[
        bool, typer.Option("--detail", help="Add a row per node (the seed BiFPN's inner widths show here).", metavar="")
    ] = False,
    by_op: Annotated[bool, typer.Option("--by-op", help="Break MACs and FLOPs down by op type.", metavar="")] = False,
    verify: Annotated[
        bool, typer.Option("--verify", help="Build the model in a framework, run it, and fail if any number differs.", metavar="")
    ] = False,
    backend: Annotated[
        str,
        typer.Option(
            help="Framework for --verify: paddle or torch (torch also checks fvcore).",
            autocompletion=completer(lambda: BACKEND_NAMES),
        ),
    ] = "paddle",
    latency: LatencyOpt = None,
    latency_engine: LatencyEngine = "eager",
    threads: Annotated[
        int, typer.Option(help="With --latency predicted: the model's CPU threads (0 = all cores).", callback=check_threads)
    ] = 0,
    model: ModelPath = None,
    force: Force = False,
    fmt: Format = "table",
    output: Output = None,
) -> None:
    """Shapes, params, MACs, FLOPs and activation memory per pyramid level, computed analytically.

    Examples:

      fpnprof shapes fpn

      fpnprof shapes bifpn --levels 6 --cells 5 --detail

      fpnprof shapes bifpn --variant paper --stem imagenet --size 512 --batch 1

      fpnprof shapes pafpn --verify --backend torch --format json

      fpnprof shapes nasfpn.toml --verify --backend torch

      fpnprof shapes my_neck.toml --channels 128 --cells 2

      fpnprof shapes bifpn --variant paper --latency predicted --backend torch
    """
    from fpnprof.backends.registry import BACKEND_NAMES
    from fpnprof.cli.commands import run_shapes

    preflight(fmt, output)
    require_choice("backend", backend, BACKEND_NAMES)
    cfg = opts.config(neck)
    predictor = predictor_for(latency, backend, "cpu", latency_engine, threads, model, force)
    report = run_shapes(cfg, detail=detail, by_op=by_op, verify_with=backend if verify else None)
    if predictor is not None:
        predictor.add_to(report, [(neck, cfg)])
    emit(report, fmt, output)


@command()
@guarded
@history_options("bench")
@neck_options
@timing_options
def bench(
    necks: NeckList = None,
    *,
    opts: NeckOptions,
    timing_opts: TimingOptions,
    batch: Annotated[str, typer.Option(help="Batch size, or a sweep: 1,2,8.")] = "2",
    size: Annotated[str, typer.Option(help="Input side, or a sweep: 64,128,256.")] = "64",
    device: Device = "cpu",
    backend: BackendOpt = "auto",
    engine: Annotated[
        str,
        typer.Option(
            help="eager, static, inference (paddle); eager, compile, cudagraph (torch); or a comma list.",
            autocompletion=completer(engine_names),
        ),
    ] = "eager",
    dtype: Dtype = "fp32",
    threads: Threads = 0,
    part: Annotated[
        str, typer.Option(help="neck, backbone, total, or a comma list.", autocompletion=completer(part_names))
    ] = "neck,backbone,total",
    breakdown: Breakdown = False,
    no_peak: Annotated[
        bool,
        typer.Option("--no-peak", help="Skip the matmul and copy peaks (a ~5 s worker): no % peak column.", metavar=""),
    ] = False,
    allocator: Annotated[
        str,
        typer.Option(
            help="steady (a warm server's memory), default (a plain script's), or both (and their ratio).",
            autocompletion=completer(lambda: ("steady", "default", "both")),
        ),
    ] = "steady",
    plot: Annotated[Path | None, typer.Option(help="With a --batch or --size sweep: latency plot to FILE.png|svg.")] = None,
    against: Against = None,
    fail_if_slower: FailIfSlower = None,
    force: ForceStored = False,
    fmt: Format = "table",
    output: Output = None,
    save: Save = None,
) -> None:
    """Latency per neck, part and engine: a 95% interval for each, ratios to the first neck, % of peak.

    Rows are timed side by side in shuffled, interleaved rounds inside each worker process, so
    drift cancels from the ratios. Each worker is a fresh process with its own bias, so estimates
    and intervals come from the workers: more are started until every ratio's interval is within
    --precision, or --max-time is spent (then the ratio reads 'unresolved'). A neck listed twice
    is an A/A check: its ratio's interval should hold 1.00. Examples:

      fpnprof bench fpn pafpn bifpn --variant paper --part neck

      fpnprof bench fpn fpn --part neck --size 32

      fpnprof bench --device gpu --engine eager,cudagraph --part neck

      fpnprof bench fpn bifpn --variant paper --part neck --breakdown

      fpnprof bench bifpn --variant paper --size 64,128,256 --plot latency.png

      fpnprof bench my.toml --against my.toml@main --fail-if-slower 5
    """
    from fpnprof.cli.against_run import check_before_timing, is_run_ref, judge_against_stored, stored_row
    from fpnprof.cli.commands import Timing, labels, run_bench_command
    from fpnprof.cli.options import parse_int_list, was_typed
    from fpnprof.errors import ConfigError

    preflight(fmt, output, plot, save=save)
    batches, sizes = parse_int_list(batch, "--batch"), parse_int_list(size, "--size")
    names = necks or list(NECKS)
    stored = None
    if against is not None:
        if not necks:
            raise ConfigError("--against judges NEW against OLD: give NEW, e.g. fpnprof bench my.toml --against my.toml@main")
        part = part if was_typed("part") else "neck"  # a neck's change: its own time, not the backbone's
        if is_run_ref(against):
            stored = stored_row(against, get_current_context().params.get("history"))
            check_before_timing(stored, against, backend=backend, device=device, threads=threads, force=force)
        elif against.startswith("run:"):
            raise ConfigError(f"--against {against}: a stored result is run:ID or run:ID:ROW, as fpnprof history lists them")
        else:
            names = [*names, against]
    configs = [
        (label, opts.config(n, batch=batches[0], size=sizes[0], dtype=dtype, several=against is not None))
        for label, n in zip(labels(names), names, strict=True)
    ]
    base = (configs[-1][0], configs[-1][1].variant) if against is not None and stored is None else None
    measurement = timing_opts.measurement(breakdown=breakdown)
    timing = Timing(backend, device, threads, timing_opts.warmup, measurement, not no_peak, allocator)
    with progress_display() as on_progress:
        report = run_bench_command(
            configs,
            batches=batches,
            sizes=sizes,
            part=part,
            engine=engine,
            timing=timing,
            plot=plot,
            on_progress=on_progress,
            baseline=base,
            fail_if_slower=None if stored is not None else fail_if_slower,
        )
    if stored is not None:
        seconds = float(report.data["run"]["seconds"])
        judge_against_stored(report, report.data["rows"], stored, str(against), fail_if_slower, force, seconds)
    emit(report, fmt, output, save)
    if report.data.get("failed"):
        raise typer.Exit(1)
    gate_exit(report, fmt, output)


@command()
@guarded
@history_options("compare", when="bench")
@neck_options
@timing_options
def compare(
    necks: NeckList = None,
    variant: Annotated[
        str, typer.Option(help="tutorial, paper or both.", autocompletion=completer(lambda: (*VARIANTS, "both")))
    ] = "tutorial",
    *,
    opts: NeckOptions,
    timing_opts: TimingOptions,
    baseline: Annotated[
        str | None, typer.Option(help="Neck the ratios are relative to (default: the first).", autocompletion=NECK_NAMES)
    ] = None,
    bench: Annotated[
        bool, typer.Option("--bench", help="Also time each neck: eager and its fastest deployed engine.", metavar="")
    ] = False,
    backend: BackendOpt = "auto",
    device: Annotated[
        str, typer.Option(help="With --bench: cpu or gpu.", autocompletion=completer(lambda: ("cpu", "gpu")))
    ] = "cpu",
    threads: Annotated[
        int, typer.Option(help="With --bench or --latency: CPU threads (0 = all cores).", callback=check_threads)
    ] = 0,
    breakdown: Breakdown = False,
    latency: LatencyOpt = None,
    latency_engine: LatencyEngine = "eager",
    model: ModelPath = None,
    force: Force = False,
    plot: Annotated[Path | None, typer.Option(help="Stacked per-level MACs per neck to FILE.png|svg.")] = None,
    fail_if_slower: FailIfSlower = None,
    fmt: Format = "table",
    output: Output = None,
    save: Save = None,
) -> None:
    """Which neck? Params, GMACs, GFLOPs and activation memory side by side, as ratios to a baseline.

    Examples:

      fpnprof compare

      fpnprof compare --variant both --stem imagenet --size 512 --batch 1

      fpnprof compare --variant paper --bench

      fpnprof compare fpn bifpn --variant paper --bench --breakdown -o necks.md

      fpnprof compare fpn-paper.toml nasfpn.toml yolov5-pan.toml --channels 128
    """
    from fpnprof.cli.commands import Timing, labels, run_compare
    from fpnprof.errors import ConfigError

    preflight(fmt, output, plot, save=save)
    if variant not in ("tutorial", "paper", "both"):
        raise ConfigError(f"--variant takes tutorial, paper or both, got {variant!r}")
    if breakdown and not bench:
        raise ConfigError("--breakdown goes with --bench")
    variants = ["tutorial", "paper"] if variant == "both" else [variant]
    names = necks or list(NECKS)
    # a neck file has one form: --variant both gives it one row, not two
    configs = list(
        dict.fromkeys(
            (label, opts.config(n, variant=v, several=len(names) > 1 or len(variants) > 1))
            for label, n in zip(labels(names), names, strict=True)
            for v in variants
        )
    )
    timing = Timing(backend, device, threads, timing_opts.warmup, timing_opts.measurement(breakdown=breakdown)) if bench else None
    predictor = predictor_for(latency, backend, device, latency_engine, threads, model, force)
    with progress_display() as on_progress:
        report = run_compare(
            configs, baseline=baseline, bench=timing, plot=plot, on_progress=on_progress, fail_if_slower=fail_if_slower
        )
    if predictor is not None:
        predictor.add_to(report, configs)
    emit(report, fmt, output, save)
    gate_exit(report, fmt, output)


@command()
@guarded
@neck_options
def conventions(
    neck: Neck,
    opts: NeckOptions,
    part: OnePart = "neck",
    per_level: Annotated[bool, typer.Option("--per-level", help="Add each counter's prediction per level.", metavar="")] = False,
    measure: Annotated[
        bool,
        typer.Option("--measure", help="Run every installed counter on its lowering and check each prediction.", metavar=""),
    ] = False,
    fmt: Format = "table",
    output: Output = None,
) -> None:
    """Which FLOPs? What fvcore, torch's FlopCounterMode, thop, ptflops, DeepSpeed's profiler and
    paddle.flops report for a neck, each set against fpnprof's FLOPs op by op, predicted without a
    framework.

    Examples:

      fpnprof conventions bifpn --variant paper --size 512 --batch 1

      fpnprof conventions nasfpn.toml --per-level

      fpnprof conventions fpn --measure --format json
    """
    from fpnprof.cli.commands import run_conventions

    preflight(fmt, output)
    emit(run_conventions(opts.config(neck), part=part, per_level=per_level, measure=measure), fmt, output)


@command()
@guarded
@neck_options
def graph(
    neck: Neck,
    opts: NeckOptions,
    part: OnePart = "neck",
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="mermaid or dot.", autocompletion=completer(lambda: ("mermaid", "dot")))
    ] = "mermaid",
    output: Output = None,
) -> None:
    """Draw the topology: nodes grouped by level, one edge per input, the op and fusion on each node.

    Examples:

      fpnprof graph bifpn --variant paper --levels 5 --cells 1

      fpnprof graph pafpn -f dot -o pafpn.dot

      (then draw it with Graphviz: dot -Tsvg pafpn.dot > pafpn.svg)
    """
    from fpnprof.cli.commands import run_graph
    from fpnprof.report.draw import DRAW_FORMATS

    preflight(fmt, output, formats=DRAW_FORMATS)
    cfg = opts.config(neck)
    text = run_graph(cfg, fmt=fmt, part=part)
    deliver(text, output)


@command()
@guarded
@history_options("peak")
def peak(
    device: Device = "cpu",
    backend: BackendOpt = "auto",
    dtype: Dtype = "fp32",
    threads: Threads = 0,
    fmt: Format = "table",
    output: Output = None,
    save: Save = None,
) -> None:
    """The machine's peaks, measured now in the framework: matmul GFLOP/s and copy GB/s.

    Every bench measures the same pair before and after its rounds (the drift probe) and shows
    each row's GFLOP/s as a % of the matmul peak. Examples:

      fpnprof peak

      fpnprof peak --device gpu --dtype bf16 --format json
    """
    from fpnprof.cli.commands import run_peak

    preflight(fmt, output, save=save)
    emit(run_peak(device=device, backend=backend, dtype=dtype, threads=threads), fmt, output, save)


@command()
@guarded
@history_options("sweep", when="bench")
@neck_options
@timing_options
def sweep(
    necks: NeckList = None,
    *,
    opts: NeckOptions,
    timing_opts: TimingOptions,
    channels: Annotated[
        str | None, typer.Option(help="Neck widths, e.g. 64,88,112,160 (default: each neck's own).", show_default=False)
    ] = None,
    cells: Annotated[
        str | None, typer.Option(help="Cells of a repeating neck, e.g. 3,4,5,6 (default: each neck's own).", show_default=False)
    ] = None,
    levels: Annotated[
        str | None, typer.Option(help="Output levels, e.g. 4,5 (default: each neck's).", show_default=False)
    ] = None,
    size: Annotated[str, typer.Option(help="Input sides, e.g. 64,128,256.")] = "64",
    workers: Annotated[int, typer.Option(help="Processes pricing the configurations (0 = every core).")] = 0,
    bench: Annotated[
        bool,
        typer.Option(
            "--bench", help="Also time every neck (eager, side by side) and mark the front against latency.", metavar=""
        ),
    ] = False,
    latency: LatencyOpt = None,
    latency_engine: LatencyEngine = "eager",
    model: ModelPath = None,
    force: Force = False,
    backend: BackendOpt = "auto",
    device: Device = "cpu",
    threads: Threads = 0,
    plot: Annotated[Path | None, typer.Option(help="GMACs against params, the front drawn, to FILE.png|svg.")] = None,
    cluster: ClusterOpt = None,
    node_kind: NodeKind = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help=f"Output format: {', '.join(SWEEP_FORMATS)}. jsonl streams one JSON row per configuration as it is "
            "priced, then a last line with the Pareto front.",
            autocompletion=completer(lambda: SWEEP_FORMATS),
        ),
    ] = "table",
    output: Output = None,
    save: Save = None,
) -> None:
    """Design sweep: every combination of the given widths, cells, levels and sizes, priced
    analytically on every core, with the MACs-vs-params Pareto front marked.

    Examples:

      fpnprof sweep bifpn --variant paper --channels 64,88,112,160 --cells 3,4,5,6

      fpnprof sweep fpn pafpn --variant paper --channels 64,128,256 --plot f.png

      fpnprof sweep bifpn --variant paper --channels 64,128 --cells 2,3 --bench

      fpnprof sweep nasfpn.toml my_neck.toml --channels 64,128,256 -f jsonl

      fpnprof sweep bifpn --variant paper --channels 32,64,96 --latency predicted

      fpnprof sweep fpn --channels 32,64,96 --bench --cluster ray=10.0.0.5:6379

    With --cluster the configurations go out as Ray tasks, each group timed side by side with the
    first configuration on a node it has to itself; each group's results are stored as they come
    in (the run history, or --save FILE.jsonl), and the same command run again measures only what
    is missing. The table has a section per node kind: ratios and fronts never cross kinds.
    """
    from fpnprof.cli.cluster_commands import check_cluster_options
    from fpnprof.cli.commands import Timing, run_sweep_command
    from fpnprof.cli.options import parse_int_list
    from fpnprof.errors import ConfigError

    preflight(fmt, output, plot, formats=SWEEP_FORMATS, save=save)
    check_cluster_options(cluster, node_kind, bench=bench, plot=plot)
    if fmt == "jsonl" and bench:
        raise ConfigError("--format jsonl streams the analytic rows; with --bench use json")
    if workers < 0:
        raise ConfigError(f"--workers must be 0 (every core) or more, got {workers}")
    if latency and bench:
        raise ConfigError("--latency predicted and --bench each mark a latency front: choose one")
    predictor = predictor_for(latency, backend, device, latency_engine, threads, model, force)
    # an axis not typed is left out: each neck keeps its own value (its defaults, as in every command)
    typed = {"channels": channels, "cells": cells, "levels": levels, "size": size}
    axes = {axis: parse_int_list(text, f"--{axis}") for axis, text in typed.items() if text is not None}
    names = necks or list(NECKS)
    firsts = {axis: values[0] for axis, values in axes.items() if axis != "levels"}
    bases = [opts.config(n, **firsts, several=len(names) > 1) for n in names]
    stream = JsonLines(output) if fmt == "jsonl" else None
    timing = Timing(backend, device, threads, timing_opts.warmup, timing_opts.measurement()) if bench else None
    if cluster is not None and timing is not None:
        from fpnprof.cli.cluster_commands import result_store, run_sweep_on_cluster
        from fpnprof.cli.history_cli import command_line, take_pending
        from fpnprof.cluster.store import JsonlResults

        pending = take_pending()  # stored a group at a time below, never again as a whole
        store = result_store(save, pending.path if pending else None, pending is not None)
        with progress_display() as on_progress:
            report = run_sweep_on_cluster(
                bases,
                axes,
                timing=timing,
                cluster=cluster,
                node_kind=node_kind,
                store=store,
                argv=command_line(),
                workers=workers or None,
                on_progress=on_progress,
            )
        emit(report, fmt, output, None if isinstance(store, JsonlResults) else save)
        return
    with progress_display() as on_progress:
        report = run_sweep_command(
            bases,
            axes,
            workers=workers or None,
            bench=timing,
            plot=plot,
            on_progress=on_progress,
            on_priced=stream.row if stream else None,
            predictor=predictor,
        )
    if stream is not None:
        stream.close(report)
        save_json(report, save)
    else:
        emit(report, fmt, output, save)


def predictor_for(
    latency: str | None, backend: str, device: str, engine: str, threads: int, model: Path | None, force: bool
) -> Any:
    """The latency model for ``--latency predicted`` (None without it)."""
    if latency is None:
        return None
    from fpnprof.cli.latency_commands import Predictor, Setup
    from fpnprof.errors import ConfigError

    if latency != "predicted":
        raise ConfigError(f"--latency takes predicted, got {latency!r} (to measure, use --bench or fpnprof bench)")
    return Predictor.load(Setup.resolve(backend, device, engine, threads), model, force)


@command()
@guarded
@history_options("validate", when="validate")
def calibrate(
    backend: BackendOpt = "auto",
    device: Device = "cpu",
    engine: OneEngine = "eager",
    threads: Threads = 0,
    allocator: Allocator = "steady",
    model: ModelPath = None,
    necks: Annotated[
        int,
        typer.Option(
            help="Random calibration necks: configurations of the shipped necks (eager: a quarter neck files); the "
            "shipped necks' defaults and EfficientDet D1-D3's BiFPN are timed besides."
        ),
    ] = 32,
    budget: Annotated[float, typer.Option(help="Seconds to spend at most, roughly; more kernel samples while it lasts.")] = 300.0,
    seed: Annotated[int, typer.Option(help="Seed of the kernel shapes and calibration necks.")] = 0,
    validate: Annotated[
        bool, typer.Option("--validate", help="Check the saved model on held-out necks instead of calibrating.", metavar="")
    ] = False,
    held_out: Annotated[
        int | None,
        typer.Option("--held-out", help="With --validate: necks to time (50; with --shifted 24).", show_default=False),
    ] = None,
    runs: Annotated[int, typer.Option(help="With --validate: timed runs per neck (their median).")] = NECK_RUNS,
    shifted: Annotated[
        bool,
        typer.Option(
            "--shifted",
            help="With --validate: time necks calibration never draws (asked-about necks, EfficientDet widths, "
            "channels off x16, batch 1-8) with bench instead, inside and past the fitted ranges apart.",
            metavar="",
        ),
    ] = False,
    max_time: Annotated[
        float, typer.Option("--max-time", help="With --validate --shifted: seconds bench measures at most.")
    ] = 600.0,
    cluster: ClusterOpt = None,
    node_kind: NodeKind = None,
    force: Force = False,
    fmt: Format = "table",
    output: Output = None,
    save: Save = None,
) -> None:
    """Fit a latency model of this machine: time kernels of every op class on sampled shapes and
    random necks, fit each class (fixed cost + FLOPs / rate + bytes / bandwidth), bound it, save it.
    Then `fpnprof predict` prices any neck in milliseconds without timing it.

    Examples:

      fpnprof calibrate --backend torch

      fpnprof calibrate --backend torch --validate --held-out 50

      fpnprof calibrate --backend torch --validate --shifted

      fpnprof calibrate --backend paddle --threads 1 --model my-model.json

      fpnprof calibrate --backend paddle --engine inference --threads 2

      fpnprof calibrate --backend torch --cluster ray=10.0.0.5:6379

    With --cluster, one model per node kind, each calibrated on a node of that kind and saved here
    under the kind's name; predict then picks the model of the kind it runs on, or --node-kind's.
    """
    from fpnprof.cli.cluster_commands import check_node_kind_has_cluster
    from fpnprof.cli.latency_commands import Setup, run_calibrate, run_calibrate_on_cluster, run_shifted, run_validate
    from fpnprof.errors import ConfigError

    if shifted and not validate:
        raise ConfigError("--shifted goes with --validate: fpnprof calibrate --validate --shifted")
    if cluster is not None and validate:
        raise ConfigError(
            "--validate checks the model of the machine it runs on: run it on a node of each kind "
            "(calibrate --cluster makes the models)"
        )
    if cluster is not None and model is not None:
        raise ConfigError("--model names one file; calibrate --cluster saves one model per node kind, beside the default file")
    check_node_kind_has_cluster(cluster, node_kind)
    preflight(fmt, output, save=save)
    setup = Setup.resolve(backend, device, engine, threads, allocator)
    with progress_display() as on_progress:
        if cluster is not None:
            report = run_calibrate_on_cluster(
                setup, cluster, node_kind, necks=necks, budget_s=budget, seed=seed, threads=threads, on_progress=on_progress
            )
        elif validate and shifted:
            count = 24 if held_out is None else held_out
            report = run_shifted(setup, model, necks=count, max_time_s=max_time, force=force, on_progress=on_progress)
        elif validate:
            count = 50 if held_out is None else held_out
            report = run_validate(setup, model, necks=count, runs=runs, force=force, on_progress=on_progress)
        else:
            report = run_calibrate(setup, model, necks=necks, budget_s=budget, seed=seed, on_progress=on_progress)
    emit(report, fmt, output, save)


@command()
@guarded
@history_options("predict")
@neck_options
def predict(
    necks: NeckList = None,
    *,
    opts: NeckOptions,
    part: OnePart = "neck",
    backend: BackendOpt = "auto",
    device: Device = "cpu",
    engine: OneEngine = "eager",
    threads: Threads = 0,
    allocator: Allocator = "steady",
    model: ModelPath = None,
    node_kind: Annotated[
        str | None,
        typer.Option(
            "--node-kind",
            help="The model calibrate --cluster made for this node kind (default: this machine's kind's, where there is "
            "no model of this machine).",
            metavar="KIND",
            show_default=False,
        ),
    ] = None,
    force: Force = False,
    fmt: Format = "table",
    output: Output = None,
    save: Save = None,
) -> None:
    """Predicted latency, per level and in all, from this machine's latency model (fpnprof calibrate),
    with its interval: no neck is run. Marked "predicted" everywhere; time a neck with fpnprof bench.

    Examples:

      fpnprof predict bifpn --variant paper --backend torch

      fpnprof predict fpn pafpn bifpn --channels 128 --backend torch -f json

      fpnprof predict bifpn --backend torch --node-kind k3f2a9c1b2e
    """
    from fpnprof.cli.commands import labels
    from fpnprof.cli.latency_commands import Setup, run_predict
    from fpnprof.errors import ConfigError

    preflight(fmt, output, save=save)
    if model is not None and node_kind is not None:
        raise ConfigError("--model and --node-kind each name the model: give one")
    setup = Setup.resolve(backend, device, engine, threads, allocator)
    names = necks or list(NECKS)
    configs = [(label, opts.config(n, several=len(names) > 1)) for label, n in zip(labels(names), names, strict=True)]
    emit(run_predict(configs, part, setup, model, force, node_kind), fmt, output, save)


@command("import")
@guarded
def import_(
    source: Annotated[
        str,
        typer.Argument(
            metavar="SOURCE",
            help="path/to/file.py:NAME or package.module:NAME: a torch nn.Module or Paddle nn.Layer class, or a factory.",
        ),
    ],
    in_channels: Annotated[
        str,
        typer.Option("--in-channels", help="Channels of each level the forward takes, from --min-level up: e.g. 128,256,512."),
    ],
    kwargs: Annotated[
        str | None, typer.Option("--kwargs", help="Keyword arguments for the class or factory, as a JSON object.", metavar="JSON")
    ] = None,
    min_level: Annotated[int, typer.Option("--min-level", help="The level of the forward's first input (C3: 3).")] = 3,
    size: Annotated[int, typer.Option(help="Image side the input sides come from (as fpnprof shapes gives them).")] = 64,
    stem: Annotated[str, typer.Option(help="tutorial or imagenet: the stem the input sides come from.")] = "tutorial",
    batch: Annotated[int, typer.Option(help="Batch of the traced inputs.")] = 1,
    name: Annotated[str | None, typer.Option(help="The neck's name in titles (default: NAME).")] = None,
    description: Annotated[
        str | None, typer.Option(help="One line on what it is, printed under shapes' table (default: where it came from).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the neck file here (default: print it).", metavar="FILE.toml")
    ] = None,
) -> None:
    """Read a neck written in code into a neck file, proven against the code before it is written.

    The class or factory is called with --kwargs; its forward gets one tensor per level (a list,
    or one argument each, as its signature says) with the --in-channels given, at the sides
    fpnprof's backbone gives for --size and --stem; it returns one tensor per output level.
    torch modules are traced with torch.export (torch.fx where export cannot), Paddle layers with
    paddle.jit.to_static. Every op must map to fpnprof's op registry, and fpnprof's own lowering,
    with the source's weights, must compute the source's outputs (float64, relative error under
    1e-6), with the same parameter count (and fvcore MACs, for torch); else nothing is written:
    one line says where they differ, exit 1. An op outside the registry: one line, exit 2.

    Importing runs the source's Python code, as importing it yourself would. The neck file it
    writes is data: every command reads it without running the code. Any command also takes
    file.py:NAME as its NECK (imported on the fly with --kwargs).

    Examples:

      fpnprof import necks.py:MyFPN --in-channels 128,256,512 -o my_fpn.toml

      fpnprof shapes my_fpn.toml

      fpnprof shapes necks.py:MyFPN --kwargs '{"out_channels": 128}'

      fpnprof compare fpn my_fpn.toml --min-level 3 --levels 5
    """
    from fpnprof.backends.importing import ImportRequest, run_import
    from fpnprof.cli.options import parse_int_list

    require_choice("stem", stem, ("tutorial", "imagenet"))
    preflight("toml", output, formats=("toml",))
    request = ImportRequest(
        source=source,
        in_channels=tuple(parse_int_list(in_channels, "--in-channels")),
        kwargs=kwargs,
        min_level=min_level,
        size=size,
        stem=stem,
        batch=batch,
        name=name,
        description=description,
    )
    imported = run_import(request)
    typer.echo(f"proven: {imported.proof_line}", err=True)
    deliver(imported.text, output)


@command("list")
@guarded
def list_(fmt: Format = "table", output: Output = None) -> None:
    """Necks, variants, stems, backends and engines fpnprof knows.

    Example:

      fpnprof list
    """
    from fpnprof.cli.commands import run_list

    preflight(fmt, output)
    emit(run_list(), fmt, output)


app.add_typer(history_app, name="history")


def main() -> None:
    on_sigterm_unwind()
    app()
