"""How ``fpnprof import`` reads each op of a traced Paddle program (legacy IR): the mapping table, as data.

One :class:`Rule` per program op type: the fpnprof :class:`~fpnprof.model.graph.Op` it becomes, the
input slots that carry feature maps, the slots that must hold the op's own parameters (and the name
each has on its Paddle layer), the output slot, and a reader that turns the op's attributes and
shapes into fpnprof's attributes or refuses the form in one line (:class:`Unsupported`). Op types the
importer handles structurally (views, constants, shape arithmetic, ops that vanish) are listed below
the table. An op type in neither is refused. Nothing here imports Paddle.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fpnprof.model.graph import Op
from fpnprof.model.shapes import same_padding

#: A variable's static shape.
VarShape = tuple[int, ...]


class Unsupported(Exception):
    """A form of a known op that fpnprof's op cannot express (the importer names op, module and line)."""


@dataclass(frozen=True)
class OpView:
    """One program op as a reader sees it: attributes, the data inputs' shapes (slot order), the
    parameters' shapes by slot, and the output's shape."""

    type: str
    attrs: Mapping[str, Any]
    inputs: tuple[VarShape, ...]
    params: Mapping[str, VarShape]
    out: VarShape

    @property
    def x(self) -> VarShape:
        return self.inputs[0]


#: Reads an op's fpnprof attributes (the names :class:`~fpnprof.model.graph.Op` documents).
Reader = Callable[[OpView], dict[str, Any]]


def _no_attrs(view: OpView) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Rule:
    """How one program op type is read. ``data``: input slots holding feature maps, in the op's input
    order (every variable of a slot that holds several: concat's ``X``); ``params``: slot -> the name
    that parameter has on the op's layer (``Filter`` -> ``weight``); ``choose`` picks the op by the
    attributes where one type means several (``pool2d``: max, adaptive max or adaptive average);
    ``short``: the op's name when a layer's forward calls it as a function (``fpn.add``)."""

    op: Op
    short: str
    attrs: Reader = _no_attrs
    data: tuple[str, ...] = ("X",)
    params: Mapping[str, str] = field(default_factory=dict)
    out: str = "Out"
    choose: Callable[[OpView], Op] | None = None

    def op_for(self, view: OpView) -> Op:
        return self.choose(view) if self.choose else self.op


def f32(value: Any) -> float:
    """A float32 attribute as the decimal it was written as (0.0010000000474974513 -> 0.001)."""
    return float(str(np.float32(value)))


def _square(values: Any, what: str) -> int:
    values = [int(v) for v in (values if isinstance(values, list | tuple) else [values])]
    if len(set(values)) != 1:
        raise Unsupported(f"{what} {'x'.join(map(str, values))} (fpnprof reads square {what}s only)")
    return int(values[0])


def _no_dilation(view: OpView) -> None:
    if any(int(d) != 1 for d in view.attrs.get("dilations", [1])):
        raise Unsupported(f"dilations {list(view.attrs['dilations'])} (fpnprof reads undilated ops only)")


def _pads(view: OpView, kernel: int, stride: int) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) from ``paddings`` and ``padding_algorithm``."""
    algorithm = view.attrs.get("padding_algorithm", "EXPLICIT")
    if algorithm == "VALID":
        return (0, 0, 0, 0)
    if algorithm == "SAME":
        _, _, h, w = view.x
        return (*same_padding(h, kernel, stride), *same_padding(w, kernel, stride))
    p = [int(v) for v in view.attrs["paddings"]]
    if len(p) == 2:
        return (p[0], p[0], p[1], p[1])
    if len(p) == 4:
        return (p[0], p[1], p[2], p[3])
    raise Unsupported(f"paddings {p}")


def _symmetric(pads: tuple[int, int, int, int]) -> int:
    if len(set(pads)) != 1:
        raise Unsupported(f"padding (top, bottom, left, right) = {pads} (fpnprof's conv pads all sides alike)")
    return pads[0]


def _channels(view: OpView, expected: int) -> None:
    """Refuse a feature map whose channels are not the ones the op's weights take (wrong --in-channels)."""
    if view.x[1] != expected:
        raise Unsupported(
            f"its weights take {expected} channels, the feature map it reads has {view.x[1]} (are the in-channels right?)"
        )


