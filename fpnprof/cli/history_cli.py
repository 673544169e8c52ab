"""The run history on the command line: ``--history PATH`` and ``--no-history`` on every command that
records (:func:`history_options`), the record written once the result is shown (:func:`record_pending`,
called by :func:`fpnprof.cli.output.emit`), and ``fpnprof history`` with ``show``, ``export`` and
``prune``."""

from __future__ import annotations

import functools
import inspect
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer._click.globals import get_current_context

from fpnprof.cli.help import ARGS, Command, Group, flow
from fpnprof.cli.options import F, Format, Output
from fpnprof.cli.output import deliver, emit, guarded, preflight

if TYPE_CHECKING:
    from fpnprof.history.records import StoredRow

#: Where a command's context keeps the record it owes (set by :func:`history_options`).
PENDING = "fpnprof.history.pending"

#: On a command that records (one line of its help: bench's is long).
RecordPath = Annotated[
    Path | None,
    typer.Option("--history", help="Record in this database (not the default).", metavar="PATH", show_default=False),
]
HistoryPath = Annotated[
    Path | None,
    typer.Option(
        "--history",
        help="The run history's database (default: $FPNPROF_HISTORY, else the data directory).",
        metavar="PATH",
        show_default=False,
    ),
]
NoHistory = Annotated[bool, typer.Option("--no-history", help="Do not record this run in the history.", metavar="")]


@dataclass(frozen=True)
class Pending:
    """A result to record: the command's name in the history, and where."""

    command: str
    path: Path | None


def _check_path(path: Path | None) -> None:
    from fpnprof.errors import ConfigError

    if path is not None and path.is_dir():
        raise ConfigError(f"--history {path} is a folder: give the database's file, e.g. {path / 'history.sqlite'}")


def history_options(command: str, when: str | None = None) -> Callable[[F], F]:
    """Give a command ``--history PATH`` and ``--no-history``; its result is then recorded as
    ``command`` when it is shown (only if option ``when``, e.g. compare's ``--bench``, is set)."""

    def decorate(fn: F) -> F:
        signature = inspect.signature(fn, eval_str=True)
        added = [
            inspect.Parameter("history", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=RecordPath),
            inspect.Parameter("no_history", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=NoHistory),
        ]
        params = [*signature.parameters.values(), *added]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            path, skip = kwargs.pop("history"), kwargs.pop("no_history")
            _check_path(path)
            ctx = get_current_context(silent=True)
            if ctx is not None and not skip and (when is None or kwargs.get(when)):
                ctx.meta[PENDING] = Pending(command, path)
            return fn(*args, **kwargs)

        wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        return wrapper  # type: ignore[return-value]

    return decorate


def command_line() -> str:
    """The running command as typed: ``fpnprof sweep fpn --bench ...``."""
    ctx = get_current_context(silent=True)
    if ctx is None:
        return "fpnprof"
    return shlex.join(["fpnprof", str(ctx.info_name), *ctx.meta.get(ARGS, [])])


def take_pending() -> Pending | None:
    """The record the running command owes, taken: it will not be recorded when shown (a command that
    stores its results as it goes, as ``sweep --cluster`` does, records them itself); None with
    ``--no-history``."""
    ctx = get_current_context(silent=True)
    pending = ctx.meta.pop(PENDING, None) if ctx is not None else None
    return pending if isinstance(pending, Pending) else None


def record_pending(data: dict[str, Any]) -> None:
    """Record the running command's result if it owes one. Never fails the command: a database that
    cannot be written is one warning line on stderr, and the result and exit code stand."""
    ctx = get_current_context(silent=True)
    pending = ctx.meta.pop(PENDING, None) if ctx is not None else None
    if not isinstance(pending, Pending):
        return
    try:
        from fpnprof.history.from_report import Context
        from fpnprof.history.location import history_path
        from fpnprof.history.recorder import record

        assert ctx is not None
        record(history_path(pending.path), pending.command, data, Context(command_line(), time.time(), dict(ctx.params)))
    except Exception as exc:  # recording never fails the command
        from fpnprof.report.table_format import printable

        line = " ".join(str(exc).split()) or type(exc).__name__
        typer.echo(f"warning: not recorded in the run history: {printable(line)}", err=True)


