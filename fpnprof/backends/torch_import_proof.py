"""Prove a torch import: fpnprof's own lowering of the imported graph, given the source's weights,
computes what the source computes (float64), with the same trainable parameters and fvcore MACs.

On a difference, the proof names the first output and the first op (in graph order) whose value
differs, comparing every op with the traced node it was read from.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import fx, nn

from fpnprof.backends import torch_backend
from fpnprof.backends.torch_import_names import tensor_names
from fpnprof.backends.torch_import_trace import call_args, calling_convention, example_inputs, flat_outputs
from fpnprof.cost.analysis import node_rows
from fpnprof.model.graph import Graph, Op, Part, Shape
from fpnprof.model.graphneck import GraphNeck
from fpnprof.model.graphneck_build import PREFIX, standalone_graph

#: Largest relative error (max |a - b| / max |b|) the proof accepts on an output.
TOLERANCE = 1e-6
#: Ops whose tensors the source's module holds under these attribute names.
_TENSORS = {
    Op.CONV: ("weight", "bias"),
    Op.CONV_TRANSPOSE: ("weight", "bias"),
    Op.BATCHNORM: ("weight", "bias", "running_mean", "running_var"),
    Op.GROUPNORM: ("weight", "bias"),
}


@dataclass(frozen=True)
class Proof:
    """The proof's numbers. ``errors``: relative error per output level; ``first_output`` and
    ``first_node`` (with ``node_error``): where values first differ, when they do."""

    errors: Mapping[int, float]
    params_source: int
    params_fpnprof: int
    macs_source: int | None
    macs_fpnprof: int
    dtype: str = "float64"
    first_output: int | None = None
    first_node: str | None = None
    node_error: float | None = None

    @property
    def ok(self) -> bool:
        macs = self.macs_source is None or self.macs_source == self.macs_fpnprof
        return max(self.errors.values()) < TOLERANCE and self.params_source == self.params_fpnprof and macs

    def line(self) -> str:
        """One line: the numbers compared and, on a difference, where values first differ."""
        worst = max(self.errors.values())
        macs = "" if self.macs_source is None else f", fvcore MACs {self.macs_source:,} vs {self.macs_fpnprof:,}"
        numbers = (
            f"{len(self.errors)} outputs, max relative error {worst:.1e} ({self.dtype}), "
            f"params {self.params_source:,} vs {self.params_fpnprof:,}{macs}"
        )
        if self.ok:
            return numbers
        where = ""
        if self.params_source != self.params_fpnprof:
            where = "; the parameter counts differ"
        if self.macs_source is not None and self.macs_source != self.macs_fpnprof:
            where += "; fvcore's MACs differ"
        if self.first_output is not None:
            where = f"; P{self.first_output} differs first"
            if self.first_node is not None:
                where += f", first at op {self.first_node} (relative error {self.node_error:.1e})"
        return f"{numbers}{where}"


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| / max |b| (inf when the shapes differ)."""
    if a.shape != b.shape:
        return float("inf")
    scale = float(b.abs().max()) if b.numel() else 0.0
    return float((a - b).abs().max()) / max(scale, 1e-300) if a.numel() else 0.0


def node_id(name: str) -> str:
    """The graph node an imported op becomes in :func:`standalone_graph`."""
    return PREFIX + name


def copy_weights(source: nn.Module, lowered: torch_backend.GraphModule, neck: GraphNeck) -> None:
    """Copy every weighted op's tensors from the source module (by module or parameter path) into
    fpnprof's lowering of the neck's graph; an op that shares weights gets its owner's (into its own
    module too: ``.double()`` gives each module its own buffers)."""
    tensors = dict(source.named_parameters(remove_duplicate=False)) | dict(source.named_buffers(remove_duplicate=False))
    with torch.no_grad():
        for op in neck.ops:
            owner = op.shares or op.name
            target = lowered.nodes[lowered.graph[node_id(op.name)].module_name]
            if op.op in (Op.FUSION, Op.SOFTMAX_FUSION):
                target.weight.copy_(tensors[owner])
                continue
            for attr in _TENSORS.get(op.op, ()):
                mine = getattr(target, attr, None)
                if mine is not None:
                    mine.copy_(tensors[f"{owner}.{attr}"])


