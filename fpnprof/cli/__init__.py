"""The ``fpnprof`` command line: thin Typer commands, each calling one typed function.

Importing this module never imports paddle or torch; commands that run a model import the
backend they need when they need it.
"""

from __future__ import annotations

import functools
import inspect
import os
import shutil
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from fpnprof import __version__
from fpnprof.errors import FpnprofError
from fpnprof.model.config import BACKBONES, DTYPE_BYTES, STEMS, VARIANTS, NeckConfig, parse_in_channels, require_choice
from fpnprof.model.necks import NECKS, check_neck_name, neck_names_text
from fpnprof.report import FORMATS, render
from fpnprof.report.files import check_writable, write_atomic
from fpnprof.report.model import Report

if TYPE_CHECKING:
    from fpnprof.bench.runner import Progress

app = typer.Typer(
    name="fpnprof",
    help="Profile feature-pyramid necks (FPN, PAFPN, BiFPN) over ResNet18: shapes, params, MACs, FLOPs, latency.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)

F = TypeVar("F", bound=Callable[..., Any])


def guarded(fn: F) -> F:
    """Turn fpnprof's errors into one line on stderr and exit code 2, Ctrl-C into exit 130 (never a traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except FpnprofError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            typer.echo("interrupted: nothing written", err=True)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


# Shell completion (fpnprof --install-completion) -------------------------------------------
def completer(choices: Callable[[], Sequence[str]]) -> Callable[[str], list[str]]:
    """Complete a value, or the last item of a comma list, from ``choices()``."""

    def complete(incomplete: str) -> list[str]:
        head, _, last = incomplete.rpartition(",")
        prefix = f"{head}," if head else ""
        return [prefix + c for c in choices() if c.startswith(last)]

    return complete


def _necks() -> list[str]:
    return list(NECKS)


def _engines() -> list[str]:
    from fpnprof.bench.spec import ENGINES

    return list(dict.fromkeys(e for per in ENGINES.values() for es in per.values() for e in es))


def _parts() -> list[str]:
    from fpnprof.model.parts import PARTS

    return list(PARTS)


NECK_NAMES = completer(_necks)


# Options shared by every command that builds a neck ---------------------------------------
Device = Annotated[str, typer.Option(help="cpu or gpu.", autocompletion=completer(lambda: ("cpu", "gpu")))]
Dtype = Annotated[
    str,
    typer.Option(
        help="fp32, tf32, bf16 or fp16, where the device supports it.", autocompletion=completer(lambda: list(DTYPE_BYTES))
    ),
]
Threads = Annotated[int, typer.Option(help="CPU threads (0 = all cores).")]
Variant = Annotated[
    str,
    typer.Option(
        help=f"Structure: {' or '.join(VARIANTS)} (the seed's, or the papers').", autocompletion=completer(lambda: VARIANTS)
    ),
]
Levels = Annotated[
    int | None,
    typer.Option(
        help="Output levels N: P(min)..P(min+N-1). Default: "
        + ", ".join(f"{name} {spec.default_levels}" for name, spec in NECKS.items())
        + ".",
        show_default=False,
    ),
]
MinLevel = Annotated[int, typer.Option("--min-level", help="Lowest output level (2 = C2's resolution).")]
Channels = Annotated[int, typer.Option(help="Neck width C.")]
Cells = Annotated[int, typer.Option(help="BiFPN cells (repeats).")]
Batch = Annotated[int, typer.Option(help="Batch size.")]
Size = Annotated[int, typer.Option(help="Input image side (square).")]
Stem = Annotated[
    str,
    typer.Option(
        help=f"ResNet18 stem: {' or '.join(STEMS)} (3x3/s1 as in the seed, or 7x7/s2 + max pool).",
        autocompletion=completer(lambda: STEMS),
    ),
]
Backbone = Annotated[
    str,
    typer.Option(
        help=f"{' or '.join(BACKBONES)}; 'none' profiles the neck alone on --in-channels.",
        autocompletion=completer(lambda: BACKBONES),
    ),
]
InChannels = Annotated[
    str | None, typer.Option("--in-channels", help="With --backbone none: channels of C2,C3,... e.g. 256,512,1024,2048.")
]
Format = Annotated[
    str, typer.Option("--format", "-f", help=f"Output format: {', '.join(FORMATS)}.", autocompletion=completer(lambda: FORMATS))
]
Output = Annotated[Path | None, typer.Option("--output", "-o", help="Write the result to FILE (atomically) instead of stdout.")]
BackendOpt = Annotated[
    str,
    typer.Option(
        help="auto, paddle or torch. auto: paddle where it can run on the --device, else torch.",
        autocompletion=completer(lambda: ("auto", "paddle", "torch")),
    ),
]
Isolated = Annotated[
    bool,
    typer.Option(help="Time every row in its own worker processes instead of side by side (unpaired ratios).", metavar=""),
]
Breakdown = Annotated[
    bool,
    typer.Option(help="Eager rows: time every node; per level and op: ms, GFLOP/s, bytes, compute- or memory-bound.", metavar=""),
]


class NeckOptions:
    """The shared neck options as typed on the command line (declared once: :data:`SHARED_OPTIONS`)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def config(self, neck: str, **overrides: Any) -> NeckConfig:
        """A validated :class:`NeckConfig`; a command passes the options it owns (e.g. bench's batch
        and size sweeps, compare's variant) as ``overrides``."""
        neck = check_neck_name(neck)
        fields = {**self.values, **{k: v for k, v in overrides.items() if v is not None}}
        parsed = parse_in_channels(fields.pop("in_channels", None))
        if parsed is not None:
            fields["in_channels"] = parsed
        if fields.get("levels") is None:
            fields["levels"] = NECKS[neck].default_levels
        return NeckConfig(neck=neck, **fields)


#: The shared options: name -> (annotation, default). A command that declares one itself keeps its own.
SHARED_OPTIONS: dict[str, tuple[Any, Any]] = {
    "variant": (Variant, "tutorial"),
    "levels": (Levels, None),
    "min_level": (MinLevel, 2),
    "channels": (Channels, 256),
    "cells": (Cells, 3),
    "batch": (Batch, 2),
    "size": (Size, 64),
    "stem": (Stem, "tutorial"),
    "backbone": (Backbone, "resnet18"),
    "in_channels": (InChannels, None),
}


def neck_options(fn: F) -> F:
    """Give a command the shared neck options: they appear in its signature (so Typer parses and
    documents them) after its arguments, and reach it as one ``opts: NeckOptions``."""
    own = inspect.signature(fn, eval_str=True).parameters
    shared = [name for name in SHARED_OPTIONS if name not in own]
    params = [p for p in own.values() if p.name != "opts"]
    arguments = [p for p in params if typer.models.ArgumentInfo in {type(m) for m in getattr(p.annotation, "__metadata__", ())}]
    injected = [
        inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, default=SHARED_OPTIONS[name][1], annotation=SHARED_OPTIONS[name][0]
        )
        for name in shared
    ]
    rest = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in params if p not in arguments]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        opts = NeckOptions({name: kwargs.pop(name) for name in shared})
        return fn(*args, opts=opts, **kwargs)

    wrapper.__signature__ = inspect.Signature([*arguments, *injected, *rest])  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in (*arguments, *injected, *rest)}
    return wrapper  # type: ignore[return-value]


