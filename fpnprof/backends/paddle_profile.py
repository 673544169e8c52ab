"""Per-node milliseconds of a Paddle Inference run, from Paddle's own profiler.

Paddle Inference runs the optimised program it made of the export, not fpnprof's executor, so no
hook can time a node. Its profiler times every op of that program instead, in program order. Each op
is attributed to a graph node: the node whose variable it writes (a fused op writes the variable of
the last node it absorbed), or, for an op that writes an intermediate (a conv's output before its
bias add, the global pool of an attention), the node of the op that reads it.

Profiled, a pass runs a little slower than plain (NAS-FPN 6%, BiFPN 4.5%, YOLOv5-PAN 1% here; a
chain of 64 adds none): the latency model's executor fit scales kernel times to plain necks.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fpnprof.errors import BackendUnavailable

#: Beside an export: each node's variable in the exported program (node id -> name).
NODE_VARS = "nodes.json"
#: The folder, beside an export, the engine saves its optimised program into.
OPTIMIZED = "optimized"
_SKIPPED = frozenset({"feed", "fetch"})


class ProfileMismatch(BackendUnavailable):
    """The profiler's ops are not the optimised program's, or an op computes no node's value: a
    pass cannot be attributed to nodes."""


@dataclass(frozen=True)
class ProgramOp:
    type: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


def optimized_ops(folder: str) -> list[ProgramOp]:
    """The ops of the optimised program the engine saved in ``folder`` (feed and fetch left out)."""
    from paddle.base.proto import framework_pb2

    with open(os.path.join(folder, OPTIMIZED, "_optimized.pdmodel"), "rb") as f:
        program = framework_pb2.ProgramDesc.FromString(f.read())  # type: ignore[attr-defined]  # generated protobuf
    return [
        ProgramOp(op.type, tuple(a for v in op.inputs for a in v.arguments), tuple(a for v in op.outputs for a in v.arguments))
        for op in program.blocks[0].ops
        if op.type not in _SKIPPED
    ]


def op_nodes(ops: Sequence[ProgramOp], node_vars: dict[str, str]) -> list[str]:
    """The node each op computes part of: the node whose variable it writes or, for an op writing an
    intermediate, the node of the first later op reading it. ProfileMismatch where an op leads to none."""
    owner = {var: node for node, var in node_vars.items()}
    first_reader: dict[str, int] = {}
    for i in reversed(range(len(ops))):
        for var in ops[i].inputs:
            first_reader[var] = i
    out: list[str | None] = [None] * len(ops)
    for i in reversed(range(len(ops))):
        node = next((owner[v] for v in ops[i].outputs if v in owner), None)
        if node is None:
            later = [first_reader[v] for v in ops[i].outputs if first_reader.get(v, i) > i]
            node = out[min(later)] if later else None
        if node is None:
            raise ProfileMismatch(f"op {i} ({ops[i].type}) of the optimised program computes no node's value")
        out[i] = node
    return [n for n in out if n is not None]


def write_node_vars(prefix: str, node_vars: dict[str, str]) -> None:
    with open(prefix + "." + NODE_VARS, "w") as f:
        json.dump(node_vars, f)


def read_node_vars(prefix: str) -> dict[str, str]:
    with open(prefix + "." + NODE_VARS) as f:
        data: dict[str, str] = json.load(f)
    return data


class _Profiler:
    """Paddle's profiler, one per process (Paddle makes only one), started and stopped per pass."""

    def __init__(self) -> None:
        import paddle.profiler as profiler

        self.results: list[Any] = []
        self.profiler = profiler.Profiler(
            targets=[profiler.ProfilerTarget.CPU], on_trace_ready=lambda p: self.results.append(p.profiler_result)
        )

    def spans(self, run: Callable[[], object]) -> list[tuple[str, float]]:
        """Run once under the profiler: every op it ran, in order, with its milliseconds."""
        self.results.clear()
        self.profiler.start()
        run()
        self.profiler.stop()
        ops: list[Any] = []

        def walk(node: Any) -> None:
            if str(node.type).endswith(".Operator"):
                ops.append(node)
                return
            for child in node.children_node:
                walk(child)

        for root in self.results[-1].get_data().values():
            walk(root)
        ops.sort(key=lambda o: o.start_ns)
        return [(str(o.name), (o.end_ns - o.start_ns) * 1e-6) for o in ops]


@functools.cache
def _profiler() -> _Profiler:
    return _Profiler()


def node_pass(run: Callable[[], object], ops: Sequence[ProgramOp], node_vars: dict[str, str]) -> Callable[[], dict[str, float]]:
    """A per-node pass (as ``Runner.timed_pass``): one profiled run, its ops' times summed per node
    (the ops are attributed at the first pass: a run that is never profiled never needs them)."""
    types = [op.type for op in ops]
    nodes: list[str] = []

    def timed() -> dict[str, float]:
        if not nodes:
            nodes.extend(op_nodes(ops, node_vars))
        spans = _profiler().spans(run)
        if [name for name, _ in spans] != types:
            raise ProfileMismatch(
                f"Paddle's profiler saw {len(spans)} ops that are not the {len(types)} of the optimised program: "
                "its times cannot be given to nodes"
            )
        out: dict[str, float] = {}
        for node, (_, ms) in zip(nodes, spans, strict=True):
            out[node] = out.get(node, 0.0) + ms
        return out

    return timed
