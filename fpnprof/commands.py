"""One typed function per CLI command; each returns a report (the CLI only renders it)."""

from __future__ import annotations

from fpnprof.analysis import profile_graph
from fpnprof.config import BACKBONES, DEFAULT_LEVELS, STEMS, VARIANTS, NeckConfig
from fpnprof.necks import NECKS, build_graph
from fpnprof.report.model import Column, Report, Section
from fpnprof.report.profile_report import profile_report


def run_shapes(cfg: NeckConfig, *, detail: bool = False, by_op: bool = False, verify_with: str | None = None) -> Report:
    graph = build_graph(cfg)
    p = profile_graph(cfg, graph)
    report = profile_report(p, detail=detail, by_op=by_op)
    if verify_with is not None:
        from fpnprof.verify import verify

        result = verify(p, graph, verify_with)
        report.notes.append(f"verified with {result.backend} {result.framework_version}: " + ", ".join(result.checks) + " match.")
        report.data["verification"] = {
            "backend": result.backend,
            "framework_version": result.framework_version,
            "nodes_checked": result.nodes_checked,
            "params": result.params,
            "buffers": result.buffers,
            "checks": result.checks,
        }
    return report


def run_list() -> Report:
    from fpnprof.backends import BACKENDS

    rows = [{"what": "neck", "values": ", ".join(f"{n} (default --levels {DEFAULT_LEVELS[n]})" for n in NECKS)},
            {"what": "variant", "values": ", ".join(VARIANTS)},
            {"what": "stem", "values": ", ".join(STEMS)},
            {"what": "backbone", "values": ", ".join(BACKBONES)},
            {"what": "backend", "values": ", ".join(BACKENDS)}]
    data = {"necks": list(NECKS), "variants": list(VARIANTS), "stems": list(STEMS), "backbones": list(BACKBONES),
            "backends": list(BACKENDS)}
    return Report([Section("fpnprof knows", [Column("what", "kind"), Column("values", "choices")], rows)], data)
