"""Reaching Ray: the ``--cluster`` value read, ray imported (or one line on how to install it), a local
instance started, or a cluster's address checked before Ray is asked to join it (Ray itself retries an
address that does not answer for minutes, printing as it goes), and Ray shut down again where fpnprof
started the connection."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType

from fpnprof.errors import ConfigError

#: How to get Ray, in the one line ``--cluster`` says without it.
INSTALL_HINT = "--cluster needs Ray, which is not installed: pip install 'fpnprof[cluster]' (or pip install 'ray>=2.49')"
#: The oldest Ray with what a cluster run asks of it: tasks placed by label selector (Ray 2.49).
MIN_RAY = (2, 49)
#: Seconds to wait for a cluster's address to answer before saying it cannot be reached.
REACH_TIMEOUT_S = 5.0
#: Ray's setting of the niceness its workers start at (15 unless set): a local instance's workers start
#: at a plain run's priority (0), so that nothing else on the machine takes the CPU from the timing.
NICENESS_ENV = "RAY_worker_niceness"
#: ``--cluster``'s choices, for help and refusals.
CLUSTER_HELP = "ray (a local Ray instance) or ray=ADDRESS (a Ray cluster's head, HOST:PORT, or auto)"


@dataclass(frozen=True)
class ClusterOption:
    """``--cluster ray[=ADDRESS]``: ``address`` None starts a local Ray instance."""

    engine: str
    address: str | None

    @property
    def where(self) -> str:
        return "a local Ray instance" if self.address is None else f"the Ray cluster at {self.address}"


def parse_cluster(value: str) -> ClusterOption:
    """``ray``, ``ray=HOST:PORT``, ``ray=auto`` (the cluster ``ray start`` joined this machine to)."""
    engine, eq, address = value.strip().partition("=")
    if engine != "ray":
        raise ConfigError(f"--cluster takes {CLUSTER_HELP}, got {value!r}")
    address = address.strip()
    if eq and not address:
        raise ConfigError(
            "--cluster ray= needs the head's address after '=', e.g. ray=10.0.0.5:6379 (plain ray: a local instance)"
        )
    if address and address != "auto":
        host, _, port = address.removeprefix("ray://").rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(
                f"--cluster ray={address}: an address is HOST:PORT, as 'ray start --head' prints it, e.g. ray=10.0.0.5:6379"
            )
    return ClusterOption(engine, address or None)


def import_ray() -> ModuleType:
    """The ray module, or a ConfigError of one line saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(INSTALL_HINT) from None
    version = str(getattr(ray, "__version__", "0"))
    numbers = tuple(int(part) for part in re.findall(r"\d+", version)[:2])
    if numbers < MIN_RAY:
        raise ConfigError(
            f"--cluster needs Ray {MIN_RAY[0]}.{MIN_RAY[1]} or newer (tasks placed by node labels), found {version}: "
            "pip install -U 'ray>=2.49'"
        )
    module: ModuleType = ray
    return module


def check_reachable(address: str) -> None:
    """Refuse at once, in one line, an address where nothing answers."""
    if address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=REACH_TIMEOUT_S).close()
    except OSError as exc:
        why = exc.strerror or str(exc) or type(exc).__name__
        raise ConfigError(
            f"cannot reach a Ray cluster at {address} ({why.lower()}): start one with 'ray start --head' there, "
            "or check the address"
        ) from None


def _set_environ(values: dict[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@contextlib.contextmanager
def _environ(values: dict[str, str | None]) -> Iterator[None]:
    """``os.environ`` with these names set (None: unset) for the duration."""
    before = {name: os.environ.get(name) for name in values}
    _set_environ(values)
    try:
        yield
    finally:
        _set_environ(before)


@contextlib.contextmanager
def connected(option: ClusterOption) -> Iterator[ModuleType]:
    """Ray, connected for the duration: a session already open in this process (a script's, a
    test's) is used as it is and left open; otherwise a local instance is started (``ray``: even
    where ``RAY_ADDRESS`` is set; its workers at niceness 0) or the cluster at the address joined,
    and shut down at the end."""
    ray = import_ray()
    if ray.is_initialized():
        if option.address not in (None, "auto"):
            assert option.address is not None
            check_reachable(option.address)
            here = str(ray.get_runtime_context().gcs_address)
            if option.address.removeprefix("ray://") != here:
                raise ConfigError(f"this process is connected to the Ray cluster at {here} already, not {option.address}")
        yield ray
        return
    try:
        if option.address is None:
            with _environ({"RAY_ADDRESS": None, NICENESS_ENV: "0"}):
                ray.init(logging_level=logging.ERROR, log_to_driver=False, include_dashboard=False)
        else:
            check_reachable(option.address)
            ray.init(address=option.address, logging_level=logging.ERROR, log_to_driver=False)
    except ConfigError:
        raise
    except Exception as exc:  # a version mismatch, a port that is not Ray's: one line
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"cannot start or join {option.where}: {first}") from None
    try:
        yield ray
    finally:
        ray.shutdown()
