"""The nodes a run times on: every live node with CPUs (GPUs, for a GPU run) asked what it is (a
tiny task pinned to it), grouped by kind into pools; and what a timing task asks Ray for on a pool's
nodes: all of a node's CPUs (and its GPUs), on a node of that kind, so that no two timing tasks ever
share a node and a task Ray retries after its node died goes to another node of the same kind."""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from fpnprof import __version__
from fpnprof.cluster.kinds import NodeIdentity, check_kind_name
from fpnprof.cluster.tasks import identify
from fpnprof.errors import ConfigError

#: Seconds a node has to say what it is (a worker process starts and imports fpnprof).
PROBE_TIMEOUT_S = 120.0
#: Ray's label every node carries: its id.
NODE_ID_LABEL = "ray.io/node-id"


@dataclass(frozen=True)
class Node:
    node_id: str
    address: str
    cpus: int
    gpus: int
    identity: NodeIdentity


@dataclass
class Pool:
    """The nodes of one kind a run times on, and what a task reserves on one of them."""

    kind: str
    description: str
    nodes: list[Node]
    cpus: int
    gpus: int
    #: the ids of its nodes still alive (a node that dies leaves; new nodes do not join a run)
    alive: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.alive = self.alive or {n.node_id for n in self.nodes}

    def options(self) -> dict[str, Any]:
        """Ray task options: the whole node (CPUs, GPUs), any node of this pool."""
        ids = ",".join(n.node_id for n in self.nodes)  # no space: Ray reads " ID" as a bad node id
        opts: dict[str, Any] = {"num_cpus": self.cpus, "label_selector": {NODE_ID_LABEL: f"in({ids})"}}
        if self.gpus:
            opts["num_gpus"] = self.gpus
        return opts

    def text(self) -> str:
        return f"{self.kind} ({self.description}; {len(self.nodes)} node{'s' if len(self.nodes) != 1 else ''})"


def _count(resources: dict[str, Any], name: str) -> int:
    return int(float(resources.get(name, 0) or 0))


def live_nodes(ray: ModuleType, device: str) -> list[dict[str, Any]]:
    """Ray's records of the live nodes that can time on ``device`` (CPUs; GPUs for a GPU run)."""
    need = "GPU" if device == "gpu" else "CPU"
    return [n for n in ray.nodes() if n.get("Alive") and _count(n.get("Resources") or {}, need) > 0]


def discover(ray: ModuleType, backend: str, device: str, timeout_s: float = PROBE_TIMEOUT_S) -> tuple[list[Node], list[str]]:
    """Every live node that can time, asked what it is; notes on the nodes left out. Refuses, in one
    line, a node that cannot run fpnprof, runs another fpnprof, or gives a bad kind label."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    found = live_nodes(ray, device)
    if not found:
        what = "a GPU" if device == "gpu" else "CPUs"
        raise ConfigError(f"no live node of the Ray cluster has {what} to time on")
    probe = ray.remote(identify)
    refs = {
        probe.options(
            num_cpus=0, max_retries=0, scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)
        ).remote(backend, device): n
        for n in found
    }
    ready, late = ray.wait(list(refs), num_returns=len(refs), timeout=timeout_s)
    nodes, notes = [], []
    for ref in ready:
        record = refs[ref]
        where = f"node {record.get('NodeManagerAddress')} ({record['NodeID'][:12]})"
        try:
            answer = ray.get(ref)
        except Exception as exc:
            if record["NodeID"] not in {n["NodeID"] for n in live_nodes(ray, device)}:  # it died meanwhile
                notes.append(f"{where} left the cluster before it said what it is: left out")
                continue
            cause = getattr(exc, "cause", None) or exc  # a task that cannot even start there (fpnprof missing)
            first = (str(cause).strip().splitlines() or [type(cause).__name__])[-1]
            raise ConfigError(f"{where} cannot run fpnprof's tasks ({first}): install the same fpnprof on every node") from None
        if answer.get("error"):
            raise ConfigError(f"{where}: {answer['error']}")
        identity = NodeIdentity.from_json(answer["identity"])
        if identity.fpnprof != __version__:
            raise ConfigError(
                f"{where} has fpnprof {identity.fpnprof}, this one is {__version__}: install the same on every node"
            )
        resources = record.get("Resources") or {}
        nodes.append(
            Node(
                record["NodeID"],
                str(record.get("NodeManagerAddress")),
                _count(resources, "CPU"),
                _count(resources, "GPU"),
                identity,
            )
        )
    for ref in late:
        ray.cancel(ref, force=True)
        notes.append(f"node {refs[ref].get('NodeManagerAddress')} did not say what it is within {timeout_s:g} s: left out")
    if not nodes:
        raise ConfigError(f"no node of the Ray cluster answered within {timeout_s:g} s")
    return nodes, notes


def pools_of(nodes: list[Node], node_kind: str | None) -> tuple[list[Pool], list[str]]:
    """The nodes by kind (``node_kind``: that kind's alone); in a kind, the nodes with its most common
    CPU and GPU count (a task reserves a whole node, so a kind's nodes must be alike: others are left
    out, with a note)."""
    by_kind: dict[str, list[Node]] = {}
    for node in sorted(nodes, key=lambda n: (n.identity.kind, n.node_id)):
        by_kind.setdefault(node.identity.kind, []).append(node)
    if node_kind is not None:
        check_kind_name(node_kind, "--node-kind")
        if node_kind not in by_kind:
            kinds = "; ".join(
                f"{k}: {ns[0].identity.description}, {len(ns)} node{'s' if len(ns) != 1 else ''}" for k, ns in by_kind.items()
            )
            raise ConfigError(f"--node-kind {node_kind}: no live node of that kind (kinds here: {kinds})")
        by_kind = {node_kind: by_kind[node_kind]}
    pools, notes = [], []
    for kind, members in by_kind.items():
        shape = collections.Counter((n.cpus, n.gpus) for n in members).most_common(1)[0][0]
        alike = [n for n in members if (n.cpus, n.gpus) == shape]
        for n in members:
            if n not in alike:
                notes.append(
                    f"node {n.address} of kind {kind} has {n.cpus} CPUs and {n.gpus} GPUs, its kind's others "
                    f"{shape[0]} and {shape[1]}: left out"
                )
        pools.append(Pool(kind, alike[0].identity.description, alike, shape[0], shape[1]))
    return pools, notes


def check_threads(pools: list[Pool], threads: int) -> None:
    """``--threads`` up to the cores of every kind's nodes (more would time threads sharing cores)."""
    for pool in pools:
        cores = int(pool.nodes[0].identity.fingerprint.get("cores") or pool.cpus)
        if threads > cores:
            raise ConfigError(
                f"--threads {threads} is more than the {cores} cores of node kind {pool.text()}: threads would share "
                f"cores; give 0 (each node's cores) or 1-{cores}"
            )
