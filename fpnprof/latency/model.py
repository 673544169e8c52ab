"""A fitted latency model as a file: JSON (never a pickle: a model file must be safe to open), stamped
with the machine, the framework's version and the engine, and sealed with a SHA-256 of its content so
an edited file is refused. Stored in the user's data directory unless ``--model PATH`` says where.

A model from another machine or framework version is refused with one line, or, with ``--force``,
used with a warning that every table repeats.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fpnprof.bench.allocator import DEFAULT_ALLOCATOR
from fpnprof.errors import ConfigError
from fpnprof.latency.domain import Domain
from fpnprof.latency.fit import ClassFit, ExecutorFit
from fpnprof.latency.trees import Trees

FORMAT = "fpnprof-latency-model"
#: 3: a conv with a bias is a class of its own on engines that run the bias within the conv
#: 4: on every engine (Paddle Inference timed by its profiler: its conv's bias add is part of the
#: conv's kernel, no bias_add class)
#: 5: the domain, the ranges each class and the calibration necks were fitted on
#: 6: the trees see how far a kernel's channels are from a whole block of 16 (two more features)
SCHEMA_VERSION = 6


def machine_fingerprint(
    backend: str, device: str, engine: str, threads: int, allocator: str = DEFAULT_ALLOCATOR
) -> dict[str, Any]:
    """What a model is valid for: the CPU (or GPU), cores, threads, the framework and its version,
    the engine, the allocator its timing processes ran with (a model for one is refused for another).
    Reads no framework on a CPU (the version comes from the installed package's metadata)."""
    from fpnprof.backends.machine import cpu_name
    from fpnprof.backends.registry import backend_info, installed_version

    info = backend_info(backend)
    return {
        "cpu": cpu_name(),
        "cores": os.cpu_count() or 1,
        "gpu": _gpu_name(backend) if device == "gpu" else None,
        "backend": backend,
        "framework": info.framework,
        "framework_version": next(filter(None, (installed_version(d) for d in info.distributions)), None),
        "device": device,
        "engine": engine,
        "threads": threads,
        "allocator": allocator,
    }


def _gpu_name(backend: str) -> str | None:
    from fpnprof.backends import load

    probe = getattr(load(backend), "gpu_name", None)
    return probe() if callable(probe) else None


@dataclass(frozen=True)
class LatencyModel:
    """Per kernel class a fit (and, where learnt, trees that correct it), the executor's fit, and the
    interval's band on measured / predicted."""

    fingerprint: dict[str, Any]
    classes: dict[str, ClassFit]
    executor: ExecutorFit
    #: measured / predicted bounds that held ``coverage`` of the calibration necks (cross-fitted)
    band: tuple[float, float]
    coverage: float
    created: str
    #: how it was made: samples, necks, seconds, and the necks' cross-fitted errors
    calibration: dict[str, Any] = field(default_factory=dict)
    #: per class, trees on log(in-context time / the class's line) (:mod:`fpnprof.latency.trees`)
    trees: dict[str, Trees] = field(default_factory=dict)
    #: the ranges it was fitted on (:mod:`fpnprof.latency.domain`); empty: nothing is marked
    domain: Domain = field(default_factory=Domain)

    def body(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "schema_version": SCHEMA_VERSION,
            "fingerprint": self.fingerprint,
            "created": self.created,
            "classes": {k: asdict(v) for k, v in sorted(self.classes.items())},
            "executor": asdict(self.executor),
            "band": list(self.band),
            "coverage": self.coverage,
            "calibration": self.calibration,
            "trees": {k: v.to_json() for k, v in sorted(self.trees.items())},
            "domain": self.domain.to_json(),
        }

    def seal(self) -> str:
        """The SHA-256 its file is sealed with."""
        return _seal(self.body())

    def to_json(self) -> dict[str, Any]:
        return {**self.body(), "sha256": self.seal()}


def _seal(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _finite(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{what} must be a finite number >= 0")
    return float(value)


def _class_fit(data: Any, name: str) -> ClassFit:
    if not isinstance(data, dict) or set(data) != set(ClassFit.__dataclass_fields__):
        raise ValueError(f"kernel class {name!r} has the wrong fields")
    values = {k: _finite(v, f"{name}.{k}") for k, v in data.items()}
    return ClassFit(**{**values, "samples": int(values["samples"])})  # type: ignore[arg-type]


def model_from_json(data: Any) -> LatencyModel:
    """Parse and check a model document; ValueError says what is wrong."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError("not an fpnprof latency model")
    if data.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(
            f"schema version {data.get('schema_version')!r}, this fpnprof reads {SCHEMA_VERSION}: recalibrate with this fpnprof"
        )
    seal = data.get("sha256")
    body = {k: v for k, v in data.items() if k != "sha256"}
    if seal != _seal(body):
        raise ValueError("its content does not match its SHA-256 seal (edited or damaged)")
    executor = data["executor"]
    if not isinstance(executor, dict) or set(executor) != set(ExecutorFit.__dataclass_fields__):
        raise ValueError("the executor fit has the wrong fields")
    band = [_finite(v, "band") for v in data["band"]]
    if len(band) != 2 or not 0 < band[0] <= band[1]:
        raise ValueError("the band must be two ratios, low <= high")
    return LatencyModel(
        fingerprint=dict(data["fingerprint"]),
        classes={k: _class_fit(v, k) for k, v in data["classes"].items()},
        executor=ExecutorFit(**{k: _finite(v, f"executor.{k}") for k, v in executor.items()}),
        band=(band[0], band[1]),
        coverage=_finite(data["coverage"], "coverage"),
        created=str(data["created"]),
        calibration=dict(data.get("calibration") or {}),
        trees={k: Trees.from_json(v) for k, v in data["trees"].items()},
        domain=Domain.from_json(data["domain"]),
    )


def default_path(backend: str, device: str, engine: str, threads: int, allocator: str = DEFAULT_ALLOCATOR) -> Path:
    """``<user data dir>/fpnprof/latency-<backend>-<device>-<engine>-<threads>t.json`` (``-<allocator>``
    before ``.json`` for an allocator other than the default)."""
    from platformdirs import user_data_path

    root = Path(os.environ.get("FPNPROF_DATA_DIR") or user_data_path("fpnprof"))
    tail = "" if allocator == DEFAULT_ALLOCATOR else f"-{allocator}"
    return root / f"latency-{backend}-{device}-{engine}-{threads}t{tail}.json"


def save_model(model: LatencyModel, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(model.to_json(), indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


#: Fingerprint keys that must match for a model to apply without ``--force``.
MATCHED = ("cpu", "cores", "gpu", "backend", "framework_version", "device", "engine", "threads", "allocator")


def foreign_keys(model: LatencyModel, here: dict[str, Any]) -> list[str]:
    """Where the model's stamp differs from this machine and run: 'cpu: A (model) vs B (here)'."""
    return [
        f"{k}: {model.fingerprint.get(k)} (model) vs {here.get(k)} (here)"
        for k in MATCHED
        if model.fingerprint.get(k) != here.get(k)
    ]


def _shell_word(text: str) -> str:
    """``text`` as one shell word, double-quoted where it needs quoting (the hint is in single quotes)."""
    import shlex

    if shlex.quote(text) == text:
        return text
    return '"' + "".join("\\" + c if c in '\\"$`' else c for c in text) + '"'


def calibrate_hint(path: Path, here: dict[str, Any]) -> str:
    """What to run to make the model ``path`` for ``here``: the calibrate command with every option
    that picks the file and its stamp; for an engine calibrate refuses, the eager model instead."""
    from fpnprof.latency.calibrate import UNCALIBRATED

    backend, device, engine, threads = here["backend"], here["device"], here["engine"], here["threads"]
    allocator = here.get("allocator", DEFAULT_ALLOCATOR)
    target = "" if path == default_path(backend, device, engine, threads, allocator) else f" --model {_shell_word(str(path))}"
    chosen = "" if allocator == DEFAULT_ALLOCATOR else f" --allocator {allocator}"
    options = f"--backend {backend} --device {device} --engine {{}} --threads {threads}{chosen}"
    if engine in UNCALIBRATED:
        return (
            f"calibrate refuses --engine {engine}; price the eager engine instead, "
            f"once 'fpnprof calibrate {options.format('eager')}{target}' has made its model"
        )
    return f"run 'fpnprof calibrate {options.format(engine)}{target}' first, or pass --model PATH"


def _check_schema(data: Any, path: Path, here: dict[str, Any]) -> None:
    """A model file of another schema version is a ConfigError saying how to make this one's."""
    version = data.get("schema_version") if isinstance(data, dict) and data.get("format") == FORMAT else SCHEMA_VERSION
    if version != SCHEMA_VERSION:
        raise ConfigError(
            f"latency model {path} is schema {version}, made by another fpnprof (this one reads {SCHEMA_VERSION}, "
            f"with the channel blocks its trees see): {calibrate_hint(path, here)}"
        )


def load_model(path: Path, here: dict[str, Any], *, force: bool) -> tuple[LatencyModel, str | None]:
    """The model at ``path`` checked against this machine: (model, warning or None). A missing,
    unreadable, edited or foreign file (without ``force``) is a ConfigError of one line."""
    if not path.is_file():
        raise ConfigError(f"no latency model at {path}: {calibrate_hint(path, here)}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        _check_schema(data, path, here)
        model = model_from_json(data)
    except (ValueError, KeyError, TypeError) as exc:  # JSONDecodeError is a ValueError
        raise ConfigError(f"latency model {path} refused: {str(exc).splitlines()[0]}") from None
    differs = foreign_keys(model, here)
    if not differs:
        return model, None
    if not force:
        raise ConfigError(f"latency model {path} is from another setup ({'; '.join(differs)}); recalibrate, or use --force")
    return (
        model,
        f"WARNING: a latency model from another setup, used with --force ({'; '.join(differs)}): predictions may be far off",
    )
