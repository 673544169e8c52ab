"""The command line's options: shell completion, the option types, and the neck options every
neck-building command shares (declared once in :data:`SHARED_OPTIONS`)."""

from __future__ import annotations

import functools
import inspect
import itertools
import os
from collections.abc import Callable, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from typer._click.core import ParameterSource
from typer._click.globals import get_current_context

from fpnprof.backends.registry import BACKEND_CHOICES
from fpnprof.bench.defaults import MAX_TIME_S, MIN_WORKERS, PRECISION
from fpnprof.cli.help import ARGS
from fpnprof.errors import ConfigError
from fpnprof.model.config import BACKBONES, DTYPE_BYTES, STEMS, VARIANTS, NeckConfig
from fpnprof.model.necks import NECKS, neck_names_text, neck_spec
from fpnprof.report import FORMATS

F = TypeVar("F", bound=Callable[..., Any])


# Shell completion (fpnprof --install-completion) -------------------------------------------
def completer(choices: Callable[[], Sequence[str]]) -> Callable[[str], list[str]]:
    """Complete a value, or the last item of a comma list, from ``choices()``."""

    def complete(incomplete: str) -> list[str]:
        head, _, last = incomplete.rpartition(",")
        prefix = f"{head}," if head else ""
        return [prefix + c for c in choices() if c.startswith(last)]

    return complete


def neck_names() -> list[str]:
    """Registered necks, shipped neck files, and neck files in the current folder."""
    from pathlib import Path

    from fpnprof.model.neckfile import shipped_files

    local = sorted(str(p) for p in Path().glob("*.toml") if p.name != "pyproject.toml")
    return list(dict.fromkeys([*NECKS, *shipped_files(), *local]))


def engine_names() -> list[str]:
    from fpnprof.backends.registry import ENGINE_NAMES

    return list(ENGINE_NAMES)


def part_names() -> list[str]:
    from fpnprof.model.parts import PARTS

    return list(PARTS)


NECK_NAMES = completer(neck_names)

#: One neck argument, and a list of them (every registered neck when none is given).
Neck = Annotated[str, typer.Argument(metavar="NECK", help=f"{neck_names_text()}.", autocompletion=NECK_NAMES)]
NeckList = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="[NECK]...",  # as written: a metavar in brackets is not bracketed again
        help=f"{neck_names_text()} (default: {' '.join(NECKS)}).",
        show_default=False,
        autocompletion=NECK_NAMES,
    ),
]


# Options shared by every command that builds a neck ---------------------------------------
_CONFIG_DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(NeckConfig)}
Device = Annotated[str, typer.Option(help="cpu or gpu.", autocompletion=completer(lambda: ("cpu", "gpu")))]
Dtype = Annotated[
    str,
    typer.Option(help="fp32, tf32, bf16 or fp16 (where the device has it).", autocompletion=completer(lambda: list(DTYPE_BYTES))),
]


def _on_cluster() -> bool:
    """Whether the running command times on a cluster (``--cluster`` typed): its nodes' cores, not this
    machine's, bound ``--threads`` (checked once the nodes are known)."""
    ctx = get_current_context(silent=True)
    args: list[str] = ctx.meta.get(ARGS, []) if ctx is not None else []
    return any(a == "--cluster" or a.startswith("--cluster=") for a in args)


def check_threads(param: typer.CallbackParam, value: int) -> int:
    """--threads: 0 (every core) up to the machine's cores (more would time threads sharing cores); on
    a cluster, up to its nodes' (:func:`fpnprof.cluster.nodes.check_threads`)."""
    cores = os.cpu_count() or 1
    if value < 0:
        raise typer.BadParameter(f"{param.opts[0]} takes 0 (every core) or a count of threads, got {value}", param=param)
    if value > cores and not _on_cluster():
        raise typer.BadParameter(
            f"{param.opts[0]} {value} is more than this machine's {cores} cores: threads would share cores and the "
            f"numbers would time their contention; give 0 (every core) or 1-{cores}",
            param=param,
        )
    return value


def check_warmup(param: typer.CallbackParam, value: int) -> int:
    if value < 1:
        raise typer.BadParameter(f"{param.opts[0]} takes at least 1 untimed run (the first run pays one-off costs), got {value}")
    return value


