"""Lower a graph to a ``torch.nn.Module`` (one submodule per node) and check it with fvcore.

Never imports paddle, so it runs where only torch is installed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from fpnprof.backends.aten_ops import expected_unsupported
from fpnprof.backends.common import (
    PEAK_SIZES,
    PROBE_SIZES,
    GraphRunner,
    add_all,
    conv_args,
    conv_transpose_args,
    function_module,
    pad_sides,
    pool_plan,
    weighted_sum,
)
from fpnprof.backends.primitives import CPU_CLOCK, DeviceClock, Executable, PeakKernels
from fpnprof.backends.registry import FVCORE_MACS
from fpnprof.cost.results import Profile
from fpnprof.errors import BackendUnavailable
from fpnprof.model.graph import Graph, Node, Op, Part
from fpnprof.model.shapes import hardsigmoid_terms, is_torch_hardsigmoid

NAME = "torch"
CAPABILITIES = frozenset({FVCORE_MACS})


_Fn: type[nn.Module] = function_module(nn.Module)


class _Fusion(nn.Module):
    """Fast normalised fusion: relu(w_i) / (sum relu(w) + eps), weights initialised to 1."""

    def __init__(self, arity: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(arity))

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        w = torch.relu(self.weight)
        out: torch.Tensor = weighted_sum(xs, w / (w.sum() + self.eps))
        return out


class _SoftmaxFusion(nn.Module):
    """EfficientDet's softmax fusion: sum_i x_i * softmax(w)_i, weights initialised to 1."""

    def __init__(self, arity: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(arity))

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = weighted_sum(xs, torch.softmax(self.weight, dim=0))
        return out


def _conv(node: Node) -> nn.Module:
    args, kwargs = conv_args(node)
    return nn.Conv2d(*args, **kwargs, bias=node.attrs["bias"])


def _maxpool(node: Node) -> nn.Module:
    p = pool_plan(node)
    if p.native_padding is not None:
        return nn.MaxPool2d(p.kernel, p.stride, padding=p.native_padding)
    return _Fn(lambda x: F.max_pool2d(F.pad(x, p.pad, value=p.value), p.kernel, p.stride))


def _upsample(node: Node) -> nn.Module:
    size = tuple(node.attrs["size"])
    return _Fn(lambda x: F.interpolate(x, size=size, mode="nearest"))


def _attention(x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    """NAS-FPN's global-pooling cell (mmdet): x2 + sigmoid(global average of x2) * x1."""
    return x2 + torch.sigmoid(F.adaptive_avg_pool2d(x2, 1)) * x1


def _conv_transpose(node: Node) -> nn.Module:
    args, kwargs = conv_transpose_args(node)
    return nn.ConvTranspose2d(*args, **kwargs, bias=node.attrs["bias"])


def _hardsigmoid(node: Node) -> nn.Module:
    """``nn.Hardsigmoid`` where its fixed 1/6 and 0.5 are the node's; else clip(slope x + offset, 0, 1)."""
    if is_torch_hardsigmoid(node):
        return nn.Hardsigmoid()
    slope, offset = hardsigmoid_terms(node)
    return _Fn(lambda x: torch.clamp(x * slope + offset, 0.0, 1.0))


def _bilinear(node: Node) -> nn.Module:
    size, corners = tuple(node.attrs["size"]), bool(node.attrs.get("align_corners", False))
    return _Fn(lambda x: F.interpolate(x, size=size, mode="bilinear", align_corners=corners))


def _pad(node: Node) -> nn.Module:
    sides, value = pad_sides(node), float(node.attrs.get("value", 0.0))
    return _Fn(lambda x: F.pad(x, sides, value=value))


def _channel_slice(node: Node) -> nn.Module:
    start, stop = node.attrs["start"], node.attrs["stop"]
    return _Fn(lambda x: x[:, start:stop])


#: One module factory per op.
LOWER: dict[Op, Callable[[Node], nn.Module]] = {
    Op.CONV: _conv,
    Op.BATCHNORM: lambda n: nn.BatchNorm2d(n.attrs["channels"], eps=n.attrs["eps"]),
    Op.RELU: lambda n: nn.ReLU(),
    Op.SWISH: lambda n: nn.SiLU(),
    Op.ADD: lambda n: _Fn(add_all),
    Op.CONCAT: lambda n: _Fn(lambda *xs: torch.cat(xs, dim=1)),
    Op.UPSAMPLE: _upsample,
    Op.MAXPOOL: _maxpool,
    Op.ADAPTIVE_MAXPOOL: lambda n: nn.AdaptiveMaxPool2d(tuple(n.attrs["size"])),
    Op.FUSION: lambda n: _Fusion(n.attrs["arity"], n.attrs["eps"]),
    Op.ATTENTION: lambda n: _Fn(_attention),
    Op.SOFTMAX_FUSION: lambda n: _SoftmaxFusion(n.attrs["arity"]),
    Op.GROUPNORM: lambda n: nn.GroupNorm(n.attrs["groups"], n.attrs["channels"], eps=n.attrs.get("eps", 1e-5)),
    Op.LEAKY_RELU: lambda n: nn.LeakyReLU(n.attrs.get("negative_slope", 0.01)),
    Op.HARDSWISH: lambda n: nn.Hardswish(),
    Op.HARDSIGMOID: _hardsigmoid,
    Op.SIGMOID: lambda n: nn.Sigmoid(),
    Op.RESIZE_BILINEAR: _bilinear,
    Op.CONV_TRANSPOSE: _conv_transpose,
    Op.ADAPTIVE_AVGPOOL: lambda n: nn.AdaptiveAvgPool2d(tuple(n.attrs["size"])),
    Op.MUL: lambda n: _Fn(lambda a, b: a * b),
    Op.SUB: lambda n: _Fn(lambda a, b: a - b),
    Op.DIV: lambda n: _Fn(lambda a, b: a / b),
    Op.PAD: _pad,
    Op.CHANNEL_SLICE: _channel_slice,
}

_SHARED = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


class GraphModule(GraphRunner, nn.Module):
    """Runs a graph: inputs in graph order in, outputs (bottom level first) out."""

    def __init__(self, graph: Graph) -> None:
        super().__init__()
        self.setup(graph, nn.ModuleDict(), LOWER, _SHARED)

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        values = self.run(inputs)
        return tuple(values[i] for i in self.plan.output_ids)


def lower(graph: Graph) -> GraphModule:
    return GraphModule(graph).eval()


def random_inputs(graph: Graph, seed: int = 0, device: str = "cpu", dtype: torch.dtype = torch.float32) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(*n.attrs["shape"], generator=gen).to(device=device, dtype=dtype) for n in graph.inputs]