def _conv(view: OpView) -> dict[str, Any]:
    _no_dilation(view)
    out_c, per_group, kh, kw = view.params["Filter"]
    _channels(view, per_group * int(view.attrs["groups"]))
    kernel = _square([kh, kw], "kernel")
    stride = _square(view.attrs["strides"], "stride")
    return {
        "in_channels": view.x[1],
        "out_channels": out_c,
        "kernel": kernel,
        "stride": stride,
        "padding": _symmetric(_pads(view, kernel, stride)),
        "groups": int(view.attrs["groups"]),
        "bias": False,  # an add of the layer's bias right after it sets this (the importer folds it)
    }


def _conv_transpose(view: OpView) -> dict[str, Any]:
    _no_dilation(view)
    in_c, out_per_group, kh, kw = view.params["Filter"]
    _channels(view, in_c)
    kernel = _square([kh, kw], "kernel")
    stride = _square(view.attrs["strides"], "stride")
    if view.attrs.get("padding_algorithm", "EXPLICIT") != "EXPLICIT":
        raise Unsupported(f"padding_algorithm {view.attrs['padding_algorithm']} on a transposed conv")
    padding = _symmetric(_pads(view, kernel, stride))
    groups = int(view.attrs["groups"])
    extra = {
        view.out[2] - ((view.x[2] - 1) * stride - 2 * padding + kernel),
        view.out[3] - ((view.x[3] - 1) * stride - 2 * padding + kernel),
    }
    if len(extra) != 1:
        raise Unsupported(f"a transposed conv to {view.out[2]}x{view.out[3]} with unequal output padding")
    return {
        "in_channels": in_c,
        "out_channels": out_per_group * groups,
        "kernel": kernel,
        "stride": stride,
        "padding": padding,
        "output_padding": extra.pop(),
        "groups": groups,
        "bias": False,
    }


def _eval_norm(view: OpView) -> None:
    if not (view.attrs.get("is_test") or view.attrs.get("use_global_stats")) or view.attrs.get("trainable_statistics"):
        raise Unsupported("a batch norm that normalises by the batch's statistics in eval mode (use_global_stats=False)")


def _batchnorm(view: OpView) -> dict[str, Any]:
    _eval_norm(view)
    if "Scale" not in view.params or "Bias" not in view.params:
        raise Unsupported("a batch norm without affine weights (fpnprof's batchnorm has gamma and beta)")
    if view.attrs.get("data_layout", "NCHW") != "NCHW":
        raise Unsupported(f"data layout {view.attrs['data_layout']} (fpnprof reads NCHW)")
    _channels(view, view.params["Scale"][0])
    return {"channels": view.x[1], "eps": f32(view.attrs["epsilon"])}


def _groupnorm(view: OpView) -> dict[str, Any]:
    if "Scale" not in view.params or "Bias" not in view.params:
        raise Unsupported("a group norm without affine weights (fpnprof's groupnorm has gamma and beta)")
    _channels(view, view.params["Scale"][0])
    return {"channels": view.x[1], "groups": int(view.attrs["groups"]), "eps": f32(view.attrs["epsilon"])}


def _swish(view: OpView) -> dict[str, Any]:
    if f32(view.attrs.get("beta", 1.0)) != 1.0:
        raise Unsupported(f"swish with beta {view.attrs['beta']} (fpnprof's swish is x * sigmoid(x))")
    return {}


def _hardswish(view: OpView) -> dict[str, Any]:
    terms = tuple(f32(view.attrs.get(k, d)) for k, d in (("threshold", 6.0), ("scale", 6.0), ("offset", 3.0)))
    if terms != (6.0, 6.0, 3.0):
        raise Unsupported(f"hard swish with threshold, scale, offset {terms} (fpnprof's is x * relu6(x + 3) / 6)")
    return {}


def _leaky_relu(view: OpView) -> dict[str, Any]:
    return {"negative_slope": f32(view.attrs["alpha"])}


def _hardsigmoid(view: OpView) -> dict[str, Any]:
    return {"slope": f32(view.attrs["slope"]), "offset": f32(view.attrs["offset"])}


def _elementwise(view: OpView) -> dict[str, Any]:
    axis = int(view.attrs.get("axis", -1))
    if axis != -1 and len(view.inputs[1]) != len(view.inputs[0]):
        raise Unsupported(f"broadcasting along axis {axis} (fpnprof broadcasts NCHW tensors of equal rank)")
    if any(len(s) != 4 for s in view.inputs):
        raise Unsupported(f"operands of shapes {list(view.inputs)} (fpnprof's ops take NCHW tensors)")
    return {}


