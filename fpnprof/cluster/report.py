"""A cluster sweep's table: one section per node kind (its fingerprint in the title), each
configuration's ms on its node and its ratio to the baseline timed beside it there, the Pareto front
of params against that ratio marked within the kind alone, and what was resumed, stored, or not
measured, under it."""

from __future__ import annotations

from typing import Any

from fpnprof.cluster.results import Measured
from fpnprof.cluster.sweep import ClusterSweep
from fpnprof.cost.sweep import pareto_front
from fpnprof.model.setups import row_label, setup, variant_text
from fpnprof.report.model import Column, Report, Section
from fpnprof.report.sweep_report import FRONT_MARK, configurations, design_columns

SCHEMA_VERSION = 1


def _columns(varied: list[str]) -> list[Column]:
    return [
        *design_columns(varied, unswept_drop=4, variant_drop=3),
        Column("macs", "GMACs (fvcore)", "giga", drop=5),
        Column("latency_ms", "ms (neck)", "ms"),
        Column("ci", "±95%", "num", drop=2),
        Column("ratio_text", "x base [95% CI]", "num"),
        Column("node", "node", drop=6),
        Column("from", "from", drop=1),
    ]


def _nodes(n: int) -> str:
    return f"{n} node{'s' if n != 1 else ''}"


def ratio_text(m: Measured) -> str:
    """As bench says a ratio: settled ``1.35x [1.31-1.39]``, or ``~1.35x ±6.2%`` while unresolved."""
    if m.ratio is None:
        return "-"
    if m.ratio_half_pct == 0.0 and m.ratio == 1.0 and m.ratio_low == 1.0:
        return "1.00x (base)"
    if not m.resolved or m.ratio_low is None or m.ratio_high is None:
        half = m.ratio_half_pct
        return f"~{m.ratio:.2f}x " + ("no CI" if half is None else f"±{half:.1f}%")
    return f"{m.ratio:.2f}x [{m.ratio_low:.2f}-{m.ratio_high:.2f}]"


def kinds_in(sweep: ClusterSweep) -> dict[str, str]:
    """Each kind with results (the pools' first, in their order), and its description."""
    kinds = {p.kind: p.description for p in sweep.pools}
    for _, m in sweep.results:
        kinds.setdefault(m.kind, m.kind_text)
    return {k: v for k, v in kinds.items() if any(m.kind == k for _, m in sweep.results)}


def front_of(results: list[tuple[int, Measured, int]]) -> set[int]:
    """Row indices on the Pareto front of (ratio, -params), one front per input size, among results
    of one kind (``(row index, result, params)``)."""
    on: set[int] = set()
    for size in {m.config.get("size") for _, m, _ in results}:
        keyed = [(i, (m.ratio, -params)) for i, m, params in results if m.config.get("size") == size and m.ratio is not None]
        flags = pareto_front([k for _, k in keyed])
        on |= {i for (i, _), flag in zip(keyed, flags, strict=True) if flag}
    return on


def table_row(sweep: ClusterSweep, index: int, m: Measured, front: bool) -> dict[str, Any]:
    row = sweep.rows[index]
    cfg = row.config
    return (
        row.to_json()
        | setup(cfg)
        | {
            "neck": row_label(cfg.neck, cfg),
            "variant": variant_text(cfg),
            "front": FRONT_MARK if front else "",
            "pareto": front,
            "kind": m.kind,
            "node": m.node,
            "latency_ms": m.ms,
            "latency_ci95_ms": None if m.low is None else [m.low, m.high],
            "latency_ci95_half_pct": m.half_pct,
            "ci": "no CI" if m.half_pct is None else f"±{m.half_pct:.1f}%",
            "ratio": m.ratio,
            "ratio_ci95": None if m.ratio_low is None else [m.ratio_low, m.ratio_high],
            "ratio_ci95_half_pct": m.ratio_half_pct,
            "ratio_text": ratio_text(m),
            "resolved": m.resolved,
            "workers": m.workers,
            "baseline_ms": m.baseline_ms,
            "flags": m.flags,
            "stored": m.stored,
            "from": "stored" if m.stored else "new",
            "key": m.key,
        }
    )