def preflight(fmt: str, output: Path | None, plot: Path | None = None, formats: tuple[str, ...] = FORMATS) -> None:
    """Check the options that only matter at the end (format, files) before any work starts."""
    require_choice("format", fmt, formats)
    if output is not None:
        check_writable(output, "--output")
    if plot is not None:
        from fpnprof.report.plots import check_plot_path

        check_plot_path(plot)


def emit(report: Report, fmt: str, output: Path | None) -> None:
    require_choice("format", fmt, FORMATS)
    if output is not None:
        write_atomic(output, render(report, fmt, width=160))
        typer.echo(f"wrote {output}", err=True)
        return
    tty = sys.stdout.isatty()
    color = fmt == "table" and tty and "NO_COLOR" not in os.environ
    if os.environ.get("COLUMNS", "").isdigit():
        width = int(os.environ["COLUMNS"])
    else:
        width = shutil.get_terminal_size((160, 24)).columns if tty else 160
    typer.echo(render(report, fmt, color=color, width=width), nl=False)


@contextmanager
def progress_display() -> Iterator[Progress]:
    """A rich progress bar on stderr (terminals only) for the duration; yields its callback."""
    from rich.console import Console
    from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    console = Console(stderr=True)
    with Bar(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} workers"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as bar:
        task = bar.add_task("measuring", total=None)

        def on_progress(done: int, total: int, what: str) -> None:
            bar.update(task, completed=done, total=total, description=what)

        yield on_progress


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