def _concat(view: OpView) -> dict[str, Any]:
    if int(view.attrs.get("axis", 1)) not in (1, -3):
        raise Unsupported(f"a concat along axis {view.attrs['axis']} (fpnprof concatenates channels)")
    return {}


def _exact_scale(view: OpView) -> dict[str, Any]:
    """``scale`` when the source resized by a factor that gives the output side exactly."""
    scales = [float(s) for s in view.attrs.get("scale") or []]
    if not scales or view.attrs.get("out_h", -1) > 0:
        return {}
    sh, sw = (scales * 2)[:2]
    _, _, h, w = view.x
    if h * sh != view.out[2] or w * sw != view.out[3]:
        raise Unsupported(f"a resize by {sh}x{sw} from {h}x{w} to {view.out[2]}x{view.out[3]} (fpnprof reads exact scales only)")
    return {"scale": sh if sh == sw else (sh, sw)}


def _layout(view: OpView) -> None:
    if view.attrs.get("data_layout", "NCHW") != "NCHW":
        raise Unsupported(f"data layout {view.attrs['data_layout']} (fpnprof reads NCHW)")


def _nearest(view: OpView) -> dict[str, Any]:
    _layout(view)
    if view.attrs.get("align_corners", False):
        raise Unsupported("a nearest resize with align_corners=True")
    return {"size": (view.out[2], view.out[3]), **_exact_scale(view)}


def _bilinear(view: OpView) -> dict[str, Any]:
    _layout(view)
    corners = bool(view.attrs.get("align_corners", False))
    if not corners and int(view.attrs.get("align_mode", 0)) != 0:
        raise Unsupported("a bilinear resize with align_mode=1 (fpnprof's is half-pixel: align_mode=0)")
    return {"size": (view.out[2], view.out[3]), "align_corners": corners, **({} if corners else _exact_scale(view))}


def _pool_kind(view: OpView) -> Op:
    kind, adaptive, whole = view.attrs.get("pooling_type", "max"), view.attrs.get("adaptive"), view.attrs.get("global_pooling")
    if kind == "avg":
        if adaptive or whole:
            return Op.ADAPTIVE_AVGPOOL
        raise Unsupported("an average pool with a fixed window (fpnprof has adaptive average pools only)")
    return Op.ADAPTIVE_MAXPOOL if adaptive or whole else Op.MAXPOOL


