"""How the command line's help reads: prose reflowed to the terminal (never broken mid-sentence where
the source line ended), examples kept one to a line, and no type column where it says nothing
(flags, the help option, the neck arguments, whose help names what they take)."""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperCommand, TyperGroup

# Typer vendors click privately (typer._click): its objects are Any here.

#: An example line in a docstring starts with this; it is kept on a line of its own.
EXAMPLE = "fpnprof "
#: Examples must fit an 80-column terminal with the help's indentation.
EXAMPLE_WIDTH = 76


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


class Command(TyperCommand):
    """A command whose help shows no type for flags, the help option or its arguments."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _hide_types(super().get_params(ctx))


class Group(TyperGroup):
    """The root: the same for its own options (``--version``, completion, help)."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _hide_types(super().get_params(ctx))