@app.command()
@guarded
@neck_options
def shapes(
    neck: Annotated[str, typer.Argument(help=f"{neck_names_text()}.", autocompletion=NECK_NAMES)],
    opts: NeckOptions,
    detail: Annotated[
        bool, typer.Option(help="Add a row per node (the seed BiFPN's inner widths show here).", metavar="")
    ] = False,
    by_op: Annotated[bool, typer.Option("--by-op/--no-by-op", help="Break MACs and FLOPs down by op type.", metavar="")] = False,
    verify: Annotated[
        bool, typer.Option(help="Build the model in a framework, run it, and fail if any number differs.", metavar="")
    ] = False,
    backend: Annotated[
        str,
        typer.Option(
            help="Framework for --verify: paddle or torch (torch also checks fvcore).",
            autocompletion=completer(lambda: ("paddle", "torch")),
        ),
    ] = "paddle",
    fmt: Format = "table",
    output: Output = None,
) -> None:
    """Shapes, params, MACs, FLOPs and activation memory per pyramid level, computed analytically.

    Examples:

      fpnprof shapes fpn

      fpnprof shapes bifpn --levels 6 --cells 5 --detail

      fpnprof shapes bifpn --variant paper --stem imagenet --size 512 --batch 1 --min-level 3 --channels 64

      fpnprof shapes pafpn --verify --backend torch --format json
    """
    from fpnprof.backends import BACKENDS
    from fpnprof.cli.commands import run_shapes

    preflight(fmt, output)
    require_choice("backend", backend, tuple(BACKENDS))
    cfg = opts.config(neck)
    emit(run_shapes(cfg, detail=detail, by_op=by_op, verify_with=backend if verify else None), fmt, output)


@app.command()
@guarded
@neck_options
def bench(
    necks: Annotated[
        list[str] | None, typer.Argument(help="Necks to time (default: all).", show_default=False, autocompletion=NECK_NAMES)
    ] = None,
    *,
    opts: NeckOptions,
    batch: Annotated[str, typer.Option(help="Batch size, or a sweep: 1,2,8.")] = "2",
    size: Annotated[str, typer.Option(help="Input side, or a sweep: 64,128,256.")] = "64",
    device: Device = "cpu",
    backend: BackendOpt = "auto",
    engine: Annotated[
        str,
        typer.Option(
            help="eager, static, inference (paddle); eager, compile, cudagraph (torch). Comma list allowed.",
            autocompletion=completer(_engines),
        ),
    ] = "eager",
    dtype: Dtype = "fp32",
    threads: Threads = 0,
    part: Annotated[
        str, typer.Option(help="neck, backbone, total, or a comma list.", autocompletion=completer(_parts))
    ] = "neck,backbone,total",
    warmup: Annotated[int, typer.Option(help="Untimed runs first (at least 1; fewer once 0.5 s is spent).")] = 3,
    repeat: Annotated[int | None, typer.Option(help="Exactly this many timed runs (overrides --min-time).")] = None,
    min_time: Annotated[
        float, typer.Option("--min-time", help="Seconds of timed runs per row, split over --processes (>= 5 runs each).")
    ] = 2.0,
    processes: Annotated[int, typer.Option(help="Worker processes; their timing rounds are pooled.")] = 3,
    isolated: Isolated = False,
    breakdown: Breakdown = False,
    plot: Annotated[Path | None, typer.Option(help="With a --batch or --size sweep: latency plot to FILE.png|svg.")] = None,
    fmt: Format = "table",
    output: Output = None,
) -> None:
    """Latency per neck, part and engine: median with a 95% CI, ratios to the first neck, % of peak.

    Rows are timed side by side in shuffled, interleaved rounds inside each worker process (so
    machine drift cancels from the ratios), pooled over --processes workers. Examples:

      fpnprof bench fpn pafpn bifpn --variant paper --part neck

      fpnprof bench --device gpu --engine eager,cudagraph --part neck

      fpnprof bench fpn bifpn --variant paper --part neck --breakdown

      fpnprof bench bifpn --variant paper --size 64,128,256 --part total --plot latency.png
    """
    from fpnprof.bench.spec import parse_int_list
    from fpnprof.cli.commands import run_bench_command

    preflight(fmt, output, plot)
    batches, sizes = parse_int_list(batch, "--batch"), parse_int_list(size, "--size")
    configs = [opts.config(n, batch=batches[0], size=sizes[0], dtype=dtype) for n in (necks or list(NECKS))]
    with progress_display() as on_progress:
        report = run_bench_command(
            configs,
            batches=batches,
            sizes=sizes,
            part=part,
            engine=engine,
            device=device,
            backend=backend,
            threads=threads,
            warmup=warmup,
            repeat=repeat,
            min_time=min_time,
            processes=processes,
            isolated=isolated,
            breakdown=breakdown,
            plot=plot,
            on_progress=on_progress,
        )
    emit(report, fmt, output)
    if report.data.get("failed"):
        raise typer.Exit(1)


