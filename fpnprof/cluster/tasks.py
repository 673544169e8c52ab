"""What runs on a node, as Ray tasks: say what the node is, time a group, calibrate a latency model.

A task runs its work in a thread of its own and waits on it in short steps, so that Ray's cancel (a
KeyboardInterrupt in the task's main thread, delivered between steps) reaches it at once: the work is
told to start no more worker processes, the ones running are killed and reaped, and the task ends.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from fpnprof.bench.launch import launch_group
from fpnprof.bench.protocol import GroupJob as WorkerJob
from fpnprof.bench.protocol import WorkerReply
from fpnprof.bench.runner import BenchRun, run_bench
from fpnprof.cluster.kinds import NodeIdentity, this_node
from fpnprof.cluster.plan import Job, Timer
from fpnprof.cluster.results import GroupResult, sent_row
from fpnprof.errors import FpnprofError
from fpnprof.model.neckfile import adopt_neck_text

#: How often a task's main thread looks up from waiting (Ray's cancel lands between looks).
STEP_S = 0.1
#: Seconds a cancelled task waits for its work to wind down before it ends anyway.
CANCEL_GRACE_S = 5.0
#: The priority a plain run times at. Ray starts its workers niced (``worker_niceness``, 15), and the
#: worker processes a task launches inherit it: on a node where anything else runs, they would lose
#: the CPU to it as a plain run does not.
TIMING_NICENESS = 0

T = TypeVar("T")


class Calibrator(Protocol):
    """Makes a latency model on the node it runs on and returns it as its sealed JSON (the model
    file's content). Must pickle: it travels to a node of each kind (tests send a fake)."""

    def __call__(self) -> dict[str, Any]: ...


def _node_id() -> str:
    import ray

    return str(ray.get_runtime_context().get_node_id())


@functools.lru_cache(maxsize=8)
def _identity(backend: str, device: str) -> NodeIdentity:
    return this_node(backend, device)


def identify(backend: str, device: str) -> dict[str, Any]:
    """This node's id and identity (:class:`~fpnprof.cluster.kinds.NodeIdentity`), or the line that
    says why it cannot time (a bad ``FPNPROF_NODE_KIND``)."""
    try:
        return {"node_id": _node_id(), "identity": _identity(backend, device).to_json()}
    except FpnprofError as exc:
        return {"node_id": _node_id(), "error": str(exc)}


def _children() -> list[int]:
    """This process's child processes (every thread's), from /proc."""
    pids: list[int] = []
    for task in Path("/proc/self/task").glob("*/children"):
        with contextlib.suppress(OSError):
            pids += [int(p) for p in task.read_text().split()]
    return pids


def timing_priority() -> int:
    """Raise this task's process (and so the worker processes it starts) back to a plain run's
    priority where the node allows it (root, or a nice limit that admits it); the niceness it times at."""
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, TIMING_NICENESS)
    return os.getpriority(os.PRIO_PROCESS, 0)


def niced_note(node: str, niceness: int) -> str:
    """The line that says a node timed below a plain run's priority, and how to stop it."""
    return (
        f"! node {node} timed at niceness {niceness}, below a plain run's (Ray starts its workers niced and this one "
        "may not raise itself): anything else running there takes the CPU first; start Ray there with "
        "RAY_worker_niceness=0 in its environment"
    )


def run_cancellable(work: Callable[[], T], cancelled: threading.Event) -> T:
    """``work()`` in a thread, waited on in steps of :data:`STEP_S`; on a KeyboardInterrupt (Ray's
    cancel) ``cancelled`` is set, child processes (bench workers) are killed, and it is raised again."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = work()
        except BaseException as exc:  # handed to the waiting thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="fpnprof-task", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(STEP_S)
    except BaseException:
        cancelled.set()
        for pid in _children():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        thread.join(CANCEL_GRACE_S)
        raise
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value


def time_group(job: Job, timer: Timer | None = None) -> GroupResult:
    """Time the job's rows (the baseline first) side by side on this node, as ``bench`` does: paired
    rounds in fresh worker processes until every ratio's interval is within the precision or the cap
    is spent. ``timer``: where to time (real worker processes without one). A refusal (fpnprof's one
    line: out of memory, say) comes back as every row's error."""
    start = time.monotonic()
    for name, text in job.neck_texts.items():
        adopt_neck_text(name, text)
    identity = _identity(job.setup.backend, job.setup.device)
    niceness = timing_priority()
    cancelled = threading.Event()

    def work() -> BenchRun:
        launch, clock = timer(job) if timer is not None else (launch_group, None)

        def launch_unless_cancelled(worker: WorkerJob, env: dict[str, str]) -> WorkerReply:
            if cancelled.is_set():
                return WorkerReply.failed("cancelled", len(worker.specs))
            return launch(worker, env)

        base = job.timed[0]
        return run_bench(
            job.specs,
            job.setup.measurement,
            baseline=(base.label, base.config.variant),
            peaks=False,
            launch=launch_unless_cancelled,
            clock=clock,
        )

    try:
        run = run_cancellable(work, cancelled)
    except FpnprofError as exc:
        rows = [{"neck": item.label, "error": str(exc)} for item in job.timed]
        return GroupResult(job.index, _node_id(), identity, rows, time.monotonic() - start, 0, niceness)
    rows = [sent_row(r) for r in run.rows]
    return GroupResult(job.index, _node_id(), identity, rows, time.monotonic() - start, run.workers, niceness)


def calibrate_here(calibrator: Calibrator, backend: str, device: str) -> dict[str, Any]:
    """Calibrate a latency model on this node: the node's id and identity, the model's JSON, the seconds."""
    start = time.monotonic()
    identity = _identity(backend, device)
    niceness = timing_priority()
    model = run_cancellable(calibrator, threading.Event())
    return {
        "node_id": _node_id(),
        "identity": identity.to_json(),
        "model": model,
        "seconds": time.monotonic() - start,
        "niceness": niceness,
    }
