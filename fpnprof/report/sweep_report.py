"""``fpnprof sweep``: one row per configuration, the Pareto front marked and listed on its own."""

from __future__ import annotations

from fpnprof.cost.sweep import SweepRow
from fpnprof.model.setups import row_label, setup, variant_text
from fpnprof.report.model import Column, Report, Section

SCHEMA_VERSION = 1
FRONT_MARK = "*"
#: What the two peaks are (sweep's and compare's footers).
PEAKS_NOTE = (
    "neck peak MB: live activations at their highest while the neck runs (the features it reads included); "
    "pass peak MB: the whole forward pass's, backbone included"
)


def configurations(n: int) -> str:
    """``1 configuration``, ``3 configurations``."""
    return f"{n} configuration{'' if n == 1 else 's'}"


def design_columns(varied: list[str], *, unswept_drop: int = 3, variant_drop: int = 2) -> list[Column]:
    """A sweep table's first columns: the front mark, the neck, and its design (a swept axis always
    shows; one not swept may go in a narrow terminal, at ``unswept_drop``), then params."""

    def axis(key: str, header: str, kind: str, name: str) -> Column:
        return Column(key, header, kind, drop=0 if name in varied else unswept_drop)

    return [
        Column("front", "front"),
        Column("neck", "neck", "text"),
        Column("variant", "variant", drop=variant_drop),
        axis("channels", "channels", "int", "channels"),
        axis("cells", "cells", "int", "cells"),
        axis("levels_text", "levels", "str", "levels"),
        axis("size", "size", "int", "size"),
        Column("params", "params", "int"),
    ]


def _columns(varied: list[str], timed: bool, predicted: bool) -> list[Column]:
    return [
        *design_columns(varied),
        Column("macs", "GMACs (fvcore)", "giga"),
        Column("flops", "GFLOPs", "giga", drop=5),
        Column("neck_peak_bytes", "neck peak MB", "mb", drop=1),
        Column("peak_bytes", "pass peak MB", "mb", drop=4),  # the backbone's often: the same for many rows
        *([Column("latency_ms", "ms (neck)", "ms"), Column("ci", "±95%", "num", drop=2)] if timed else []),
        *(
            [
                Column("predicted_latency_ms", "predicted ms", "ms"),
                Column("interval", "interval", drop=2),
                Column("extrap", "extrap."),
            ]
            if predicted
            else []
        ),
    ]


def sweep_report(
    rows: list[SweepRow], varied: list[str], seconds: float, *, timed: bool = False, predicted: str | None = None
) -> Report:
    """``predicted``: the latency model's setup when latency is predicted (the front is then by it)."""
    ok = [r for r in rows if r.error is None]
    table = [
        r.to_json()
        | setup(r.config)
        | {
            "neck": row_label(r.config.neck, r.config),
            "variant": variant_text(r.config),
            "front": FRONT_MARK if r.front else "",
            "ci": f"±{r.latency_ci_pct:.1f}%" if r.latency_ci_pct else "-",
            "interval": f"{r.predicted_low_ms:.2f}-{r.predicted_high_ms:.2f}" if r.predicted_low_ms is not None else "-",
            "extrap": "yes" if r.predicted_extrapolated else "",
        }
        for r in ok
    ]
    cost, cost_key = (
        ("PREDICTED latency", "predicted_latency_ms") if predicted else ("latency", "latency_ms") if timed else ("MACs", "macs")
    )
    front = sorted((t for t in table if t["front"]), key=lambda t: (t["size"], t[cost_key], t["params"]))
    columns = _columns(varied, timed, predicted is not None)
    per_size = " per input size" if len({t["size"] for t in table}) > 1 else ""
    sections = [
        Section(
            f"sweep: {configurations(len(rows))}, neck alone; {FRONT_MARK} = Pareto front{per_size} (most params for the {cost})",
            columns,
            table,
            wide_title=True,
        )
    ]
    if len(front) < len(table):  # a front of every row would print the table again
        sections.append(
            Section(
                f"the Pareto front{per_size}, by {cost}: no other configuration{' of its size' if per_size else ''} has "
                f"more params for no more {cost}",
                columns,
                front,
                wide_title=True,
            )
        )
    notes = [
        f"priced {configurations(len(rows))} in {seconds:.2f} s ({len(rows) / max(seconds, 1e-9):,.0f} configs/s); "
        f"params, GMACs and GFLOPs are the neck's; {PEAKS_NOTE}."
    ]
    if table and len(front) == len(table):
        notes.append(f"every configuration is on the Pareto front{per_size}, so the front is not printed again.")
    if predicted:
        notes.append(f"predicted ms: fpnprof's latency model of {predicted}, not measured; time a row with fpnprof bench.")
        past = sum(bool(r.predicted_extrapolated) for r in ok)
        if past:
            notes.append(
                f"{past} of {len(ok)} configurations are extrapolated (extrap. yes): past the ranges the latency model "
                "was fitted on, each priced with a wider interval; time one with fpnprof bench before trusting it."
            )
    refused = [r for r in rows if r.error is not None]
    if refused:
        notes.append(f"{configurations(len(refused))} cannot be built, e.g. {refused[0].error}")
    data = {"schema_version": SCHEMA_VERSION, "rows": [r.to_json() for r in rows], "seconds": seconds}
    return Report(sections, data, notes)
