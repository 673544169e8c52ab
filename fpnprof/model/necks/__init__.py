"""The neck registry: ``NECKS`` maps a name to its :class:`NeckSpec`; :func:`build_graph` makes the
whole model. A new neck is a module with a builder and a ``SPEC``, listed in ``NECKS`` below (or
added at run time with :func:`register`); nothing else names it."""

from __future__ import annotations

import difflib
from collections.abc import Callable

from fpnprof.errors import ConfigError, GraphError
from fpnprof.model.backbone import build_backbone
from fpnprof.model.builder import GraphBuilder
from fpnprof.model.config import NeckConfig
from fpnprof.model.graph import Graph, Part
from fpnprof.model.graphneck import is_code_source
from fpnprof.model.necks import bifpn, fpn, pafpn
from fpnprof.model.necks.common import NeckSpec, require_side

NECKS: dict[str, NeckSpec] = {spec.name: spec for spec in (fpn.SPEC, pafpn.SPEC, bifpn.SPEC)}

#: Imports a neck named as code (``file.py:NAME``) and returns its spec; the command line sets it
#: (importing code needs a framework, which the model never imports).
CODE_LOADER: Callable[[str], NeckSpec] | None = None


def register(spec: NeckSpec) -> NeckSpec:
    """Add a neck to the registry (refusing a name that is taken)."""
    if spec.name in NECKS:
        raise ConfigError(f"a neck named {spec.name!r} is already registered")
    NECKS[spec.name] = spec
    return spec


def neck_names_text() -> str:
    """``fpn, pafpn, bifpn, or a neck file (.toml)``: what a neck argument takes, for help texts."""
    return f"{', '.join(NECKS)}, a neck file (.toml; see docs/NECK_FORMAT.md), or code (file.py:NAME; see fpnprof import)"


def neck_spec(name: str) -> NeckSpec:
    """The spec of a registered neck, or of a neck file (``*.toml``: a path, or a shipped file's name);
    otherwise raise with the closest suggestion."""
    if name in NECKS:
        return NECKS[name]
    from fpnprof.model.neckfile import is_neck_file, load_neck_file, loaded_spec, shipped_files  # only for files: ~0.1 s

    loaded = loaded_spec(name)
    if loaded is not None:
        return loaded
    if is_neck_file(name):
        return load_neck_file(name)
    from fpnprof.model.neckfile.revisions import is_file_at_revision, load_file_at_revision

    if is_file_at_revision(name):
        return load_file_at_revision(name)
    if is_code_source(name):
        if CODE_LOADER is None:
            raise ConfigError(f"{name!r} names a neck in code: this command cannot import it")
        return CODE_LOADER(name)
    close = difflib.get_close_matches(name.lower(), list(NECKS), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ConfigError(
        f"unknown neck {name!r}{hint} (known: {', '.join(NECKS)}, or a neck file such as {', '.join(shipped_files()[:2])})"
    )


def check_neck_name(name: str) -> str:
    """Return ``name`` if it names a known neck or a readable neck file; otherwise raise."""
    neck_spec(name)
    return name


def build_graph(cfg: NeckConfig) -> Graph:
    """Backbone plus neck as one validated graph, with its features and outputs named by level."""
    spec = neck_spec(cfg.neck)
    if cfg.variant not in spec.variants:
        raise ConfigError(f"{cfg.neck} comes as {' or '.join(spec.variants)}, not {cfg.variant!r}")
    builder = GraphBuilder()
    features = build_backbone(builder, cfg)
    for level in range(cfg.min_level, cfg.top_input_level + 1):
        require_side(cfg, level, builder.hw(features[level])[0])
    builder.part = Part.NECK
    try:
        outputs = spec.build(builder, cfg, features)
    except GraphError as exc:
        raise ConfigError(
            f"{cfg.neck} ({cfg.variant}) cannot take --size {cfg.size} with --levels {cfg.levels} and the {cfg.stem} stem: {exc}"
        ) from None
    graph = builder.graph
    graph.features = {lvl: features[lvl] for lvl in range(cfg.min_level, cfg.top_input_level + 1)}
    graph.outputs = dict(sorted(outputs.items()))
    graph.validate()
    graph.reorder(graph.canonical_order())  # graph-equal necks (a built-in, its file) run alike
    expected = list(range(cfg.min_level, cfg.max_level + 1))
    if list(graph.outputs) != expected:
        raise ConfigError(f"{cfg.neck} built levels {list(graph.outputs)}, expected {expected}")
    return graph
