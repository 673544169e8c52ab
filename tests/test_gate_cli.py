"""The gate from the command line, on a simulated machine: `bench NEW --against OLD --fail-if-slower PCT`
(a neck, FILE.toml@REV, or a stored run:ID), `compare --bench --fail-if-slower PCT`; the three exit
codes, the verdict in one line and in JSON; and the refusals, each one line with exit 2."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from cli_helpers import run
from sim_machine import SimMachine

import fpnprof.bench.runner
from fpnprof.bench.spec import BenchSpec
from fpnprof.model.neckfile import SHIPPED

FPN = (SHIPPED / "fpn-paper.toml").read_text()


@pytest.fixture(autouse=True)
def fresh_necks() -> None:
    """Each test is a fresh process as far as neck files go: neck.toml and neck.toml@HEAD are read anew."""
    from fpnprof.model.neckfile import _LOADED
    from fpnprof.model.parts import part_graph

    _LOADED.clear()
    part_graph.cache_clear()


def install(monkeypatch: pytest.MonkeyPatch, slow: dict[str, float], seed: int = 3) -> None:
    """A simulated machine: a neck's true ms is 20 times its factor in ``slow`` (1 where not named)."""

    def true_ms(spec: BenchSpec) -> float:
        name = spec.label or spec.config.neck
        return 20.0 * next((f for key, f in slow.items() if key in name), 1.0)

    sim = SimMachine(true_ms, bias_sd=0.01, seed=seed)
    monkeypatch.setattr(fpnprof.bench.runner, "launch_group", sim.launch)
    monkeypatch.setattr(fpnprof.bench.runner, "CLOCK", sim.clock)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository holding neck.toml at one commit (HEAD), the working copy then edited."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "neck.toml").write_text(FPN)
    for args in (["init", "-q"], ["add", "neck.toml"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"]):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)
    return tmp_path


def _gate(*args: str) -> tuple[int, dict, str]:  # type: ignore[type-arg]
    result = run("bench", *args, "--backend", "paddle", "--no-peak", "--no-history", "-f", "json")
    data = json.loads(result.stdout) if result.stdout.strip().startswith("{") else {}
    return result.exit_code, data, result.output


@pytest.mark.parametrize(("factor", "verdict", "code"), [(1.6, "slower", 1), (1.0, "not slower", 0)])
def test_bench_against_a_revision_gives_its_verdict_and_exit_code(
    repo: Path, monkeypatch: pytest.MonkeyPatch, factor: float, verdict: str, code: int
) -> None:
    install(monkeypatch, {"neck.toml@": 1.0, "neck.toml": factor})
    exit_code, data, output = _gate("neck.toml", "--against", "neck.toml@HEAD", "--fail-if-slower", "5")
    assert exit_code == code, output
    (judged,) = data["gate"]["verdicts"]
    assert judged["verdict"] == verdict and judged["baseline"] == "neck.toml@HEAD" and judged["paired"]
    assert data["gate"]["exit_code"] == code
    assert {r["neck"] for r in data["rows"]} == {"neck.toml", "neck.toml@HEAD"} and {r["part"] for r in data["rows"]} == {"neck"}


def test_a_neck_on_the_limit_is_inconclusive_with_the_time_that_would_settle_it(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, {"pafpn": 1.05})
    exit_code, data, output = _gate("pafpn", "--against", "fpn", "--fail-if-slower", "5", "--max-time", "20")
    assert exit_code == 3, output
    (judged,) = data["gate"]["verdicts"]
    assert judged["verdict"] == "inconclusive"
    assert "INCONCLUSIVE" in output and ("would settle it" in output or "cannot settle it" in output)


def test_compare_bench_judges_every_row_against_the_first(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, {"pafpn": 1.5})
    result = run(
        "compare", "fpn", "pafpn", "--bench", "--backend", "paddle", "--fail-if-slower", "5", "--no-history", "-f", "json"
    )
    assert result.exit_code == 1, result.output
    verdicts = json.loads(result.stdout)["gate"]["verdicts"]
    assert {v["verdict"] for v in verdicts if v["row"].startswith("pafpn")} == {"slower"}


@pytest.mark.parametrize(
    ("against", "message"),
    [
        ("neck.toml@nope", "no revision 'nope'"),
        ("gone.toml@HEAD", "gone.toml does not exist at revision 'HEAD'"),
    ],
)
def test_a_revision_that_cannot_be_read_is_one_line(repo: Path, against: str, message: str) -> None:
    exit_code, _, output = _gate("neck.toml", "--against", against, "--fail-if-slower", "5")
    assert exit_code == 2 and message in output and len(output.strip().splitlines()) == 1, output


def test_a_revision_outside_a_repository_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "neck.toml").write_text(FPN)
    exit_code, _, output = _gate("neck.toml", "--against", "neck.toml@HEAD", "--fail-if-slower", "5")
    assert exit_code == 2 and "is not inside a git repository" in output and len(output.strip().splitlines()) == 1, output


def test_against_a_stored_run_is_unpaired_and_refused_from_another_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = tmp_path / "history.sqlite"
    install(monkeypatch, {"pafpn": 1.4}, seed=5)
    stored = run("bench", "fpn", "--part", "neck", "--backend", "paddle", "--no-peak", "--history", str(history), "-f", "json")
    assert stored.exit_code == 0, stored.output
    listed = run("history", "--history", str(history), "-f", "json")
    (stored_row,) = json.loads(listed.stdout)["results"]
    run_id = stored_row["run_id"]
    install(monkeypatch, {"pafpn": 1.4}, seed=6)
    result = run(
        "bench", "pafpn", "--against", f"run:{run_id}", "--fail-if-slower", "5", "--backend", "paddle", "--no-peak",
        "--history", str(history), "-f", "json",
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    gate = json.loads(result.stdout)["gate"]
    (judged,) = gate["verdicts"]
    assert gate["unpaired"] and not judged["paired"] and judged["verdict"] == "slower"
    assert judged["high"] / judged["low"] > 1.0
    # the same stored row, said to come from another CPU: refused, unless --force (then flagged)
    import sqlite3

    with sqlite3.connect(history) as conn:
        tables = [r[0] for r in conn.execute("select name from sqlite_master where type='table'")]
        runs_table = next(t for t in tables if "run" in t and "row" not in t)
        info_column = next(c[1] for c in conn.execute(f"pragma table_info({runs_table})") if "machine_info" in c[1])
        for key, info in conn.execute(f"select rowid, {info_column} from {runs_table}").fetchall():
            other = {**json.loads(info), "cpu": "Another CPU"}
            conn.execute(f"update {runs_table} set {info_column} = ? where rowid = ?", (json.dumps(other), key))
    refused = run(
        "bench", "pafpn", "--against", f"run:{run_id}", "--fail-if-slower", "5", "--backend", "paddle", "--history", str(history)
    )
    assert refused.exit_code == 2 and "cpu Another CPU then" in refused.output, refused.output
    assert len(refused.output.strip().splitlines()) == 1
    forced = run(
        "bench", "pafpn", "--against", f"run:{run_id}", "--fail-if-slower", "5", "--force", "--backend", "paddle",
        "--no-peak", "--history", str(history), "-f", "json",
    )  # fmt: skip
    assert forced.exit_code == 1, forced.output
    assert "another machine or versions (--force): cpu Another CPU then" in json.loads(forced.stdout)["gate"]["flags"][0]


def test_a_stored_run_from_another_setup_is_refused_before_anything_is_timed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = tmp_path / "history.sqlite"
    install(monkeypatch, {}, seed=5)
    stored = run(
        "bench", "fpn", "--part", "neck", "--backend", "paddle", "--no-peak", "--threads", "1", "--history", str(history)
    )
    assert stored.exit_code == 0, stored.output

    def no_timing(*args: object) -> None:
        raise AssertionError("timed before refusing")

    monkeypatch.setattr(fpnprof.bench.runner, "launch_group", no_timing)
    refused = run(
        "bench",
        "pafpn",
        "--against",
        "run:1",
        "--fail-if-slower",
        "5",
        "--threads",
        "2",
        "--backend",
        "paddle",
        "--history",
        str(history),
    )
    assert refused.exit_code == 2 and "threads 1 then, 2 now" in refused.output, refused.output
    typo = run("bench", "pafpn", "--against", "run:abc", "--fail-if-slower", "5", "--history", str(history))
    assert typo.exit_code == 2 and "run:ID or run:ID:ROW" in typo.output, typo.output


def test_ages_say_their_unit() -> None:
    from fpnprof.errors import ConfigError
    from fpnprof.history.dates import parse_when

    assert parse_when("30min", "--before", now=10_000.0) == 10_000.0 - 1800
    with pytest.raises(ConfigError, match="30min, 12h, 7d, 2w"):
        parse_when("1m", "--before")
