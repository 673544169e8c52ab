"""What the cluster tests send to their nodes (these modules must import there: the test cluster's
nodes get the tests folder on their PYTHONPATH): a simulated machine per task, which a node of a
given test name may hold first (so that a test can remove that node, or press Ctrl-C, mid-task), and
a calibration that returns a model fitted on the simulated machine instead of minutes of timing."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim_machine import SimMachine

from fpnprof.bench.protocol import GroupJob as WorkerJob
from fpnprof.bench.protocol import WorkerReply
from fpnprof.cluster.plan import Clock, Job, Launch

#: A test node's name (one per node, in its environment; the kind is FPNPROF_NODE_KIND).
NODE_ENV = "FPNPROF_TEST_NODE"
#: How long a held task waits at most for its node to be removed, or to be released.
HOLD_S = 60.0


@dataclass(frozen=True)
class SimTimer:
    """Each task times on a simulated machine (a neck's true ms by its channels, on nodes of a kind in
    ``kinds`` by that kind's own table; seeded by the group, so a group times alike wherever it runs). The first task on the node
    named ``hold`` writes ``marker`` and waits until ``release`` exists (or its node is gone); if it then
    goes on to time (it was not cancelled), it leaves ``MARKER.went-on``. Every attempt leaves a file in
    ``attempts``: ``GROUP-NODE-PID-NS``."""

    true_ms: dict[int, float]
    kinds: dict[str, dict[int, float]] = field(default_factory=dict)
    seed: int = 0
    hold: str | None = None
    marker: str | None = None
    release: str | None = None
    attempts: str | None = None

    def __call__(self, job: Job) -> tuple[Launch, Clock]:
        node = os.environ.get(NODE_ENV, "")
        if self.attempts is not None:
            Path(self.attempts, f"{job.index}-{node}-{os.getpid()}-{time.monotonic_ns()}").touch()
        held = self.hold == node and self.marker is not None and not Path(self.marker).exists()
        if held:
            assert self.marker is not None
            Path(self.marker).write_text(str(job.index))
            end = time.monotonic() + HOLD_S
            while time.monotonic() < end and not (self.release and Path(self.release).exists()):
                time.sleep(0.02)
        table = self.kinds.get(os.environ.get("FPNPROF_NODE_KIND", ""), self.true_ms)
        sim = SimMachine(lambda s: table[s.config.channels], seed=self.seed * 1009 + job.index, overhead_s=0.5, stall_p=0.0)
        if not held:
            return sim.launch, sim.clock
        went_on = Path(f"{self.marker}.went-on")

        def launch(worker: WorkerJob, env: dict[str, str]) -> WorkerReply:
            went_on.touch()  # the held task went on to time: it was not cancelled
            return sim.launch(worker, env)

        return launch, sim.clock


def attempts(folder: Path) -> list[tuple[int, str]]:
    """(group, node) of every task attempt a :class:`SimTimer` saw."""
    return [(int(p.name.split("-")[0]), p.name.split("-")[1]) for p in folder.iterdir()]


@dataclass(frozen=True)
class FakeCalibrator:
    """A "calibration" on the node: ``model`` (a fitted model's JSON) stamped with the node's
    fingerprint for ``backend`` on the CPU at ``threads`` and sealed again."""

    model: dict[str, Any]
    backend: str = "torch"
    threads: int = 1

    def __call__(self) -> dict[str, Any]:
        from dataclasses import replace

        from fpnprof.latency.model import machine_fingerprint, model_from_json

        model = model_from_json(self.model)
        return replace(model, fingerprint=machine_fingerprint(self.backend, "cpu", "eager", self.threads)).to_json()