def cluster_sweep_report(sweep: ClusterSweep, varied: list[str]) -> Report:
    columns = _columns(varied)
    sections, data_rows = [], []
    kinds = kinds_in(sweep)
    nodes = {p.kind: len(p.nodes) for p in sweep.pools}
    for kind, text in kinds.items():
        mine = [(item.index, m, sweep.rows[item.index].params) for item, m in sweep.results if m.kind == kind]
        mine.sort(key=lambda x: x[0])
        front = front_of(mine)
        rows = [table_row(sweep, i, m, i in front) for i, m, _ in mine]
        data_rows += rows
        on = f" on {_nodes(nodes[kind])}" if kind in nodes else ""
        title = (
            f"node kind {kind} ({text}){on}: {configurations(len(rows))}; x base: over configuration 1 timed beside it "
            f"on the same node; {FRONT_MARK} = Pareto front (most params for the ratio)"
        )
        sections.append(Section(title, columns, rows, wide_title=True))
    for index, why in sorted(sweep.missing.items()):
        data_rows.append(sweep.rows[index].to_json() | {"kind": None, "error": why, "stored": False})
    data_rows += [r.to_json() | {"kind": None} for r in sweep.rows if r.error is not None]
    return Report(sections, _data(sweep, kinds, data_rows), _notes(sweep, kinds))


def _data(sweep: ClusterSweep, kinds: dict[str, str], rows: list[dict[str, Any]]) -> dict[str, Any]:
    fingerprints = {m.kind: m.fingerprint for _, m in sweep.results}
    return {
        "schema_version": SCHEMA_VERSION,
        "cluster": {
            "where": sweep.option.where,
            "address": sweep.option.address,
            "store": sweep.store,
            "node_kind": sweep.node_kind,
            "kinds": {
                k: {
                    "description": text,
                    "fingerprint": fingerprints.get(k),
                    "nodes": [n.identity.hostname for p in sweep.pools if p.kind == k for n in p.nodes],
                }
                for k, text in kinds.items()
            },
            "configurations": len(sweep.items),
            "skipped": sweep.skipped,
            "measured": sum(not m.stored for _, m in sweep.results),
            "stored": sweep.stored,
            "not_measured": len(sweep.missing),
            "group_size": sweep.size,
            "groups": sweep.groups,
            "store_error": sweep.store_error,
        },
        "rows": rows,
        "seconds": sweep.seconds,
    }


def _notes(sweep: ClusterSweep, kinds: dict[str, str]) -> list[str]:
    n = len(sweep.items)
    notes = list(sweep.notes)
    if sweep.items:
        base = sweep.rows[sweep.items[0].index].config
        notes.append(
            f"x base: each configuration's ms over configuration 1's ({row_label(base.neck, base)}, channels {base.channels}) "
            "timed beside it in the same worker processes on the same node, paired round by round; ms and ±95% as bench "
            "gives them (README: Reading latency); absolute ms are the node's. Ratios and fronts are within one node kind, "
            "never across kinds."
        )
    if len(kinds) > 1:
        notes.append(
            f"{len(kinds)} node kinds: each configuration is measured once, on a node of one kind, so each kind's front "
            "covers its own rows only; --node-kind KIND measures every configuration on that kind."
        )
    if sweep.skipped:
        notes.append(
            f"resumed: {sweep.skipped} of {n} configurations were stored in {sweep.store} already (from: stored): "
            "not measured again."
        )
    if sweep.store is None:
        notes.append("nothing stored (--no-history): the same command measures everything again.")
    elif sweep.groups:
        notes.append(f"stored {sweep.stored} new results in {sweep.store}, each group's as it came in.")
    if sweep.store_error:
        notes.append(
            f"! some results could not be stored ({sweep.store_error}): they show here; the same command measures them again."
        )
    unresolved = sum(not m.resolved for _, m in sweep.results)
    if unresolved:
        kept = (
            "stored as they are, so a rerun skips them; --no-history or another --save file measures afresh"
            if sweep.store is not None
            else "a larger --max-time narrows them"
        )
        notes.append(
            f"! {unresolved} ratio{'s' if unresolved != 1 else ''} unresolved (~: wider than --precision within its group's "
            f"--max-time; on a cluster --max-time caps each group): {kept}."
        )
    if sweep.missing:
        first, why = next(iter(sorted(sweep.missing.items())))
        notes.append(
            f"! {configurations(len(sweep.missing))} not measured and not stored (the same command measures them), "
            f"e.g. {row_label(sweep.rows[first].config.neck, sweep.rows[first].config)} channels "
            f"{sweep.rows[first].config.channels}: {why}"
        )
    if sweep.groups:
        pools = len(sweep.pools)
        notes.append(
            f"ran {sweep.groups} group{'s' if sweep.groups != 1 else ''} of up to {sweep.size} configurations (each with "
            f"configuration 1 beside it) on {_nodes(sum(len(p.nodes) for p in sweep.pools))} of {pools} kind"
            f"{'s' if pools != 1 else ''} ({sweep.option.where}) in {sweep.seconds:.0f} s."
        )
    refused = [r for r in sweep.rows if r.error is not None]
    if refused:
        notes.append(f"{configurations(len(refused))} cannot be built, e.g. {refused[0].error}")
    notes.append("params and GMACs (fvcore) are the neck's.")
    return notes
