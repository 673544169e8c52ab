"""``fpnprof import``: read a neck from code into a graph-form neck file, proving the reading first.

The source's object is made (its code runs), traced by its framework's importer
(:mod:`fpnprof.backends.torch_import`, :mod:`fpnprof.backends.paddle_import`), and proven: fpnprof's
lowering of the graph, with the source's weights, must compute what the source computes, with the
same parameter count (and, for torch, fvcore's MACs). Only then is the file written.
"""

from __future__ import annotations

import json
import shlex
import sys
from dataclasses import dataclass, replace
from typing import Any

from fpnprof.backends.code_source import file_hash, make_object, parse_kwargs, parse_source, source_file
from fpnprof.errors import ImportDisproved, ImportRefused
from fpnprof.model.backbone import level_sides
from fpnprof.model.graph import Shape
from fpnprof.model.graphneck import GraphNeck, SourceInfo, input_level
from fpnprof.model.graphneck_build import standalone_graph
from fpnprof.model.neckfile.graphform import level_sized, write_graph_form

FRAMEWORKS = ("torch", "paddle")


@dataclass(frozen=True)
class ImportRequest:
    """What to import and at what inputs: one tensor per level from ``min_level`` with ``in_channels``,
    at the sides fpnprof's backbone gives a ``size`` image through ``stem``."""

    source: str
    in_channels: tuple[int, ...]
    kwargs: str | None = None
    min_level: int = 3
    size: int = 64
    stem: str = "tutorial"
    batch: int = 1
    name: str | None = None
    description: str | None = None

    def input_shapes(self) -> dict[int, Shape]:
        top = self.min_level + len(self.in_channels) - 1
        sides = level_sides(self.size, self.stem, top)
        return {level: (self.batch, c, sides[level], sides[level]) for level, c in enumerate(self.in_channels, self.min_level)}


@dataclass(frozen=True)
class Imported:
    """An import that proved itself: the neck, its file's text, and the proof's one line."""

    neck: GraphNeck
    text: str
    proof_line: str
    framework: str


def framework_of(made: Any) -> str:
    """``torch`` or ``paddle``, by the object's base class (only frameworks already imported are asked)."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(made, torch.nn.Module):
        return "torch"
    paddle = sys.modules.get("paddle")
    if paddle is not None and isinstance(made, paddle.nn.Layer):
        return "paddle"
    raise ImportRefused(f"the source made a {type(made).__name__}, not a torch nn.Module or a Paddle nn.Layer")


def command_line(req: ImportRequest) -> str:
    """The import as a command that can be run again (the file header says it)."""
    words = ["fpnprof", "import", req.source, "--in-channels", ",".join(str(c) for c in req.in_channels)]
    if req.kwargs and req.kwargs.strip() not in ("", "{}"):
        words += ["--kwargs", req.kwargs]
    defaults = ImportRequest(req.source, req.in_channels)
    for option, value, default in (
        ("--min-level", req.min_level, defaults.min_level),
        ("--size", req.size, defaults.size),
        ("--stem", req.stem, defaults.stem),
        ("--batch", req.batch, defaults.batch),
    ):
        if value != default:
            words += [option, str(value)]
    if req.name:
        words += ["--name", req.name]
    if req.description:
        words += ["--description", req.description]
    return shlex.join(words)


def check_levels_read(req: ImportRequest, neck: GraphNeck) -> None:
    """Refuse levels given that the forward never reads (more --in-channels than the module takes)."""
    read = {input_level(ref) for op in neck.ops for ref in op.inputs} | {input_level(ref) for ref in neck.outputs.values()}
    given = sorted(neck.in_channels)
    unread = [lvl for lvl in given if lvl not in read]
    if unread:
        used = [lvl for lvl in given if lvl in read]
        span = f"C{used[0]}..C{used[-1]}" if used else "none of them"
        raise ImportRefused(
            f"{req.source}: --in-channels gave {len(given)} levels (C{given[0]}..C{given[-1]}), its forward reads "
            f"{span}: give one width per level it takes"
        )


def _header(req: ImportRequest, framework: str) -> str:
    return (
        f"Imported by `{command_line(req)}` ({framework}), proven against it before it was written.\n"
        "fpnprof reads this file as data and never runs the source; to follow a change in the code, import it again."
    )


def run_import(req: ImportRequest) -> Imported:
    """Import, prove and render ``req``; raise ImportRefused (exit 2) or ImportDisproved (exit 1)."""
    source = parse_source(req.source)
    kwargs = parse_kwargs(req.kwargs)
    if req.min_level < 2 or not req.in_channels:
        raise ImportRefused("--in-channels needs one width per level from --min-level up, e.g. 128,256,512")
    shapes = req.input_shapes()
    if req.size < 1 or req.batch < 1 or any(min(shape[2], shape[3]) < 1 for shape in shapes.values()):
        raise ImportRefused(f"--size {req.size} and --batch {req.batch} give no inputs to trace: every level needs 1x1 or more")
    made = make_object(source, kwargs)
    framework = framework_of(made)
    name = req.name or source.name
    if framework == "torch":
        from fpnprof.backends import torch_import as importer
    else:
        from fpnprof.backends import paddle_import as importer  # type: ignore[no-redef]
    neck, proof_ok, proof_line = importer.import_and_prove(made, shapes, name)
    check_levels_read(req, neck)
    if not proof_ok:
        hint = ""
        if "parameter counts differ" in proof_line:
            hint = " (a module holding parameters its forward did not use: does it take more levels than --in-channels gave?)"
        raise ImportDisproved(f"{req.source}: the imported graph does not compute what the source computes: {proof_line}{hint}")
    info = SourceInfo(
        object=req.source,
        framework=framework,
        kwargs=json.dumps(kwargs, sort_keys=True),
        sha256=file_hash(source_file(source, made)),
        size=req.size,
        stem=req.stem,
        batch=req.batch,
    )
    description = req.description or f"{source.name} from {req.source} ({framework}), imported"
    neck = replace(neck, ops=level_sized(neck.ops, traced_sides(neck, shapes)), source=info, description=description)
    return Imported(neck, write_graph_form(neck, _header(req, framework)), proof_line, framework)


def traced_sides(neck: GraphNeck, shapes: dict[int, Shape]) -> dict[int, tuple[int, int]]:
    """Each level's side as traced: the first node's output at that level (the inputs' first)."""
    sides: dict[int, tuple[int, int]] = {}
    for node in standalone_graph(neck, shapes):
        sides.setdefault(node.level, (node.shape[2], node.shape[3]))
    return sides