def randomize(module: nn.Module, aliases: Mapping[str, set[str]], seed: int = 0) -> None:
    """Random values in 0.5..1.5 for every tensor still at a constant initial value (BN's gamma, beta
    and statistics, fusion weights), so that the proof sees each of them matter. A tensor that modules
    share keeps one value under all its paths (``.double()`` gives each module its own buffer)."""
    gen = torch.Generator().manual_seed(seed)
    named = dict(module.named_parameters(remove_duplicate=False)) | dict(module.named_buffers(remove_duplicate=False))
    done: set[str] = set()
    with torch.no_grad():
        for path, group in aliases.items():
            tensor = named[path]
            if path in done or not tensor.is_floating_point() or tensor.numel() < 2:
                continue
            done |= group
            if bool((tensor == tensor.flatten()[0]).all()):
                values = torch.rand(tensor.shape, generator=gen) + 0.5
                for alias in group:
                    named[alias].copy_(values)


@contextmanager
def float64_copy(module: nn.Module) -> Iterator[nn.Module]:
    """The module in float64 and eval mode: a deep copy, or (where it cannot be copied) the module
    itself, its tensors and mode put back afterwards."""
    try:
        copied = copy.deepcopy(module)
    except Exception:  # a module holding something that cannot be copied
        copied = None
    if copied is not None:
        yield copied.eval().double()
        return
    params = {name: p.data for name, p in module.named_parameters(remove_duplicate=False)}
    buffers = dict(module.named_buffers(remove_duplicate=False))
    training = module.training
    try:
        yield module.eval().double()
    finally:
        for name, data in params.items():
            module.get_parameter(name).data = data
        for name, buffer in buffers.items():
            owner, _, leaf = name.rpartition(".")
            module.get_submodule(owner)._buffers[leaf] = buffer
        module.train(training)


def trainable_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def _conv_mode_macs(inputs: list[Any], outputs: list[Any]) -> Counter[str]:
    """fvcore's conv count for ``aten::_convolution_mode`` (a conv with padding='same' or 'valid'), which
    fvcore has no handle for: its own formula, on that op's (input, weight, ...) inputs."""
    from fvcore.nn.jit_handles import conv_flop_count, get_shape

    return Counter({"conv": conv_flop_count(get_shape(inputs[0]), get_shape(inputs[1]), get_shape(outputs[0]))})


def _fvcore_macs(module: nn.Module, args: tuple[Any, ...]) -> int | None:
    try:
        from fvcore.nn import FlopCountAnalysis
    except ImportError:  # the MACs check needs fvcore; the rest of the proof does not
        return None
    analysis = FlopCountAnalysis(module, args).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    analysis.set_op_handle("aten::_convolution_mode", _conv_mode_macs)
    return int(analysis.total())