Threads = Annotated[int, typer.Option(help="CPU threads (0 = all cores).", callback=check_threads)]
#: The allocator timing processes run with (a latency model is made for one).
Allocator = Annotated[
    str,
    typer.Option(
        help="steady (glibc keeps freed memory: a warm server's numbers) or default (a plain script's).",
        autocompletion=completer(lambda: ("steady", "default")),
    ),
]
Variant = Annotated[
    str,
    typer.Option(
        help=f"Structure: {' or '.join(VARIANTS)} (the seed's, or the papers').", autocompletion=completer(lambda: VARIANTS)
    ),
]
Levels = Annotated[
    int | None,
    typer.Option(
        help="Output levels N: P(min)..P(min+N-1). Default: the neck's own (see fpnprof list).",
        show_default=False,
    ),
]
MinLevel = Annotated[
    int | None,
    typer.Option(
        "--min-level",
        help="Lowest output level (2 = C2's resolution). Default: the neck's own.",
        show_default=False,
    ),
]
Channels = Annotated[
    int | None,
    typer.Option(help="Neck width C. Default: the neck's own.", show_default=False),
]
Cells = Annotated[
    int | None,
    typer.Option(
        help="Cells (repeats) of a BiFPN or a repeating neck file. Default: the neck's own.",
        show_default=False,
    ),
]
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
Kwargs = Annotated[
    str | None,
    typer.Option(
        "--kwargs",
        help="With a NECK in code (file.py:NAME, whose Python runs: see fpnprof import): its kwargs, as JSON.",
        metavar="JSON",
    ),
]
Against = Annotated[
    str | None,
    typer.Option(
        "--against",
        help="OLD: a neck, a file or FILE.toml@REV (git), timed side by side; or run:ID[:ROW] from the history (unpaired).",
        metavar="OLD",
        autocompletion=NECK_NAMES,
    ),
]
FailIfSlower = Annotated[
    float | None,
    typer.Option(
        "--fail-if-slower",
        help="PCT: exit 1 if a row is slower than its baseline by more (its ratio's 95% interval), 3 if undecided.",
        metavar="PCT",
    ),
]
ForceStored = Annotated[
    bool, typer.Option("--force", help="With --against run:ID, compare with a row from another machine (flagged).", metavar="")
]
Format = Annotated[
    str, typer.Option("--format", "-f", help=f"Output format: {', '.join(FORMATS)}.", autocompletion=completer(lambda: FORMATS))
]
Output = Annotated[Path | None, typer.Option("--output", "-o", help="Write the result to FILE (atomically), not stdout.")]
OnePart = Annotated[
    str, typer.Option(help="neck (fed by its input features), backbone or total.", autocompletion=completer(part_names))
]
Save = Annotated[
    Path | None,
    typer.Option(
        "--save",
        help="Also write the whole result as JSON to FILE (atomically).",
        metavar="FILE",
    ),
]
BackendOpt = Annotated[
    str,
    typer.Option(
        help="auto (paddle where it runs on the --device, else torch), paddle or torch.",
        autocompletion=completer(lambda: BACKEND_CHOICES),
    ),
]
Isolated = Annotated[
    bool,
    typer.Option("--isolated", help="Time each row in its own workers, not side by side (unpaired ratios).", metavar=""),
]
Breakdown = Annotated[
    bool,
    typer.Option("--breakdown", help="Eager rows: time every node; ms, GFLOP/s, bytes and bound per level and op.", metavar=""),
]


