"""Lower a graph to a ``paddle.nn.Layer``: one sublayer per node, one generic executor."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import paddle
import paddle.nn.functional as F
from paddle import nn

from fpnprof.backends.common import (
    EXPORT_CACHE,
    GraphRunner,
    add_all,
    conv_args,
    conv_transpose_args,
    function_module,
    pad_sides,
    pool_plan,
    weighted_sum,
)
from fpnprof.backends.paddle_profile import (
    OPTIMIZED,
    ProgramOp,
    node_pass,
    optimized_ops,
    read_node_vars,
    write_node_vars,
)
from fpnprof.backends.primitives import CPU_CLOCK, DeviceClock, Event, Executable, PeakKernels
from fpnprof.cost.results import Profile
from fpnprof.errors import BackendUnavailable
from fpnprof.model.graph import Graph, Node, Op
from fpnprof.model.shapes import hardsigmoid_terms, is_torch_hardsigmoid

NAME = "paddle"
CAPABILITIES: frozenset[str] = frozenset()  # no independent MAC counter for Paddle
PIR_FLAG = "FLAGS_enable_pir_api"  # Paddle reads this exact, lower-case name


_FunctionLayer = function_module(nn.Layer)


def _Fn(fn: Callable[..., Any]) -> nn.Layer:
    layer: nn.Layer = _FunctionLayer(fn)
    return layer


class _Fusion(nn.Layer):
    """Fast normalised fusion: relu(w_i) / (sum relu(w) + eps), weights initialised to 1."""

    def __init__(self, arity: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = self.create_parameter([arity], default_initializer=nn.initializer.Constant(1.0))

    def forward(self, *xs: Any) -> Any:
        w = F.relu(self.weight)
        total = w[0]
        for i in range(1, len(xs)):  # explicit adds: paddle.sum fails in legacy-IR static graphs (3.3)
            total = total + w[i]
        return weighted_sum(xs, w / (total + self.eps))


class _SoftmaxFusion(nn.Layer):
    """EfficientDet's softmax fusion: sum_i x_i * softmax(w)_i, weights initialised to 1."""

    def __init__(self, arity: int) -> None:
        super().__init__()
        self.weight = self.create_parameter([arity], default_initializer=nn.initializer.Constant(1.0))

    def forward(self, *xs: Any) -> Any:
        return weighted_sum(xs, F.softmax(self.weight, axis=0))


def _conv(node: Node) -> nn.Layer:
    args, kwargs = conv_args(node)
    return nn.Conv2D(*args, **kwargs, bias_attr=None if node.attrs["bias"] else False)


def _maxpool(node: Node) -> nn.Layer:
    plan = pool_plan(node)
    if plan.native_padding is not None:
        return nn.MaxPool2D(plan.kernel, plan.stride, padding=plan.native_padding)
    # values bound as defaults, not closed over, for dy2static
    return _Fn(
        lambda x, p=list(plan.pad), k=plan.kernel, s=plan.stride, v=plan.value: F.max_pool2d(
            F.pad(x, p, mode="constant", value=v), k, s
        )
    )


def _sigmoid(x: Any) -> Any:
    """``F.sigmoid``, except in the legacy-IR static graph that Paddle Inference exports (3.3), where
    ``F.sigmoid`` (and exp, tanh) only take new-IR values: there the sigmoid op is appended directly."""
    from paddle.base.framework import in_dynamic_or_pir_mode

    if in_dynamic_or_pir_mode():
        return F.sigmoid(x)
    from paddle.base.layer_helper import LayerHelper

    helper = LayerHelper("sigmoid")
    out = helper.create_variable_for_type_inference(x.dtype)
    helper.append_op(type="sigmoid", inputs={"X": x}, outputs={"Out": out})
    return out


def _attention(x1: Any, x2: Any) -> Any:
    """NAS-FPN's global-pooling cell (mmdet): x2 + sigmoid(global average of x2) * x1."""
    return x2 + _sigmoid(F.adaptive_avg_pool2d(x2, 1)) * x1


