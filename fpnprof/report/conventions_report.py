"""``fpnprof conventions``: what each popular FLOP counter would report for a neck, against fpnprof's
FLOPs, per op kind, and (``--measure``) against what the installed counter really reports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fpnprof.cost.counters import Prediction
from fpnprof.model.config import NeckConfig
from fpnprof.report.model import Column, Report, Section
from fpnprof.report.profile_report import title

SCHEMA_VERSION = 1
#: Per-op columns a narrow terminal hides first: counters whose per-op ratios repeat another's
#: (DeepSpeed's MACs: convs alone, as ptflops' aten without the bias).
#: which counters the per-op table hides first where a terminal is narrow (long op names: upsample_nearest)
OP_TABLE_DROP = {"deepspeed-macs": 4, "ptflops-aten": 3, "paddle-flops": 2, "thop": 1}
FPNPROF_MEANING = "every multiply and add: conv bias, BN, adds, fusions, activations, pool comparisons"


@dataclass(frozen=True)
class Measured:
    """One counter run for real: its total, or why there is none (not installed, crashed)."""

    total: int | None
    version: str | None
    problem: str | None = None


def _si(value: int) -> str:
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.2f}{suffix}"
    return str(value)


def op_cell(count: int, flops: int) -> str:
    """A counter's count for one op kind set against fpnprof's FLOPs for it."""
    if count == 0:
        return "-" if flops == 0 else "0"
    if flops == 0:
        return f"+{_si(count)}"
    return f"{count / flops:.2f}x"


def _check(p: Prediction, m: Measured | None) -> str:
    if m is None:
        return ""
    if m.total is None:
        return m.problem or "not run"
    if m.total == p.total:
        return "equal"
    return f"differs by {m.total - p.total:+,}"


def conventions_report(
    cfg: NeckConfig,
    part: str,
    flops: int,
    flops_by_op: dict[str, int],
    flops_by_level: dict[int, int],
    predictions: list[Prediction],
    measured: dict[str, Measured] | None,
    *,
    per_level: bool = False,
) -> Report:
    """One row per counter (fpnprof's FLOPs first), the per-op-kind comparison, and per level on request."""
    rows: list[dict[str, Any]] = [
        {
            "counter": "fpnprof FLOPs",
            "version": "-",
            "unit": "FLOPs",
            "predicted": flops,
            "vs_flops": 1.0,
            "meaning": FPNPROF_MEANING,
        }
    ]
    for p in predictions:
        c, m = p.counter, (measured or {}).get(p.counter.key)
        rows.append(
            {
                "counter": c.name,
                "version": c.version,
                "unit": c.unit,
                "predicted": p.total,
                "vs_flops": p.total / flops if flops else None,
                "measured": m.total if m else None,
                "check": _check(p, m),
                "meaning": c.meaning,
            }
        )
    columns = [
        Column("counter", "counter", "text"),
        Column("version", "rules of", drop=3),
        Column("predicted", "predicted", "int"),
        Column("unit", "unit"),  # never hidden: it tells fvcore's MACs from FLOPs
        Column("vs_flops", "x FLOPs", "ratio", label="ratio to fpnprof's FLOPs", drop=2),
        *([Column("measured", "measured", "int"), Column("check", "check")] if measured is not None else []),
        Column("meaning", "what it counts", "text", drop=1),
    ]
    where = f"{part} alone" if part != "total" else "whole model"
    sections = [Section(f"what each FLOP counter reports ({where}): {title(cfg)}", columns, rows)]
    ops = list(flops_by_op)  # every op kind the graph holds: one nobody counts says so with dashes
    op_rows = [
        {"op": op, "flops": flops_by_op[op], **{p.counter.key: op_cell(p.by_op.get(op, 0), flops_by_op[op]) for p in predictions}}
        for op in ops
    ]
    op_columns = [
        Column("op", "op"),  # never folded: an op name is the row's key
        Column("flops", "FLOPs", "int", label="fpnprof FLOPs"),
        *[
            Column(p.counter.key, p.counter.short, "num", label=p.counter.name, drop=OP_TABLE_DROP.get(p.counter.key, 0))
            for p in predictions
        ],
    ]
    sections.append(Section("per op kind: each counter's count over fpnprof's FLOPs for that op", op_columns, op_rows))
    if per_level:
        level_rows = [
            {
                "level": f"P{level}",
                "flops": flops_by_level[level],
                **{p.counter.key: p.by_level.get(level, 0) for p in predictions},
            }
            for level in sorted(flops_by_level)
        ]
        level_columns = [
            Column("level", "level"),
            Column("flops", "fpnprof FLOPs", "int"),
            *[Column(p.counter.key, p.counter.short, "int", label=p.counter.name) for p in predictions],
        ]
        sections.append(Section("predicted per level (the neck's nodes at each level)", level_columns, level_rows))
    notes = [
        "0: the counter drops an op fpnprof counts; +N: it counts what fpnprof does not; -: neither counts it; Nx: "
        "its count over fpnprof's FLOPs for that op (0.50x: MACs for multiply-adds). FCM: torch FlopCounterMode; aten: ptflops' "
        "aten backend; DS: DeepSpeed's flops profiler; paddle: paddle.flops.",
        "Predictions follow fpnprof's lowering (torch; Paddle for paddle.flops: which ops are layers, which "
        "functional calls) and the "
        "rule versions shown; quote a count with its counter and version, e.g. "
        f"'{_si(predictions[0].total)} MACs (fvcore {predictions[0].counter.version}, {where}, batch {cfg.batch}, "
        f"{cfg.size}x{cfg.size})'.",
    ]
    if measured is None:
        notes.append("--measure runs every installed counter on its lowering and checks each prediction.")
    else:
        for p in predictions:
            m = measured[p.counter.key]
            if m.version is not None and m.version.split("+")[0] != p.counter.version:  # 2.13.0+cpu is 2.13.0
                notes.append(
                    f"{p.counter.name}: measured with {p.counter.package} {m.version}; its rules are for {p.counter.version}."
                )
    data = {
        "schema_version": SCHEMA_VERSION,
        "config": cfg.as_dict(),
        "part": part,
        "fpnprof_flops": flops,
        "fpnprof_flops_by_op": flops_by_op,
        "fpnprof_flops_by_level": {f"P{k}": v for k, v in flops_by_level.items()},
        "counters": [
            {
                "key": p.counter.key,
                "name": p.counter.name,
                "package": p.counter.package,
                "rules_version": p.counter.version,
                "unit": p.counter.unit,
                "meaning": p.counter.meaning,
                "predicted": p.total,
                "predicted_by_op": p.by_op,
                "predicted_by_level": {f"P{k}": v for k, v in p.by_level.items()},
                **(_measured_json(measured[p.counter.key]) if measured is not None else {}),
            }
            for p in predictions
        ],
    }
    return Report(sections, data, notes)


def _measured_json(m: Measured) -> dict[str, Any]:
    return {"measured": m.total, "measured_version": m.version, "problem": m.problem}
