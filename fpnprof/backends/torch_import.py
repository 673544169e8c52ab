"""Read a torch neck (an ``nn.Module``) into fpnprof's op graph (``fpnprof import``), and prove the reading.

The module is traced with ``torch.export`` at the import's sizes; every ATen op is mapped through
:mod:`fpnprof.backends.torch_import_table` into one :class:`~fpnprof.model.graphneck.GraphOp`, named
by the module path that made it; BiFPN's fusions written in code are folded into one op
(:mod:`fpnprof.backends.torch_import_fusion`). Anything the table cannot express is refused in one
line naming the op, its module path and its source line. :func:`prove` (in
:mod:`fpnprof.backends.torch_import_proof`) runs the reading against the module.
"""

from __future__ import annotations

import operator
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NoReturn

import torch
from torch import fx, nn
from torch.export.graph_signature import InputKind

from fpnprof.backends.torch_import_fusion import FusionMatch, find_fusions, key
from fpnprof.backends.torch_import_fusion import args as fx_args
from fpnprof.backends.torch_import_levels import Levels
from fpnprof.backends.torch_import_names import tensor_names
from fpnprof.backends.torch_import_proof import Proof, copy_weights, import_and_prove, prove
from fpnprof.backends.torch_import_table import IGNORED, SPLITS, TABLE, TUPLES, Call, Rule, Unsupported, Vanishes
from fpnprof.backends.torch_import_trace import call_args, calling_convention, check_channels, example_inputs, trace
from fpnprof.errors import ImportRefused
from fpnprof.model.graph import WEIGHTED_OPS, Op
from fpnprof.model.graphneck import GraphNeck, GraphOp, input_ref, settle_levels

__all__ = ["Proof", "Reading", "copy_weights", "import_and_prove", "import_torch_module", "prove", "read_module"]

_TORCH_DIR = os.path.dirname(torch.__file__)
_FRAME = re.compile(r'File "([^"]+)", line (\d+), in ')
_PADS = ("aten.pad.default", "aten.constant_pad_nd.default")
_POOLS = ("aten.max_pool2d.default", "aten.max_pool2d_with_indices.default")
#: Python-level calls a trace may record that compute nothing.
_IGNORED_CALLS = ("_set_grad_enabled",)


@dataclass
class Reading:
    """An import: the neck, the traced program, the forward's calling convention, and for every op
    the traced node whose value is the op's output (the proof compares them node by node)."""

    neck: GraphNeck
    program: torch.export.ExportedProgram
    convention: str
    op_nodes: dict[str, str] = field(default_factory=dict)


def import_torch_module(
    module: nn.Module, *, in_channels: dict[int, int], sides: dict[int, tuple[int, int]], batch: int, name: str
) -> GraphNeck:
    """The neck ``module`` computes, read at these input channels and sides (levels are keys; the
    bottom one is the min level) and batch, as a :class:`GraphNeck` (``source`` left for the caller)."""
    return read_module(module, in_channels=in_channels, sides=sides, batch=batch, name=name).neck


def read_module(
    module: nn.Module, *, in_channels: Mapping[int, int], sides: Mapping[int, tuple[int, int]], batch: int, name: str
) -> Reading:
    """:func:`import_torch_module`, keeping the trace (see :class:`Reading`)."""
    levels = sorted(in_channels)
    if not levels or levels != list(range(levels[0], levels[0] + len(levels))) or sorted(sides) != levels:
        raise ImportRefused(f"levels {levels} with sides for {sorted(sides)}: give one side per level, levels contiguous")
    convention = calling_convention(module, len(levels))
    was_training = module.training
    module.eval()  # BatchNorm is read with its running statistics
    try:
        floating = [p.dtype for p in module.parameters() if p.is_floating_point()]
        tensors = example_inputs(in_channels, sides, batch, dtype=floating[0] if floating else torch.float32)
        args = call_args(convention, tensors)
        check_channels(module, args, tensors, levels)
        program = trace(module, args)
    finally:
        module.train(was_training)
    reader = _Reader(program, in_channels, sides, tensor_names(module))
    return Reading(reader.neck(name), program, convention, reader.op_nodes)