def _conv_transpose(node: Node) -> nn.Layer:
    args, kwargs = conv_transpose_args(node)
    return nn.Conv2DTranspose(*args, **kwargs, bias_attr=None if node.attrs["bias"] else False)


def _hardsigmoid(node: Node) -> nn.Layer:
    """``nn.Hardsigmoid`` (slope 0.1666667, offset 0.5) for torch's; else ``F.hardsigmoid`` with the node's."""
    if is_torch_hardsigmoid(node):
        return nn.Hardsigmoid()
    slope, offset = hardsigmoid_terms(node)
    return _Fn(lambda x, s=slope, o=offset: F.hardsigmoid(x, slope=s, offset=o))


def _bilinear(node: Node) -> nn.Layer:
    """Bilinear resize; ``align_mode=0`` (Paddle's default) is torch's half-pixel rule without corners."""
    size, corners = list(node.attrs["size"]), bool(node.attrs.get("align_corners", False))
    return _Fn(lambda x, s=size, c=corners: F.interpolate(x, size=s, mode="bilinear", align_corners=c))


def _pad(node: Node) -> nn.Layer:
    sides, value = list(pad_sides(node)), float(node.attrs.get("value", 0.0))
    return _Fn(lambda x, p=sides, v=value: F.pad(x, p, mode="constant", value=v))


def _channel_slice(node: Node) -> nn.Layer:
    start, stop = node.attrs["start"], node.attrs["stop"]
    return _Fn(lambda x, a=start, b=stop: x[:, a:b])


#: One layer factory per op.
LOWER: dict[Op, Callable[[Node], nn.Layer]] = {
    Op.CONV: _conv,
    Op.BATCHNORM: lambda n: nn.BatchNorm2D(n.attrs["channels"], epsilon=n.attrs["eps"]),
    Op.RELU: lambda n: nn.ReLU(),
    Op.SWISH: lambda n: nn.Swish(),
    Op.ADD: lambda n: _Fn(add_all),
    Op.CONCAT: lambda n: _Fn(lambda *xs: paddle.concat(list(xs), axis=1)),
    Op.UPSAMPLE: lambda n: _Fn(lambda x, s=tuple(n.attrs["size"]): F.interpolate(x, size=list(s), mode="nearest")),
    Op.MAXPOOL: _maxpool,
    Op.ADAPTIVE_MAXPOOL: lambda n: nn.AdaptiveMaxPool2D(list(n.attrs["size"])),
    Op.FUSION: lambda n: _Fusion(n.attrs["arity"], n.attrs["eps"]),
    Op.ATTENTION: lambda n: _Fn(_attention),
    Op.SOFTMAX_FUSION: lambda n: _SoftmaxFusion(n.attrs["arity"]),
    Op.GROUPNORM: lambda n: nn.GroupNorm(n.attrs["groups"], n.attrs["channels"], epsilon=n.attrs.get("eps", 1e-5)),
    Op.LEAKY_RELU: lambda n: nn.LeakyReLU(n.attrs.get("negative_slope", 0.01)),
    Op.HARDSWISH: lambda n: nn.Hardswish(),
    Op.HARDSIGMOID: _hardsigmoid,
    Op.SIGMOID: lambda n: _Fn(_sigmoid),
    Op.RESIZE_BILINEAR: _bilinear,
    Op.CONV_TRANSPOSE: _conv_transpose,
    Op.ADAPTIVE_AVGPOOL: lambda n: nn.AdaptiveAvgPool2D(list(n.attrs["size"])),
    Op.MUL: lambda n: _Fn(lambda a, b: a * b),
    Op.SUB: lambda n: _Fn(lambda a, b: a - b),
    Op.DIV: lambda n: _Fn(lambda a, b: a / b),
    Op.PAD: _pad,
    Op.CHANNEL_SLICE: _channel_slice,
}

_SHARED_PARAMS = ("weight", "bias", "_mean", "_variance")