def _pool(view: OpView) -> dict[str, Any]:
    _layout(view)
    if _pool_kind(view) is not Op.MAXPOOL:
        return {"size": (view.out[2], view.out[3])}
    kernel = _square(view.attrs["ksize"], "kernel")
    stride = _square(view.attrs["strides"], "stride")
    pads = _pads(view, kernel, stride)
    top, bottom, left, right = pads
    _, _, h, w = view.x
    floor = ((h + top + bottom - kernel) // stride + 1, (w + left + right - kernel) // stride + 1)
    if floor != (view.out[2], view.out[3]):  # ceil mode that rounds up here
        raise Unsupported(f"a ceil-mode max pool from {h}x{w} to {view.out[2]}x{view.out[3]} (fpnprof's pools round down)")
    return {"kernel": kernel, "stride": stride, "padding": pads}


def _constant_pad(view: OpView) -> float:
    if view.attrs.get("mode", "constant") != "constant":
        raise Unsupported(f"a {view.attrs['mode']} pad (fpnprof pads with a constant)")
    return f32(view.attrs.get("value", view.attrs.get("pad_value", 0.0)))


def _pad_attrs(top: int, bottom: int, left: int, right: int, value: float) -> dict[str, Any]:
    if min(top, bottom, left, right) < 0:
        raise Unsupported(f"a negative pad (a crop) of {(top, bottom, left, right)}")
    return {"padding": (top, bottom, left, right), "value": value}


def _pad3d(view: OpView) -> dict[str, Any]:
    """``F.pad`` on NCHW: pad3d over the tensor unsqueezed at axis 2, paddings (left, right, top, bottom, front, back)."""
    left, right, top, bottom, front, back = (int(p) for p in view.attrs["paddings"])
    if front or back or view.attrs.get("data_format", "NCDHW") != "NCDHW":
        raise Unsupported("a pad along a third spatial axis")
    return _pad_attrs(top, bottom, left, right, _constant_pad(view))


def _pad(view: OpView) -> dict[str, Any]:
    """``pad``: (before, after) per dimension, N and C unpadded."""
    p = [int(v) for v in view.attrs["paddings"]]
    if len(p) != 8 or any(p[:4]):
        raise Unsupported(f"paddings {p} (fpnprof pads height and width of NCHW tensors)")
    return _pad_attrs(p[4], p[5], p[6], p[7], f32(view.attrs.get("pad_value", 0.0)))


def _pad2d(view: OpView) -> dict[str, Any]:
    top, bottom, left, right = (int(v) for v in view.attrs["paddings"])
    return _pad_attrs(top, bottom, left, right, _constant_pad(view))


def _channel_range(view: OpView, axes: list[int], starts: list[int], ends: list[int]) -> dict[str, Any]:
    """``start``/``stop`` of a slice that cuts channels only (other axes whole, no axis dropped)."""
    rank, channels = len(view.x), view.x[1]
    start, stop = 0, channels
    for axis, begin, end in zip(axes, starts, ends, strict=True):
        axis %= rank
        size = view.x[axis]
        begin, end = (max(0, min(v + size if v < 0 else v, size)) for v in (begin, end))
        if axis == 1:
            start, stop = begin, end
        elif (begin, end) != (0, size):
            raise Unsupported(f"a slice along axis {axis} (fpnprof slices channels only)")
    if view.attrs.get("decrease_axis"):
        raise Unsupported("an index that drops an axis")
    if view.attrs.get("strides") and any(int(s) != 1 for s in view.attrs["strides"]):
        raise Unsupported("a strided slice")
    return {"start": start, "stop": stop}


def _slice(view: OpView) -> dict[str, Any]:
    a = view.attrs
    return _channel_range(view, list(a["axes"]), list(a["starts"]), list(a["ends"]))


def split_ranges(attrs: Mapping[str, Any], shape: VarShape, outputs: int) -> list[tuple[int, int]]:
    """[start, stop) of each of a ``split`` op's outputs along channels."""
    if int(attrs.get("axis", 0)) % len(shape) != 1:
        raise Unsupported(f"a split along axis {attrs.get('axis')} (fpnprof splits channels only)")
    sections = [int(s) for s in attrs.get("sections") or []]
    channels = shape[1]
    if not sections:
        sections = [channels // outputs] * outputs
    if -1 in sections:
        sections[sections.index(-1)] = channels - (sum(sections) + 1)
    bounds = np.cumsum([0, *sections]).tolist()
    return [(int(bounds[i]), int(bounds[i + 1])) for i in range(len(sections))]


_CONV_PARAMS = {"Filter": "weight"}
_NORM_PARAMS = {"Scale": "weight", "Bias": "bias"}
_BN_PARAMS = {**_NORM_PARAMS, "Mean": "_mean", "Variance": "_variance"}

#: Program op type -> how it is read.
TABLE: dict[str, Rule] = {
    "conv2d": Rule(Op.CONV, "conv", _conv, data=("Input",), params=_CONV_PARAMS, out="Output"),
    "depthwise_conv2d": Rule(Op.CONV, "conv", _conv, data=("Input",), params=_CONV_PARAMS, out="Output"),
    "conv2d_transpose": Rule(
        Op.CONV_TRANSPOSE, "conv_transpose", _conv_transpose, data=("Input",), params=_CONV_PARAMS, out="Output"
    ),
    "depthwise_conv2d_transpose": Rule(
        Op.CONV_TRANSPOSE, "conv_transpose", _conv_transpose, data=("Input",), params=_CONV_PARAMS, out="Output"
    ),
    "batch_norm": Rule(Op.BATCHNORM, "batch_norm", _batchnorm, params=_BN_PARAMS, out="Y"),
    "sync_batch_norm": Rule(Op.BATCHNORM, "batch_norm", _batchnorm, params=_BN_PARAMS, out="Y"),
    "group_norm": Rule(Op.GROUPNORM, "group_norm", _groupnorm, params=_NORM_PARAMS, out="Y"),
    "relu": Rule(Op.RELU, "relu"),
    "swish": Rule(Op.SWISH, "swish", _swish),
    "silu": Rule(Op.SWISH, "silu"),
    "hard_swish": Rule(Op.HARDSWISH, "hardswish", _hardswish),
    "leaky_relu": Rule(Op.LEAKY_RELU, "leaky_relu", _leaky_relu),
    "sigmoid": Rule(Op.SIGMOID, "sigmoid"),
    "hard_sigmoid": Rule(Op.HARDSIGMOID, "hardsigmoid", _hardsigmoid),
    "elementwise_add": Rule(Op.ADD, "add", _elementwise, data=("X", "Y")),
    "elementwise_sub": Rule(Op.SUB, "sub", _elementwise, data=("X", "Y")),
    "elementwise_mul": Rule(Op.MUL, "mul", _elementwise, data=("X", "Y")),
    "elementwise_div": Rule(Op.DIV, "div", _elementwise, data=("X", "Y")),
    "sum": Rule(Op.ADD, "add"),  # paddle.add_n
    "concat": Rule(Op.CONCAT, "concat", _concat),
    "nearest_interp_v2": Rule(Op.UPSAMPLE, "interpolate", _nearest),
    "nearest_interp": Rule(Op.UPSAMPLE, "interpolate", _nearest),
    "bilinear_interp_v2": Rule(Op.RESIZE_BILINEAR, "interpolate", _bilinear),
    "bilinear_interp": Rule(Op.RESIZE_BILINEAR, "interpolate", _bilinear),
    "pool2d": Rule(Op.MAXPOOL, "pool", _pool, choose=_pool_kind),
    "max_pool2d_with_index": Rule(Op.MAXPOOL, "pool", _pool, choose=_pool_kind),
    "pad3d": Rule(Op.PAD, "pad", _pad3d),
    "pad": Rule(Op.PAD, "pad", _pad),
    "pad2d": Rule(Op.PAD, "pad", _pad2d, data=("X",)),
    "slice": Rule(Op.CHANNEL_SLICE, "slice", _slice, data=("Input",)),
    "split": Rule(Op.CHANNEL_SLICE, "split"),  # one channel slice per output read (split_ranges)
}

#: Ops on feature maps that compute nothing here (eval mode): their value is their input's.
#: Each maps to a check that returns why a form does compute something, or None.
VANISHING: dict[str, Callable[[Mapping[str, Any]], str | None]] = {
    "dropout": lambda a: (
        None
        if a.get("dropout_implementation", "downgrade_in_infer") == "upscale_in_train" or not a.get("dropout_prob")
        else "a dropout that scales by 1 - p at inference (downgrade_in_infer)"
    ),
    "assign": lambda a: None,
    "share_data": lambda a: None,
    "scale": lambda a: (
        None
        if f32(a.get("scale", 1.0)) == 1.0 and f32(a.get("bias", 0.0)) == 0.0
        else f"a scale by {f32(a.get('scale', 1.0))} plus {f32(a.get('bias', 0.0))} (no fpnprof op multiplies by a constant)"
    ),
    "cast": lambda a: None if a.get("in_dtype") == a.get("out_dtype") else "a cast to another dtype",
}
#: Ops that change a feature map's rank only (F.pad's unsqueeze/squeeze around pad3d).
VIEWS = frozenset({"unsqueeze2", "squeeze2", "reshape2", "unsqueeze", "squeeze", "reshape"})
#: Ops that make a constant (an epsilon).
CONSTANTS = frozenset({"fill_constant", "full", "assign_value", "fill_any_like", "full_like"})
#: Ops on shapes, not values: what a resize reads its size from (``paddle.shape(x)[2:]``).
SHAPE_OPS = frozenset({"shape", "shape64"})
#: Input slots that take sizes, never feature maps (a resize's size or scale tensors).
SIZE_SLOTS = frozenset({"OutSize", "SizeTensor", "Scale", "ShapeTensor", "Shape", "AxesTensor", "AxesTensorList"})
#: Ops that may compute on parameters alone, as BiFPN's fusion normalises its weights.
PARAMETER_MATH = frozenset(
    {
        "relu",
        "slice",
        "elementwise_add",
        "elementwise_div",
        "scale",
        "reduce_sum",
        "sum",
        "softmax",
        "unsqueeze2",
        "squeeze2",
        "reshape2",
    }
)
