"""Starting worker processes: their environment, the JSON pipe, failures as one line, and what other
processes took while each one ran."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

from fpnprof.backends.common import EXPORT_CACHE
from fpnprof.bench.contention import cpu_sample, gpu_processes, load_between
from fpnprof.bench.protocol import GroupJob, WorkerReply
from fpnprof.bench.spec import effective_threads
from fpnprof.errors import BackendUnavailable

WORKER_TIMEOUT_S = 3600
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


def call_worker(payload: dict[str, Any], env: dict[str, str], what: str) -> dict[str, Any]:
    """Run ``fpnprof.bench.worker`` on one job; its last JSON line is the answer."""
    with subprocess.Popen(
        WORKER_COMMAND, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as proc:
        try:
            stdout, stderr = proc.communicate(json.dumps(payload), timeout=WORKER_TIMEOUT_S)
        except BaseException as exc:  # a timeout, Ctrl-C or SIGTERM: end the worker and reap it
            proc.kill()
            proc.wait()
            if isinstance(exc, subprocess.TimeoutExpired):
                raise BackendUnavailable(f"the {what} worker ran over {WORKER_TIMEOUT_S} s and was stopped") from None
            raise
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name
        hint = " (out of memory? try a smaller --batch or --size)" if name == "SIGKILL" else ""
        raise BackendUnavailable(f"the {what} worker was killed by {name}{hint}")
    if proc.returncode != 0 or not lines:
        tail = (stderr.strip().splitlines() or [f"exit code {proc.returncode}, no output"])[-1]
        raise BackendUnavailable(f"the {what} worker failed: {tail}")
    result: dict[str, Any] = json.loads(lines[-1])
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
    try:
        reply = WorkerReply.from_json(call_worker(job.to_json(), env, what))
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