class GraphLayer(GraphRunner, nn.Layer):
    """Runs a graph: inputs in graph order in, outputs (bottom level first) out."""

    def __init__(self, graph: Graph) -> None:
        super().__init__()
        self.setup(graph, nn.LayerDict(), LOWER, _SHARED_PARAMS)

    def forward(self, inputs: list[Any]) -> list[Any]:
        """``inputs``: one tensor per graph input, in graph order (a list, so dy2static can trace it)."""
        values = self.run(inputs)
        if not paddle.in_dynamic_mode():  # traced for export: each node's variable in the program
            self.node_vars = {k: v.name for k, v in values.items()}
        return [values[i] for i in self.plan.output_ids]


def lower(graph: Graph) -> GraphLayer:
    model = GraphLayer(graph)
    model.eval()
    return model


def random_inputs(graph: Graph, seed: int = 0) -> list[Any]:
    rng = np.random.default_rng(seed)
    return [paddle.to_tensor(rng.standard_normal(n.attrs["shape"]).astype("float32")) for n in graph.inputs]


def node_shapes(model: GraphLayer, inputs: Sequence[Any]) -> dict[str, tuple[int, ...]]:
    """Run eagerly without gradients and return the real shape of every node's output."""
    with paddle.no_grad():
        values = model.run(inputs)
    return {k: tuple(int(d) for d in v.shape) for k, v in values.items()}


def count_parameters(model: nn.Layer) -> tuple[int, int]:
    """(trainable parameters, BN statistics) as Paddle holds them (shared ones once)."""
    trainable = buffers = 0
    for p in model.parameters():
        size = int(np.prod(p.shape))
        if p.stop_gradient:
            buffers += size
        else:
            trainable += size
    return trainable, buffers


def version() -> str:
    return str(getattr(paddle, "__version__", "unknown"))


def check_macs(model: GraphLayer, graph: Graph, p: Profile) -> list[str]:
    """Not a capability of this backend (``paddle.flops`` ignores functional ops): see CAPABILITIES."""
    raise BackendUnavailable("the paddle backend cannot check MACs; use --backend torch (fvcore)")


# Benchmarking -----------------------------------------------------------------------------------
def _input_specs(graph: Graph) -> list[Any]:
    from paddle.static import InputSpec

    return [InputSpec(list(n.attrs["shape"]), "float32", name=f"x{i}") for i, n in enumerate(graph.inputs)]


@dataclass(frozen=True)
class Loaded:
    """A predictor, and (on a CPU) the ops of the optimised program it runs and each node's variable."""

    predictor: Any
    ops: list[ProgramOp]
    node_vars: dict[str, str]


def _load(model: GraphLayer, graph: Graph, folder: str, *, gpu: bool, threads: int) -> Loaded:
    predictor = _predictor(model, graph, folder, gpu=gpu, threads=threads)
    if gpu:
        return Loaded(predictor, [], {})
    return Loaded(predictor, optimized_ops(folder), read_node_vars(os.path.join(folder, "model")))


def _cached_predictor(model: GraphLayer, graph: Graph, *, gpu: bool, threads: int) -> Loaded:
    """A predictor exported under the parent's cache folder (``FPNPROF_EXPORT_CACHE``, removed by
    the parent when the bench ends), by the graph's digest, so later workers load the first one's
    export; without that folder, in a temporary one removed once the predictor has loaded it."""
    import hashlib
    import tempfile

    cache = os.environ.get(EXPORT_CACHE)
    if not cache:
        with tempfile.TemporaryDirectory(prefix="fpnprof-") as folder:
            return _load(model, graph, folder, gpu=gpu, threads=threads)
    digest = hashlib.sha256(repr([(n.id, n.op, n.inputs, sorted(n.attrs.items())) for n in graph]).encode()).hexdigest()
    folder = os.path.join(cache, digest[:16])
    os.makedirs(folder, exist_ok=True)
    return _load(model, graph, folder, gpu=gpu, threads=threads)