def _shape(node: fx.Node) -> tuple[int, ...]:
    return tuple(int(s) for s in node.meta["val"].shape)


def _plain(value: Any) -> Any:
    """An argument as the table reads it: tensors (nodes) as their shapes."""
    if isinstance(value, fx.Node):
        val = value.meta.get("val")
        return _shape(value) if isinstance(val, torch.Tensor) else value.name
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def bind(node: fx.Node) -> dict[str, Any]:
    """A call's arguments by the op schema's names, defaults filled in."""
    schema = node.target._schema  # type: ignore[union-attr]
    out: dict[str, Any] = {}
    for i, arg in enumerate(schema.arguments):
        if i < len(node.args):
            out[arg.name] = node.args[i]
        elif arg.name in node.kwargs:
            out[arg.name] = node.kwargs[arg.name]
        else:
            out[arg.name] = arg.default_value if arg.has_default_value() else None
    return out


def module_of(node: fx.Node) -> tuple[str, str]:
    """(path, type name) of the innermost module whose forward made ``node`` ('' for the root)."""
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return "", ""
    path, kind = list(stack.values())[-1]
    return str(path), kind if isinstance(kind, str) else f"{kind.__module__}.{kind.__qualname__}"


def source_line(node: fx.Node) -> str:
    """``file:line`` of the innermost frame outside torch that made ``node`` ('?' when unknown)."""
    frames = _FRAME.findall(node.meta.get("stack_trace") or "")
    user = [(f, line) for f, line in frames if not f.startswith(_TORCH_DIR)]
    if not user:
        return "?"
    path, line = user[-1]
    try:
        relative = os.path.relpath(path)
        path = path if relative.startswith("..") else relative
    except ValueError:  # another drive
        pass
    return f"{path}:{line}"


