"""The shapes calibration times: for every kernel class, ops on shapes drawn from the ranges necks use
(batch 1-8, mostly 1-2; 16-512 channels, a quarter of them off a multiple of 16; 2-128 pixels a
side), and random neck configurations of every shipped neck for the executor fit and for validation
(batch 1-8, EfficientDet's widths among theirs, a quarter off a multiple of 16)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import replace

from fpnprof.bench.breakdown import node_work
from fpnprof.bench.kernels import KernelSample, samples_graph
from fpnprof.errors import ConfigError, FpnprofError
from fpnprof.model.config import NeckConfig
from fpnprof.model.graph import Op, Shape
from fpnprof.model.necks import neck_spec
from fpnprof.model.parts import part_graph
from fpnprof.model.shapes import numel, same_padding

#: A sample's largest tensor (elements) and largest conv (multiply-accumulates): keeps one under ~20 ms.
MAX_ELEMENTS = 1 << 22
MAX_MACS = 1_500_000_000


def _log_int(rng: random.Random, low: int, high: int) -> int:
    return round(math.exp(rng.uniform(math.log(low), math.log(high))))


#: The share of drawn channel counts off a multiple of 16 (oneDNN's AVX-512 convs pad them to one:
#: a 3x3 conv of 34 channels ran 1.55x the line fitted on multiples).
OFF_BLOCK_SHARE = 0.25


def _channels(rng: random.Random, low: int = 8, high: int = 512, off_block: float = OFF_BLOCK_SHARE) -> int:
    """Channels as necks use them: mostly multiples of 16, ``off_block`` of the time any count (oneDNN
    and MKL take those by slower paths)."""
    if rng.random() < off_block:
        return max(low, _log_int(rng, max(low, 9), high))
    return max(16, 16 * round(_log_int(rng, low, high) / 16))


def _batch(rng: random.Random) -> int:
    """Batch 1 or 2 three times in four, else 3-8 (within the same tensor cap)."""
    return rng.choice((1, 2)) if rng.random() < 0.75 else rng.randint(3, 8)


def _tensor(rng: random.Random, channels: tuple[int, int] = (8, 512), off_block: float = OFF_BLOCK_SHARE) -> Shape:
    while True:
        h = _log_int(rng, 2, 128)
        w = h if rng.random() < 0.8 else max(1, h + rng.choice((-1, 1)) * rng.randint(1, max(1, h // 4)))
        shape = (_batch(rng), _channels(rng, *channels, off_block=off_block), h, w)
        if numel(shape) <= MAX_ELEMENTS:
            return shape


def _conv(kernel: int, grouping: str) -> Callable[[random.Random], KernelSample]:
    def draw(rng: random.Random) -> KernelSample:
        while True:
            n, c, h, w = _tensor(rng)
            out = c if grouping != "dense" else _channels(rng)
            groups = {"dense": 1, "depthwise": c, "grouped": rng.choice([g for g in (2, 4, 8) if c % g == 0] or [1])}[grouping]
            stride = 2 if rng.random() < 0.2 and min(h, w) >= 4 else 1
            oh, ow = -(-h // stride), -(-w // stride)
            macs = n * out * oh * ow * (c // groups) * kernel * kernel
            if macs <= MAX_MACS and n * out * oh * ow <= MAX_ELEMENTS and (grouping != "grouped" or groups > 1):
                attrs = dict(in_channels=c, out_channels=out, kernel=kernel, stride=stride, padding=kernel // 2, groups=groups)
                return KernelSample(Op.CONV, ((n, c, h, w),), {**attrs, "bias": rng.random() < 0.5})

    return draw


def _unary(op: Op, attrs: Callable[[Shape], dict[str, object]] = lambda x: {}) -> Callable[[random.Random], KernelSample]:
    def draw(rng: random.Random) -> KernelSample:
        x = _tensor(rng)
        return KernelSample(op, (x,), attrs(x))

    return draw


def _many(op: Op, attrs: Callable[[int], dict[str, object]] = lambda k: {}) -> Callable[[random.Random], KernelSample]:
    def draw(rng: random.Random) -> KernelSample:
        x, k = _tensor(rng), rng.choice((2, 2, 3))
        return KernelSample(op, (x,) * k, attrs(k))

    return draw


def _concat(rng: random.Random) -> KernelSample:
    n, _, h, w = _tensor(rng, (8, 256))
    return KernelSample(Op.CONCAT, tuple((n, _channels(rng, 8, 256), h, w) for _ in range(rng.choice((2, 2, 3)))), {})


def _upsample(rng: random.Random) -> KernelSample:
    n, c, h, w = _tensor(rng)
    while numel((n, c, 2 * h, 2 * w)) > MAX_ELEMENTS:
        n, c, h, w = _tensor(rng)
    factor = 2 if rng.random() < 0.8 else 4 if numel((n, c, 4 * h, 4 * w)) <= MAX_ELEMENTS else 2
    return KernelSample(Op.UPSAMPLE, ((n, c, h, w),), {"size": (factor * h, factor * w)})


def _maxpool(rng: random.Random) -> KernelSample:
    """A pool a native op takes: no padding, kernel 1 (a stride-2 subsample) or kernel = stride (2,
    4, 8: NAS-FPN's resize to a coarser level)."""
    n, c, h, w = _tensor(rng)
    k = rng.choice((1, 2, 2, 4, 8))
    stride = max(k, 2)
    h, w = max(h, stride), max(w, stride)
    h, w = h + (-h) % stride, w + (-w) % stride
    pad_value = {"pad_value": 0.0} if k > 1 and rng.random() < 0.5 else {}
    return KernelSample(Op.MAXPOOL, ((n, c, h, w),), {"kernel": k, "stride": stride, "padding": (0, 0, 0, 0), **pad_value})


def _maxpool_padded(rng: random.Random) -> KernelSample:
    """A pool padded first by an explicit pad op: TensorFlow's SAME 3x3 stride-2 pool (EfficientDet)."""
    while True:
        n, c, h, w = _tensor(rng)
        h, w = max(h, 2), max(w, 2)
        padding = (*same_padding(h, 3, 2), *same_padding(w, 3, 2))
        if len(set(padding)) > 1:  # equal sides a native pool takes (class maxpool)
            return KernelSample(Op.MAXPOOL, ((n, c, h, w),), {"kernel": 3, "stride": 2, "padding": padding})


def _attention(rng: random.Random) -> KernelSample:
    x = _tensor(rng)
    return KernelSample(Op.ATTENTION, (x, x), {})


def _groupnorm(rng: random.Random) -> KernelSample:
    x = _tensor(rng, (32, 512), off_block=0.0)  # its groups divide the channels
    groups = rng.choice([g for g in (8, 16, 32) if x[1] % g == 0])
    return KernelSample(Op.GROUPNORM, (x,), {"channels": x[1], "groups": groups, "eps": 1e-5})


def _bilinear(rng: random.Random) -> KernelSample:
    n, c, h, w = _tensor(rng)
    while numel((n, c, 2 * h, 2 * w)) > MAX_ELEMENTS:
        n, c, h, w = _tensor(rng)
    return KernelSample(Op.RESIZE_BILINEAR, ((n, c, h, w),), {"size": (2 * h, 2 * w), "align_corners": rng.random() < 0.5})


def _conv_transpose(rng: random.Random) -> KernelSample:
    """An upsampling transposed conv as necks use one: kernel 2 stride 2, or kernel 4 stride 2 padding 1."""
    while True:
        n, c, h, w = _tensor(rng, (8, 256))
        out = _channels(rng, 8, 256)
        kernel, padding = rng.choice(((2, 0), (4, 1)))
        macs = n * h * w * c * out * kernel * kernel
        if macs <= MAX_MACS and n * out * 4 * h * w <= MAX_ELEMENTS:
            attrs = dict(in_channels=c, out_channels=out, kernel=kernel, stride=2, padding=padding, output_padding=0, groups=1)
            return KernelSample(Op.CONV_TRANSPOSE, ((n, c, h, w),), {**attrs, "bias": rng.random() < 0.5})


def _binary(op: Op) -> Callable[[random.Random], KernelSample]:
    """Two tensors of one shape, or (SE attention's scaling) a tensor and its per-channel (N, C, 1, 1)."""

    def draw(rng: random.Random) -> KernelSample:
        x = _tensor(rng)
        other = x if rng.random() < 0.5 else (x[0], x[1], 1, 1)
        return KernelSample(op, (x, other), {})

    return draw


def _pad(rng: random.Random) -> KernelSample:
    x = _tensor(rng)
    padding = rng.choice(((1, 1, 1, 1), (0, 1, 0, 1), (2, 2, 2, 2)))
    return KernelSample(Op.PAD, (x,), {"padding": padding, "value": 0.0})


def _channel_slice(rng: random.Random) -> KernelSample:
    x = _tensor(rng, (32, 512))
    half = x[1] // 2
    start = rng.choice((0, half))
    return KernelSample(Op.CHANNEL_SLICE, (x,), {"start": start, "stop": start + half})


#: How each kernel class's samples are drawn.
DRAWS: dict[str, Callable[[random.Random], KernelSample]] = {
    "conv1x1": _conv(1, "dense"),
    "conv3x3": _conv(3, "dense"),
    "conv5x5": _conv(5, "dense"),
    "conv7x7": _conv(7, "dense"),
    "conv_depthwise": _conv(3, "depthwise"),
    "conv_grouped": _conv(3, "grouped"),
    "batchnorm": _unary(Op.BATCHNORM, lambda x: {"channels": x[1], "eps": 1e-5}),
    "relu": _unary(Op.RELU),
    "swish": _unary(Op.SWISH),
    "add": _many(Op.ADD),
    "concat": _concat,
    "upsample_nearest": _upsample,
    "maxpool": _maxpool,
    "maxpool_padded": _maxpool_padded,
    "adaptive_maxpool": _unary(Op.ADAPTIVE_MAXPOOL, lambda x: {"size": (-(-x[2] // 2), -(-x[3] // 2))}),
    "weighted_fusion": _many(Op.FUSION, lambda k: {"arity": k, "eps": 1e-4}),
    "softmax_fusion": _many(Op.SOFTMAX_FUSION, lambda k: {"arity": k}),
    "global_attention": _attention,
    "groupnorm": _groupnorm,
    "leaky_relu": _unary(Op.LEAKY_RELU, lambda x: {"negative_slope": 0.1}),
    "hardswish": _unary(Op.HARDSWISH),
    "hardsigmoid": _unary(Op.HARDSIGMOID, lambda x: {"slope": 1 / 6, "offset": 0.5}),
    "sigmoid": _unary(Op.SIGMOID),
    "resize_bilinear": _bilinear,
    "conv_transpose": _conv_transpose,
    "adaptive_avgpool": _unary(Op.ADAPTIVE_AVGPOOL, lambda x: {"size": (1, 1)}),
    "mul": _binary(Op.MUL),
    "sub": _binary(Op.SUB),
    "div": _binary(Op.DIV),
    "pad": _pad,
    "channel_slice": _channel_slice,
}


_ACTS: tuple[tuple[Op, ...], ...] = ((), (Op.RELU,), (Op.SWISH,))
#: For an engine that fuses, what may follow a sample of an op (each choice equally likely): the
#: chains :data:`fpnprof.latency.kernels.FUSION_RULES` run as one kernel, and some they do not.
EPILOGUES: dict[Op, tuple[tuple[Op, ...], ...]] = {
    Op.CONV: (*_ACTS, (Op.BATCHNORM,), (Op.BATCHNORM, Op.RELU), (Op.BATCHNORM, Op.SWISH)),
    Op.BATCHNORM: ((), (Op.RELU,)),
    Op.ADD: _ACTS,
    Op.FUSION: _ACTS,
    Op.SOFTMAX_FUSION: _ACTS,
    Op.ATTENTION: _ACTS,
}


def drawn_classes() -> list[str]:
    """The classes calibration draws samples of: those of :data:`DRAWS`, each conv class with a bias
    too (:data:`~fpnprof.latency.kernels.WITH_BIAS`)."""
    from fpnprof.latency.kernels import WITH_BIAS

    return [c for base in DRAWS for c in ((base, base + WITH_BIAS) if base.startswith("conv") else (base,))]


def draw_samples(cls: str, count: int, rng: random.Random, engine: str = "eager") -> list[KernelSample]:
    """``count`` samples of the class (one of :func:`drawn_classes`). For an engine that fuses, each
    is followed by one of its op's :data:`EPILOGUES` that the engine's rules absorb whole, so a sample
    is one kernel of its class."""
    from fpnprof.latency.kernels import FUSION_RULES, WITH_BIAS, graph_kernels

    base = cls.removesuffix(WITH_BIAS)
    out = [DRAWS[base](rng) for _ in range(count)]
    out = [replace(s, attrs={**s.attrs, "bias": cls != base}) if s.op in (Op.CONV, Op.CONV_TRANSPOSE) else s for s in out]
    if engine not in FUSION_RULES:
        return out

    def absorbed(s: KernelSample) -> bool:
        return [k.cls for k in graph_kernels(samples_graph([s]), engine)] == [cls]

    return [rng.choice([e for e in [replace(s, epilogue=e) for e in EPILOGUES.get(s.op, ((),))] if absorbed(e)]) for s in out]


#: Every shipped neck form the validation and executor fit draw from.
NECK_FORMS = [(n, v) for n in ("fpn", "pafpn", "bifpn") for v in ("tutorial", "paper")] + [
    ("nasfpn.toml", "paper"),
    ("yolov5-pan.toml", "paper"),
]
CHANNELS = (16, 32, 48, 64, 96, 128, 160)
#: Calibration necks' widths: :data:`CHANNELS` and EfficientDet D1-D2's (D0's 64 and D3's 160 are there).
NECK_CHANNELS = (*CHANNELS, 88, 112)
#: Calibration necks' batches (1-2 twice as likely as each of the rest).
NECK_BATCHES = (1, 1, 2, 2, 3, 4, 6, 8)
SIZES = (64, 96, 128, 160, 192, 256)


#: The largest neck drawn (fpnprof FLOPs): about 0.1 s a forward pass in Paddle's eager mode here.
MAX_NECK_FLOPS = 2_000_000_000


def random_necks(count: int, rng: random.Random, max_flops: int = MAX_NECK_FLOPS) -> list[NeckConfig]:
    """``count`` random configurations of the shipped necks (each at its own default levels, up to
    ``max_flops``), every one of which builds; the neck alone is what is timed and predicted. The
    forms whose smallest configuration fits the cap come round in turn, each turn in a shuffled
    order: 24 necks hold each of the seven that fit 2 GFLOPs three or four times (the seed
    tutorial's BiFPN is over 4 GFLOPs even at 16 channels and 64 px; drawn at random, 24 once held
    one YOLOv5-PAN and no NAS-FPN, and the model missed both)."""
    usable = [form for form in NECK_FORMS if builds_within(_config(form, min(CHANNELS), min(SIZES), 1), max_flops)]
    if not usable:
        raise ConfigError(f"no shipped neck builds within {max_flops:,} FLOPs")
    out: list[NeckConfig] = []
    turn: list[tuple[str, str]] = []
    while len(out) < count:
        turn = turn or rng.sample(usable, len(usable))
        form = turn.pop()
        while True:
            cfg = _config(form, _neck_channels(rng), rng.choice(SIZES), rng.choice(NECK_BATCHES))
            if builds_within(cfg, max_flops):
                out.append(cfg)
                break
    return out


#: The largest neck of :func:`reach_necks` (fpnprof FLOPs): the seed tutorial's BiFPN at its defaults
#: (over 2 s a forward in Paddle's eager mode) is past it.
MAX_REACH_FLOPS = 40_000_000_000
#: EfficientDet D1-D3's BiFPN (channels, cells) that calibration times at 128 px (D0's is the paper
#: BiFPN's default).
REACH_EFFICIENTDET = ((88, 4), (112, 5), (160, 6))
#: Necks of large activations at modest FLOPs (form, channels, side, batch, cells): 0.5-1.5 GB of
#: kernel reads and writes, tensors of up to 21M elements, where the 2 GFLOP draws never go (bench
#: ran necks like these 14-22% over the model that had not seen them; RESULTS.md).
REACH_LARGE = (
    (("fpn", "tutorial"), 32, 192, 8, None),
    (("fpn", "paper"), 40, 256, 4, None),
    (("bifpn", "paper"), 48, 256, 6, 3),
    (("bifpn", "paper"), 96, 192, 4, 4),
)


def reach_necks(max_flops: int = MAX_REACH_FLOPS) -> list[NeckConfig]:
    """What users ask about beyond the random draws, timed by calibration too: every shipped neck
    at its own defaults (up to ``max_flops``), EfficientDet D1-D3's BiFPN at 128 px, batch 1, and
    :data:`REACH_LARGE`."""
    defaults = [shipped_default(form) for form in NECK_FORMS]
    bifpn = [_config(("bifpn", "paper"), c, 128, 1, cells=n) for c, n in REACH_EFFICIENTDET]
    large = [_config(form, c, side, batch, cells=cells) for form, c, side, batch, cells in REACH_LARGE]
    return [cfg for cfg in dict.fromkeys([*defaults, *bifpn, *large]) if builds_within(cfg, max_flops)]


def shipped_default(form: tuple[str, str]) -> NeckConfig:
    """A shipped neck at its own defaults (batch 2, 64 px)."""
    neck, variant = form
    return NeckConfig.from_dict(NeckConfig(neck, variant=variant).as_dict() | neck_spec(neck).defaults_for(variant))


def _neck_channels(rng: random.Random) -> int:
    """A calibration neck's width: one of :data:`NECK_CHANNELS`, or (a quarter of the time) any
    count from 17 to 200."""
    return _log_int(rng, 17, 200) if rng.random() < OFF_BLOCK_SHARE else rng.choice(NECK_CHANNELS)


def _config(form: tuple[str, str], channels: int, size: int, batch: int, cells: int | None = None) -> NeckConfig:
    """The form at its own default levels (and cells, unless given)."""
    neck, variant = form
    d = neck_spec(neck).defaults_for(variant)
    cfg = NeckConfig(neck, variant=variant, channels=channels, size=size, batch=batch, levels=d["levels"])
    cfg = replace(cfg, min_level=d.get("min_level", cfg.min_level))
    return replace(cfg, cells=cells) if cells is not None else cfg


def builds_within(cfg: NeckConfig, max_flops: int) -> bool:
    """Whether the neck builds and stays within ``max_flops`` (fpnprof FLOPs)."""
    try:
        graph = part_graph(cfg, "neck")
    except FpnprofError:
        return False
    return sum(w.flops for w in node_work(graph, 4)) <= max_flops