# fpnprof history -----------------------------------------------------------------------------


class HistoryGroup(Group):
    """``fpnprof history [NECK]...`` lists runs; a first word naming a subcommand (show, export,
    prune, list) runs it."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "-h")):
            args = ["list", *args]
        return super().parse_args(ctx, args)


history_app = typer.Typer(
    name="history",
    cls=HistoryGroup,
    help=flow(
        """Runs recorded: every bench, compare --bench, sweep --bench, peak, predict and calibrate
        --validate result, with its configuration, the neck's text, the machine and the versions.

        fpnprof history [NECK]... lists them (the list subcommand); show, export and prune below.
        Examples:

        fpnprof history

        fpnprof history fpn bifpn --last 50 --plot trend.png

        fpnprof history show 42

        fpnprof history export --format csv -o runs.csv

        fpnprof history prune --before 2026-01-01
        """
    ),
    no_args_is_help=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)


def history_command(name: str) -> Callable[[F], F]:
    def register(fn: F) -> F:
        registered: F = history_app.command(name, cls=Command, help=flow(fn.__doc__))(fn)
        return registered

    return register


NeckFilter = Annotated[
    list[str] | None,
    typer.Argument(metavar="[NECK]...", help="Only runs of these necks (as typed: fpn, my_neck.toml).", show_default=False),
]
Machine = Annotated[str, typer.Option(help="this (runs on this machine: its CPU and cores) or all.")]
Since = Annotated[
    str | None,
    typer.Option(help="Only runs since DATE: 2026-12-01, 2026-12-01 14:30, or an age: 7d, 12h.", metavar="DATE"),
]


@dataclass(frozen=True)
class Chosen:
    """The runs a listing chose, and what it says about the choice."""

    rows: list[StoredRow]
    database: str
    filters: dict[str, Any]
    notes: list[str]


def _choose(necks: list[str] | None, machine: str, since: str | None, last: int | None, history: Path | None) -> Chosen:
    from fpnprof.errors import ConfigError
    from fpnprof.history.dates import parse_when
    from fpnprof.history.identity import machine_key
    from fpnprof.history.location import history_path
    from fpnprof.history.store import HistoryStore
    from fpnprof.model.config import require_choice

    require_choice("machine", machine, ("this", "all"))
    if last is not None and last < 1:
        raise ConfigError(f"--last takes a count of runs (1 or more), got {last}")
    _check_path(history)
    start = None if since is None else parse_when(since, "--since")
    path = history_path(history)
    filters = {"necks": necks or [], "machine": machine, "since": since, "last": last}
    store = HistoryStore.open(path, create=False)
    if store is None:
        return Chosen([], str(path), filters, [f"no runs recorded yet: {path} does not exist."])
    with store:
        key = machine_key() if machine == "this" else None
        rows = store.select(necks or (), machine=key, since=start, last=last)
        held, _ = store.counts()
    notes = [f"database {path}: {held} run{'s' if held != 1 else ''} in all."]
    if machine == "this":
        notes.append("runs on this machine (its CPU and cores); --machine all shows every machine's.")
    if not rows:
        notes.append("no run matches." if held else "no runs recorded yet.")
    return Chosen(rows, str(path), filters, notes)


@history_command("list")
@guarded
def list_runs(
    necks: NeckFilter = None,
    machine: Machine = "this",
    last: Annotated[int, typer.Option(help="The newest N runs.")] = 20,
    since: Since = None,
    plot: Annotated[Path | None, typer.Option(help="A trend per neck to FILE.png|svg: ms against time, intervals drawn.")] = None,
    history: HistoryPath = None,
    fmt: Format = "table",
    output: Output = None,
) -> None:
    """The runs recorded, newest first: when, neck, configuration, ms with its interval, the ratio to
    the run's first neck. A neck whose text changed since its previous run is marked.

    Examples:

      fpnprof history

      fpnprof history fpn my_neck.toml --since 7d --plot trend.png

      fpnprof history --machine all --last 100 -f csv -o runs.csv
    """
    from fpnprof.history.history_report import history_report

    preflight(fmt, output, plot)
    chosen = _choose(necks, machine, since, last, history)
    report = history_report(chosen.rows, database=chosen.database, filters=chosen.filters, notes=chosen.notes)
    if plot is not None and chosen.rows:
        from fpnprof.history.plot import trend_plot

        left = trend_plot(chosen.rows, plot)
        report.notes.append(f"plot written to {plot}" + (f" (not drawn: {', '.join(left)})" if left else ""))
    emit(report, fmt, output)


def _run_id(text: str) -> tuple[int, int | None]:
    from fpnprof.errors import ConfigError

    head, _, row = text.removeprefix("run:").partition(":")
    if not head.isdigit() or (row and not row.isdigit()):
        raise ConfigError(f"a run is named by its id, as fpnprof history lists it: 42, or 42:1 for one row; got {text!r}")
    return int(head), int(row) if row else None


@history_command("show")
@guarded
def show(
    run: Annotated[str, typer.Argument(metavar="ID", help="A run's id (42), or one row of it (42:1).")],
    history: HistoryPath = None,
    fmt: Format = "table",
    output: Output = None,
) -> None:
    """One run whole: the command line, when, the machine, the versions, every row with its
    configuration and flags, and each neck's text.

    Examples:

      fpnprof history show 42

      fpnprof history show 42:1 -f json
    """
    from dataclasses import replace

    from fpnprof.history.errors import HistoryError
    from fpnprof.history.history_report import show_report
    from fpnprof.history.location import history_path
    from fpnprof.history.store import HistoryStore, load_row

    preflight(fmt, output)
    _check_path(history)
    run_id, row = _run_id(run)
    path = history_path(history)
    store = HistoryStore.open(path, create=False)
    if store is None:
        raise HistoryError(f"no run {run_id}: no runs recorded yet ({path} does not exist)")
    with store:
        stored = store.run(run_id)
        if stored is None:
            raise HistoryError(f"no run {run_id} in the history ({path}): fpnprof history lists the runs")
        if row is not None:
            stored = replace(stored, rows=[load_row(store, run_id, row)])
    emit(show_report(stored), fmt, output)


@history_command("export")
@guarded
def export(
    necks: NeckFilter = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="json (runs with their rows) or csv (a line per row).")] = "json",
    machine: Annotated[str, typer.Option(help="all, or this (runs on this machine).")] = "all",
    since: Since = None,
    last: Annotated[int | None, typer.Option(help="Only the newest N runs (default: every one).", show_default=False)] = None,
    history: HistoryPath = None,
    output: Output = None,
) -> None:
    """Every stored field of the runs, for other tools: JSON, runs with their rows and each neck's
    text once; or CSV, a line per row.

    Examples:

      fpnprof history export -o history.json

      fpnprof history export bifpn --format csv -o bifpn.csv
    """
    from fpnprof.history.export import EXPORT_FORMATS, export_csv, export_json

    preflight(fmt, output, formats=EXPORT_FORMATS)
    chosen = _choose(necks, machine, since, last, history)
    deliver(export_json(chosen.rows, chosen.database) if fmt == "json" else export_csv(chosen.rows), output)


@history_command("prune")
@guarded
def prune(
    before: Annotated[
        str, typer.Option(help="Delete the runs recorded before DATE: 2026-01-01, or an age: 90d.", metavar="DATE")
    ],
    history: HistoryPath = None,
) -> None:
    """Delete old runs (every machine's) and the neck texts no run needs any more.

    Example:

      fpnprof history prune --before 90d
    """
    from fpnprof.history.dates import parse_when
    from fpnprof.history.location import history_path
    from fpnprof.history.records import iso_time
    from fpnprof.history.store import HistoryStore

    _check_path(history)
    cutoff = parse_when(before, "--before")
    path = history_path(history)
    store = HistoryStore.open(path, create=False)
    if store is None:
        typer.echo(f"nothing to prune: {path} does not exist", err=True)
        return
    with store:
        runs, rows = store.prune(cutoff)
        left, _ = store.counts()
    typer.echo(f"pruned {runs} run{'s' if runs != 1 else ''} ({rows} results) recorded before {iso_time(cutoff)}; {left} left")
