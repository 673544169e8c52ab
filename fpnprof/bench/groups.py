"""Which rows share a worker process (and so are timed side by side, paired)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fpnprof.backends.registry import backend_info
from fpnprof.bench.spec import BenchSpec
from fpnprof.cost.memory import estimated_bytes
from fpnprof.cost.results import Profile


@dataclass
class Group:
    """Rows measured together; ``why`` says why a row of several candidates was measured alone."""

    indices: list[int]
    why: str | None = None

    @property
    def paired(self) -> bool:
        return len(self.indices) > 1


def machine_key(spec: BenchSpec) -> tuple[str, str, int, str]:
    """What a row's peaks depend on: backend, device, threads and dtype."""
    return (spec.backend, spec.device, spec.effective_threads, spec.config.dtype)


def share_key(spec: BenchSpec) -> tuple[str, str, int, str, bool, str]:
    """Rows with the same key can share a worker process: threads, math mode and the allocator are
    per process, and an engine that disturbs the others in a process runs apart
    (``BackendInfo.apart_engines``: Paddle Inference's oneDNN threads slow eager Paddle)."""
    return (*machine_key(spec), backend_info(spec.backend).runs_apart(spec.engine), spec.allocator)


def plan_groups(specs: Sequence[BenchSpec], profiles: Sequence[Profile], *, isolated: bool, memory: int) -> list[Group]:
    """Group rows by :func:`share_key`; a CPU group that would not fit in ``memory`` sheds its
    largest rows to groups of their own."""
    if isolated:
        return [Group([i]) for i in range(len(specs))]
    keyed: dict[tuple[str, str, int, str, bool, str], list[int]] = {}
    for i, spec in enumerate(specs):
        keyed.setdefault(share_key(spec), []).append(i)
    groups = []
    for indices in keyed.values():
        need = {i: estimated_bytes(profiles[i]) for i in indices}
        alone = []
        while len(indices) > 1 and specs[indices[0]].device == "cpu" and sum(need[i] for i in indices) > memory:
            biggest = max(indices, key=need.__getitem__)
            indices = [i for i in indices if i != biggest]
            alone.append(biggest)
        groups.append(Group(indices))
        why = "too large to share a worker process with the other rows"
        groups += [Group([i], why) for i in alone]
    return groups