@app.command()
@guarded
@neck_options
def compare(
    necks: Annotated[
        list[str] | None,
        typer.Argument(help=f"Necks to compare (default: {' '.join(NECKS)}).", show_default=False, autocompletion=NECK_NAMES),
    ] = None,
    variant: Annotated[
        str, typer.Option(help="tutorial, paper or both.", autocompletion=completer(lambda: (*VARIANTS, "both")))
    ] = "tutorial",
    levels: Annotated[int, typer.Option(help="Output levels, shared by every neck.")] = 5,
    *,
    opts: NeckOptions,
    baseline: Annotated[
        str | None, typer.Option(help="Neck the ratios are relative to (default: the first).", autocompletion=NECK_NAMES)
    ] = None,
    bench: Annotated[bool, typer.Option(help="Also time each neck: eager and its fastest deployed engine.", metavar="")] = False,
    backend: BackendOpt = "auto",
    device: Annotated[
        str, typer.Option(help="With --bench: cpu or gpu.", autocompletion=completer(lambda: ("cpu", "gpu")))
    ] = "cpu",
    threads: Annotated[int, typer.Option(help="With --bench: CPU threads (0 = all cores).")] = 0,
    min_time: Annotated[float, typer.Option("--min-time", help="With --bench: seconds of timed runs per neck and engine.")] = 1.0,
    isolated: Isolated = False,
    breakdown: Breakdown = False,
    plot: Annotated[Path | None, typer.Option(help="Stacked per-level MACs per neck to FILE.png|svg.")] = None,
    fmt: Format = "table",
    output: Output = None,
) -> None:
    """Which neck? Params, GMACs, GFLOPs and activation memory side by side, as ratios to a baseline.

    Examples:

      fpnprof compare

      fpnprof compare --variant both --stem imagenet --size 512 --batch 1

      fpnprof compare --variant paper --bench

      fpnprof compare fpn bifpn --variant paper --bench --breakdown --format markdown -o necks.md
    """
    from fpnprof.cli.commands import run_compare
    from fpnprof.errors import ConfigError

    preflight(fmt, output, plot)
    if variant not in ("tutorial", "paper", "both"):
        raise ConfigError(f"--variant takes tutorial, paper or both, got {variant!r}")
    variants = ["tutorial", "paper"] if variant == "both" else [variant]
    configs = [opts.config(n, variant=v, levels=levels) for n in (necks or list(NECKS)) for v in variants]
    with progress_display() as on_progress:
        report = run_compare(
            configs,
            baseline=baseline,
            bench=bench,
            backend=backend,
            device=device,
            threads=threads,
            min_time=min_time,
            isolated=isolated,
            breakdown=breakdown,
            plot=plot,
            on_progress=on_progress,
        )
    emit(report, fmt, output)


@app.command()
@guarded
@neck_options
def graph(
    neck: Annotated[str, typer.Argument(help=f"{neck_names_text()}.", autocompletion=NECK_NAMES)],
    opts: NeckOptions,
    part: Annotated[
        str, typer.Option(help="neck (fed by its input features), backbone or total.", autocompletion=completer(_parts))
    ] = "neck",
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="mermaid or dot.", autocompletion=completer(lambda: ("mermaid", "dot")))
    ] = "mermaid",
    output: Output = None,
) -> None:
    """Draw the topology: nodes grouped by level, one edge per input, the op and fusion on each node.

    Examples:

      fpnprof graph bifpn --variant paper --levels 5 --cells 1

      fpnprof graph pafpn -f dot -o pafpn.dot  (then: dot -Tsvg pafpn.dot > pafpn.svg)
    """
    from fpnprof.cli.commands import run_graph
    from fpnprof.report.draw import DRAW_FORMATS

    preflight(fmt, output, formats=DRAW_FORMATS)
    cfg = opts.config(neck)
    text = run_graph(cfg, fmt=fmt, part=part)
    if output is not None:
        write_atomic(output, text)
        typer.echo(f"wrote {output}", err=True)
    else:
        typer.echo(text, nl=False)


@app.command()
@guarded
def peak(
    device: Device = "cpu",
    backend: BackendOpt = "auto",
    dtype: Dtype = "fp32",
    threads: Threads = 0,
    fmt: Format = "table",
    output: Output = None,
) -> None:
    """The machine's peaks, measured now in the framework: matmul GFLOP/s and copy GB/s.

    Every bench measures the same pair before and after its rounds (the drift probe) and shows
    each row's GFLOP/s as a % of the matmul peak. Examples:

      fpnprof peak

      fpnprof peak --device gpu --dtype bf16 --format json
    """
    from fpnprof.cli.commands import run_peak

    preflight(fmt, output)
    emit(run_peak(device=device, backend=backend, dtype=dtype, threads=threads), fmt, output)


@app.command("list")
@guarded
def list_(fmt: Format = "table", output: Output = None) -> None:
    """Necks, variants, stems, backends and engines fpnprof knows.

    Example:

      fpnprof list
    """
    from fpnprof.cli.commands import run_list

    preflight(fmt, output)
    emit(run_list(), fmt, output)


def main() -> None:
    app()
