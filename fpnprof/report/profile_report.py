"""Turn a :class:`~fpnprof.cost.results.Profile` into a format-neutral report (``fpnprof shapes``)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fpnprof.cost.ops import fvcore_note
from fpnprof.cost.results import Profile, Totals
from fpnprof.model.config import NeckConfig
from fpnprof.model.necks import neck_spec
from fpnprof.model.setups import about, cells_text, config_json, neck_label, variant_json, width_text
from fpnprof.report.model import Column, Report, Section
from fpnprof.report.provenance import provenance

SCHEMA_VERSION = 1

LEVEL_COLUMNS = [
    Column("name", "level"),
    Column("stride", "stride", "int", drop=2),
    Column("input_shape", "input", drop=1),
    Column("output_shape", "output"),
    Column("params", "params", "int"),
    Column("macs", "GMACs (fvcore)", "giga"),
    Column("flops", "GFLOPs", "giga"),
    Column("bytes", "MB written", "mb"),
]


def title(cfg: NeckConfig) -> str:
    backbone = "features" if cfg.backbone == "none" else f"ResNet18 ({cfg.stem} stem)"
    return (
        f"{neck_label(cfg)} over {backbone}: P{cfg.min_level}-P{cfg.max_level}, {width_text(cfg)}{cells_text(cfg)}"
        f", batch {cfg.batch}, {cfg.size}x{cfg.size}"
    )


def _totals_row(name: str, t: Totals) -> dict[str, Any]:
    return {"name": name, "params": t.params, "buffers": t.buffers, "macs": t.macs, "flops": t.flops, "bytes": t.bytes}


def _part_json(t: Totals) -> dict[str, int]:
    return {"params": t.params, "buffers": t.buffers, "macs": t.macs, "flops": t.flops, "bytes": t.bytes}


def profile_data(p: Profile, *, detail: bool = False, by_op: bool = False) -> dict[str, Any]:
    """The JSON payload of ``shapes`` (integers, never rounded)."""
    cfg = p.config
    data: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "neck": cfg.neck,
        "variant": variant_json(cfg),
        "name": neck_spec(cfg.neck).title or cfg.neck,
        "description": neck_spec(cfg.neck).description,
        "config": config_json(cfg),
        "levels": [
            {
                "name": row.name,
                "stride": row.stride,
                "input_shape": list(row.input_shape) if row.input_shape else None,
                "output_shape": list(row.output_shape),
                **_part_json(row.totals),
            }
            for row in p.levels
        ],
        "neck_total": _part_json(p.neck_total),
        "backbone_total": _part_json(p.backbone_total),
        "model_total": _part_json(p.model_total),
        "peak_activation_bytes": p.peak_bytes,
        "provenance": provenance(),
    }
    if detail:
        data["nodes"] = [
            {
                "id": n.id,
                "op": n.op,
                "level": n.level,
                "part": n.part,
                "shape": list(n.shape),
                "shares": n.shares,
                **asdict(n.totals),
            }
            for n in p.nodes
        ]
    if by_op:
        data["by_op"] = [{**asdict(o), "fvcore": fvcore_note(o.op)} for o in p.by_op]
    return data


def profile_report(p: Profile, *, detail: bool = False, by_op: bool = False) -> Report:
    cfg = p.config
    levels = Section(
        title(cfg),
        LEVEL_COLUMNS,
        rows=[
            {
                "name": r.name,
                "stride": r.stride,
                "input_shape": r.input_shape if r.input_shape else "(made by neck)",
                "output_shape": r.output_shape,
                **_totals_row(r.name, r.totals),
            }
            for r in p.levels
        ],
        totals=[
            _totals_row("neck total", p.neck_total),
            _totals_row("backbone", p.backbone_total),
            _totals_row("model total", p.model_total),
        ],
    )
    sections = [levels]
    if detail:
        sections.append(
            Section(
                "per node (neck)",
                [
                    Column("id", "node", "text"),
                    Column("op", "op", drop=2),
                    Column("name", "level", drop=1),
                    Column("shape", "output"),
                    *LEVEL_COLUMNS[4:],
                ],
                rows=[
                    {"id": n.id, "op": n.op, "name": f"P{n.level}", "shape": n.shape, **asdict(n.totals)}
                    | ({"id": f"{n.id} (shares {n.shares})"} if n.shares else {})
                    for n in p.nodes
                    if n.part == "neck"
                ],
            )
        )
    if by_op:
        sections.append(
            Section(
                "per op type (neck)",
                [
                    Column("op", "op"),
                    Column("count", "nodes", "int"),
                    Column("macs", "GMACs (fvcore)", "giga"),
                    Column("flops", "GFLOPs", "giga"),
                    Column("fvcore", "fvcore counts"),
                ],
                rows=[{**asdict(o), "fvcore": fvcore_note(o.op)} for o in p.by_op],
            )
        )
    notes = [
        "MB written: every tensor the neck's nodes at that level write, summed, though they are not all live at "
        f"once; peak live activations (forward, {cfg.dtype}): {p.peak_bytes / 2**20:.2f} MB, "
        f"{p.neck_peak_bytes / 2**20:.2f} MB while the neck runs; GMACs follow fvcore (conv bias ignored; add, pools and "
        "activations are 0); GFLOPs count all arithmetic."
    ]
    notes[:0] = [line for line in [about(cfg)] if line]
    return Report(sections, profile_data(p, detail=detail, by_op=by_op), notes)
