"""A node's kind: what its timings depend on, from the latency model's machine fingerprint (CPU model,
cores, GPU, framework and its version), as a short stable name. Results of one kind may be compared;
results of two kinds never are.

``FPNPROF_NODE_KIND`` in a node's environment names its kind instead (a label you choose: to keep
nodes apart that the fingerprint cannot tell apart, or, in tests, to give nodes on one machine kinds
of their own).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fpnprof.errors import ConfigError

#: The environment variable that labels a node's kind (the node's, set where its Ray node starts).
KIND_ENV = "FPNPROF_NODE_KIND"
#: The fingerprint's fields a kind is made of: the hardware and the framework that times on it.
KIND_FIELDS = ("cpu", "cores", "gpu", "framework", "framework_version")
#: A kind's name: it goes into file names and Ray's scheduling options.
KIND_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


def kind_of(fingerprint: dict[str, Any]) -> str:
    """``k`` and 10 hex digits of the SHA-256 of the fingerprint's :data:`KIND_FIELDS`."""
    fields = {k: fingerprint.get(k) for k in KIND_FIELDS}
    return "k" + hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:10]


def describe(fingerprint: dict[str, Any]) -> str:
    """``AMD EPYC 7B13, 2 cores, paddle 3.3.1`` (the GPU after the cores, where there is one)."""
    parts = [str(fingerprint.get("cpu")), f"{fingerprint.get('cores')} cores"]
    if fingerprint.get("gpu"):
        parts.append(str(fingerprint["gpu"]))
    parts.append(" ".join(str(x) for x in (fingerprint.get("framework"), fingerprint.get("framework_version")) if x))
    return ", ".join(parts)


def check_kind_name(name: str, where: str) -> str:
    if not KIND_NAME.match(name):
        raise ConfigError(f"{where} {name!r} is not a node kind's name: letters, digits, '.', '_' and '-', up to 63")
    return name


@dataclass(frozen=True)
class NodeIdentity:
    """What a node says of itself: its kind, the fingerprint it comes from, whether the kind is a
    label (``FPNPROF_NODE_KIND``), its host name and the fpnprof installed on it."""

    kind: str
    description: str
    fingerprint: dict[str, Any]
    labelled: bool
    hostname: str
    fpnprof: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NodeIdentity:
        return cls(**data)


def this_node(backend: str, device: str) -> NodeIdentity:
    """This machine's identity for timing ``backend`` on ``device`` (reads no framework on a CPU)."""
    from fpnprof import __version__
    from fpnprof.bench.spec import effective_threads
    from fpnprof.latency.model import machine_fingerprint

    fingerprint = machine_fingerprint(backend, device, "eager", effective_threads(0))
    label = os.environ.get(KIND_ENV, "").strip()
    kind = check_kind_name(label, KIND_ENV) if label else kind_of(fingerprint)
    text = describe(fingerprint) + (f" (labelled {label} by {KIND_ENV})" if label else "")
    return NodeIdentity(kind, text, fingerprint, bool(label), socket.gethostname(), __version__)


def kind_model_path(path: Path, kind: str) -> Path:
    """Where the latency model of node kind ``kind`` is kept beside the default model file ``path``:
    ``latency-torch-cpu-eager-16t@k3f2a9c1b2e.json``."""
    return path.with_name(f"{path.stem}@{kind}{path.suffix}")