class NeckOptions:
    """The shared neck options as typed on the command line (declared once: :data:`SHARED_OPTIONS`)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def config(self, neck: str, *, several: bool = False, **overrides: Any) -> NeckConfig:
        """A validated :class:`NeckConfig`; a command passes the options it owns (e.g. bench's batch
        and size sweeps, compare's variant) as ``overrides``.

        What is typed applies to the neck; the neck's own defaults fill what is not (so a neck has one
        set of defaults in every command). A neck whose topology fixes its levels refuses other
        levels, except among ``several`` necks, where it keeps its own and the table says so."""
        if neck.isdigit():  # sweep fpn --channels 64 96: the 96 lands among the necks
            option, values = _spaced_list(neck)
            raise ConfigError(
                f"{neck!r} is not a neck: an option takes several values as one, joined by commas "
                f"({option} {','.join(values)}, not {option} {' '.join(values)})"
            )
        spec = neck_spec(neck)
        fields = {**self.values, **{k: v for k, v in overrides.items() if v is not None}}
        fields.pop("kwargs", None)  # read when a neck in code is imported (fpnprof.cli.code_necks)
        text = fields.pop("in_channels", None)
        parsed = None if text is None else tuple(parse_int_list(text, "--in-channels"))
        if parsed is not None:
            fields["in_channels"] = parsed
        typed = [
            name
            for name in ("cells", "variant", "channels", "kwargs")
            if _typed(name) and (name not in ("cells", "channels", "kwargs") or name in self.values)
        ]
        if spec.source is not None:  # a neck file has one form; --variant does not apply to it
            fields["variant"] = spec.variants[0]
        defaults = spec.defaults_for(fields["variant"])
        for name in _FROM_NECK:  # not typed: the neck's own value, else NeckConfig's default
            if fields.get(name) is None:
                fields[name] = defaults.get(name, _CONFIG_DEFAULTS[name])
        if spec.fixed_levels:
            own_min, own_levels = spec.level_span(fields["variant"])
            if (fields["min_level"], fields["levels"]) != (own_min, own_levels):
                if not several:
                    raise ConfigError(
                        f"{neck} fixes its levels at P{own_min}-P{own_min + own_levels - 1} (its nodes sit at set "
                        f"levels): give --min-level {own_min} --levels {own_levels}, or leave them out"
                    )
                fields["min_level"], fields["levels"] = own_min, own_levels
        cfg = NeckConfig(neck=neck, **fields)
        for name in typed:  # the report says, in one line per option, which necks it did not apply to
            _given_to(name, cfg)
        return cfg


def _spaced_list(number: str) -> tuple[str, list[str]]:
    """The option typed before a stray ``number`` and the values typed after it (``--cells``, ``["3", "5"]``),
    read from the command line (:class:`fpnprof.cli.help.Command` keeps it)."""
    ctx = get_current_context(silent=True)
    args: list[str] = ctx.meta.get(ARGS, []) if ctx is not None else []
    for i, arg in enumerate(args):
        option, _, value = arg.partition("=")
        values = [*([value] if value else []), *itertools.takewhile(str.isdigit, args[i + 1 :])]
        if option.startswith("-") and (not value or value.isdigit()) and number in values[1:]:
            return option, values
    return "--channels", ["64", number]  # not found: an example


def was_typed(name: str) -> bool:
    """Whether option ``name`` of the running command was given (not its default)."""
    return _typed(name)


def _typed(name: str) -> bool:
    """Whether option ``name`` of the running command was given (on the command line or by its variable)."""
    ctx = get_current_context(silent=True)
    source = ctx.get_parameter_source(name) if ctx is not None else None
    return source in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)


def _given_to(option: str, cfg: NeckConfig) -> None:
    """Remember that ``option`` was given for ``cfg``'s neck (in the command's context: see :func:`option_notes`)."""
    ctx = get_current_context(silent=True)
    if ctx is not None:
        ctx.meta.setdefault(_GIVEN, {}).setdefault(option, []).append(cfg)


def option_notes() -> list[str]:
    """One line per option given that does not apply to some of the command's necks, as ``sweep`` says it."""
    from fpnprof.model.setups import inapplicable

    ctx = get_current_context(silent=True)
    given = ctx.meta.get(_GIVEN, {}) if ctx is not None else {}
    return [f"{line}." for option, configs in given.items() if (line := inapplicable(option, configs))]


#: Where a command's context keeps, per option given, the configurations it was given for.
_GIVEN = "fpnprof.options_given"


