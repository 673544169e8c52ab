"""The bench plans its --max-time: from the first warm-up it prices every row, says before any
round what the cap gives and what --max-time would give every row an interval, keeps to the cap, and
its footer says only what the rows show. Driven by the simulated machine of the calibration tests."""

from __future__ import annotations

import re
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from fake_rows import fake_bench_run, fake_row
from sim_machine import SimMachine

import fpnprof.bench.launch
import fpnprof.bench.paired
import fpnprof.bench.runner
import fpnprof.bench.worker
from fpnprof.bench.estimate import MIN_CI_WORKERS
from fpnprof.bench.paired import RoundPlan, round_count, runs_per_round
from fpnprof.bench.protocol import GroupJob
from fpnprof.bench.runner import Measurement, run_bench
from fpnprof.bench.schedule import Progress
from fpnprof.bench.spec import BenchSpec
from fpnprof.model.config import NeckConfig
from fpnprof.report.bench_report import bench_report, run_note

# The default bench on the 2-core machine ("AMD EPYC", 2026-12-07): milliseconds of a warm forward.
SLOW = {
    ("fpn", "neck"): 380.0,
    ("fpn", "backbone"): 270.0,
    ("fpn", "total"): 650.0,
    ("pafpn", "neck"): 900.0,
    ("pafpn", "backbone"): 270.0,
    ("pafpn", "total"): 1400.0,
    ("bifpn", "neck"): 5100.0,
    ("bifpn", "backbone"): 270.0,
    ("bifpn", "total"): 6400.0,
}
SPECS = [
    BenchSpec(config=NeckConfig(neck, size=64, batch=2), part=part)
    for neck in ("fpn", "pafpn", "bifpn")
    for part in ("neck", "backbone", "total")
]


def slow_machine(seed: int) -> SimMachine:
    return SimMachine(lambda s: SLOW[(s.config.neck, s.part)], overhead_s=3.0, stall_p=0.0, seed=seed)


def bench(
    sim: SimMachine, max_time: float, notices: list[tuple[float, str]] | None = None, peaks: bool = False
) -> list[dict[str, object]]:
    def on_progress(p: Progress) -> None:
        if p.notice and notices is not None:
            notices.append((sim.clock.now, p.notice))

    m = Measurement(max_time_s=max_time)
    run = run_bench(SPECS, m, launch=sim.launch, clock=sim.clock, peaks=peaks, on_progress=on_progress)
    assert run.seconds <= max_time + 1e-9, f"ran {run.seconds:.1f} s past its {max_time} s cap"
    return run.rows  # type: ignore[return-value]