def _source_values(
    program: torch.export.ExportedProgram, source: nn.Module, inputs: Sequence[torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Every traced node's value (float64, the source's own tensors), by node name."""
    tensors = dict(source.named_parameters(remove_duplicate=False)) | dict(source.named_buffers(remove_duplicate=False))
    user = iter(inputs)
    args = []
    for spec in program.graph_signature.input_specs:
        if spec.target is not None and spec.target in tensors:
            args.append(tensors[spec.target])
        elif spec.target is not None:
            args.append(program.constants[spec.target])
        else:
            args.append(next(user).clone())
    values: dict[str, torch.Tensor] = {}

    class Recorder(fx.Interpreter):
        def run_node(self, n: fx.Node) -> Any:
            out = super().run_node(n)
            value = out[0] if isinstance(out, list | tuple) and out and isinstance(out[0], torch.Tensor) else out
            if isinstance(value, torch.Tensor):
                values[n.name] = value.detach().clone()
            return out

    with torch.no_grad():
        Recorder(program.graph_module).run(*args)
    return values


def _first_difference(
    source: nn.Module, lowered: torch_backend.GraphModule, inputs: Sequence[torch.Tensor], neck: GraphNeck
) -> tuple[str | None, float | None]:
    """The first op (in the neck's order) whose value differs from the traced node it was read from
    (the source traced again, in float64)."""
    from fpnprof.backends.torch_import import read_module

    shapes = {level: tuple(t.shape) for level, t in zip(sorted(neck.in_channels), inputs, strict=True)}
    reading = read_module(
        source,
        in_channels={lv: s[1] for lv, s in shapes.items()},
        sides={lv: (s[2], s[3]) for lv, s in shapes.items()},
        batch=inputs[0].shape[0],
        name=neck.name,
    )
    theirs = _source_values(reading.program, source, inputs)
    with torch.no_grad():
        mine = lowered.run([t.clone() for t in inputs])
    for op in neck.ops:
        traced = reading.op_nodes.get(op.name)
        if traced is None or traced not in theirs or node_id(op.name) not in mine:
            continue
        error = relative_error(mine[node_id(op.name)], theirs[traced])
        if not error < TOLERANCE:
            return op.name, error
    return None, None


def prove(source_module: nn.Module, neck: GraphNeck, input_shapes: Mapping[int, Shape], *, seed: int = 0) -> Proof:
    """Run the source and fpnprof's lowering of ``neck`` (the source's weights copied across) on the
    same random float64 inputs; compare outputs, trainable parameters and fvcore's MACs."""
    aliases = tensor_names(source_module)
    with float64_copy(source_module) as source:
        randomize(source, aliases, seed)
        return _prove(source, neck, input_shapes, seed)


def _prove(source: nn.Module, neck: GraphNeck, input_shapes: Mapping[int, Shape], seed: int) -> Proof:
    graph = standalone_graph(neck, input_shapes)
    lowered = torch_backend.lower(graph).double()
    copy_weights(source, lowered, neck)
    levels = sorted(input_shapes)
    inputs = example_inputs(
        {lv: input_shapes[lv][1] for lv in levels},
        {lv: (input_shapes[lv][2], input_shapes[lv][3]) for lv in levels},
        input_shapes[levels[0]][0],
        dtype=torch.float64,
        seed=seed + 1,
    )
    convention = calling_convention(source, len(levels))
    with torch.no_grad():
        theirs = flat_outputs(source(*call_args(convention, [t.clone() for t in inputs])))
        mine = lowered.run([t.clone() for t in inputs])
    errors = _output_errors(graph, mine, theirs)
    rows = node_rows(graph)
    first_output = next((lv for lv, e in errors.items() if not e < TOLERANCE), None)
    first_node, node_error = (None, None)
    if first_output is not None:
        first_node, node_error = _first_difference(source, lowered, inputs, neck)
    return Proof(
        errors=errors,
        params_source=trainable_parameters(source),
        params_fpnprof=sum(r.totals.params for r in rows if r.part == Part.NECK.value),
        macs_source=_fvcore_macs(source, call_args(convention, [t.clone() for t in inputs])),
        macs_fpnprof=sum(r.totals.macs for r in rows),
        first_output=first_output,
        first_node=first_node,
        node_error=node_error,
    )


def _output_errors(graph: Graph, mine: Mapping[str, torch.Tensor], theirs: Sequence[torch.Tensor]) -> dict[int, float]:
    """Relative error per output level; the source's outputs are matched to levels by height (tallest
    first = lowest level), in their own order where heights tie."""
    levels = sorted(graph.outputs)
    if len(theirs) != len(levels):
        return dict.fromkeys(levels, float("inf"))
    ordered = sorted(theirs, key=lambda t: -t.shape[2])
    return {lv: relative_error(mine[graph.outputs[lv]], t) for lv, t in zip(levels, ordered, strict=True)}


def import_and_prove(module: nn.Module, input_shapes: Mapping[int, Shape], name: str) -> tuple[GraphNeck, bool, str]:
    """What ``fpnprof import`` runs: the neck, whether the proof holds, and its one line."""
    from fpnprof.backends.torch_import import import_torch_module

    levels = sorted(input_shapes)
    neck = import_torch_module(
        module,
        in_channels={lv: input_shapes[lv][1] for lv in levels},
        sides={lv: (input_shapes[lv][2], input_shapes[lv][3]) for lv in levels},
        batch=input_shapes[levels[0]][0],
        name=name,
    )
    proof = prove(module, neck, input_shapes)
    return neck, proof.ok, proof.line()
