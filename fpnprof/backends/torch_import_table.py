"""How ``fpnprof import`` reads each ATen op of a traced torch module: the mapping table, as data.

One :class:`Rule` per ATen overload (``str(OpOverload)``, e.g. ``aten.conv2d.default``): the fpnprof
:class:`~fpnprof.model.graph.Op` it becomes (None: it vanishes, its value is its data input's), the
schema arguments that carry data tensors, the ones that must be the op's own parameters (and the
name each has on its module), and a reader that turns the call into the op's attributes or refuses
the form in one line (:class:`Unsupported`). An op missing here is refused by the importer.
Nothing here imports torch: arguments arrive as plain values, tensors as their shapes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fpnprof.model.graph import Op

#: A tensor argument as the table sees it: its shape.
TensorShape = tuple[int, ...]


class Unsupported(Exception):
    """A form of a known op that fpnprof's op cannot express (the importer names op, module and line)."""


class Vanishes(Exception):
    """This call computes nothing (adds 0, slices everything): its value is its data input's."""


@dataclass(frozen=True)
class Call:
    """One traced call: its arguments by schema name (tensors as shapes, lists of tensors as lists of
    shapes, missing optional tensors as None) and its output's shape."""

    args: Mapping[str, Any]
    out: TensorShape

    def shape(self, name: str) -> TensorShape:
        value = self.args[name]
        if not isinstance(value, tuple):
            raise Unsupported(f"argument {name!r} is not a tensor")
        return value


#: Reads a call's attributes (the names :class:`~fpnprof.model.graph.Op` documents).
Reader = Callable[[Call], dict[str, Any]]


def _no_attrs(call: Call) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Rule:
    """How one ATen op is read. ``data``: the schema arguments holding data tensors, in the op's input
    order (a list argument such as ``cat``'s ``tensors`` gives all its items); ``weights``: schema argument
    -> the attribute name that tensor must have on the op's module (a missing optional one is fine);
    ``short``: the op's name when a module's forward calls it as a function (``fpn.add``)."""

    op: Op | None
    short: str
    data: tuple[str, ...] = ("self",)
    weights: Mapping[str, str] = field(default_factory=dict)
    attrs: Reader = _no_attrs


def _pair(value: Any, what: str) -> int:
    """One int from an int or a list of two equal ints; else refuse (fpnprof's ops are square)."""
    values = [value] if isinstance(value, int) else list(value)
    if len(values) == 1:
        values *= 2
    if len(values) != 2 or values[0] != values[1]:
        raise Unsupported(f"{what} {'x'.join(map(str, values))} (fpnprof reads square {what}s only)")
    return int(values[0])


def _no_dilation(call: Call) -> None:
    values = [call.args.get("dilation", 1)] if isinstance(call.args.get("dilation", 1), int) else list(call.args["dilation"])
    if any(d != 1 for d in values):
        raise Unsupported(f"dilation {values} (fpnprof reads undilated ops only)")


def _kernel(weight: TensorShape) -> int:
    if weight[2] != weight[3]:
        raise Unsupported(f"a {weight[2]}x{weight[3]} kernel (fpnprof's conv is square)")
    return weight[2]


def _conv_padding(call: Call, kernel: int, stride: int) -> int:
    padding = call.args["padding"]
    if padding == "valid":
        return 0
    if padding == "same":
        if stride != 1 or kernel % 2 == 0:
            raise Unsupported(f"padding='same' with kernel {kernel} and stride {stride} pads unevenly")
        return kernel // 2
    return _pair(padding, "padding")


def _conv(call: Call) -> dict[str, Any]:
    if call.args.get("transposed", False):
        return _conv_transpose(call)
    weight = call.shape("weight")
    _no_dilation(call)
    if any(call.args.get("output_padding", [0]) or [0]):
        raise Unsupported("a convolution with output padding that is not transposed")
    kernel = _kernel(weight)
    stride = _pair(call.args["stride"], "stride")
    return {
        "in_channels": call.shape("input")[1],
        "out_channels": weight[0],
        "kernel": kernel,
        "stride": stride,
        "padding": _conv_padding(call, kernel, stride),
        "groups": int(call.args["groups"]),
        "bias": call.args["bias"] is not None,
    }


