"""Helpers the import tests share: a reference neck made from its module in tests/reference_necks, and
the widths a shipped neck file takes (an imported one takes the widths it was imported at)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from fpnprof.model.neckfile import load_neck_file, neck_text
from fpnprof.model.neckfile.graphform import load_graph_form

REFERENCES = Path(__file__).resolve().parent / "reference_necks"


def make_reference(module: str, factory: str) -> tuple[Any, Path]:
    """``factory()`` of ``tests/reference_necks/<module>.py`` (loaded by path, as a user's file would be),
    and the file's path."""
    path = REFERENCES / f"{module}.py"
    spec = importlib.util.spec_from_file_location(f"reference_{module}", path)
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = loaded
    spec.loader.exec_module(loaded)
    return getattr(loaded, factory)(), path


def file_widths(file: str, widths: tuple[int, ...]) -> tuple[int, ...]:
    """``--in-channels`` (C2 first) for a shipped neck file: ``widths``, or for an imported neck its
    own widths after ``widths``' C2."""
    if not load_neck_file(file).fixed_widths:
        return widths
    text = neck_text(file)
    assert text is not None
    return (widths[0], *load_graph_form(file, text).in_channels.values())
