"""How a command's result reaches the user: errors as one line, files checked before any work,
tables sized to the terminal, progress on stderr."""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from fpnprof.cli.options import F, option_notes
from fpnprof.errors import FpnprofError
from fpnprof.model.config import require_choice
from fpnprof.report import FORMATS, render
from fpnprof.report.files import check_writable, write_atomic
from fpnprof.report.model import Report
from fpnprof.report.table_format import printable

if TYPE_CHECKING:
    from fpnprof.bench.runner import OnProgress
    from fpnprof.bench.schedule import Progress


class Terminated(BaseException):
    """SIGTERM (``kill``), raised like Ctrl-C's KeyboardInterrupt so the same cleanup runs: workers
    killed and reaped, temporary folders removed, no output file (see :func:`on_sigterm_unwind`)."""


def on_sigterm_unwind() -> None:
    """Make SIGTERM unwind the stack (raise :class:`Terminated`) instead of ending the process
    where it stands, which left the workers and the Paddle export folder behind."""

    def raise_terminated(signum: int, frame: object) -> None:
        raise Terminated

    signal.signal(signal.SIGTERM, raise_terminated)


def guarded(fn: F) -> F:
    """Turn fpnprof's errors into one line on stderr and exit code 2, Ctrl-C and SIGTERM into 130 and 143
    (never a traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except FpnprofError as exc:
            typer.echo(f"error: {printable(str(exc))}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt as exc:  # its message, where a command says what it kept
            typer.echo(f"interrupted: {printable(str(exc)) or 'nothing written'}", err=True)
            raise typer.Exit(128 + signal.SIGINT) from None
        except Terminated as exc:
            typer.echo(f"terminated: {printable(str(exc)) or 'nothing written'}", err=True)
            raise typer.Exit(128 + signal.SIGTERM) from None

    return wrapper  # type: ignore[return-value]


def preflight(
    fmt: str, output: Path | None, plot: Path | None = None, formats: tuple[str, ...] = FORMATS, save: Path | None = None
) -> None:
    """Check the options that only matter at the end (format, files) before any work starts."""
    require_choice("format", fmt, formats)
    if output is not None:
        check_writable(output, "--output")
    if save is not None:
        check_writable(save, "--save")
    if plot is not None:
        from fpnprof.report.plots import check_plot_path

        check_plot_path(plot)


def deliver(text: str, output: Path | None) -> None:
    """Write ``text`` to ``output`` (atomically, saying so on stderr), or print it."""
    if output is not None:
        write_atomic(output, text)
        typer.echo(f"wrote {output}", err=True)
    else:
        typer.echo(text, nl=False)


def save_json(report: Report, save: Path | None) -> None:
    """``--save``: the whole result as JSON, whatever the format on screen."""
    if save is not None:
        deliver(render(report, "json"), save)


def emit(report: Report, fmt: str, output: Path | None, save: Path | None = None) -> None:
    """Render a report (``fmt`` already checked by :func:`preflight`): files and pipes get the full
    table, a terminal one that fits its width; with ``save``, the JSON goes to that file as well. Options
    given that do not apply to a neck are said first among the notes. Then the result is recorded in
    the run history if the command records (:mod:`fpnprof.cli.history_cli`)."""
    from fpnprof.cli.history_cli import record_pending

    report.notes[:0] = [line for line in option_notes() if line not in report.notes]
    save_json(report, save)
    if output is not None:
        deliver(render(report, fmt, width=160), output)
        record_pending(report.data)
        return
    tty = sys.stdout.isatty()
    color = fmt == "table" and tty and "NO_COLOR" not in os.environ
    if os.environ.get("COLUMNS", "").isdigit():
        width = int(os.environ["COLUMNS"])
    else:
        width = shutil.get_terminal_size((160, 24)).columns if tty else 160
    deliver(render(report, fmt, color=color, width=width), None)
    record_pending(report.data)


class JsonLines:
    """Sweep rows as JSON Lines, one per configuration as soon as it is priced (``pareto`` is null:
    the front needs every row), then a last line ``{"summary": ...}`` with the front's row indices.
    Printed as they come; with ``--output``, written atomically at the end."""

    def __init__(self, output: Path | None) -> None:
        self.output = output
        self.lines: list[str] = []
        self.count = 0

    def _put(self, data: dict[str, Any]) -> None:
        line = json.dumps(data)
        if self.output is None:
            typer.echo(line)
            sys.stdout.flush()
        else:
            self.lines.append(line)

    def row(self, row: Any) -> None:
        """One priced configuration (a :class:`fpnprof.cost.sweep.SweepRow`)."""
        self._put({"index": self.count, **row.to_json(), "pareto": None})
        self.count += 1

    def close(self, report: Report) -> None:
        rows = report.data["rows"]
        self._put(
            {
                "summary": {
                    "configurations": len(rows),
                    "pareto": [i for i, r in enumerate(rows) if r["pareto"]],
                    "seconds": report.data["seconds"],
                    "schema_version": report.data["schema_version"],
                }
            }
        )
        if self.output is not None:
            deliver("\n".join(self.lines) + "\n", self.output)


@contextmanager
def progress_display() -> Iterator[OnProgress]:
    """A rich progress bar on stderr (terminals only) for the duration: what runs, units done of those
    expected, elapsed time and the time expected still; yields its callback."""
    from rich.console import Console
    from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    console = Console(stderr=True)
    with Bar(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        TextColumn("{task.fields[count]}", markup=False),
        TimeElapsedColumn(),
        TextColumn("{task.fields[eta]}", markup=False),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as bar:
        task = bar.add_task("starting", total=None, count="", eta="")

        said: set[str] = set()

        def on_progress(p: Progress) -> None:
            if p.notice and p.notice not in said:  # once, above the bar (or alone where there is no bar)
                said.add(p.notice)
                bar.console.print(f"note: {p.notice}", markup=False, highlight=False)
            minutes, seconds = divmod(round(p.eta_s), 60)
            bar.update(
                task,
                completed=p.done,
                total=max(p.expected, 1),
                description=p.what,
                count=f"{p.done}/{p.expected} {p.unit}",
                eta=f"~{minutes}:{seconds:02d} left",
            )

        yield on_progress