def _conv_transpose(call: Call) -> dict[str, Any]:
    weight = call.shape("weight")
    _no_dilation(call)
    groups = int(call.args["groups"])
    return {
        "in_channels": call.shape("input")[1],
        "out_channels": weight[1] * groups,
        "kernel": _kernel(weight),
        "stride": _pair(call.args["stride"], "stride"),
        "padding": _pair(call.args["padding"], "padding"),
        "output_padding": _pair(call.args["output_padding"], "output_padding"),
        "groups": groups,
        "bias": call.args["bias"] is not None,
    }


def _batchnorm(call: Call) -> dict[str, Any]:
    if call.args.get("training", False):
        raise Unsupported("a batch norm that normalises by the batch's statistics in eval mode (track_running_stats=False)")
    if call.args["weight"] is None or call.args["bias"] is None:
        raise Unsupported("a batch norm without affine weights (fpnprof's batchnorm has gamma and beta)")
    return {"channels": call.shape("input")[1], "eps": float(call.args["eps"])}


def _groupnorm(call: Call) -> dict[str, Any]:
    if call.args["weight"] is None or call.args["bias"] is None:
        raise Unsupported("a group norm without affine weights (fpnprof's groupnorm has gamma and beta)")
    return {"channels": call.shape("input")[1], "groups": int(call.args["num_groups"]), "eps": float(call.args["eps"])}


def _exact_scale(call: Call, scales: Sequence[float] | None) -> dict[str, Any]:
    """``scale`` when the source resized by a factor: only where in * scale is the output side exactly
    (then torch's index arithmetic with 1/scale equals fpnprof's with in/out: both are correctly rounded)."""
    if not scales:
        return {}
    _, _, h, w = call.shape("input")
    sh, sw = (float(s) for s in scales)
    if h * sh != call.out[2] or w * sw != call.out[3]:
        raise Unsupported(f"a resize by {sh}x{sw} from {h}x{w} to {call.out[2]}x{call.out[3]} (fpnprof reads exact scales only)")
    return {"scale": sh if sh == sw else (sh, sw)}


def _scales(call: Call) -> Sequence[float] | None:
    if "scale_factors" in call.args:
        scales: Sequence[float] | None = call.args["scale_factors"]
        return scales
    sh, sw = call.args.get("scales_h"), call.args.get("scales_w")
    return None if sh is None or sw is None else (sh, sw)


def _size(call: Call) -> tuple[int, int]:
    return (call.out[2], call.out[3])


def _nearest(call: Call) -> dict[str, Any]:
    return {"size": _size(call), **_exact_scale(call, _scales(call))}


def _bilinear(call: Call) -> dict[str, Any]:
    corners = bool(call.args["align_corners"])
    scales = _scales(call)
    if corners and scales:  # align_corners maps corners to corners: the factor sets the size alone
        sh, sw = (float(v) for v in scales)
        return {"size": _size(call), "align_corners": True, "scale": sh if sh == sw else (sh, sw)}
    return {"size": _size(call), "align_corners": corners, **_exact_scale(call, scales)}


def _maxpool(call: Call) -> dict[str, Any]:
    """Max pool; ceil mode becomes extra bottom/right padding (with -inf, as the pool pads)."""
    _no_dilation(call)
    kernel = _pair(call.args["kernel_size"], "kernel")
    stride = _pair(call.args["stride"] or call.args["kernel_size"], "stride")
    pads = call.args["padding"]
    ph, pw = (pads, pads) if isinstance(pads, int) else (list(pads) * 2)[:2]
    _, _, h, w = call.shape("self")
    extra_h = max((call.out[2] - 1) * stride + kernel - (h + 2 * ph), 0)
    extra_w = max((call.out[3] - 1) * stride + kernel - (w + 2 * pw), 0)
    return {"kernel": kernel, "stride": stride, "padding": (ph, ph + extra_h, pw, pw + extra_w)}


def _leaky_relu(call: Call) -> dict[str, Any]:
    return {"negative_slope": float(call.args["negative_slope"])}


def _hardsigmoid(call: Call) -> dict[str, Any]:
    return {"slope": 1 / 6, "offset": 0.5}


