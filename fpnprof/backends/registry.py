"""Every backend's facts in one framework-free record: engines and dtypes per device, what it can
do, how to install it, and whether the installed build can use a GPU. Nothing outside a backend
compares a backend's name: callers read these records. No framework is imported here."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from fpnprof.errors import ConfigError
from fpnprof.model.config import require_choice

DEVICES = ("cpu", "gpu")
#: A backend that can check fvcore's MACs against the analytic model (``check_macs``).
FVCORE_MACS = "fvcore_macs"
TORCH_INSTALL = "pip install 'fpnprof[torch]'"


def installed_version(distribution: str) -> str | None:
    """A distribution's installed version, from package metadata (no import), or None."""
    from importlib import metadata  # 30 ms: only when a backend is resolved

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def installed(distribution: str) -> bool:
    """Whether a distribution is installed, from package metadata (no import)."""
    return installed_version(distribution) is not None


@dataclass(frozen=True)
class BackendInfo:
    """One backend. ``apart_engines`` run in worker processes of their own (``apart_why`` says why);
    ``compare_skips`` are engines ``compare --bench`` leaves out (``eager`` and the deployment engines
    stay); ``gpu_problem`` says why the installed build cannot use a GPU, or None."""

    name: str
    module: str
    framework: str
    install: str
    engines: Mapping[str, tuple[str, ...]]
    dtypes: Mapping[str, tuple[str, ...]]
    distributions: tuple[str, ...]
    gpu_problem: Callable[[], str | None]
    gpu_install: str
    capabilities: frozenset[str] = frozenset()
    compare_skips: tuple[str, ...] = ()
    apart_engines: tuple[str, ...] = ()
    apart_why: str = ""

    def is_installed(self) -> bool:
        return any(installed(d) for d in self.distributions)

    def compare_engines(self, device: str) -> tuple[str, ...]:
        return tuple(e for e in self.engines[device] if e not in self.compare_skips)

    def runs_apart(self, engine: str) -> bool:
        return engine in self.apart_engines


def _paddle_gpu_problem() -> str | None:
    if installed("paddlepaddle-gpu"):
        return None
    return "this paddle is a CPU build" if installed("paddlepaddle") else "paddle is not installed"


def _torch_gpu_problem() -> str | None:
    if not installed("torch"):
        return "torch is not installed"
    if "+cpu" in (installed_version("torch") or ""):  # the wheel's local version tag; no import needed
        return "this is a CPU build of torch"
    return None


BACKENDS: dict[str, BackendInfo] = {
    "paddle": BackendInfo(
        name="paddle",
        module="fpnprof.backends.paddle_backend",
        framework="paddle",
        install="pip install paddlepaddle",
        engines={"cpu": ("eager", "static", "inference"), "gpu": ("eager", "static", "inference")},
        dtypes={"cpu": ("fp32",), "gpu": ("fp32",)},
        distributions=("paddlepaddle", "paddlepaddle-gpu"),
        gpu_problem=_paddle_gpu_problem,
        gpu_install="paddlepaddle-gpu",
        # dy2static runs through the same Python executor: Paddle Inference stands for deployment
        compare_skips=("static",),
        apart_engines=("inference",),
        apart_why="Paddle Inference rows run in workers of their own (its oneDNN threads slow eager Paddle)",
    ),
    "torch": BackendInfo(
        name="torch",
        module="fpnprof.backends.torch_backend",
        framework="torch",
        install=TORCH_INSTALL,
        engines={"cpu": ("eager", "compile"), "gpu": ("eager", "compile", "cudagraph")},
        dtypes={"cpu": ("fp32", "bf16"), "gpu": ("fp32", "tf32", "bf16", "fp16")},
        distributions=("torch",),
        gpu_problem=_torch_gpu_problem,
        gpu_install=f"an NVIDIA GPU and a CUDA build of torch (with fpnprof's torch extra: {TORCH_INSTALL})",
        capabilities=frozenset({FVCORE_MACS}),
    ),
}
BACKEND_NAMES = tuple(BACKENDS)
BACKEND_CHOICES = ("auto", *BACKENDS)
ENGINE_NAMES = tuple(dict.fromkeys(e for b in BACKENDS.values() for es in b.engines.values() for e in es))


def backend_info(name: str) -> BackendInfo:
    require_choice("backend", name, BACKEND_NAMES)
    return BACKENDS[name]


def check_dtype(backend: str, device: str, dtype: str) -> None:
    """Refuse a dtype the backend does not measure on the device."""
    require_choice("device", device, DEVICES)
    dtypes = backend_info(backend).dtypes[device]
    if dtype not in dtypes:
        raise ConfigError(f"{backend} on {device} measures {', '.join(dtypes)}, not {dtype}")


def check_device(backend: str, device: str) -> None:
    """Refuse a GPU run that the installed build cannot do, from package metadata (no import)."""
    info = backend_info(backend)
    problem = info.gpu_problem() if device == "gpu" else None
    if problem:
        others = [b.name for b in BACKENDS.values() if b.name != backend and b.gpu_problem() is None]
        instead = "".join(f"; or use --backend {name}" for name in others)
        raise ConfigError(f"--device gpu with the {backend} backend needs {info.gpu_install} ({problem}){instead}")


def resolve_backend(backend: str, device: str) -> str:
    """``auto``: the first backend (paddle, then torch) whose installed build can run on the device;
    found from the installed distributions, without importing a framework."""
    require_choice("backend", backend, BACKEND_CHOICES)
    require_choice("device", device, DEVICES)
    if backend != "auto":
        return backend
    for info in BACKENDS.values():
        if info.is_installed() and (device == "cpu" or info.gpu_problem() is None):
            return info.name
    if device == "gpu":
        why = ", and ".join(str(info.gpu_problem()) for info in BACKENDS.values())
        needs = ", or ".join(info.gpu_install for info in BACKENDS.values())
        raise ConfigError(f"no installed framework can run on the gpu: {why}; install {needs}")
    installs = ", or ".join(info.install for info in BACKENDS.values())
    raise ConfigError(f"no installed framework can run on the cpu: {installs}")