#: Options a neck sets defaults for: left open (None) on the command line until a neck is known.
_FROM_NECK = ("channels", "cells", "min_level", "levels")
#: NeckConfig's defaults, except those the command line leaves open: in_channels (given as text with
#: --backbone none) and what a neck sets.
_DEFAULTS: dict[str, Any] = _CONFIG_DEFAULTS | {"in_channels": None, "kwargs": None} | dict.fromkeys(_FROM_NECK)
#: The shared options: name -> (annotation, default). A command that declares one itself keeps its own.
SHARED_OPTIONS: dict[str, tuple[Any, Any]] = {
    name: (annotation, _DEFAULTS[name])
    for name, annotation in (
        ("variant", Variant),
        ("levels", Levels),
        ("min_level", MinLevel),
        ("channels", Channels),
        ("cells", Cells),
        ("batch", Batch),
        ("size", Size),
        ("stem", Stem),
        ("backbone", Backbone),
        ("in_channels", InChannels),
        ("kwargs", Kwargs),
    )
}


def _inject(fn: F, table: dict[str, tuple[Any, Any]], into: str, make: Callable[[dict[str, Any]], Any]) -> F:
    """Give a command the options of ``table``: they appear in its signature (so Typer parses and
    documents them) after its arguments, and reach it as one value, ``make(values)``, named ``into``.
    An option the command declares itself stays its own."""
    own = inspect.signature(fn, eval_str=True).parameters
    shared = [name for name in table if name not in own]
    params = [p for p in own.values() if p.name != into]
    arguments = [p for p in params if typer.models.ArgumentInfo in {type(m) for m in getattr(p.annotation, "__metadata__", ())}]
    injected = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=table[name][1], annotation=table[name][0])
        for name in shared
    ]
    rest = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in params if p not in arguments]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **{into: make({name: kwargs.pop(name) for name in shared})}, **kwargs)

    wrapper.__signature__ = inspect.Signature([*arguments, *injected, *rest])  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in (*arguments, *injected, *rest)}
    return wrapper  # type: ignore[return-value]


def neck_options(fn: F) -> F:
    """Give a command the shared neck options (:data:`SHARED_OPTIONS`) as one ``opts: NeckOptions``."""
    return _inject(fn, SHARED_OPTIONS, "opts", NeckOptions)


# Options of every command that times (bench, compare --bench, sweep --bench) -------------------
Precision = Annotated[
    float,
    typer.Option(
        "--precision",
        help="Target ±% of every ratio's 95% interval: workers are added until it is met or --max-time is spent.",
    ),
]
MaxTime = Annotated[
    float,
    typer.Option("--max-time", help="Seconds of measuring at most; a ratio still wider than --precision is 'unresolved'."),
]
Processes = Annotated[
    int,
    typer.Option(help="Worker processes per group to start with (fresh ones: their spread is in the interval)."),
]
Repeat = Annotated[
    int | None,
    typer.Option(
        help="Exactly N timed runs per row instead, one per round, over min(--processes, N) workers (an interval needs 3).",
        show_default=False,
    ),
]
Warmup = Annotated[
    int, typer.Option(help="Untimed runs per row per worker first (at least 1; fewer after 0.5 s).", callback=check_warmup)
]
TIMING_OPTIONS: dict[str, tuple[Any, Any]] = {
    "precision": (Precision, 100 * PRECISION),
    "max_time": (MaxTime, MAX_TIME_S),
    "processes": (Processes, MIN_WORKERS),
    "repeat": (Repeat, None),
    "warmup": (Warmup, 3),
    "isolated": (Isolated, False),
}


class TimingOptions:
    """The timing options as typed (percent for --precision), turned into a measurement."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    @property
    def warmup(self) -> int:
        return int(self.values["warmup"])

    def measurement(self, *, breakdown: bool = False) -> Any:
        """A :class:`fpnprof.bench.runner.Measurement` (imported here: the CLI's import stays light)."""
        from fpnprof.bench.runner import Measurement

        v = self.values
        return Measurement(
            precision=v["precision"] / 100,
            max_time_s=v["max_time"],
            processes=v["processes"],
            repeat=v["repeat"],
            isolated=v["isolated"],
            breakdown=breakdown,
        )


def timing_options(fn: F) -> F:
    """Give a command the shared timing options (:data:`TIMING_OPTIONS`) as one ``timing_opts: TimingOptions``."""
    return _inject(fn, TIMING_OPTIONS, "timing_opts", TimingOptions)


def parse_int_list(text: str, option: str) -> list[int]:
    """Parse positive integers such as ``1,2,8`` (a sweep, or ``--in-channels``)."""
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
