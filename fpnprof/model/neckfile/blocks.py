"""Block items: what each name in a ``block``, ``down`` or ``width`` list adds to the graph.

``check_item`` refuses an unknown item or argument when the file is read; ``apply_block`` adds the
nodes when a neck is built. Every item's output width defaults to the node's width (``out=``
changes it; ``out=in`` keeps the input's).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fpnprof.model.builder import GraphBuilder
from fpnprof.model.neckfile.syntax import Item, Width, conv_kernel, parse_width

#: Arguments each item takes (conv<K>x<K> and dwconv<K>x<K> for any odd or even K).
ITEM_ARGS: dict[str, tuple[str, ...]] = {
    "conv": ("s", "out", "bias", "groups"),
    "dwconv": ("s", "bias"),
    "sepconv": ("s", "out", "bias"),
    "bn": ("eps",),
    "relu": (),
    "swish": (),
    "maxpool": ("k", "s", "pad"),
    "maxpool_to_level": (),
    "adaptive_maxpool": (),
    "cbs": ("k", "s", "out"),
    "c3": ("n", "out", "shortcut"),
}
#: The most bottlenecks one c3 may hold (a typo of 1000 would build for minutes).
MAX_REPEATS = 32
ITEM_NAMES = "conv<K>x<K>, dwconv<K>x<K>, sepconv<K>x<K>, bn, relu, swish, maxpool, maxpool_to_level, adaptive_maxpool, cbs, c3"


@dataclass(frozen=True)
class BlockContext:
    """What items need to know at one node: its width C, the neck width, BN epsilon, and the
    resampling ratio (2^levels) that ``k=ratio``/``s=ratio`` stand for."""

    width: int
    neck_width: int
    bn_eps: float
    ratio: int = 2
    #: The side of the level a [resample] down block brings its input to (maxpool_to_level pools to it).
    target: tuple[int, int] | None = None
    #: When set, conv and BN items reuse the weights of the first node made at the same position in
    #: the block (item index and name -> owner id), recording the owners as they are made.
    shared: dict[str, str] | None = None

    def owner(self, key: str) -> str | None:
        return None if self.shared is None else self.shared.get(key)

    def made(self, key: str, node_id: str) -> str:
        if self.shared is not None:
            self.shared.setdefault(key, node_id)
        return node_id


def _kind(item: Item) -> str:
    kernel = conv_kernel(item.name)
    return item.name if kernel is None else kernel[0]


def _int(item: Item, key: str, default: int, ratio: int | None = None, *, minimum: int = 1) -> int:
    text = item.args.get(key)
    if text is None:
        return default
    if text == "ratio":
        if ratio is None:
            raise ValueError(f"{key}=ratio only goes in a maxpool or conv of [resample] down, in {item.text!r}")
        return ratio
    if not text.isdigit() or int(text) < minimum:
        raise ValueError(f"{key} takes an integer >= {minimum}, got {text!r} in {item.text!r}")
    return int(text)


def _bool(item: Item, key: str, default: bool) -> bool:
    text = item.args.get(key)
    if text is None:
        return default
    if text not in ("true", "false"):
        raise ValueError(f"{key} takes true or false, got {text!r} in {item.text!r}")
    return text == "true"


def _width(item: Item) -> Width:
    text = item.args.get("out")
    if text is None:
        return Width()
    try:
        return parse_width(text)
    except ValueError as exc:
        raise ValueError(f"{exc} in {item.text!r}") from None


def _float(item: Item, key: str, default: float) -> float:
    text = item.args.get(key)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{key} takes a number, got {text!r} in {item.text!r}") from None
    if not 0 < value < 1:
        raise ValueError(f"{key} must be between 0 and 1, got {text!r} in {item.text!r}")
    return value


def mentions_ratio(items: Sequence[Item]) -> bool:
    return any(v == "ratio" for item in items for v in item.args.values())


def whole_gap(items: Sequence[Item]) -> bool:
    """Whether a down block goes the whole way in one application (``k=ratio``, or a pool to the
    target level's size) rather than once per level."""
    return mentions_ratio(items) or any(item.name == "maxpool_to_level" for item in items)


def check_item(item: Item) -> None:
    """Refuse an unknown item, argument or argument value (raises ValueError)."""
    kind = _kind(item)
    if kind not in ITEM_ARGS:
        raise ValueError(f"unknown block item {item.name!r}; known: {ITEM_NAMES}")
    unknown = sorted(set(item.args) - set(ITEM_ARGS[kind]))
    if unknown:
        allowed = ", ".join(ITEM_ARGS[kind]) or "no arguments"
        raise ValueError(f"{item.name} takes {allowed}, not {', '.join(unknown)} (in {item.text!r})")
    for key in ("s", "k", "n", "groups"):
        _int(item, key, 1, ratio=2, minimum=1)
    if _int(item, "n", 1) > MAX_REPEATS:
        raise ValueError(f"n takes at most {MAX_REPEATS} bottlenecks, got {item.args['n']!r} in {item.text!r}")
    for key in ("bias", "shortcut"):
        _bool(item, key, True)
    _width(item)
    _float(item, "eps", 0.5)
    pad = item.args.get("pad")
    if pad is not None and pad != "same" and not pad.isdigit():
        raise ValueError(f"pad takes an integer or same, got {pad!r} in {item.text!r}")


def _conv_bn_swish(b: GraphBuilder, x: str, out: int, kernel: int, stride: int, name: str, ctx: BlockContext) -> str:
    """YOLO's Conv: a convolution without bias, BatchNorm, SiLU."""
    h = b.conv(x, out, kernel, f"{name}.conv", stride=stride, bias=False)
    return b.swish(b.bn(h, f"{name}.bn", eps=ctx.bn_eps), f"{name}.act")


def _c3(b: GraphBuilder, x: str, item: Item, name: str, ctx: BlockContext) -> str:
    """YOLOv5's C3: two 1x1 branches at half width, n bottlenecks on one, concatenated, a 1x1 out."""
    out = _out(item, ctx, b.channels(x))
    hidden = out // 2
    left = _conv_bn_swish(b, x, hidden, 1, 1, f"{name}.cv1", ctx)
    right = _conv_bn_swish(b, x, hidden, 1, 1, f"{name}.cv2", ctx)
    for i in range(_int(item, "n", 1)):
        h = _conv_bn_swish(b, left, hidden, 1, 1, f"{name}.m{i}.cv1", ctx)
        h = _conv_bn_swish(b, h, hidden, 3, 1, f"{name}.m{i}.cv2", ctx)
        left = b.sum((left, h), f"{name}.m{i}.add") if _bool(item, "shortcut", True) else h
    return _conv_bn_swish(b, b.concat((left, right), f"{name}.concat"), out, 1, 1, f"{name}.cv3", ctx)


def _out(item: Item, ctx: BlockContext, in_width: int) -> int:
    return _width(item).value(ctx.neck_width, in_width) if "out" in item.args else ctx.width


def _apply_item(b: GraphBuilder, x: str, item: Item, name: str, key: str, ctx: BlockContext) -> str:
    kind = _kind(item)
    in_width = b.channels(x)
    if kind in ("conv", "dwconv", "sepconv"):
        _, kernel = conv_kernel(item.name) or ("conv", 1)
        stride = _int(item, "s", 1, ctx.ratio)
        if kind == "sepconv":  # EfficientDet's SeparableConv: depthwise without bias, then a 1x1
            h = b.conv(x, in_width, kernel, f"{name}.depthwise", stride=stride, groups=in_width, bias=False)
            return b.conv(h, _out(item, ctx, in_width), 1, f"{name}.pointwise", bias=_bool(item, "bias", True))
        depthwise = kind == "dwconv"  # in and out at the input's width, one group per channel, no bias by default
        out = in_width if depthwise else _out(item, ctx, in_width)
        groups = in_width if depthwise else _int(item, "groups", 1)
        if in_width % groups or out % groups:
            raise ValueError(f"groups={groups} does not divide {in_width} -> {out} channels in {item.text!r}")
        bias = _bool(item, "bias", not depthwise)
        return ctx.made(key, b.conv(x, out, kernel, name, stride=stride, groups=groups, bias=bias, shares=ctx.owner(key)))
    if kind == "maxpool":
        kernel, stride = _int(item, "k", 2, ctx.ratio), _int(item, "s", 2, ctx.ratio)
        pad = item.args.get("pad", "0")
        if pad == "same":
            return b.maxpool(x, kernel, stride, name, same=True)
        return b.maxpool(x, kernel, stride, name, padding=int(pad))
    if kind == "maxpool_to_level":  # mmcv's merge-cell resize: the real size ratio, zero-padded to a multiple
        if ctx.target is None:
            raise ValueError(f"{item.name} only goes in [resample] down, in {item.text!r}")
        return b.resize_pool(x, ctx.target, name)
    if kind == "adaptive_maxpool":  # the seed's pooling: to the side divided by the ratio, rounded down
        side_h, side_w = b.hw(x)
        return b.adaptive_maxpool(x, (side_h // ctx.ratio, side_w // ctx.ratio), name)
    simple: dict[str, Callable[[], str]] = {
        "bn": lambda: ctx.made(key, b.bn(x, name, eps=_float(item, "eps", ctx.bn_eps), shares=ctx.owner(key))),
        "relu": lambda: b.relu(x, name),
        "swish": lambda: b.swish(x, name),
        "cbs": lambda: _conv_bn_swish(b, x, _out(item, ctx, in_width), _int(item, "k", 1), _int(item, "s", 1), name, ctx),
        "c3": lambda: _c3(b, x, item, name, ctx),
    }
    return simple[kind]()


def apply_block(b: GraphBuilder, x: str, items: Sequence[Item], ctx: BlockContext, prefix: str = "") -> str:
    """Add ``items`` after node ``x`` (named ``<prefix><index>_<item>``); returns the last node's id."""
    for index, item in enumerate(items):
        x = _apply_item(b, x, item, f"{prefix}{index}_{item.name}", f"{index}_{item.text}", ctx)
    return x
