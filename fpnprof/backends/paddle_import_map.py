"""Map a traced Paddle program (:mod:`fpnprof.backends.paddle_import_trace`) onto fpnprof's ops.

Every program op is read through the table (:mod:`fpnprof.backends.paddle_import_table`) into one
op, in program order; a conv's bias add folds into its conv, ``F.pad`` then a max pool into the
pool, a fusion's weight arithmetic into ``Op.FUSION`` (:mod:`fpnprof.backends.paddle_import_fusion`);
views, dropouts and shape arithmetic vanish. Ops are named by the module path that made them (the
owner of a weighted op's parameters), a functional op by its module's path and a short name, a
module's second call ``name@2`` (sharing the first call's weights). Nothing here imports Paddle.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fpnprof.backends.paddle_import_fusion import Const, Term, Terms, Weights, describe, fusion_of, parameter_op
from fpnprof.backends.paddle_import_table import (
    CONSTANTS,
    SHAPE_OPS,
    SIZE_SLOTS,
    TABLE,
    VANISHING,
    VIEWS,
    OpView,
    Rule,
    Unsupported,
    f32,
    split_ranges,
)
from fpnprof.backends.paddle_import_trace import Trace, TracedOp
from fpnprof.errors import ImportRefused
from fpnprof.model.graph import Op, Shape
from fpnprof.model.graphneck import GraphOp, input_level, input_ref

#: Ops whose weights are their own parameters (named by the parameters' module).
_LAYER_WEIGHTS = frozenset({Op.CONV, Op.CONV_TRANSPOSE, Op.BATCHNORM, Op.GROUPNORM})


@dataclass(frozen=True)
class Feat:
    """A feature map: the op (or ``in@<level>``) that made it, its NCHW shape, and whether it is viewed
    with a unit axis inserted at 2 (``F.pad``'s unsqueeze before pad3d)."""

    ref: str
    shape: Shape
    unit_axis: bool = False


class Sizes:
    """Shape arithmetic (``paddle.shape(x)[2:]``): what a resize may read its size from."""


Value = Feat | Weights | Const | Term | Terms | Sizes


@dataclass
class Pending:
    """One op being built: its provisional id, fpnprof op, inputs, attributes, level, the module
    (and call) that made it, its short name, the parameter that keys its weights, its variable."""

    id: str
    op: Op
    inputs: list[str]
    attrs: dict[str, Any]
    level: int
    module: str
    call: int
    short: str
    weight: str | None
    var: str
    shares: str | None = None
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Layout:
    """What naming needs from the layer: its leaf sublayers' paths, and the parameters that are the
    only one of their layer (a fusion holding one weight vector is named by its layer's path)."""

    leaves: frozenset[str]
    sole_params: frozenset[str]


@dataclass(frozen=True)
class Mapped:
    """The mapping: ops in order, outputs (level -> op name or ``in@L``) in the order returned, and
    each op's variable in the traced program (what the proof fetches to find a differing node)."""

    ops: tuple[GraphOp, ...]
    outputs: dict[int, str]
    variables: dict[str, str]


def _refuse(op: TracedOp, what: str) -> ImportRefused:
    module = f"module {op.module!r}" if op.module else "the traced layer's forward"
    return ImportRefused(f"{op.type} in {module} ({op.where}): {what}")


class Mapper:
    """Reads a :class:`Trace` op by op (:meth:`step`) into :class:`Pending` ops."""

    def __init__(self, trace: Trace, sides: Mapping[int, tuple[int, int]]) -> None:
        self.trace = trace
        self.producer = {v: op for op in trace.ops for vs in op.outputs.values() for v in vs}
        self.values: dict[str, Value] = {}
        self.ops: dict[str, Pending] = {}
        self.readers = Counter(v for op in trace.ops for vs in op.inputs.values() for v in vs) + Counter(trace.outputs)
        self.side_level = {}
        for level in sorted(sides, reverse=True):
            self.side_level[sides[level][0]] = level
        self.top = max(sides)
        self.input_heights = {level: side[0] for level, side in sides.items()}
        for level, var in zip(sorted(sides), trace.inputs, strict=True):
            n, c, h, w = trace.shapes[var]
            self.values[var] = Feat(input_ref(level), (n, c, h, w))
        for var, name in trace.params.items():
            shape = trace.shapes[var]
            self.values[var] = Weights(("param", name, math.prod(shape)), shape)

    # Values --------------------------------------------------------------------------------------
    def value(self, var: str, op: TracedOp) -> Value:
        if var not in self.values:
            raise _refuse(op, f"reads {var!r}, which no op made and which is not a parameter (a buffer?)")
        return self.values[var]

    def feat(self, var: str, op: TracedOp) -> Feat:
        """The feature map in ``var``; a finished weighted sum becomes its fusion op here."""
        value = self.value(var, op)
        if isinstance(value, Term):
            value = Terms((value,))
        if isinstance(value, Terms):
            value = self._fusion(value, var, op)
            self.values[var] = value
        if isinstance(value, Weights):
            raise _refuse(op, f"computes with {describe(value.expr)}, computed from parameters alone (not a fusion)")
        if isinstance(value, Const):
            raise _refuse(op, "computes with a constant (no fpnprof op takes one)")
        if isinstance(value, Sizes):
            raise _refuse(op, "computes with a tensor's shape")
        return value

    def _first(self, ref: str | None) -> tuple[int, int] | None:
        """The (level, height) of an op's first input."""
        if ref is None:
            return None
        read = input_level(ref)
        if read is not None:
            return read, self.input_heights[read]
        pending = self.ops[ref]
        return pending.level, self.trace.shapes[pending.var][-2]

    def level(self, shape: Shape, first_input: str | None, op: Op) -> int:
        """An output as tall as its first input, or a global pool's, stays at that input's level; else
        the level whose side is the output's height; a new smaller side (about half the top one) is the
        next level up; any other side takes its first input's level."""
        h = shape[2]
        first = self._first(first_input)
        if first is not None and (first[1] == h or op is Op.ADAPTIVE_AVGPOOL):
            return first[0]
        if h in self.side_level:
            return self.side_level[h]
        top_side = min(self.side_level)
        if op is not Op.ADAPTIVE_AVGPOOL and h < top_side and top_side // 2 <= h <= -(-top_side // 2):
            self.top += 1
            self.side_level[h] = self.top
            return self.top
        if first_input is None:
            return self.top
        read = input_level(first_input)
        return read if read is not None else self.ops[first_input].level

    def emit(
        self, op: TracedOp, fop: Op, inputs: list[str], attrs: dict[str, Any], var: str, short: str, weight: str | None
    ) -> Pending:
        shape = self.trace.shapes[var]
        shape4: Shape = (shape[0], shape[1], shape[-2], shape[-1])
        pending = Pending(
            id=f"#{len(self.ops)}",
            op=fop,
            inputs=inputs,
            attrs=attrs,
            level=self.level(shape4, inputs[0] if inputs else None, fop),
            module=op.module,
            call=op.call,
            short=short,
            weight=weight,
            var=var,
        )
        self.ops[pending.id] = pending
        self.values[var] = Feat(pending.id, shape4, unit_axis=len(shape) == 5)
        return pending

    # Steps ---------------------------------------------------------------------------------------
    def step(self, op: TracedOp) -> None:
        slots = {s: vs for s, vs in op.inputs.items() if s not in SIZE_SLOTS}
        args = [self.value(v, op) for vs in slots.values() for v in vs]
        outs = [v for vs in op.outputs.values() for v in vs]
        sizes = any(isinstance(a, Sizes) for a in args) and all(isinstance(a, Sizes | Const) for a in args)
        if op.type in SHAPE_OPS or sizes:
            self.values.update((v, Sizes()) for v in outs)
        elif op.type in CONSTANTS:
            self.values.update((v, Const(_constant(op.attrs))) for v in outs)
        elif args and all(isinstance(a, Weights | Const) for a in args):
            main = op.outputs.get("Out", outs[:1])[0]
            self.values[main] = parameter_op(
                op.type, op.attrs, [a for a in args if isinstance(a, Weights | Const)], self.trace.shapes[main]
            )
        elif op.type in VIEWS:
            self._view(op, args)
        elif op.type in VANISHING:
            why = VANISHING[op.type](op.attrs)
            if why:
                raise _refuse(op, why)
            self.values[op.outputs["Out"][0]] = self.feat(op.inputs["X"][0], op)
        elif not self._weighted_sum(op, args) and not self._bias(op, args):
            self._table(op)

    def _view(self, op: TracedOp, args: list[Value]) -> None:
        x = self.feat(op.inputs["X"][0], op)
        out = self.trace.shapes[op.outputs["Out"][0]]
        if len(out) == 4 and out == x.shape:
            self.values[op.outputs["Out"][0]] = Feat(x.ref, x.shape)
        elif len(out) == 5 and out == (*x.shape[:2], 1, *x.shape[2:]):
            self.values[op.outputs["Out"][0]] = Feat(x.ref, x.shape, unit_axis=True)
        else:
            raise _refuse(op, f"reshapes a feature map {x.shape} to {out} (fpnprof's ops keep NCHW maps)")

    def _weighted_sum(self, op: TracedOp, args: list[Value]) -> bool:
        """x * w[i] (a Term) and sums of Terms; False where this op is something else."""
        if op.type == "elementwise_mul" and len(args) == 2:
            weights = [a for a in args if isinstance(a, Weights)]
            if len(weights) == 1:  # the other operand: a feature map (a finished fusion becomes one here)
                feats = [self.feat(v, op) for v in (*op.inputs["X"], *op.inputs["Y"]) if not isinstance(self.values[v], Weights)]
                w = weights[0]
                if w.expr[0] != "item" or math.prod(w.shape) != 1:
                    raise _refuse(
                        op, f"multiplies a feature map by {describe(w.expr)}, computed from parameters (not a fusion weight)"
                    )
                x = feats[0]
                self.values[op.outputs["Out"][0]] = Term(x.ref, x.shape, w.expr[1], int(w.expr[2]))
                return True
        if op.type in ("elementwise_add", "sum") and args and all(isinstance(a, Term | Terms) for a in args):
            terms = tuple(t for a in args for t in ((a,) if isinstance(a, Term) else a.terms))  # type: ignore[union-attr]
            self.values[op.outputs["Out"][0]] = Terms(terms)
            return True
        return False

    def _bias(self, op: TracedOp, args: list[Value]) -> bool:
        """A conv's bias added right after it (``conv2d`` + ``elementwise_add`` of its layer's bias)."""
        if op.type != "elementwise_add" or len(args) != 2 or not isinstance(args[1], Weights):
            return False
        x, bias = args[0], args[1]
        conv = self.ops.get(x.ref) if isinstance(x, Feat) else None
        if conv is None or conv.op not in (Op.CONV, Op.CONV_TRANSPOSE) or conv.attrs["bias"] or self.readers[conv.var] != 1:
            raise _refuse(op, f"adds {describe(bias.expr)}, computed from parameters, to a feature map (not a conv's bias)")
        owner = conv.params["weight"].rpartition(".")[0]
        name = bias.expr[1] if bias.expr[0] == "param" else None
        if name != (f"{owner}.bias" if owner else "bias") or bias.expr[2] != conv.attrs["out_channels"]:
            raise _refuse(op, f"adds {describe(bias.expr)} to the conv of {owner!r}: not that layer's bias")
        conv.attrs["bias"] = True
        conv.params["bias"] = name
        conv.var = op.outputs["Out"][0]
        self.values[conv.var] = x
        return True

    def _table(self, op: TracedOp) -> None:
        rule = TABLE.get(op.type)
        if rule is None:
            raise _refuse(op, "not in fpnprof's import table (fpnprof.backends.paddle_import_table)")
        extra = [s for s in op.inputs if s not in rule.data and s not in rule.params and s not in SIZE_SLOTS]
        if extra:
            raise _refuse(op, f"reads slot(s) {extra} that fpnprof's op does not take")
        feats = [self.feat(v, op) for s in rule.data for v in op.inputs.get(s, ())]
        if not feats:
            raise _refuse(op, "reads no feature map")
        params = self._params(op, rule)
        shapes = tuple((*f.shape[:2], 1, *f.shape[2:]) if f.unit_axis else f.shape for f in feats)
        out_var = op.outputs[rule.out][0]
        view = OpView(
            op.type,
            op.attrs,
            shapes,
            {s: self.trace.shapes[v[0]] for s, v in op.inputs.items() if s in rule.params},
            self.trace.shapes[out_var],
        )
        try:
            if op.type == "split":
                self._split(op, feats[0])
                return
            if any(f.unit_axis for f in feats) != (op.type == "pad3d"):
                raise Unsupported("a feature map with an axis inserted (fpnprof's ops take NCHW maps)")
            fop, attrs = rule.op_for(view), rule.attrs(view)
        except Unsupported as exc:
            raise _refuse(op, str(exc)) from None
        weight = params.get("weight") if fop in _LAYER_WEIGHTS else None
        pending = self.emit(op, fop, [f.ref for f in feats], attrs, out_var, rule.short, weight)
        pending.params = params

    def _params(self, op: TracedOp, rule: Rule) -> dict[str, str]:
        """The op's parameters by their name on its layer; refused unless one layer holds them as
        ``<layer>.weight``, ``<layer>.bias``, ... (the names the proof copies weights by)."""
        params = {}
        for slot, role in rule.params.items():
            if slot not in op.inputs:
                continue
            value = self.value(op.inputs[slot][0], op)
            if not isinstance(value, Weights) or value.expr[0] != "param":
                raise _refuse(op, f"its {slot} is computed, not a parameter")
            params[role] = str(value.expr[1])
        owners = {name.rpartition(".")[0] for name in params.values()}
        if len(owners) > 1 or any(name.rpartition(".")[2] != role for role, name in params.items()):
            raise _refuse(op, f"its parameters {sorted(params.values())} are not one layer's {sorted(params)}")
        return params

    def _split(self, op: TracedOp, x: Feat) -> None:
        outs = list(op.outputs["Out"])
        for var, (start, stop) in zip(outs, split_ranges(op.attrs, x.shape, len(outs)), strict=True):
            if self.readers[var]:
                self.emit(op, Op.CHANNEL_SLICE, [x.ref], {"start": start, "stop": stop}, var, "split", None)

    def _fusion(self, terms: Terms, var: str, op: TracedOp) -> Feat:
        try:
            fop, param, attrs, inputs = fusion_of(terms)
        except Unsupported as exc:
            raise _refuse(op, str(exc)) from None
        pending = self.emit(self.producer.get(var, op), fop, inputs, attrs, var, "fusion", param)
        pending.params = {"weight": param}
        feat = self.values[var]
        assert isinstance(feat, Feat)
        return feat

    # Finishing -----------------------------------------------------------------------------------
    def outputs(self) -> list[Feat]:
        fake = TracedOp("return", {}, {}, {}, "", 1, self.trace.file)
        return [self.feat(var, fake) for var in self.trace.outputs]


def _constant(attrs: Mapping[str, Any]) -> float | None:
    for key in ("value", "str_value"):
        value = attrs.get(key)
        if value not in (None, ""):
            return f32(float(value))
    for key in ("fp32_values", "fp64_values", "values"):
        values = attrs.get(key)
        if values and len(values) == 1:
            return f32(values[0])
    return None


def fold_pad_pools(ops: dict[str, Pending], outputs: list[str]) -> None:
    """``F.pad`` then a max pool is one max pool padded by the pad's value: fold each such pad (read by
    that pool alone) into it, as fpnprof's TensorFlow-SAME and mmcv-resize pools are written."""
    readers = Counter(i for p in ops.values() for i in p.inputs) + Counter(outputs)
    for pool in list(ops.values()):
        pad = ops.get(pool.inputs[0]) if pool.op is Op.MAXPOOL else None
        if pad is None or pad.op is not Op.PAD or readers[pad.id] != 1:
            continue
        value = float(pad.attrs["value"])
        if value != -math.inf and any(pool.attrs["padding"]):
            continue  # the pool pads with -inf: two paddings of different values stay two ops
        pool.attrs["padding"] = tuple(a + b for a, b in zip(pad.attrs["padding"], pool.attrs["padding"], strict=True))
        if value != -math.inf:
            pool.attrs["pad_value"] = value
        pool.inputs = pad.inputs
        del ops[pad.id]


def prune(ops: dict[str, Pending], outputs: list[str]) -> None:
    """Drop parameter-free ops whose values nobody reads (a split's unread part, a dead branch);
    weighted ops stay, with what they read (their parameters are the source's)."""
    live = set(outputs)
    for p in reversed(list(ops.values())):
        if p.id in live or p.weight is not None:
            live.add(p.id)
            live.update(p.inputs)
    for key in [k for k in ops if k not in live]:
        del ops[key]


def names(ops: dict[str, Pending], layout: Layout) -> dict[str, str]:
    """Final names: a weighted op by its parameters' layer (a fusion by its layer if its weight vector is
    that layer's only parameter, else by the parameter), a leaf layer's
    only op by the layer's path, any other op ``<layer path>.<short>`` (``_1``... when repeated);
    a layer's k-th call appends ``@k``. Unique (``_n`` appended where two would clash)."""
    per_call = Counter((p.module, p.call) for p in ops.values())
    shorts: Counter[tuple[str, int, str]] = Counter()
    weight_uses: Counter[str] = Counter()
    out: dict[str, str] = {}
    taken: set[str] = set()
    for p in ops.values():
        if p.weight is not None:
            fusion = p.op in (Op.FUSION, Op.SOFTMAX_FUSION)
            base = p.weight if fusion and p.weight not in layout.sole_params else p.weight.rpartition(".")[0]
            base = base or p.short  # the traced layer's own parameters (it is a conv itself)
            weight_uses[p.weight] += 1
            name = base if weight_uses[p.weight] == 1 else f"{base}#{weight_uses[p.weight]}"
        else:
            if p.module and p.module in layout.leaves and per_call[(p.module, p.call)] == 1:
                name = p.module
            else:
                key = (p.module, p.call, p.short)
                suffix = f"_{shorts[key]}" if shorts[key] else ""
                shorts[key] += 1
                name = f"{p.module}.{p.short}{suffix}" if p.module else f"{p.short}{suffix}"
            if p.call > 1:
                name += f"#{p.call}"
        unique, k = name, 1
        while unique in taken:
            unique, k = f"{name}_{k}", k + 1
        taken.add(unique)
        out[p.id] = unique
    return out


def map_trace(trace: Trace, sides: Mapping[int, tuple[int, int]], layout: Layout) -> Mapped:
    """The trace as fpnprof ops, outputs by level (in the order the forward returns them)."""
    mapper = Mapper(trace, sides)
    for op in trace.ops:
        mapper.step(op)
    returned = mapper.outputs()
    refs = [f.ref for f in returned]
    fold_pad_pools(mapper.ops, refs)
    prune(mapper.ops, refs)
    if not any(input_level(i) is not None for p in mapper.ops.values() for i in p.inputs):
        raise ImportRefused(f"{trace.file}: the traced forward reads none of its level inputs")
    final = names(mapper.ops, layout)
    first: dict[str, str] = {}
    for p in mapper.ops.values():
        if p.weight is not None:
            first.setdefault(p.weight, final[p.id])
            if first[p.weight] != final[p.id]:
                p.shares = first[p.weight]

    def rename(ref: str) -> str:
        return ref if input_level(ref) is not None else final[ref]

    ops = tuple(
        GraphOp(final[p.id], p.op, tuple(rename(i) for i in p.inputs), p.level, dict(p.attrs), p.shares)
        for p in mapper.ops.values()
    )
    outputs: dict[int, str] = {}
    for feat in returned:
        read = input_level(feat.ref)
        level = read if read is not None else mapper.ops[feat.ref].level
        if level in outputs:
            raise ImportRefused(
                f"{trace.file}: two outputs at level {level} (sides {feat.shape[2]}): fpnprof takes one output per level"
            )
        outputs[level] = rename(feat.ref)
    levels = sorted(outputs)
    if levels != list(range(levels[0], levels[-1] + 1)):
        raise ImportRefused(f"{trace.file}: outputs at levels {levels}, not contiguous")
    variables = {final[p.id]: p.var for p in mapper.ops.values()}
    return Mapped(ops, outputs, variables)
