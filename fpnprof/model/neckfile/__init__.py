"""Neck files: a neck described in TOML (docs/NECK_FORMAT.md), read as plain data and built like a
built-in one. ``load_neck_file`` turns a path into a :class:`~fpnprof.model.necks.common.NeckSpec`."""

from __future__ import annotations

import functools
from pathlib import Path

from fpnprof.errors import ConfigError, NeckFileError
from fpnprof.model.neckfile.build import build_file_neck
from fpnprof.model.neckfile.schema import NeckFile, parse_neck_file
from fpnprof.model.necks.common import NeckSpec

#: Neck files shipped with fpnprof; a name such as ``nasfpn.toml`` finds them from any folder.
SHIPPED = Path(__file__).resolve().parent.parent / "necks" / "files"
SUFFIX = ".toml"


def shipped_files() -> list[str]:
    return sorted(p.name for p in SHIPPED.glob(f"*{SUFFIX}"))


def is_neck_file(name: str) -> bool:
    return name.endswith(SUFFIX)


def locate(name: str) -> Path:
    """The file a neck argument names: the path as given, else a shipped file of that name."""
    path = Path(name)
    if path.is_file():
        return path
    shipped = SHIPPED / path.name
    if path.name == name and shipped.is_file():
        return shipped
    raise ConfigError(f"neck file {name!r} not found (shipped: {', '.join(shipped_files())})")


def read_neck_file(path: Path, name: str) -> NeckFile:
    """Parse the file at ``path``; errors name it as the user did (``name``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise NeckFileError(name, "file", None, f"cannot be read: {exc}") from None
    return parse_neck_file(name, text)


@functools.lru_cache(maxsize=64)
def load_neck_file(name: str) -> NeckSpec:
    """The neck in file ``name`` as a spec (read once per process)."""
    path = locate(name)
    nf = read_neck_file(path, name)
    return NeckSpec(
        name=name,
        build=lambda b, cfg, features: build_file_neck(nf, b, cfg, features),
        default_levels=nf.defaults.get("levels", 4),
        description=nf.description,
        variants=("paper",),
        defaults=nf.defaults,
        source=str(path),
        repeats=nf.repeat,
        fixed_levels=nf.fixed_levels,
    )
