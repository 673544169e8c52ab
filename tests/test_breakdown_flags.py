"""``--breakdown`` flags what a reader must not miss: a node class far below its roof that takes a real
share of the pass, and a drift probe that moved more than 10% while measuring (fake rows, no timing)."""

from __future__ import annotations

from typing import Any

from fake_rows import fake_bench_run, fake_row

from fpnprof.bench.breakdown import Breakdown, BreakdownRow
from fpnprof.bench.flags import reasons
from fpnprof.report.bench_report import bench_report


def _op(name: str, share: float, bound: str, peak_share: float | None) -> BreakdownRow:
    ms = 10.0 * share
    return BreakdownRow(name, 4, ms, share, 10**8, 10**7, 1.0, 10.0, bound, peak_share)


def _breakdown(*ops: BreakdownRow) -> dict[str, Any]:
    """A pass of 10 ms whose per-op rows are ``ops`` (levels: one row holding them all)."""
    node_ms = sum(r.ms for r in ops)
    level = BreakdownRow("P2", 4 * len(ops), node_ms, node_ms / 10.0, 10**8, 10**7, 1.0, 10.0, "compute", 0.5)
    between = BreakdownRow("between nodes", 0, 10.0 - node_ms, 1 - node_ms / 10.0, 0, 0, 0.0, 0.0, "-", None)
    return Breakdown(10.0, 10.0, node_ms, [level], list(ops), between).to_json()


ISSUE_34 = _breakdown(
    _op("conv", 0.55, "compute", 0.40),
    _op("upsample_nearest", 0.34, "memory", 0.014),  # issue 34: 34% of the pass at 1.4% of the copy roof
    _op("add", 0.02, "memory", 0.03),  # as slow, but 2% of the pass: not worth a flag
    _op("relu", 0.04, "overhead", None),  # its fixed costs explain it: no roof to be below
)


def test_a_node_class_far_below_its_roof_is_flagged() -> None:
    flags = reasons(fake_row("fpn", 10.0, breakdown=ISSUE_34), None, 0.025)
    assert "upsample_nearest takes 34% of the pass at 1.4% of its copy roof (under 10%)" in flags
    assert not any(f.startswith(("add ", "conv ", "relu ")) for f in flags), flags


def test_a_probe_drift_over_ten_percent_is_flagged() -> None:
    ok = _breakdown(_op("conv", 0.9, "compute", 0.4))
    flags = reasons(fake_row("fpn", 10.0, breakdown=ok, probe_drift=[0.05, 0.228, -0.03]), None, 0.025)
    assert "drift probe moved +22.8% while measuring (over ±10%): % roof is that uncertain" in flags
    calm = reasons(fake_row("fpn", 10.0, breakdown=ok, probe_drift=[0.05, -0.09]), None, 0.025)
    assert not any("drift" in f for f in calm), calm


def test_bench_prints_both_flags_in_its_notes_with_what_to_do() -> None:
    row = fake_row("fpn", 10.0, breakdown=ISSUE_34, probe_drift=[-0.15])
    row["flags"] = reasons(row, None, 0.025)
    notes = "\n".join(bench_report(fake_bench_run([row])).notes)
    assert "upsample_nearest takes 34% of the pass at 1.4% of its copy roof" in notes
    assert "drift probe moved -15.0% while measuring" in notes
    assert "held back by its kernel" in notes and "quieter machine" in notes  # what to do
