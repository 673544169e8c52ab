"""A simulated machine with a known answer, for calibrating the latency estimator and the stopping
rule without timing anything real.

Each candidate has a true time. A worker process draws its own bias per candidate (log-normal, sd
``bias_sd``); the machine's speed drifts slowly (two slow sinusoids with random phases, amplitude
``drift``) and every candidate sees that drift alike; every run gets heavy-tailed noise (Student's t
with 3 degrees of freedom, scale ``noise_sd``) and, with probability ``stall_p``, a stall that makes
it 1.5-4x slower; with ``order_bias``, a candidate is slower the later the worker builds it.
Starting a worker costs ``overhead_s`` of simulated time. The worker's own code (build order,
warm-up, balanced shuffled rounds) is fpnprof's, run on simulated runners.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fpnprof.bench.protocol import CandidateReply, GroupJob, WorkerReply
from fpnprof.bench.spec import BenchSpec
from fpnprof.bench.timers import Runner
from fpnprof.bench.warmup import warm_up
from fpnprof.bench.worker import _Built, build_in_shuffled_order, time_group, warm_report


@dataclass
class SimClock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


class _SimTimer:
    def __init__(self, machine: SimMachine, true_ms: float, bias: float) -> None:
        self.machine, self.true_ms, self.bias = machine, true_ms, bias

    def time(self, fn: Callable[[], Any]) -> float:
        return self.machine.run(self.true_ms * self.bias)


@dataclass
class SimMachine:
    """``true_ms``: each candidate's true milliseconds, by label (or neck), or a function of its spec;
    see the module docstring for the rest."""

    true_ms: dict[str, float] | Callable[[BenchSpec], float]
    bias_sd: float = 0.01
    noise_sd: float = 0.03
    drift: float = 0.15
    drift_period_s: float = 90.0
    stall_p: float = 0.01
    overhead_s: float = 3.0
    #: the k-th candidate a worker builds runs (1 + order_bias * k) times its true time
    order_bias: float = 0.0
    seed: int = 0
    clock: SimClock = field(default_factory=SimClock)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.phases = [self.rng.uniform(0, 2 * math.pi) for _ in range(2)]

    def speed(self) -> float:
        t = self.clock.now / self.drift_period_s
        return 1 + self.drift * (
            0.6 * math.sin(2 * math.pi * t + self.phases[0]) + 0.4 * math.sin(2 * math.pi * t / 3.7 + self.phases[1])
        )

    def run(self, ms: float) -> float:
        """One run of ``ms`` (biased) milliseconds on the machine as it is now."""
        noise = math.exp(self.noise_sd * self.rng.gauss(0, 1) / math.sqrt(self.rng.gammavariate(1.5, 1 / 1.5)))
        stall = self.rng.uniform(1.5, 4.0) if self.rng.random() < self.stall_p else 1.0
        taken = ms * self.speed() * noise * stall
        self.clock.now += taken / 1e3
        return taken

    def launch(self, job: GroupJob, env: dict[str, str] | None = None) -> WorkerReply:
        """A worker process on this machine: its biases, its warm-up, its rounds."""
        start = self.clock.now
        self.clock.now += self.overhead_s

        position = iter(range(len(job.specs)))

        def build(spec: BenchSpec) -> _Built:
            bias = math.exp(self.rng.gauss(0, self.bias_sd)) * (1 + self.order_bias * next(position))
            truth = self.true_ms(spec) if callable(self.true_ms) else self.true_ms[spec.label or spec.config.neck]
            runner = Runner(lambda: None, _SimTimer(self, truth, bias))
            estimate = warm_up(runner.step_ms, spec.warmup)[-1]
            info = {"threads": spec.effective_threads, "device_name": "sim", "framework": "sim 1.0", "math_mode": {}}
            return _Built(runner, estimate, CandidateReply(info=info, peak_mem_kind="cpu rss growth"))

        left = job.time_left_s

        def time_left_s() -> float:
            assert left is not None
            return start + left - self.clock.now

        timer = time_left_s if left is not None else None
        built = build_in_shuffled_order(build, job, timer, clock=self.clock)
        timed = job.on_warm(warm_report(built, self.clock.now - start)) if job.on_warm is not None else None
        reply = time_group(built, job, None, timer, timed)
        reply.wall_s = self.clock.now - start
        return reply
