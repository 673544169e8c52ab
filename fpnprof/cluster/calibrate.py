"""``calibrate --cluster``: one latency model per node kind, each calibrated on a node of that kind
(a task that has the node to itself) and saved by the driver beside the default model file, under
the kind's name (:func:`fpnprof.cluster.kinds.kind_model_path`); ``predict`` then picks the model of
the kind of the machine it runs on, or the one ``--node-kind`` names."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from fpnprof.bench.schedule import Progress
from fpnprof.cluster.connect import ClusterOption, connected
from fpnprof.cluster.kinds import NodeIdentity, kind_model_path
from fpnprof.cluster.nodes import check_threads, discover, pools_of
from fpnprof.cluster.sweep import CANCEL_WAIT_S, MAX_RETRIES, POLL_S, failure
from fpnprof.cluster.tasks import Calibrator, calibrate_here, niced_note
from fpnprof.errors import ConfigError
from fpnprof.report.model import Column, Report, Section


@dataclass(frozen=True)
class KindModel:
    """A kind's model as saved (or why there is none)."""

    kind: str
    description: str
    nodes: int
    node: str | None = None
    path: Path | None = None
    sha256: str | None = None
    band: tuple[float, float] | None = None
    seconds: float | None = None
    error: str | None = None
    #: the niceness it was calibrated at (above 0: below a plain run's priority)
    niceness: int = 0


#: The default model file of a fingerprint (the latency model's ``default_path`` from its fields).
DefaultPath = Callable[[dict[str, Any]], Path]


def calibrate_on_cluster(
    option: ClusterOption,
    calibrator: Calibrator,
    *,
    backend: str,
    device: str,
    default_path: DefaultPath,
    node_kind: str | None = None,
    threads: int = 0,
    budget_s: float = 300.0,
    on_progress: Callable[[Progress], None] | None = None,
) -> list[KindModel]:
    """A model per node kind (``node_kind``: that one), calibrated on one of its nodes, checked (its
    seal) and saved at ``kind_model_path(default_path(its fingerprint), kind)``; ``threads`` as typed
    (0: each node's cores), checked against each kind's cores."""
    from fpnprof.latency.model import model_from_json, save_model

    with connected(option) as ray:
        nodes, _ = discover(ray, backend, device)
        pools, _ = pools_of(nodes, node_kind)
        check_threads(pools, threads)
        remote = ray.remote(calibrate_here)
        refs = {
            remote.options(**pool.options(), max_retries=MAX_RETRIES, retry_exceptions=False).remote(
                calibrator, backend, device
            ): pool
            for pool in pools
        }
        out: dict[str, KindModel] = {}
        start = time.monotonic()
        try:
            while len(out) < len(refs):
                if on_progress is not None:
                    eta = max(0.0, budget_s - (time.monotonic() - start))
                    on_progress(Progress(len(out), len(refs), eta, f"calibrate: one node of each of {len(refs)} kinds", "kinds"))
                ready, _ = ray.wait([r for r in refs if refs[r].kind not in out], num_returns=1, timeout=POLL_S)
                for ref in ready:
                    pool = refs[ref]
                    base = KindModel(pool.kind, pool.description, len(pool.nodes))
                    try:
                        answer = ray.get(ref)
                        model = model_from_json(answer["model"])
                    except Exception as exc:
                        out[pool.kind] = replace(base, error=failure(exc))
                        continue
                    identity = NodeIdentity.from_json(answer["identity"])
                    path = save_model(model, kind_model_path(default_path(model.fingerprint), identity.kind))
                    out[pool.kind] = KindModel(
                        pool.kind,
                        pool.description,
                        len(pool.nodes),
                        identity.hostname,
                        path,
                        model.seal(),
                        model.band,
                        answer["seconds"],
                        niceness=int(answer.get("niceness", 0)),
                    )
        except BaseException:
            left = [r for r in refs if refs[r].kind not in out]
            for ref in left:
                ray.cancel(ref)
            if left:
                ray.wait(left, num_returns=len(left), timeout=CANCEL_WAIT_S)
            raise
    return [out[p.kind] for p in pools]


def calibration_report(models: list[KindModel]) -> Report:
    rows = [
        {
            "kind": m.kind,
            "description": m.description,
            "nodes": m.nodes,
            "node": m.node,
            "band": None if m.band is None else f"{m.band[0]:.2f}-{m.band[1]:.2f}",
            "seconds": m.seconds,
            "path": None if m.path is None else str(m.path),
            "sha256": m.sha256,
            "error": m.error,
            "model": str(m.path) if m.path else f"not made: {m.error}",
        }
        for m in models
    ]
    columns = [
        Column("kind", "node kind"),
        Column("description", "machine", "text"),
        Column("nodes", "nodes", "int", drop=2),
        Column("node", "calibrated on", drop=3),
        Column("band", "band", drop=1),
        Column("seconds", "s", "float", drop=4),
        Column("model", "model file", "text"),
    ]
    notes = [
        "one latency model per node kind, each calibrated on a node of that kind (the node to itself) and saved here "
        "under the kind's name; fpnprof predict picks the model of the machine it runs on (its kind), or --node-kind KIND's.",
    ]
    notes += [niced_note(m.node or m.kind, m.niceness) for m in models if m.niceness > 0]
    failed = [m for m in models if m.error]
    if failed:
        notes.append(
            f"! {len(failed)} kind{'s' if len(failed) != 1 else ''} without a model: {failed[0].kind}: {failed[0].error}"
        )
    if not models:
        raise ConfigError("no node kind to calibrate on")
    data = {"schema_version": 1, "cluster_calibration": [{k: v for k, v in r.items() if k != "model"} for r in rows]}
    return Report(
        [Section("latency models calibrated on the cluster, one per node kind", columns, rows, wide_title=True)], data, notes
    )
