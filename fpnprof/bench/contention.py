"""Is the machine busy? CPU time taken by other processes while a worker measured, and, on a GPU,
other processes on the device.

The system's busy time comes from ``/proc/stat`` (all CPUs: user, nice, system, irq, softirq;
``steal``, time the hypervisor gave to other machines, apart); this run's own CPU time (this
process and every worker it has reaped) from ``getrusage``. What is left is other processes'.
Framework-free; the readers are injectable so a test can play a busy machine.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

#: Others took more than this share of the machine's cores on average while a worker ran: busy.
BUSY_SHARE = 0.10
#: Rows whose workers' loads differ by more than this (share of the cores) were measured under
#: different contention.
LOAD_SPREAD = 0.10


@dataclass(frozen=True)
class CpuSample:
    """Cumulative seconds: the system's busy time, its steal time, and this run's own CPU time."""

    busy_s: float
    steal_s: float
    own_s: float


def read_proc_stat(path: str = "/proc/stat") -> tuple[float, float] | None:
    """(busy, steal) seconds summed over all CPUs since boot, or None where there is no /proc/stat."""
    try:
        with open(path, encoding="ascii") as fh:
            fields = fh.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    values = [int(v) for v in fields[1:]] + [0] * 8
    user, nice, system, _idle, _iowait, irq, softirq, steal = values[:8]
    tick = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq) / tick, steal / tick


def own_cpu_s() -> float:
    """CPU seconds of this process and of every child it has waited for."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def cpu_sample(
    stat: Callable[[], tuple[float, float] | None] = read_proc_stat, own: Callable[[], float] = own_cpu_s
) -> CpuSample | None:
    read = stat()
    return None if read is None else CpuSample(read[0], read[1], own())


@dataclass(frozen=True)
class Load:
    """What others took while one worker ran: cores busy with other processes and cores stolen by
    the hypervisor, on average over ``wall_s``, on a machine of ``cores``."""

    wall_s: float
    cores: int
    other_cores: float
    steal_cores: float

    @property
    def other_share(self) -> float:
        """Others' busy time as a share of all the machine's cores (steal included)."""
        return (self.other_cores + self.steal_cores) / self.cores

    @property
    def busy(self) -> bool:
        return self.other_share > BUSY_SHARE

    def to_json(self) -> dict[str, float]:
        return {"wall_s": self.wall_s, "cores": self.cores, "other_cores": self.other_cores, "steal_cores": self.steal_cores}


def load_between(before: CpuSample | None, after: CpuSample | None, wall_s: float, cores: int | None = None) -> Load | None:
    """Others' load between two samples (None where the system's time cannot be read)."""
    if before is None or after is None or wall_s <= 0:
        return None
    other = max(0.0, (after.busy_s - before.busy_s) - (after.own_s - before.own_s))
    steal = max(0.0, after.steal_s - before.steal_s)
    return Load(wall_s, cores or os.cpu_count() or 1, other / wall_s, steal / wall_s)


def gpu_processes(run: Callable[[list[str]], str | None] | None = None) -> list[int] | None:
    """PIDs of compute processes on the GPUs as the driver lists them (nvidia-smi), or None when it
    cannot tell."""

    def default_run(cmd: list[str]) -> str | None:
        if shutil.which(cmd[0]) is None:
            return None
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=True).stdout
        except (OSError, subprocess.SubprocessError):
            return None

    out = (run or default_run)(["nvidia-smi", "--query-compute-apps=pid", "--format=csv,noheader"])
    if out is None:
        return None
    return [int(line) for line in out.split() if line.strip().isdigit()]