def node_shapes(model: GraphModule, inputs: Sequence[torch.Tensor]) -> dict[str, tuple[int, ...]]:
    with torch.no_grad():
        values = model.run(inputs)
    return {k: tuple(v.shape) for k, v in values.items()}


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable parameters, BN running mean + variance); shared tensors once."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    stats = sum(b.numel() for name, b in model.named_buffers() if name.endswith(("running_mean", "running_var")))
    return trainable, stats


def fvcore_counts(model: GraphModule, inputs: Sequence[torch.Tensor]) -> tuple[int, dict[str, int], Counter[str]]:
    """fvcore's total MACs, MACs by node id, and the unsupported-op occurrences it reported."""
    try:
        from fvcore.nn import FlopCountAnalysis
    except ImportError:
        raise BackendUnavailable("fvcore is needed to check MACs: pip install 'fpnprof[torch]'") from None
    analysis = FlopCountAnalysis(model, tuple(inputs)).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    by_module = analysis.by_module()
    per_node = {node.id: int(by_module.get(f"nodes.{node.module_name}", 0)) for node in model.graph if node.op is not Op.INPUT}
    return int(analysis.total()), per_node, Counter(analysis.unsupported_ops())


def conv_flops_flopcounter(model: nn.Module, inputs: Sequence[torch.Tensor]) -> int:
    """Convolution FLOPs as torch's own FlopCounterMode counts them (2 per MAC, bias ignored)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(*inputs)
    counts = counter.get_flop_counts().get("Global", {})
    return int(sum(v for op, v in counts.items() if "convolution" in str(op)))


def check_macs(model: GraphModule, graph: Graph, p: Profile) -> list[str]:
    """Differences between fvcore and the analytic MACs: total, backbone, per neck level, unsupported ops."""
    total, per_node, unsupported = fvcore_counts(model, random_inputs(graph))
    problems = []
    if total != p.model_total.macs:
        problems.append(f"total MACs: analytic {p.model_total.macs:,} != fvcore {total:,}")
    backbone = sum(v for k, v in per_node.items() if graph[k].part is Part.BACKBONE)
    if backbone != p.backbone_total.macs:
        problems.append(f"backbone MACs: analytic {p.backbone_total.macs:,} != fvcore {backbone:,}")
    for row in p.levels:
        fv = sum(v for k, v in per_node.items() if graph[k].part is Part.NECK and graph[k].level == row.level)
        if fv != row.totals.macs:
            problems.append(f"{row.name} MACs: analytic {row.totals.macs:,} != fvcore {fv:,}")
    expected = expected_unsupported(graph)
    if unsupported != expected:
        problems.append(f"fvcore unsupported ops {dict(unsupported)} != expected {dict(expected)}")
    return problems


def engine_ops(graph: Graph, *, engine: str, threads: int) -> dict[str, int] | None:
    """None: no torch engine here keeps a program fpnprof reads back (see the paddle backend's)."""
    return None


def version() -> str:
    return str(torch.__version__)


# Benchmarking -----------------------------------------------------------------------------------
TORCH_DTYPES = {"fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def _gpu_or_raise() -> None:
    if not torch.cuda.is_available():
        build = "a CPU build of torch" if torch.version.cuda is None else f"torch {torch.__version__} sees no CUDA device"
        raise BackendUnavailable(f"--device gpu needs an NVIDIA GPU and a CUDA build of torch; this is {build}")


def _cuda_graph(model: nn.Module, inputs: list[torch.Tensor]) -> Callable[[], Any]:
    """Capture one forward pass as a CUDA graph (after warming up on a side stream)."""
    stream = torch.cuda.Stream()  # type: ignore[no-untyped-call]
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            model(*inputs)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        model(*inputs)
    keep = (graph, model, inputs)  # the replay reads these tensors: they must outlive the runner

    def replay() -> None:
        keep[0].replay()

    return replay


def _configure(device: str, dtype: str, threads: int) -> bool:
    """Threads and math mode for a run; returns whether it is on the GPU."""
    torch.set_num_threads(threads)
    gpu = device == "gpu"
    if gpu:
        _gpu_or_raise()
    tf32 = dtype == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = gpu
    return gpu


def _info(gpu: bool) -> dict[str, Any]:
    return {
        "framework": f"torch {torch.__version__}",
        "device_name": torch.cuda.get_device_name() if gpu else "cpu",
        "threads": torch.get_num_threads(),
        "math_mode": {
            "allow_tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
            "allow_tf32_cudnn": torch.backends.cudnn.allow_tf32,
            "cudnn_benchmark": torch.backends.cudnn.benchmark,
        },
    }


def _clock(gpu: bool) -> DeviceClock:
    if not gpu:
        return CPU_CLOCK
    return DeviceClock(lambda: torch.cuda.Event(enable_timing=True), torch.cuda.synchronize)  # type: ignore[no-untyped-call]


def make_runner(graph: Graph, *, device: str, engine: str, dtype: str, threads: int, seed: int = 0) -> Executable:
    """One forward pass of ``graph`` on the chosen engine, with the device's clock, ready to time."""
    if device != "gpu" and engine == "cudagraph":
        raise BackendUnavailable("the cudagraph engine needs --device gpu")
    gpu = _configure(device, dtype, threads)
    dev = "cuda" if gpu else "cpu"
    base = 0
    if gpu:
        torch.cuda.synchronize()
        base = int(torch.cuda.memory_allocated())
        torch.cuda.reset_peak_memory_stats()
    model = lower(graph).to(device=dev, dtype=TORCH_DTYPES[dtype])
    inputs = random_inputs(graph, seed, dev, TORCH_DTYPES[dtype])
    torch.set_grad_enabled(False)
    if engine == "compile":
        compiled = torch.compile(model)
        fn: Callable[[], Any] = lambda: compiled(*inputs)  # noqa: E731
    elif engine == "cudagraph":
        fn = _cuda_graph(model, inputs)
    else:
        fn = lambda: model(*inputs)  # noqa: E731
    hooked = (lambda hook: model.run(inputs, hook)) if engine == "eager" else None
    peak = (lambda: int(torch.cuda.max_memory_allocated()) - base) if gpu else (lambda: None)
    return Executable(fn, _clock(gpu), _info(gpu), peak, hooked)


def peak_kernels(*, device: str, dtype: str, threads: int, best: bool = True) -> PeakKernels:
    """A matmul and a large copy in torch, for :func:`fpnprof.bench.peaks.measure_peaks`: at the peak's
    sizes with ``best``, else at the in-worker drift probe's smaller ones (torch's eager matmul is its
    best kernel either way)."""
    gpu = _configure(device, dtype, threads)
    dev = "cuda" if gpu else "cpu"
    n, copy_bytes = (PEAK_SIZES if best else PROBE_SIZES)[device]
    tdtype = TORCH_DTYPES[dtype]
    gen = torch.Generator(device=dev).manual_seed(0)  # made on the device: 1 GiB of randn on a CPU takes seconds
    a = torch.randn(n, n, generator=gen, device=dev).to(tdtype)
    b = torch.randn(n, n, generator=gen, device=dev).to(tdtype)
    out = torch.empty(n, n, device=dev, dtype=tdtype)
    src = torch.randn(copy_bytes // 4, generator=gen, device=dev)
    dst = torch.empty_like(src)
    torch.set_grad_enabled(False)
    return PeakKernels(
        matmul=lambda: torch.matmul(a, b, out=out),
        matmul_flops=2 * n**3,
        copy=lambda: dst.copy_(src),
        copy_bytes=2 * copy_bytes,
        clock=_clock(gpu),
        info={**_info(gpu), "matmul_n": n, "copy_mib": copy_bytes / 2**20, "dtype": dtype},
    )


def gpu_name() -> str | None:
    """The GPU's name (a latency model's stamp), or None where there is none."""
    try:
        return str(torch.cuda.get_device_name())
    except Exception:  # no GPU, or a CPU-only build
        return None
