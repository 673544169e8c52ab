"""``fpnprof compare``: one row per neck, every number also as a ratio to a baseline."""

from __future__ import annotations

from typing import Any

from fpnprof.bench.runner import BenchRun
from fpnprof.cost.results import Profile
from fpnprof.model.setups import mixed_setup_note, row_label, same_setup, setup, shared, shared_title, variant_text
from fpnprof.report.bench_report import (
    EXPLAIN_ESTIMATE,
    READ_MORE,
    flag_notes,
    load_note,
    more_time_advice,
    run_note,
    run_summary,
)
from fpnprof.report.compare_latency import NeckLatency
from fpnprof.report.model import Column, Report, Section
from fpnprof.report.provenance import provenance
from fpnprof.report.sweep_report import PEAKS_NOTE

SCHEMA_VERSION = 2
NAME_COLUMNS = [Column("neck", "neck", "text"), Column("variant", "variant", drop=7)]
#: Shown only when the rows run at different setups (otherwise the title states it).
SETUP_COLUMNS = [
    Column("levels_text", "levels"),
    Column("channels", "C", "int"),
    Column("cells", "cells", "int", drop=8),
]
#: A ratio column "x" goes before (drop one higher than) the number it divides.
VALUE_COLUMNS = [
    Column("params", "params", "int"),
    Column("params_ratio", "x", "ratio", label="params ratio"),
    Column("macs", "GMACs (fvcore)", "giga"),
    Column("macs_ratio", "x", "ratio", label="GMACs ratio"),
    Column("flops", "GFLOPs", "giga", drop=5),
    Column("flops_ratio", "x", "ratio", drop=6, label="GFLOPs ratio"),
    Column("neck_peak_bytes", "neck peak MB", "mb", drop=2),
    Column("neck_peak_ratio", "x", "ratio", drop=4, label="neck peak MB ratio"),
    Column("peak_bytes", "pass peak MB", "mb", drop=3),  # the backbone's often: the same for many necks
]
LATENCY_COLUMNS = [
    Column("neck", "neck", "text"),
    Column("variant", "variant", drop=1),
    Column("engine", "engine"),
    Column("ms", "ms (neck)", "ms"),
    Column("ci", "±95%", "num"),
    Column("ratio_text", "x base [95% CI]", "num"),
    Column("ips", "img/s", "float", drop=2),
]


def name_columns(rows: list[dict[str, Any]]) -> list[Column]:
    """The neck, and its variant: a narrow terminal may hide the variant only when every row has the same."""
    uniform = len({r["variant"] for r in rows}) == 1
    return [NAME_COLUMNS[0], Column("variant", "variant", drop=NAME_COLUMNS[1].drop if uniform else 0)]


def _name(row: dict[str, Any]) -> str:
    return row["neck"] if row["variant"] == "-" else f"{row['neck']} ({row['variant']})"


def _ratio(value: float | None, base: float | None) -> float | None:
    if value is None or not base:
        return None
    return value / base


def level_time_section(rows: list[dict[str, Any]], level_names: list[str]) -> Section:
    """Eager ms per level (from --breakdown) beside each level's share of the neck's MACs."""
    table = []
    for r in rows:
        b = r["breakdown"]
        ms = {x["name"]: x["ms"] for x in b["by_level"]}
        cells = {
            name: f"{ms.get(name, 0.0):.2f} ms {r['level_macs'][name] / r['macs'] if r['macs'] else 0:.0%}"
            for name in level_names
            if name in r["level_macs"]
        }
        table.append({"neck": r["neck"], "variant": r["variant"], **cells, "between": f"{b['between_nodes']['ms']:.2f} ms"})
    columns = [Column("neck", "neck", "text"), Column("variant", "variant"), *[Column(n, n, "num") for n in level_names]]
    return Section(
        "eager time per level (ms, then the level's share of neck MACs)",
        [*columns, Column("between", "between nodes", "num")],
        table,
        wide_title=True,
    )


