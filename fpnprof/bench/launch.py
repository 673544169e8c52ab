"""Starting worker processes: their environment, the JSON pipe, failures as one line, and what other
processes took while each one ran."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

from fpnprof.backends.common import EXPORT_CACHE
from fpnprof.bench.contention import cpu_sample, gpu_processes, load_between
from fpnprof.bench.protocol import CandidateReply, GroupJob, WarmReport, WorkerReply
from fpnprof.bench.spec import effective_threads
from fpnprof.errors import BackendUnavailable

WORKER_TIMEOUT_S = 3600
#: A worker still running this long after the run's cap is stopped (it plans to end before the cap;
#: this bounds a forward that ran far over its estimate).
CUT_GRACE_S = 1.0
#: How a worker is started (tests point this at a fake worker that crashes).
WORKER_COMMAND = [sys.executable, "-m", "fpnprof.bench.worker"]


def worker_env(threads_wanted: int, exports: str | None = None) -> dict[str, str]:
    """Threads (``--threads``; 0: every core) and Paddle's IR flag must be in the environment before the
    framework is imported; ``exports``: a folder the workers share deployment exports in."""
    env = dict(os.environ)
    threads = str(effective_threads(threads_wanted))
    env.update({"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "FLAGS_enable_pir_api": "0", "GLOG_minloglevel": "2"})
    if exports:
        env[EXPORT_CACHE] = exports
    return env


class WorkerCut(BackendUnavailable):
    """The worker ran past the run's cap and was stopped."""


def _send(stream: Any, line: str, *, close: bool) -> None:
    with contextlib.suppress(BrokenPipeError):  # a worker that died: its exit code says why
        stream.write(line + "\n")
        stream.flush()
        if close:
            stream.close()


def _read_lines(stream: Any, lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def call_worker(
    payload: dict[str, Any],
    env: dict[str, str],
    what: str,
    *,
    timeout_s: float = WORKER_TIMEOUT_S,
    on_event: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None,
) -> dict[str, Any]:
    """Run ``fpnprof.bench.worker`` on one job; its last JSON line is the answer, and each JSON line
    with an ``event`` key before it goes to ``on_event`` as it comes; where ``payload['ask']``, the
    worker waits for ``on_event``'s answer to its first event. A worker still running after
    ``timeout_s`` is stopped (:class:`WorkerCut` when that was the run's cap)."""
    stdout: list[str] = []
    with (
        tempfile.TemporaryFile("w+") as err,
        subprocess.Popen(WORKER_COMMAND, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True, env=env) as proc,
    ):
        lines: queue.Queue[str | None] = queue.Queue()
        reader = threading.Thread(target=_read_lines, args=(proc.stdout, lines), daemon=True)
        reader.start()
        end = time.monotonic() + timeout_s
        try:
            assert proc.stdin is not None
            asking = bool(payload.get("ask"))
            _send(proc.stdin, json.dumps(payload), close=not asking)
            while (line := lines.get(timeout=max(0.0, end - time.monotonic()))) is not None:
                stdout.append(line)
                if on_event is not None and line.startswith('{"event"'):
                    with contextlib.suppress(ValueError):  # a line cut short by a dying worker
                        answer = on_event(json.loads(line))
                        if asking:
                            _send(proc.stdin, json.dumps(answer or {}), close=True)
                            asking = False
            proc.wait(timeout=max(0.0, end - time.monotonic()))
        except BaseException as exc:  # past the time, Ctrl-C or SIGTERM: end the worker and reap it
            proc.kill()
            proc.wait()
            if isinstance(exc, (queue.Empty, subprocess.TimeoutExpired)):
                if timeout_s < WORKER_TIMEOUT_S:
                    raise WorkerCut(f"the {what} worker ran past the --max-time cap and was stopped") from None
                raise BackendUnavailable(f"the {what} worker ran over {WORKER_TIMEOUT_S} s and was stopped") from None
            raise
        err.seek(0)
        stderr = err.read()
    answers = [line for line in stdout if line.startswith("{") and not line.startswith('{"event"')]
    if proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name
        hint = " (out of memory? try a smaller --batch or --size)" if name == "SIGKILL" else ""
        raise BackendUnavailable(f"the {what} worker was killed by {name}{hint}")
    if proc.returncode != 0 or not answers:
        tail = (stderr.strip().splitlines() or [f"exit code {proc.returncode}, no output"])[-1]
        raise BackendUnavailable(f"the {what} worker failed: {tail}")
    result: dict[str, Any] = json.loads(answers[-1])
    if "error" in result and result["error"] is not None and "candidates" not in result:
        raise BackendUnavailable(result["error"])
    return result


def launch_group(job: GroupJob, env: dict[str, str]) -> WorkerReply:
    """One worker on ``job``, with the load other processes put on the machine meanwhile (and, on a
    GPU, the other processes the driver lists on it)."""
    first = job.specs[0]
    what = f"{first.backend} {first.device}"
    gpu = first.device == "gpu"
    others = gpu_processes() if gpu else None
    before, start = cpu_sample(), time.monotonic()
    payload = {**job.to_json(), "launched_at": time.time()}
    timeout = WORKER_TIMEOUT_S if job.time_left_s is None else job.time_left_s + CUT_GRACE_S
    on_warm = job.on_warm

    def on_event(event: dict[str, Any]) -> dict[str, Any] | None:
        if on_warm is not None and event.get("event") == "warm":
            return {"time": on_warm(WarmReport.from_json(event))}
        return None

    try:
        reply = WorkerReply.from_json(call_worker(payload, env, what, timeout_s=timeout, on_event=on_event))
    except WorkerCut:
        reply = WorkerReply([CandidateReply() for _ in job.specs], cut=True)
    except BackendUnavailable as exc:
        reply = WorkerReply.failed(str(exc), len(job.specs))
    reply.wall_s = time.monotonic() - start
    reply.load = load_between(before, cpu_sample(), reply.wall_s)
    if gpu:
        after = gpu_processes()
        reply.gpu_others = None if others is None or after is None else sorted(set(others) | set(after))
    return reply


def measure_peak(backend: str, device: str, threads: int, dtype: str) -> dict[str, Any]:
    """The framework's best matmul and copy rates, in a worker of their own (Paddle's best CPU
    matmul leaves oneDNN threads behind that would slow the rows measured beside it)."""
    payload = {"kind": "peak", "backend": backend, "device": device, "dtype": dtype, "threads": effective_threads(threads)}
    return call_worker(payload, worker_env(threads), f"{backend} {device} peak")