def _pool_size(call: Call) -> dict[str, Any]:
    return {"size": _size(call)}


def _pad(call: Call) -> dict[str, Any]:
    """``F.pad`` pads (left, right[, top, bottom]); fpnprof's padding is (top, bottom, left, right)."""
    if call.args.get("mode", "constant") != "constant":
        raise Unsupported(f"{call.args['mode']} padding (fpnprof pads with a constant)")
    pad = list(call.args["pad"])
    if len(pad) not in (2, 4) or min(pad) < 0:
        raise Unsupported(f"padding {pad} (fpnprof pads height and width by non-negative amounts)")
    left, right, top, bottom = [*pad, 0, 0][:4]
    value = call.args.get("value")
    return {"padding": (top, bottom, left, right), "value": 0.0 if value is None else float(value)}


def _channels_dim(call: Call, dim: int) -> None:
    if dim not in (1, -3):
        raise Unsupported(f"an op along dimension {dim} (fpnprof slices and joins channels, dimension 1)")


def _concat(call: Call) -> dict[str, Any]:
    _channels_dim(call, int(call.args["dim"]))
    return {}


def _slice(call: Call) -> dict[str, Any]:
    if call.shape("self") == call.out:
        raise Vanishes
    _channels_dim(call, int(call.args["dim"]))
    if call.args.get("step", 1) != 1:
        raise Unsupported(f"a channel slice with step {call.args['step']}")
    channels = call.shape("self")[1]
    start = call.args["start"] or 0
    start = max(start + channels, 0) if start < 0 else min(start, channels)
    return {"start": start, "stop": start + call.out[1]}


def _split(call: Call) -> dict[str, Any]:
    """A split's items are read per item (``getitem``): here only its dimension is checked."""
    _channels_dim(call, int(call.args["dim"]))
    return {}


def _binary(call: Call) -> dict[str, Any]:
    if not isinstance(call.args["other"], tuple):
        raise Unsupported(f"an op with the constant {call.args['other']!r} (fpnprof's elementwise ops take two tensors)")
    if call.args.get("alpha", 1) != 1:
        raise Unsupported(f"an add or subtract with alpha={call.args['alpha']}")
    for name in ("self", "other"):
        if len(call.shape(name)) != 4:
            raise Unsupported(f"a {len(call.shape(name))}-D operand (fpnprof's elementwise ops take NCHW tensors)")
    return {}


def _add(call: Call) -> dict[str, Any]:
    """Adding the constant 0 (``sum(...)`` starts from it) vanishes; any other add takes two tensors."""
    if call.args["other"] == 0 and not isinstance(call.args["other"], tuple):
        raise Vanishes
    return _binary(call)


def _dropout(call: Call) -> dict[str, Any]:
    if call.args.get("train", False):
        raise Unsupported("dropout in training mode")
    return {}


_CONV = Rule(Op.CONV, "conv", ("input",), {"weight": "weight", "bias": "bias"}, _conv)
_BN_WEIGHTS = {"weight": "weight", "bias": "bias", "running_mean": "running_mean", "running_var": "running_var"}
_BN = Rule(Op.BATCHNORM, "bn", ("input",), _BN_WEIGHTS, _batchnorm)
_MAXPOOL = Rule(Op.MAXPOOL, "maxpool", ("self",), attrs=_maxpool)
_SPLIT = Rule(Op.CHANNEL_SLICE, "slice", ("self",), attrs=_split)
_VANISH = Rule(None, "identity")


def _both(name: str, rule: Rule) -> dict[str, Rule]:
    """An op and its in-place form (``relu`` and ``relu_``)."""
    base, overload = name.rsplit(".", 1)
    return {name: rule, f"{base}_.{overload}": rule}