def compare_report(
    profiles: list[Profile],
    names: list[str] | None = None,
    baseline: int = 0,
    latency: list[NeckLatency] | None = None,
    run: BenchRun | None = None,
) -> Report:
    """``names``: each profile's label (default: its neck); ``latency``: per profile, eager and
    deployed ms with their intervals and ratios (from the bench ``run``)."""
    rows: list[dict[str, Any]] = []
    configs = [p.config for p in profiles]
    labels = names or [c.neck for c in configs]
    for i, p in enumerate(profiles):
        t = p.neck_total
        row: dict[str, Any] = {
            "neck": labels[i],
            "variant": variant_text(p.config),
            **setup(p.config),
            "config": p.config.as_dict(),
            "params": t.params,
            "buffers": t.buffers,
            "macs": t.macs,
            "flops": t.flops,
            "neck_peak_bytes": p.neck_peak_bytes,
            "peak_bytes": p.peak_bytes,
            "level_macs": {r.name: r.totals.macs for r in p.levels},
        }
        if latency is not None:
            row.update(latency[i].to_json())
        rows.append(row)
    base = rows[baseline]
    for row in rows:
        for key, ratio_key in (
            ("params", "params_ratio"),
            ("macs", "macs_ratio"),
            ("flops", "flops_ratio"),
            ("neck_peak_bytes", "neck_peak_ratio"),
            ("peak_bytes", "peak_ratio"),
        ):
            if key in row:
                row[ratio_key] = _ratio(row[key], base.get(key))
    cfg = configs[0]
    # tables and notes name a neck file by its own name (JSON keeps the neck as listed)
    shown = [{**r, "neck": row_label(r["neck"], c)} for r, c in zip(rows, configs, strict=True)]
    base_name = _name(shown[baseline])
    title = f"neck comparison: {shared_title(cfg, configs)}; ratios to {base_name}"
    names_columns = name_columns(rows)
    columns = names_columns + ([] if same_setup(configs) else SETUP_COLUMNS) + VALUE_COLUMNS
    # every level any neck has, in order; a neck without a level has a blank there, not 0%
    level_names = [f"P{lvl}" for lvl in sorted({lvl for c in configs for lvl in range(c.min_level, c.max_level + 1)})]
    share_rows = [
        {
            "neck": r["neck"],
            "variant": r["variant"],
            **{
                name: (r["level_macs"][name] / r["macs"] if r["macs"] else 0.0) for name in level_names if name in r["level_macs"]
            },
        }
        for r in shown
    ]
    sections = [
        Section(title, columns, shown, wide_title=True),
        Section(
            "share of neck MACs per level" + ("" if same_setup(configs) else " (blank: a level the neck does not have)"),
            [*names_columns, *[Column(n, n, "bar") for n in level_names]],
            share_rows,
            wide_title=True,
        ),
    ]
    if latency is not None:
        sections.append(
            Section(
                f"latency of the neck alone, eager and deployed; x base: ms over {base_name}'s ms on the same kind of engine",
                LATENCY_COLUMNS,
                [
                    t
                    for r, neck in zip(shown, latency, strict=True)
                    for t in neck.table_rows({"neck": r["neck"], "variant": r["variant"]})
                ],
                wide_title=True,
            )
        )
        if all(r.get("breakdown") for r in rows):
            sections.append(level_time_section(shown, level_names))
    data = {
        "schema_version": SCHEMA_VERSION,
        "baseline": {"neck": base["neck"], "variant": base["variant"]},
        "config": shared(configs),  # what every row shares; each row has its own "config"
        "rows": rows,
        "provenance": provenance(),
    }
    notes = [f"params, GMACs and GFLOPs are for the neck alone; {PEAKS_NOTE}; GMACs follow fvcore, GFLOPs count all arithmetic."]
    mixed = mixed_setup_note([_name(r) for r in shown], configs)
    if mixed:
        notes.insert(0, mixed)
    if latency is not None and run is not None:
        notes += latency_notes(run)
        data["bench"] = {"rows": run.rows, "run": run_summary(run)}
    return Report(sections, data, notes)


def latency_notes(run: BenchRun) -> list[str]:
    """What the latency table's numbers mean, how the run went, and every flagged row's reasons."""
    notes = [
        f"latency of the neck alone: {EXPLAIN_ESTIMATE}; x base: over the baseline's row on the same kind of engine "
        f"(eager, or its fastest deployed one), paired round by round {READ_MORE}.",
        *([f"before measuring: {run.extra['plan']}"] if run.extra.get("plan") else []),
        run_note(run),
    ]
    ok = [r for r in run.rows if "median_ms" in r]
    return notes + [note for note in [load_note(ok)] if note] + flag_notes(ok, more_time_advice(run))
