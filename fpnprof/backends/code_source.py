"""Find and make the neck a ``SOURCE`` names: ``path/to/file.py:NAME`` or ``package.module:NAME``.

Importing a source runs its Python code, as importing it yourself would. Every failure is an
:class:`~fpnprof.errors.ImportRefused` with one line: a missing file or name, code that raises on
import, kwargs that are not a JSON object, a constructor that refuses them.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import json
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from fpnprof.errors import ImportRefused
from fpnprof.model.graphneck import is_code_source


@dataclass(frozen=True)
class CodeSource:
    """A parsed SOURCE: the file or module it names and the object's name in it."""

    text: str
    file: Path | None
    module: str | None
    name: str


def parse_source(text: str) -> CodeSource:
    """Split ``text`` into where and what; refuse anything else in one line."""
    if not is_code_source(text):
        raise ImportRefused(f"{text!r} is not path/to/file.py:NAME or package.module:NAME")
    where, _, name = text.rpartition(":")
    if where.endswith(".py"):
        return CodeSource(text, Path(where), None, name)
    return CodeSource(text, None, where, name)


def _one_line(exc: BaseException) -> str:
    first = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {first[0]}" if first else type(exc).__name__


def load_module(source: CodeSource) -> ModuleType:
    """Import the file or module (running its code), Paddle's legacy program IR asked for first (the
    import traces in it) and Paddle's compiler-cache warning silenced."""
    if "paddle" not in sys.modules:
        os.environ.setdefault("FLAGS_enable_pir_api", "0")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="No ccache found")
        return _load_module(source)


def _load_module(source: CodeSource) -> ModuleType:
    if source.file is not None:
        if not source.file.is_file():
            raise ImportRefused(f"{source.text}: no file {str(source.file)!r}")
        key = "fpnprof_import_" + hashlib.sha256(str(source.file.resolve()).encode()).hexdigest()[:12]
        spec = importlib.util.spec_from_file_location(key, source.file)
        if spec is None or spec.loader is None:
            raise ImportRefused(f"{source.text}: {str(source.file)!r} cannot be imported as Python")
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        folder = str(source.file.resolve().parent)
        sys.path.insert(0, folder)  # its own sibling imports work, as `python file.py` would allow
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise ImportRefused(f"{source.text}: importing {str(source.file)!r} failed: {_one_line(exc)}") from None
        finally:
            sys.path.remove(folder)
        return module
    assert source.module is not None
    try:
        return importlib.import_module(source.module)
    except ModuleNotFoundError as exc:
        raise ImportRefused(f"{source.text}: no module {exc.name!r} (is it installed, or on PYTHONPATH?)") from None
    except Exception as exc:
        raise ImportRefused(f"{source.text}: importing {source.module!r} failed: {_one_line(exc)}") from None


def parse_kwargs(text: str | None) -> dict[str, Any]:
    """``--kwargs``: a JSON object (``{}`` when not given)."""
    if text is None or not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportRefused(f"--kwargs is not JSON ({exc.msg} at column {exc.colno}): {text!r}") from None
    if not isinstance(value, dict):
        raise ImportRefused(f"--kwargs must be a JSON object such as '{{\"out_channels\": 256}}', got {text!r}")
    return value


def make_object(source: CodeSource, kwargs: dict[str, Any]) -> Any:
    """Import the source and call its class or factory with ``kwargs``."""
    module = load_module(source)
    target = getattr(module, source.name, None)
    if target is None:
        names = [n for n in vars(module) if not n.startswith("_") and callable(getattr(module, n))]
        close = difflib.get_close_matches(source.name, names, n=1) or difflib.get_close_matches(
            source.name.lower(), [n.lower() for n in names], n=1
        )
        hint = f"; did you mean {next(n for n in names if n.lower() == close[0].lower())!r}?" if close else ""
        raise ImportRefused(f"{source.text}: no {source.name!r} in it{hint} (callables: {', '.join(names) or 'none'})")
    if not callable(target):
        raise ImportRefused(f"{source.text}: {source.name!r} is not a class or a factory")
    try:
        return target(**kwargs)
    except Exception as exc:
        raise ImportRefused(f"{source.text}: {source.name}(**kwargs) failed: {_one_line(exc)}") from None


def source_file(source: CodeSource, made: Any) -> Path | None:
    """The file the object's code is in (for the neck file's hash)."""
    if source.file is not None:
        return source.file
    module = sys.modules.get(type(made).__module__)
    path = getattr(module, "__file__", None)
    return Path(path) if path else None


def file_hash(path: Path | None) -> str:
    """SHA-256 of the source file's bytes (empty when there is no file)."""
    return hashlib.sha256(path.read_bytes()).hexdigest() if path is not None and path.is_file() else ""