def _export(model: GraphLayer, graph: Graph, prefix: str) -> None:
    import warnings

    with warnings.catch_warnings():  # a graph without parameters makes paddle warn that it saves none
        warnings.filterwarnings("ignore", message="no variable in your model")
        paddle.jit.save(paddle.jit.to_static(model, input_spec=[_input_specs(graph)], full_graph=True), prefix)
    write_node_vars(prefix, model.node_vars)


def engine_ops(graph: Graph, *, engine: str, threads: int) -> dict[str, int] | None:
    """The ops Paddle Inference (CPU, oneDNN) runs for the graph, by type, read from the optimized
    program it saves after its IR passes: what it fused, from the engine itself. None for an engine
    that keeps no such program. Needs FLAGS_enable_pir_api=0 before paddle's import, as the engine does."""
    import tempfile
    from collections import Counter

    if engine != "inference":
        return None
    with tempfile.TemporaryDirectory(prefix="fpnprof-") as folder:
        _predictor(lower(graph), graph, folder, gpu=False, threads=threads)
        return dict(Counter(op.type for op in optimized_ops(folder)))


def _predictor(model: GraphLayer, graph: Graph, folder: str, *, gpu: bool, threads: int) -> Any:
    """Export with paddle.jit.save and load a Paddle Inference predictor (oneDNN on CPU; the
    optimised program it runs saved in ``folder``'s :data:`OPTIMIZED`).

    Needs FLAGS_enable_pir_api=0 in the environment before paddle is imported: oneDNN cannot
    run a PIR program that holds a nearest interpolate (paddle 3.3).
    """
    import os

    prefix = os.path.join(folder, "model")
    programs = [prefix + ".pdmodel", prefix + ".json"]
    if not any(map(os.path.exists, programs)):  # a cached export (same graph) is loaded as it is
        _export(model, graph, prefix)
    program = next(p for p in programs if os.path.exists(p))
    params = prefix + ".pdiparams"
    # a graph without parameters (adds, pools: calibration's kernel samples) exports no parameter file
    config = paddle.inference.Config()
    config.set_prog_file(program)
    if os.path.exists(params):
        config.set_params_file(params)
    if gpu:
        config.enable_use_gpu(256, 0)
    else:
        config.disable_gpu()
        config.enable_mkldnn()
        config.set_cpu_math_library_num_threads(threads)
    config.disable_glog_info()
    if not gpu:
        config.enable_save_optim_model(True)
        config.set_optim_cache_dir(os.path.join(folder, OPTIMIZED))
    return paddle.inference.create_predictor(config)


def _device(device: str) -> bool:
    """Select the device (refusing a GPU this build cannot use); returns whether it is the GPU.

    Threads come from OMP_NUM_THREADS, set by the parent before paddle was imported."""
    from fpnprof.errors import BackendUnavailable

    gpu = device == "gpu"
    if gpu and not paddle.device.is_compiled_with_cuda():
        raise BackendUnavailable(
            "--device gpu with the paddle backend needs paddlepaddle-gpu (this paddle is a CPU build); or use --backend torch"
        )
    paddle.device.set_device("gpu" if gpu else "cpu")
    return gpu


def _clock(gpu: bool) -> DeviceClock:
    if not gpu:
        return CPU_CLOCK
    # paddle's CPU build types its event as a bare stub; on a GPU build it has record/synchronize/elapsed_time
    return DeviceClock(lambda: cast(Event, paddle.device.cuda.Event(enable_timing=True)), paddle.device.synchronize)


def _info(gpu: bool, threads: int, engine: str) -> dict[str, Any]:
    return {
        "framework": f"paddle {version()}",
        "device_name": paddle.device.cuda.get_device_name() if gpu else "cpu",
        "threads": threads,
        "math_mode": {"onednn": engine == "inference" and not gpu, "pir": os.environ.get(PIR_FLAG, "default")},
    }


