"""How the command line reads: help prose reflowed to the terminal (never broken mid-sentence where
the source line ended), examples kept one to a line, no type column where it says nothing (flags, the
help option, the neck arguments, whose help names what they take); and what the parser refuses said
in fpnprof's one line, ``error: ...`` with exit 2, never a box."""

from __future__ import annotations

import re
from typing import Any, NoReturn

import typer
from typer._click.exceptions import BadParameter, MissingParameter, UsageError
from typer.core import TyperArgument, TyperCommand, TyperGroup

# Typer vendors click privately (typer._click): its objects are Any here.

#: An example line in a docstring starts with this; it is kept on a line of its own.
EXAMPLE = "fpnprof "
#: Examples must fit an 80-column terminal with the help's indentation.
EXAMPLE_WIDTH = 76
#: Where a command's context keeps its command line as typed.
ARGS = "fpnprof.args"


def flow(doc: str | None) -> str:
    """A docstring as help: each prose paragraph joined into one line (the terminal wraps it); a
    paragraph of examples keeps its lines."""
    import inspect

    paragraphs = inspect.cleandoc(doc or "").split("\n\n")
    out = []
    for paragraph in paragraphs:
        lines = [line.strip() for line in paragraph.splitlines()]
        if all(line.startswith(EXAMPLE) or line.startswith("(") for line in lines):
            out.append("\n".join(f"  {line}" for line in lines))
        else:
            out.append(" ".join(lines))
    return "\n\n".join(out)


def _no_type(ctx: Any) -> None:
    return None


def _hide_types(params: list[Any]) -> list[Any]:
    for param in params:
        if isinstance(param, TyperArgument) or getattr(param, "is_flag", False) or param.name == "help":
            param.display_type_rich = _no_type
    return params


#: click's words for a value that is not a number: 'abc' is not a valid int.
NOT_A_NUMBER = re.compile(r"^(?P<value>'.*') is not a valid (?P<kind>integer|int|float)\.?$")


def usage_message(exc: UsageError) -> str:
    """What click refused, as fpnprof words it: the option first, and a hint for a comma list where
    one number goes."""
    param = getattr(exc, "param", None)
    name = "/".join(param.opts) if param is not None and getattr(param, "opts", None) else ""
    if isinstance(exc, MissingParameter) and param is not None:
        return f"missing {exc.param_type or param.param_type_name} {param.human_readable_name}"
    if isinstance(exc, BadParameter) and name and exc.message.startswith(name):  # fpnprof's own check, worded whole
        return str(exc.message)
    number = NOT_A_NUMBER.match(exc.message)
    if isinstance(exc, BadParameter) and number and name:
        value, kind = number["value"], "an integer" if number["kind"].startswith("int") else "a number"
        if "," in value:
            return f"{name} takes one {kind.split()[-1]} here, got {value}; sweep takes lists"
        return f"{name} takes {kind}, got {value}"
    text = re.sub(r"\. ([A-Z])", lambda m: f"; {m[1].lower()}", exc.format_message().rstrip("."))
    return text[:1].lower() + text[1:]


def refuse(ctx: Any, exc: UsageError) -> NoReturn:
    """One line on stderr, exit 2 (as :func:`fpnprof.cli.output.guarded` says fpnprof's own errors)."""
    from fpnprof.report.table_format import printable

    typer.echo(f"error: {printable(usage_message(exc))} (see {ctx.command_path} --help)", err=True)
    raise typer.Exit(2)


class Command(TyperCommand):
    """A command whose help shows no type for flags, the help option or its arguments, and whose
    parse errors are one line."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _hide_types(super().get_params(ctx))

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        """``NECK``, not Typer's ``{NECK}`` for a required argument (brackets already mark what is optional)."""
        return [re.sub(r"^\{(.*)\}$", r"\1", piece) for piece in super().collect_usage_pieces(ctx)]

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        ctx.meta[ARGS] = list(args)  # as typed: a hint names the option a stray value followed
        try:
            return super().parse_args(ctx, args)
        except UsageError as exc:
            refuse(ctx, exc)


class Group(TyperGroup):
    """The root: the same for its own options (``--version``, completion, help) and an unknown command."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _hide_types(super().get_params(ctx))

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except UsageError as exc:
            refuse(ctx, exc)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        try:
            return super().resolve_command(ctx, args)
        except UsageError as exc:
            refuse(ctx, exc)
