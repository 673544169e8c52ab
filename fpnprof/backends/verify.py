"""Prove the analytic numbers by running the lowered model in a framework."""

from __future__ import annotations

from dataclasses import dataclass, field

from fpnprof.backends import FVCORE_MACS, load
from fpnprof.cost.memory import require_memory
from fpnprof.cost.results import Profile
from fpnprof.errors import VerificationError
from fpnprof.model.graph import Graph


@dataclass
class Verification:
    backend: str
    framework_version: str
    nodes_checked: int
    params: int
    buffers: int
    checks: list[str] = field(default_factory=list)


def verify(p: Profile, graph: Graph, backend: str = "paddle") -> Verification:
    """Lower, run a forward pass, compare every node's shape, the params and the buffers.

    Where the backend can (:data:`FVCORE_MACS`, torch), fvcore's MACs are checked too, per level and in total. Raises
    :class:`VerificationError` listing every difference.
    """
    require_memory(p)
    module = load(backend)
    model = module.lower(graph)
    shapes = module.node_shapes(model, module.random_inputs(graph))
    problems = [
        f"{n.id}: analytic {list(n.shape)} != {backend} {list(shapes[n.id])}"
        for n in p.nodes
        if tuple(n.shape) != tuple(shapes[n.id])
    ]
    params, buffers = module.count_parameters(model)
    total = p.model_total
    if params != total.params:
        problems.append(f"trainable params: analytic {total.params:,} != {backend} {params:,}")
    if buffers != total.buffers:
        problems.append(f"BN statistics: analytic {total.buffers:,} != {backend} {buffers:,}")
    checks = [f"{len(shapes)} node shapes", f"params {params:,}", f"BN statistics {buffers:,}"]
    if FVCORE_MACS in module.CAPABILITIES:
        problems += module.check_macs(model, graph, p)
        checks.append("fvcore MACs per level and total")
    if problems:
        raise VerificationError(f"{backend} disagrees with the analytic model:\n  " + "\n  ".join(problems))
    return Verification(backend, module.version(), len(shapes), params, buffers, checks)
