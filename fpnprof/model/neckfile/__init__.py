"""Neck files: a neck described in TOML (docs/NECK_FORMAT.md), read as plain data and built like a
built-in one. ``load_neck_file`` turns a path into a :class:`~fpnprof.model.necks.common.NeckSpec`,
once per process; a bench worker gets the parent's text (``adopt_neck_text``) and never reads the
disk, so every process builds the neck the parent resolved."""

from __future__ import annotations

from pathlib import Path

from fpnprof.errors import ConfigError, NeckFileError
from fpnprof.model.graphneck import GraphNeck
from fpnprof.model.graphneck_build import build_graph_neck
from fpnprof.model.neckfile.build import build_file_neck
from fpnprof.model.neckfile.graphform import is_graph_form, parse_graph_form
from fpnprof.model.neckfile.schema import NeckFile, load_toml, parse_neck_data, parse_neck_file
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
    if path.is_dir():
        raise ConfigError(f"neck file {name!r} is a folder")
    shipped = SHIPPED / path.name
    if path.name == name and shipped.is_file():
        return shipped
    raise ConfigError(f"neck file {name!r} not found (shipped: {', '.join(shipped_files())})")


#: Neck files this process has read or been given: name -> (text, spec).
_LOADED: dict[str, tuple[str, NeckSpec]] = {}


def read_text(path: Path, name: str) -> str:
    """The file's text; errors name it as the user did (``name``)."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise NeckFileError(name, "file", None, f"cannot be read: {exc}") from None


def read_neck_file(path: Path, name: str) -> NeckFile:
    """Parse the file at ``path``; errors name it as the user did (``name``)."""
    return parse_neck_file(name, read_text(path, name))


def load_neck_file(name: str) -> NeckSpec:
    """The neck in file ``name`` as a spec (read once per process)."""
    if name not in _LOADED:
        path = locate(name)
        adopt_neck_text(name, read_text(path, name), str(path))
    return _LOADED[name][1]


def loaded_spec(name: str) -> NeckSpec | None:
    """The spec of a neck this process has read or been given by that name, or None."""
    loaded = _LOADED.get(name)
    return loaded[1] if loaded else None


def neck_text(name: str) -> str | None:
    """The text of a neck file this process has loaded, or None (a built-in neck, or not loaded)."""
    loaded = _LOADED.get(name)
    return loaded[0] if loaded else None


def graph_neck_spec(name: str, neck: GraphNeck, source: str) -> NeckSpec:
    """The spec of an imported neck: its levels fixed, its widths its own (--channels, --cells do not apply)."""
    origin = f" (from {neck.source.object}, {neck.source.framework})" if neck.source else ""
    return NeckSpec(
        name=name,
        build=lambda b, cfg, features: build_graph_neck(neck, b, cfg, features),
        default_levels=neck.levels,
        description=neck.description or f"imported neck{origin}",
        variants=("paper",),
        defaults={"levels": neck.levels, "min_level": neck.min_level},
        source=source,
        title=neck.name,
        repeats=False,
        fixed_levels=True,
        fixed_widths=True,
        origin=(neck.source.framework, neck.source.object) if neck.source else None,
    )


def adopt_neck_text(name: str, text: str, source: str | None = None) -> NeckSpec:
    """Parse ``text`` as the neck file ``name`` and keep it: later lookups of ``name`` use it."""
    data = load_toml(name, text)  # parsed once: the form decides which reader checks it
    if is_graph_form(data):
        spec = graph_neck_spec(name, parse_graph_form(name, data), source or name)
        _LOADED[name] = (text, spec)
        return spec
    nf = parse_neck_data(name, data)
    spec = NeckSpec(
        name=name,
        build=lambda b, cfg, features: build_file_neck(nf, b, cfg, features),
        default_levels=nf.defaults.get("levels", 4),
        description=nf.description,
        variants=("paper",),
        defaults=nf.defaults,
        source=source or name,
        title=nf.name,
        repeats=nf.repeat,
        fixed_levels=nf.fixed_levels,
    )
    _LOADED[name] = (text, spec)
    return spec
