"""The small string grammars inside a neck file: levels, input references, widths and block items.

Each parser takes the text and returns plain data, or raises :class:`ValueError` with what was
expected; the caller adds the file, node and key. Nothing is evaluated: every form is matched by a
regular expression.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LEVEL = re.compile(r"^\s*(l|bottom|top|\d+)\s*(?:([+-])\s*(\d+))?\s*$")
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_WIDTH = re.compile(r"^(?:(\d+))?c(?:/(\d+))?$")
_ITEM = re.compile(r"^\s*([a-z_][a-z0-9_]*)\s*(?:\((.*)\))?\s*$")
_KERNEL = re.compile(r"^(dw|sep)?conv(\d+)x(\d+)$")

#: Reference names with a fixed meaning: the cell's input at a level, the newest node at a level.
REFERENCE_WORDS = ("in", "latest")


@dataclass(frozen=True)
class LevelExpr:
    """``l+1``, ``top-1``, ``bottom``, ``5``: a base (``l``, ``bottom``, ``top`` or a number) and an offset."""

    base: str
    offset: int = 0

    def value(self, *, l: int | None, bottom: int, top: int) -> int:  # noqa: E741 (the file's own letter)
        if self.base == "l":
            if l is None:
                raise ValueError("'l' (the node's level) has no value here")
            return l + self.offset
        base = {"bottom": bottom, "top": top}.get(self.base)
        return (int(self.base) if base is None else base) + self.offset

    def __str__(self) -> str:
        sign = "" if not self.offset else f"{'+' if self.offset > 0 else '-'}{abs(self.offset)}"
        return f"{self.base}{sign}"


def parse_level(text: str) -> LevelExpr:
    match = _LEVEL.match(text)
    if not match:
        raise ValueError(f"expected a level such as 4, l, l+1, top-1 or bottom, got {text!r}")
    base, sign, amount = match.groups()
    offset = int(amount or 0) * (-1 if sign == "-" else 1)
    return LevelExpr(base, offset)


def parse_levels(value: object) -> tuple[LevelExpr, LevelExpr] | list[LevelExpr]:
    """A node's ``levels``: ``"all"``, ``"A..B"`` (built in that order), or a list of levels."""
    if isinstance(value, str):
        if value.strip() == "all":
            return LevelExpr("bottom"), LevelExpr("top")
        if ".." not in value:
            raise ValueError(f'expected "all", a range such as "top-1..bottom", or a list of levels, got {value!r}')
        start, end = value.split("..", 1)
        span = parse_level(start), parse_level(end)
        if any(x.base == "l" for x in span):
            raise ValueError(f"a range of levels cannot use 'l', got {value!r}")
        return span
    if isinstance(value, list) and value:
        out = []
        for item in value:
            if isinstance(item, bool) or not isinstance(item, (int, str)):
                raise ValueError(f"expected levels as numbers or strings, got {item!r}")
            expr = parse_level(str(item))
            if expr.base == "l":
                raise ValueError(f"a node's own levels cannot use 'l', got {item!r}")
            if expr in out:
                raise ValueError(f"level {item!r} is listed twice")
            out.append(expr)
        return out
    raise ValueError(f'expected "all", a range such as "top-1..bottom", or a non-empty list of levels, got {value!r}')


@dataclass(frozen=True)
class Choice:
    """One alternative of an input reference: a node name at a level."""

    name: str
    level: LevelExpr


@dataclass(frozen=True)
class Reference:
    """``td@l+1``, ``td@l+1?`` (left out where missing), ``pan@l-1 | out@l-1`` (the first that exists)."""

    choices: tuple[Choice, ...]
    optional: bool
    text: str


def parse_reference(text: str) -> Reference:
    body = text.strip()
    optional = body.endswith("?")
    if optional:
        body = body[:-1]
    choices = []
    for part in body.split("|"):
        if "@" not in part:
            raise ValueError(f"expected name@level such as 'td@l+1', got {text!r}")
        name, level = (s.strip() for s in part.split("@", 1))
        if not _NAME.match(name):
            raise ValueError(f"expected a node name before '@' (lower case, digits, _), got {name!r} in {text!r}")
        choices.append(Choice(name, parse_level(level)))
    return Reference(tuple(choices), optional, text.strip())


@dataclass(frozen=True)
class Width:
    """A channel count. The grammar (docs/NECK_FORMAT.md): ``c`` (the neck width), ``<k>c`` (k times
    it, e.g. ``2c``, ``4c``), ``c/<m>`` or ``<k>c/<m>`` (a fraction of it, which must come out whole:
    ``c/3`` at C=128 is refused, never rounded), a positive number, or ``in`` (the input's width)."""

    factor: int = 1
    divisor: int = 1
    fixed: int | None = None
    same_as_input: bool = False

    @property
    def text(self) -> str:
        if self.same_as_input:
            return "in"
        if self.fixed is not None:
            return str(self.fixed)
        return f"{self.factor if self.factor != 1 else ''}c" + (f"/{self.divisor}" if self.divisor != 1 else "")

    def value(self, c: int, input_width: int) -> int:
        if self.same_as_input:
            return input_width
        if self.fixed is not None:
            return self.fixed
        if (c * self.factor) % self.divisor:
            raise ValueError(f"width {self.text} is not a whole number of channels at C={c}; use a C it divides")
        return c * self.factor // self.divisor


def parse_width(value: object) -> Width:
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise ValueError(f"expected a positive width, got {value}")
        return Width(fixed=value)
    if isinstance(value, str):
        text = value.strip()
        if text == "in":
            return Width(same_as_input=True)
        if text.isdigit() and int(text) > 0:
            return Width(fixed=int(text))
        match = _WIDTH.match(text)
        if match and int(match.group(1) or 1) > 0 and int(match.group(2) or 1) > 0:
            return Width(factor=int(match.group(1) or 1), divisor=int(match.group(2) or 1))
    raise ValueError(f"expected a width: c, <k>c (e.g. 2c), c/<m> (e.g. c/2), a number or in; got {value!r}")


@dataclass(frozen=True)
class Item:
    """One block item, e.g. ``conv3x3(s=2, out=2c)``: its name and its arguments as text."""

    name: str
    args: dict[str, str]
    text: str


def parse_item(text: object) -> Item:
    if not isinstance(text, str):
        raise ValueError(f"expected a block item as text such as 'conv3x3' or 'bn', got {text!r}")
    match = _ITEM.match(text)
    if not match:
        raise ValueError(f"expected an item such as conv3x3, bn or maxpool(k=3, s=2), got {text!r}")
    name, arg_text = match.groups()
    args: dict[str, str] = {}
    for part in (arg_text or "").split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise ValueError(f"expected key=value arguments in {text!r}, got {part.strip()!r}")
        key, val = (s.strip() for s in part.split("=", 1))
        if key in args:
            raise ValueError(f"argument {key!r} given twice in {text!r}")
        args[key] = val
    return Item(name, args, text.strip())


def conv_kernel(name: str) -> tuple[str, int] | None:
    """``conv3x3`` -> ("conv", 3); ``dwconv5x5`` -> ("dwconv", 5); ``sepconv3x3`` -> ("sepconv", 3);
    anything else -> None."""
    match = _KERNEL.match(name)
    if not match:
        return None
    kind, kh, kw = match.groups()
    if kh != kw or int(kh) < 1:
        raise ValueError(f"expected a square kernel such as conv3x3, got {name!r}")
    return f"{kind or ''}conv", int(kh)


def is_name(text: str) -> bool:
    return bool(_NAME.match(text))
