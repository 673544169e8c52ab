"""What ``sweep --bench --cluster`` does, apart from parsing its options: price the configurations,
choose the store (the run history, or ``--save FILE.jsonl``), measure on the cluster
(:mod:`fpnprof.cluster`), and build the table by node kind."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fpnprof.errors import ConfigError
from fpnprof.model.config import NeckConfig
from fpnprof.report.model import Report

if TYPE_CHECKING:
    from fpnprof.bench.runner import OnProgress
    from fpnprof.cli.commands import Timing
    from fpnprof.cluster.store import ResultStore

#: ``--save`` names a JSON Lines store when its name ends so.
JSONL = ".jsonl"


def check_node_kind_has_cluster(cluster: str | None, node_kind: str | None) -> None:
    """``--node-kind`` picks a cluster's nodes: refused without ``--cluster``."""
    if cluster is None and node_kind is not None:
        raise ConfigError("--node-kind picks the nodes of a cluster: give --cluster ray=ADDRESS too")


def check_cluster_options(cluster: str | None, node_kind: str | None, *, bench: bool, plot: Path | None) -> None:
    """Refuse, before any work, what a cluster sweep cannot do (and ``--cluster`` without Ray)."""
    from fpnprof.cluster.connect import import_ray, parse_cluster
    from fpnprof.cluster.kinds import check_kind_name

    check_node_kind_has_cluster(cluster, node_kind)
    if cluster is None:
        return
    parse_cluster(cluster)
    if not bench:
        raise ConfigError("--cluster times the configurations on a Ray cluster: add --bench")
    if plot is not None:
        raise ConfigError("--plot draws one machine's front; with --cluster the table gives a front per node kind")
    if node_kind is not None:
        check_kind_name(node_kind, "--node-kind")
    import_ray()


def result_store(save: Path | None, history: Path | None, record: bool) -> ResultStore | None:
    """``--save FILE.jsonl``: that file; else the run history (``record``: not ``--no-history``), else none."""
    from fpnprof.cluster.store import HistoryResults, JsonlResults

    if save is not None and save.suffix.lower() == JSONL:
        return JsonlResults(save)
    if record:
        from fpnprof.history.location import history_path

        return HistoryResults(history_path(history))
    return None


def run_sweep_on_cluster(
    bases: list[NeckConfig],
    axes: dict[str, list[int]],
    *,
    timing: Timing,
    cluster: str,
    node_kind: str | None,
    store: ResultStore | None,
    argv: str,
    workers: int | None = None,
    on_progress: OnProgress | None = None,
) -> Report:
    """Every configuration priced here, then measured on the cluster, each paired with the first
    on its node; the report has a section per node kind."""
    from fpnprof.backends.registry import resolve_backend
    from fpnprof.cluster.connect import parse_cluster
    from fpnprof.cluster.plan import TimingSetup
    from fpnprof.cluster.report import cluster_sweep_report
    from fpnprof.cluster.sweep import sweep_on_cluster
    from fpnprof.cost.sweep import expand, run_sweep

    configs, knob_notes = expand(bases, axes)
    if not configs:
        raise ConfigError("the sweep has no configuration fpnprof can take")
    rows = run_sweep(configs, workers=workers)
    setup = TimingSetup(
        resolve_backend(timing.backend, timing.device), timing.device, timing.threads, timing.warmup, timing.measurement
    )
    sweep = sweep_on_cluster(
        rows, setup, parse_cluster(cluster), node_kind=node_kind, store=store, argv=argv, on_progress=on_progress
    )
    report = cluster_sweep_report(sweep, [a for a in axes if len(axes[a]) > 1])
    report.notes += knob_notes
    return report