class _Reader:
    """One pass over a traced program's nodes, in order, building the ops."""

    def __init__(
        self,
        program: torch.export.ExportedProgram,
        in_channels: Mapping[int, int],
        sides: Mapping[int, tuple[int, int]],
        aliases: Mapping[str, set[str]],
    ) -> None:
        self.graph = program.graph
        self.aliases = aliases
        self.in_channels = dict(in_channels)
        self.levels = Levels({level: side[0] for level, side in sides.items()})
        self.where: dict[str, tuple[int, int]] = {}  # ref -> (level, height)
        self.params: dict[fx.Node, str] = {}  # parameter/buffer/constant placeholder -> its path
        self.values: dict[fx.Node, str] = {}  # data node -> ref (op name or in@L)
        self.unusable: dict[fx.Node, str] = {}  # node -> why its value cannot be read
        self.ops: list[GraphOp] = []
        self.op_nodes: dict[str, str] = {}
        self.names: set[str] = set()
        self.owners: dict[str, str] = {}  # parameter path -> the op that owns it
        self._read_placeholders(program)
        self.param_only = self._param_only()
        self.fusions = find_fusions(self.graph, self._is_parameter, self._is_data)
        self.folded = set().union(*(m.folded for m in self.fusions.values())) if self.fusions else set()
        self.pool_pads = self._pool_pads()
        self.folded_pads = set(self.pool_pads.values())

    # Placeholders and what depends on parameters alone ------------------------------------------
    def _read_placeholders(self, program: torch.export.ExportedProgram) -> None:
        by_name = {n.name: n for n in self.graph.nodes if n.op == "placeholder"}
        levels = sorted(self.in_channels)
        user = 0
        for spec in program.graph_signature.input_specs:
            node = by_name[spec.arg.name]
            if spec.kind is InputKind.USER_INPUT:
                if user >= len(levels) or not isinstance(node.meta.get("val"), torch.Tensor):
                    raise ImportRefused(
                        f"the forward takes an input {spec.arg.name!r} that is not one of the {len(levels)} level tensors"
                    )
                level = levels[user]
                self.values[node] = input_ref(level)
                self.where[input_ref(level)] = (level, _shape(node)[2])
                user += 1
            else:
                self.params[node] = str(spec.target)

    def _is_parameter(self, value: object) -> bool:
        return isinstance(value, fx.Node) and value in self.params

    def _is_data(self, value: object) -> bool:
        return isinstance(value, fx.Node) and value not in self.param_only and isinstance(value.meta.get("val"), torch.Tensor)

    def _param_only(self) -> set[fx.Node]:
        """Nodes computed from parameters, buffers and constants alone."""
        out: set[fx.Node] = set(self.params)
        for node in self.graph.nodes:
            if node.op == "call_function" and all(src in out for src in node.all_input_nodes):
                out.add(node)
        return out

    def _pool_pads(self) -> dict[fx.Node, fx.Node]:
        """Max pools whose input is a constant pad read only by them: pad and pool become one MAXPOOL."""
        out = {}
        for node in self.graph.nodes:
            if key(node) in _POOLS:
                pad = node.args[0]
                args = bind(node)
                unpadded = (
                    list(args["padding"]) in ([0], [0, 0]) if not isinstance(args["padding"], int) else args["padding"] == 0
                )
                if isinstance(pad, fx.Node) and key(pad) in _PADS and len(pad.users) == 1 and unpadded and not args["ceil_mode"]:
                    out[node] = pad
        return out

    # Refusals ---------------------------------------------------------------------------------------
    def refuse(self, node: fx.Node, reason: str) -> NoReturn:
        path = module_of(node)[0] or "<root>"
        op = key(node) or str(node.target)
        raise ImportRefused(f"{op} in module {path} ({source_line(node)}): {reason}")

    def _ref(self, node: object, user: fx.Node) -> str:
        """The ref a data argument reads; refuse parameter computations and unreadable values."""
        if not isinstance(node, fx.Node):
            self.refuse(user, f"an argument {node!r} where fpnprof needs a tensor")
        if node in self.unusable:
            self.refuse(user, self.unusable[node])
        if node in self.param_only:
            what = (
                "a parameter used as data"
                if node in self.params
                else f"computation on parameters alone ({key(node) or node.name})"
            )
            self.refuse(
                user, f"{what}: fpnprof folds only BiFPN's fusions (relu(w) / (sum + eps), or softmax(w), then sum w[i] * x_i)"
            )
        if node not in self.values:
            self.refuse(user, f"reads {node.name}, which fpnprof could not read")
        return self.values[node]

    # The walk ---------------------------------------------------------------------------------------
    def neck(self, name: str) -> GraphNeck:
        outputs: dict[int, str] = {}
        for node in self.graph.nodes:
            if node.op == "call_function":
                self._call(node)
            elif node.op == "output":
                outputs = self._outputs(node)
        neck = GraphNeck(name=name, in_channels=self.in_channels, ops=tuple(self.ops), outputs=dict(sorted(outputs.items())))
        return settle_levels(neck)

    def _call(self, node: fx.Node) -> None:
        target = key(node)
        if (
            node in self.param_only
            or node in self.folded
            or target in IGNORED
            or any(n in str(node.target) for n in _IGNORED_CALLS)
        ):
            return
        if node in self.fusions:
            self._fusion(self.fusions[node])
        elif node.target is operator.getitem:
            self._getitem(node)
        elif node in self.folded_pads:
            return  # read with its pool
        elif target not in TABLE:
            self.refuse(node, "an op fpnprof does not read (not in fpnprof/backends/torch_import_table.py)")
        else:
            self._mapped(node, TABLE[target])

    def _mapped(self, node: fx.Node, rule: Rule) -> None:
        args = bind(node)
        pad = self.pool_pads.get(node)
        source = pad if pad is not None else node
        data = [v for arg in rule.data for v in (args[arg] if isinstance(args[arg], list) else [args[arg]])]
        if pad is not None:
            data = [pad.args[0]]
        for d in data:
            if isinstance(d, fx.Node):
                self._ref(d, node)  # refuse parameter computations before the form is read
        try:
            attrs = rule.attrs(Call({k: _plain(v) for k, v in args.items()}, self._out_shape(node)))
            if pad is not None:
                attrs = self._padded_pool(attrs, Call({k: _plain(v) for k, v in bind(pad).items()}, _shape(pad)))
        except Vanishes:
            self.values[node] = self._ref(data[0], node)
            return
        except Unsupported as exc:
            self.refuse(source, str(exc))
        refs = [self._ref(d, node) for d in data]
        inplace = self._inplace(node, data)
        if key(node) in SPLITS:
            self.values[node] = refs[0]  # its items are read one by one (getitem)
            return
        if rule.op is None or (rule.op is Op.CONCAT and len(refs) == 1):
            self.values[node] = refs[0]
            return
        name, shares = self._name(node, rule, args)
        self._add(node, GraphOp(name, rule.op, tuple(refs), 0, MappingProxyType(attrs), shares))
        if inplace:
            self.values[data[0]] = self.values[node]  # later readers of the changed tensor read this op

    def _out_shape(self, node: fx.Node) -> tuple[int, ...]:
        val = node.meta.get("val")
        if isinstance(val, list | tuple):
            val = val[0] if val and isinstance(val[0], torch.Tensor) else None
        return tuple(int(s) for s in val.shape) if isinstance(val, torch.Tensor) else ()

    @staticmethod
    def _padded_pool(attrs: dict[str, Any], pad: Call) -> dict[str, Any]:
        """A pool's attributes with the padding of the pad before it (its value kept unless -inf)."""
        pad_attrs = TABLE["aten.pad.default"].attrs(pad)
        value = float(pad_attrs["value"])
        return {**attrs, "padding": pad_attrs["padding"], **({} if value == float("-inf") else {"pad_value": value})}

    def _inplace(self, node: fx.Node, data: list[Any]) -> bool:
        """Whether ``node`` changes its first input in place (refused on a view: its base changes too)."""
        if not str(node.target._schema.name).endswith("_") or not data:  # type: ignore[union-attr]
            return False
        target = data[0]
        if key(target) in ("aten.slice.Tensor", "aten.select.int") or target.target is operator.getitem:
            self.refuse(node, "an in-place op on a view (its base changes too)")
        return True

    def _getitem(self, node: fx.Node) -> None:
        parent, index = fx_args(node)
        if key(parent) in SPLITS and parent in self.values:
            self._split_item(node, parent, index)
        elif key(parent) in TUPLES and parent in self.values:
            if index == 0:
                self.values[node] = self.values[parent]
            else:
                self.unusable[node] = f"item {index} of {key(parent)} (indices or saved statistics)"
        elif parent in self.values:
            self.values[node] = self.values[parent]

    def _split_item(self, node: fx.Node, parent: fx.Node, index: int) -> None:
        items = [tuple(int(s) for s in t.shape) for t in parent.meta["val"]]
        start = sum(item[1] for item in items[:index])
        source = self.values[parent]
        if not node.users:  # the trace takes every item of a split; one nobody reads is no op
            return
        if len(items) == 1:
            self.values[node] = source
            return
        path, _ = module_of(parent)
        name = self._unique(f"{path}.slice" if path else "slice", functional=True)
        attrs = {"start": start, "stop": start + items[index][1]}
        self._add(node, GraphOp(name, Op.CHANNEL_SLICE, (source,), 0, MappingProxyType(attrs)))

    def _fusion(self, match: FusionMatch) -> None:
        refs = [self._ref(x, match.root) for x in match.inputs]
        path = self.params[match.parameter]
        attrs: dict[str, Any] = {"arity": len(refs)}
        if match.eps is not None:
            attrs["eps"] = match.eps
        name, shares = self._weighted_name(path, path)
        self._add(match.root, GraphOp(name, match.op, tuple(refs), 0, MappingProxyType(attrs), shares))

    # Names and levels -------------------------------------------------------------------------------
    def _name(self, node: fx.Node, rule: Rule, args: Mapping[str, Any]) -> tuple[str, str | None]:
        if rule.weights and rule.op in WEIGHTED_OPS:
            return self._weighted_name(self._module_of_weights(node, rule, args), self.params[args["weight"]])
        path, kind = module_of(node)
        if kind.startswith("torch.nn.modules.") and path:
            return self._unique(path, functional=False), None
        return self._unique(f"{path}.{rule.short}" if path else rule.short, functional=True), None

    def _module_of_weights(self, node: fx.Node, rule: Rule, args: Mapping[str, Any]) -> str:
        """The path of the module whose tensors an op reads: one where each is ``<path>.<its name>``
        (a tensor shared between modules has several paths), the module that ran it if it is one."""
        candidates: set[str] | None = None
        for arg, attr in rule.weights.items():
            tensor = args[arg]
            if tensor is None:
                continue
            if tensor not in self.params:
                self.refuse(node, f"its {arg} is computed in the forward, not a module's parameter")
            names = self.aliases.get(self.params[tensor], {self.params[tensor]})
            owners = {path[: -len(attr) - 1] for path in names if path.endswith(f".{attr}")}
            candidates = owners if candidates is None else candidates & owners
            if not candidates:
                self.refuse(
                    node, f"its {arg} ({self.params[tensor]!r}) is not the {attr!r} of the module that holds its other tensors"
                )
        assert candidates
        ran = module_of(node)[0]
        return ran if ran in candidates else sorted(candidates)[0]

    def _weighted_name(self, path: str, tensor: str) -> tuple[str, str | None]:
        """A weighted op's name (its module's or parameter's path) and the op whose weights it uses
        when another op read ``tensor`` first (a module called twice, or modules sharing weights)."""
        owner = self.owners.get(tensor)
        if owner is None:
            self.owners[tensor] = path
            return self._unique(path, functional=False), None
        return self._unique(path, functional=False), owner

    def _unique(self, base: str, *, functional: bool) -> str:
        name, i = base, 1
        while name in self.names:
            i += 1
            name = f"{base}_{i - 1}" if functional else f"{base}#{i}"
        self.names.add(name)
        return name

    def _add(self, node: fx.Node, op: GraphOp) -> None:
        shape = self._out_shape(node)
        if len(shape) != 4:
            self.refuse(node, f"a {len(shape)}-D result (fpnprof's ops make NCHW tensors)")
        first = self.where.get(op.inputs[0]) if op.inputs else None
        level = self.levels.assign(shape[2], first, may_define=op.op is not Op.ADAPTIVE_AVGPOOL)
        op = GraphOp(op.name, op.op, op.inputs, level, op.attrs, op.shares)
        self.ops.append(op)
        self.names.add(op.name)
        self.where[op.name] = (level, shape[2])
        self.values[node] = op.name
        self.op_nodes[op.name] = node.name

    def _outputs(self, node: fx.Node) -> dict[int, str]:
        outputs: dict[int, str] = {}
        for item in fx_args(node)[0]:
            ref = self._ref(item, node)
            if ref not in self.op_nodes:
                raise ImportRefused(f"the forward returns its input {ref} unchanged: fpnprof's outputs are ops")
            level = self.where[ref][0]
            if level in outputs:
                raise ImportRefused(f"the forward returns two outputs at level {level} ({outputs[level]} and {ref})")
            outputs[level] = ref
        levels = sorted(outputs)
        if not levels or levels != list(range(levels[0], levels[-1] + 1)):
            raise ImportRefused(f"the forward's outputs sit at levels {levels}: fpnprof needs one output per level, contiguous")
        return outputs