def make_runner(graph: Graph, *, device: str, engine: str, dtype: str, threads: int, seed: int = 0) -> Executable:
    """One forward pass of ``graph`` on the chosen engine, with the device's clock, ready to time."""
    gpu = _device(device)
    base = int(paddle.device.cuda.memory_allocated()) if gpu else 0
    model = lower(graph)
    inputs = random_inputs(graph, seed)
    paddle.set_grad_enabled(False)
    profiled = None
    if engine == "inference":
        loaded = _cached_predictor(model, graph, gpu=gpu, threads=threads)
        predictor = loaded.predictor
        for name, tensor in zip(predictor.get_input_names(), inputs, strict=True):
            predictor.get_input_handle(name).copy_from_cpu(tensor.numpy())
        fn: Any = predictor.run
        if not gpu:
            profiled = node_pass(predictor.run, loaded.ops, loaded.node_vars)
    elif engine == "static":
        static = paddle.jit.to_static(model, input_spec=[_input_specs(graph)], full_graph=True)
        fn = lambda: static(inputs)  # noqa: E731
    else:
        fn = lambda: model(inputs)  # noqa: E731
    hooked = (lambda hook: model.run(inputs, hook)) if engine == "eager" else None
    peak = (lambda: int(paddle.device.cuda.max_memory_allocated()) - base) if gpu else (lambda: None)
    return Executable(fn, _clock(gpu), _info(gpu, threads, engine), peak, hooked, profiled)


def matmul_graph(n: int) -> Graph:
    """An n x n by n x n matmul as a graph: a 1x1 conv, n channels to n, without bias, on n pixels."""
    from fpnprof.model.builder import GraphBuilder

    side = math.isqrt(n)
    b = GraphBuilder()
    b.graph.outputs = {0: b.conv(b.input("x", (1, n, side, n // side)), n, 1, "matmul", bias=False)}
    return b.graph


def peak_kernels(*, device: str, dtype: str, threads: int, best: bool = True) -> PeakKernels:
    """A matmul and a large copy in paddle, for :func:`fpnprof.bench.peaks.measure_peaks`.

    ``best``: at the peak's sizes and, on a CPU, the matmul through Paddle Inference's oneDNN kernels
    (a predictor whose threads then stay in the process and slow eager ops: use it in a process of
    its own); else the in-worker drift probe: eager ``paddle.matmul`` at its smaller sizes."""
    from fpnprof.backends.common import PEAK_SIZES, PROBE_SIZES

    gpu = _device(device)
    n, copy_bytes = (PEAK_SIZES if best else PROBE_SIZES)[device]
    rng = np.random.default_rng(0)
    a = paddle.to_tensor(rng.standard_normal((n, n)).astype("float32"))
    b = paddle.to_tensor(rng.standard_normal((n, n)).astype("float32"))
    src = paddle.to_tensor(rng.standard_normal(copy_bytes // 4).astype("float32"))
    dst = paddle.empty_like(src)
    paddle.set_grad_enabled(False)
    matmul: Callable[[], Any] = lambda: paddle.matmul(a, b)  # type: ignore[no-untyped-call]  # noqa: E731
    if best and not gpu:  # Paddle's eager CPU matmul runs far below its oneDNN kernels (measured 20-40 vs 130 GFLOP/s)
        matmul = make_runner(matmul_graph(n), device="cpu", engine="inference", dtype="fp32", threads=threads).fn
    return PeakKernels(
        matmul=matmul,
        matmul_flops=2 * n**3,
        copy=lambda: paddle.assign(src, dst),
        copy_bytes=2 * copy_bytes,
        clock=_clock(gpu),
        info={**_info(gpu, threads, "eager"), "matmul_n": n, "copy_mib": copy_bytes / 2**20, "dtype": dtype},
    )


def gpu_name() -> str | None:
    """The GPU's name (a latency model's stamp), or None where there is none."""
    try:
        return str(paddle.device.cuda.get_device_name())
    except Exception:  # no GPU, or a CPU-only build
        return None
