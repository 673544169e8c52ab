"""A NECK given as code (``file.py:NAME``) in any command: imported on the fly, proven, then used as
its neck file would be. The import reads the command's own options: ``--kwargs``, ``--min-level``
(3 when not given), the widths the backbone gives from there (ResNet18's, or ``--in-channels`` with
``--backbone none``), ``--size`` and ``--stem``."""

from __future__ import annotations

import typer
from typer._click.globals import get_current_context

from fpnprof.model.config import RESNET18_CHANNELS, NeckConfig
from fpnprof.model.necks.common import NeckSpec

#: The lowest level an imported neck reads when --min-level is not given (detection necks' C3).
DEFAULT_MIN_LEVEL = 3


def _first(value: object, default: int) -> int:
    """A size option's first value: bench and sweep take lists (``--size 64,128``); others one number."""
    from fpnprof.cli.options import parse_int_list

    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip():
        return parse_int_list(value, "--size")[0]
    if isinstance(value, (list, tuple)) and value:
        return _first(value[0], default)
    return default


def load_code_neck(name: str) -> NeckSpec:
    """Import ``name`` with the running command's options; say the proof in one line on stderr."""
    from fpnprof.backends.importing import ImportRequest, run_import
    from fpnprof.cli.options import parse_int_list
    from fpnprof.model.neckfile import adopt_neck_text

    ctx = get_current_context(silent=True)
    params = dict(ctx.params) if ctx is not None else {}
    min_level = params.get("min_level") or DEFAULT_MIN_LEVEL
    typed = params.get("in_channels")
    widths = tuple(parse_int_list(typed, "--in-channels")) if params.get("backbone") == "none" and typed else RESNET18_CHANNELS
    request = ImportRequest(
        source=name,
        in_channels=tuple(widths[min_level - 2 :]),
        kwargs=params.get("kwargs"),
        min_level=min_level,
        size=_first(params.get("size"), NeckConfig.size),
        stem=params.get("stem") or NeckConfig.stem,
        batch=1,
    )
    imported = run_import(request)
    typer.echo(f"{name}: imported from {imported.framework} and proven ({imported.proof_line})", err=True)
    return adopt_neck_text(name, imported.text, source=name)