@pytest.mark.parametrize("peaks", [False, True])
def test_slow_rows_are_planned_before_any_round_and_the_max_time_it_names_gives_every_row_an_interval(
    monkeypatch: pytest.MonkeyPatch, peaks: bool
) -> None:
    """The first worker's warm-up prices the rows; the notice comes before its first timed round,
    says the 75 s cannot give every row an interval and names the --max-time that does; that
    --max-time then does (the same machine, five seeds), with the peaks measured or not."""
    monkeypatch.setattr(fpnprof.bench.runner, "measure_peak", lambda *key: {"matmul_gflops": 100.0, "copy_gbytes_per_s": 10.0})
    first_round: list[float] = []
    sims: list[SimMachine] = []
    real_rounds = fpnprof.bench.paired.run_rounds

    def rounds(*args: object, **kwargs: object) -> object:
        first_round.append(sims[-1].clock.now)
        return real_rounds(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(fpnprof.bench.worker, "run_rounds", rounds)
    for seed in range(5):
        first_round.clear()
        sims.append(slow_machine(seed))
        notices: list[tuple[float, str]] = []
        rows = bench(sims[-1], 75.0, notices, peaks)
        assert len(notices) == 1 and notices[0][0] <= first_round[0], "the plan came after the first round"
        found = re.search(r"intervals on every row need about (\d+) s here \(--max-time (\d+)\)", notices[0][1])
        assert found is not None and found[1] == found[2], notices[0][1]
        assert any("ci95_half_pct" not in r or r["ci95_half_pct"] is None for r in rows)
        sims.append(slow_machine(seed))
        rows = bench(sims[-1], float(found[1]), peaks=peaks)
        assert all(r.get("ci95_half_pct") is not None and r["workers"] >= MIN_CI_WORKERS for r in rows), [  # type: ignore[operator]
            (r["neck"], r["part"], r.get("workers")) for r in rows
        ]


@pytest.mark.parametrize("max_time", [8.0, 20.0, 40.0, 75.0])
def test_max_time_holds_and_every_row_has_an_estimate_or_is_said_not_timed(max_time: float) -> None:
    rows = bench(slow_machine(1), max_time)
    run = fake_bench_run(rows, seconds=max_time, measurement=Measurement(max_time_s=max_time))  # type: ignore[arg-type]
    run.extra["stopped"] = "cap"
    note = run_note(run)
    untimed = [r for r in rows if "median_ms" not in r]
    assert (f"{len(untimed)} rows not timed" in note) == (len(untimed) > 1)
    text = " ".join(bench_report(run).notes)
    assert all(f"{r['neck']} (tutorial) {r['part']}" in text.split("not timed within")[1] for r in untimed)
    assert ("what to do: give it more time" in text) == bool(untimed or any(r.get("flags") for r in rows))


def test_a_fast_group_is_not_planned_down_or_parted() -> None:
    """Rows that fit are measured as before: one group, paired, every interval, no notice."""
    sim = SimMachine(lambda s: 5.0 if s.part == "neck" else 9.0, overhead_s=3.0, seed=3)
    notices: list[tuple[float, str]] = []
    rows = bench(sim, 75.0, notices)
    assert notices == []
    assert {r["group"] for r in rows} == {0} and all(r.get("ci95_half_pct") is not None for r in rows)


def test_a_slow_round_runs_once_per_worker_and_a_fast_one_is_balanced() -> None:
    plan = RoundPlan()
    slow = list(SLOW.values())  # a round of the nine is 15.6 s: one run each, one round
    assert runs_per_round(slow, plan.budget_ms) == [1] * 9
    assert round_count(plan, [1] * 9, slow) == 1
    fast = [2.0, 5.0, 10.0]
    assert runs_per_round(fast, plan.budget_ms) == [5, 2, 1] and round_count(plan, [5, 2, 1], fast) == 60  # capped at max_rounds


def test_a_worker_past_the_cap_is_stopped_and_the_run_ends(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A worker that overruns its plan (here: one that never answers) is stopped just after the cap."""
    hang = tmp_path / "hang.py"
    hang.write_text("import time\ntime.sleep(60)\n")
    monkeypatch.setattr(fpnprof.bench.launch, "WORKER_COMMAND", [sys.executable, str(hang)])
    job = GroupJob([replace(SPECS[0], part="neck")], RoundPlan(), time_left_s=1.0)
    begun = time.monotonic()
    reply = fpnprof.bench.launch.launch_group(job, {})
    assert reply.cut and reply.error is None and not any(c.rounds for c in reply.candidates)
    assert time.monotonic() - begun < 1.0 + fpnprof.bench.launch.CUT_GRACE_S + 5


def test_the_footer_says_only_what_the_rows_show() -> None:
    """A row without an interval never sits under 'every interval within', and 'give it more time'
    is said only where the cap stopped the run; an unresolved ratio shows its estimate."""
    base = fake_row("fpn", 10.0, ratio=1.0, ratio_ci95=[1.0, 1.0], resolved=True)
    lone = fake_row("bifpn", 30.0, ratio=1.35, ratio_ci95=[1.345, 1.355], ratio_half_pct=0.4, resolved=False)
    lone["ci95_half_pct"], lone["workers"] = None, 2
    lone["ci_reason"] = "2 worker processes: a 95% interval needs at least 3"
    from fpnprof.bench.flags import flag_rows

    flag_rows([base, lone], [0, 0], 0.025)
    run = fake_bench_run([base, lone])
    run.extra["stopped"] = "cap"
    notes = bench_report(run).notes
    text = "\n".join(notes)
    assert "every interval within" not in text
    assert "1 row with an estimate but no interval" in text and "give it more time" in text
    assert "~1.35x ±0.4% is within the target, but from 2 workers" in text
    run.extra["stopped"] = "workers"
    text = "\n".join(bench_report(run).notes)
    assert "give it more time" not in text and "every interval within" not in text


def test_a_run_is_said_to_have_met_its_precision_only_when_every_row_has_an_interval() -> None:
    """The baseline row of a ratio is 'resolved' by definition (1.00x); without an interval of its own
    the run did not meet --precision, whatever the ratios say."""
    from fpnprof.bench.runner import _why_stopped
    from fpnprof.bench.schedule import Schedule, StopRule

    base = fake_row("fpn", 10.0, ratio=1.0, ratio_ci95=[1.0, 1.0], resolved=True)
    other = fake_row("bifpn", 30.0, ratio=3.0, ratio_ci95=[2.99, 3.01], resolved=True)
    schedule = Schedule(1, [], StopRule())
    assert _why_stopped([base, other], schedule, Measurement()) == "precision"
    base["ci95_half_pct"] = None
    assert _why_stopped([base, other], schedule, Measurement()) == "cap"


@pytest.mark.parametrize("value", ["inf", "nan", "0", "-5"])
def test_max_time_must_be_a_finite_number_of_seconds(value: str) -> None:
    from cli_helpers import run

    result = run("bench", "fpn", "--max-time", value)
    assert result.exit_code == 2 and result.stderr.startswith("error: --max-time is a number of seconds above 0")
    assert "Traceback" not in result.output


def test_a_row_compared_with_no_other_is_resolved_by_its_own_interval() -> None:
    """One neck per comparison (here, each allocator's row is its own baseline): a ±4% interval
    against a ±2.5% target is unresolved, and the run is not said to have met its precision."""
    from fpnprof.bench.runner import _why_stopped
    from fpnprof.bench.schedule import Schedule, StopRule

    sim = SimMachine({"fpn": 10.0}, noise_sd=0.2, bias_sd=0.05, seed=2)
    spec = BenchSpec(config=NeckConfig("fpn", size=64, batch=2), part="neck")
    run = run_bench([spec], Measurement(max_time_s=12.0), launch=sim.launch, clock=sim.clock, peaks=False)
    row = run.rows[0]
    assert row["ci95_half_pct"] is not None and row["ci95_half_pct"] > 2.5, row.get("ci95_half_pct")
    assert row["resolved"] is False
    assert _why_stopped(run.rows, Schedule(1, [], StopRule()), Measurement()) != "precision"