#: ATen overload -> rule. Ops whose value is a tuple (max pool with indices, adaptive max pool, the
#: no-training batch norm) are read at item 0; a split-like op (:data:`SPLITS`) at each item.
TABLE: dict[str, Rule] = {
    "aten.conv2d.default": _CONV,
    "aten.conv2d.padding": _CONV,
    "aten.convolution.default": _CONV,
    "aten.conv_transpose2d.input": Rule(Op.CONV_TRANSPOSE, "conv_transpose", ("input",), _CONV.weights, _conv_transpose),
    "aten.batch_norm.default": _BN,
    "aten._native_batch_norm_legit_no_training.default": _BN,
    "aten.group_norm.default": Rule(Op.GROUPNORM, "gn", ("input",), {"weight": "weight", "bias": "bias"}, _groupnorm),
    **_both("aten.relu.default", Rule(Op.RELU, "relu")),
    **_both("aten.silu.default", Rule(Op.SWISH, "silu")),
    **_both("aten.leaky_relu.default", Rule(Op.LEAKY_RELU, "leaky_relu", attrs=_leaky_relu)),
    **_both("aten.hardswish.default", Rule(Op.HARDSWISH, "hardswish")),
    **_both("aten.hardsigmoid.default", Rule(Op.HARDSIGMOID, "hardsigmoid", attrs=_hardsigmoid)),
    **_both("aten.sigmoid.default", Rule(Op.SIGMOID, "sigmoid")),
    **_both("aten.add.Tensor", Rule(Op.ADD, "add", ("self", "other"), attrs=_add)),
    **_both("aten.sub.Tensor", Rule(Op.SUB, "sub", ("self", "other"), attrs=_binary)),
    **_both("aten.mul.Tensor", Rule(Op.MUL, "mul", ("self", "other"), attrs=_binary)),
    **_both("aten.div.Tensor", Rule(Op.DIV, "div", ("self", "other"), attrs=_binary)),
    "aten.cat.default": Rule(Op.CONCAT, "cat", ("tensors",), attrs=_concat),
    "aten.upsample_nearest2d.vec": Rule(Op.UPSAMPLE, "upsample", ("input",), attrs=_nearest),
    "aten.upsample_nearest2d.default": Rule(Op.UPSAMPLE, "upsample", ("self",), attrs=_nearest),
    "aten.upsample_bilinear2d.vec": Rule(Op.RESIZE_BILINEAR, "resize", ("input",), attrs=_bilinear),
    "aten.upsample_bilinear2d.default": Rule(Op.RESIZE_BILINEAR, "resize", ("self",), attrs=_bilinear),
    "aten.max_pool2d.default": _MAXPOOL,
    "aten.max_pool2d_with_indices.default": _MAXPOOL,
    "aten.adaptive_max_pool2d.default": Rule(Op.ADAPTIVE_MAXPOOL, "adaptive_maxpool", attrs=_pool_size),
    "aten.adaptive_avg_pool2d.default": Rule(Op.ADAPTIVE_AVGPOOL, "adaptive_avgpool", attrs=_pool_size),
    "aten._adaptive_avg_pool2d.default": Rule(Op.ADAPTIVE_AVGPOOL, "adaptive_avgpool", attrs=_pool_size),
    "aten.pad.default": Rule(Op.PAD, "pad", attrs=_pad),
    "aten.constant_pad_nd.default": Rule(Op.PAD, "pad", attrs=_pad),
    "aten.slice.Tensor": Rule(Op.CHANNEL_SLICE, "slice", attrs=_slice),
    "aten.split.Tensor": _SPLIT,
    "aten.split_with_sizes.default": _SPLIT,
    "aten.chunk.default": _SPLIT,
    "aten.dropout.default": Rule(None, "dropout", ("input",), attrs=_dropout),
    "aten.feature_dropout.default": Rule(None, "dropout", ("input",), attrs=_dropout),
    "aten.clone.default": _VANISH,
    "aten.alias.default": _VANISH,
    "aten.detach.default": _VANISH,
}

#: Ops whose items (``getitem``) are channel slices.
SPLITS = frozenset({"aten.split.Tensor", "aten.split_with_sizes.default", "aten.chunk.default"})
#: Ops that return a tuple whose item 0 is the value (the others: indices, saved statistics).
TUPLES = frozenset(
    {
        "aten.max_pool2d_with_indices.default",
        "aten.adaptive_max_pool2d.default",
        "aten._native_batch_norm_legit_no_training.default",
    }
)
#: Calls that compute nothing (trace bookkeeping): skipped.
IGNORED = frozenset(
    {"aten._assert_tensor_metadata.default", "aten._assert_scalar.default", "aten.sym_constrain_range_for_size.default"}
)
