"""Measured sweeps and calibration on a Ray cluster of three nodes on this machine (``ray.cluster_utils``,
one per test module: the head, kind ``a``; a node of kind ``b``, timing twice as slowly; a second node of
kind ``a`` added by the test that removes it). Tasks time on the simulated machine of the calibration
tests (:mod:`cluster_sim`), so the cluster's mechanics are what these tests time: every configuration
measured once, an A/A row as on one machine, a node lost mid-task, a rerun, Ctrl-C, kinds kept apart."""

from __future__ import annotations

import _thread
import json
import os
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray")

from cli_helpers import run  # noqa: E402
from cluster_sim import NODE_ENV, FakeCalibrator, SimTimer, attempts  # noqa: E402

import fpnprof.cluster.sweep  # noqa: E402
from fpnprof.bench.runner import Measurement  # noqa: E402
from fpnprof.cli.latency_commands import default_model_path  # noqa: E402
from fpnprof.cluster.calibrate import calibrate_on_cluster  # noqa: E402
from fpnprof.cluster.connect import ClusterOption  # noqa: E402
from fpnprof.cluster.kinds import KIND_ENV, kind_model_path  # noqa: E402
from fpnprof.cluster.plan import TimingSetup  # noqa: E402
from fpnprof.cluster.report import cluster_sweep_report  # noqa: E402
from fpnprof.cluster.store import HistoryResults, JsonlResults  # noqa: E402
from fpnprof.cluster.sweep import ClusterSweep, sweep_on_cluster  # noqa: E402
from fpnprof.cost.sweep import SweepRow, pareto_front, run_sweep  # noqa: E402
from fpnprof.history.store import HistoryStore  # noqa: E402
from fpnprof.model.config import NeckConfig  # noqa: E402
from fpnprof.model.neckfile import locate  # noqa: E402

TESTS = str(Path(__file__).parent)
#: The simulated necks' true ms, by channels; on kind b's nodes each takes longer, the wider ones more
#: so (its ratios are its own: 1.8x where kind a's are 1.4x).
TRUE_MS = {16: 10.0, 24: 14.0, 32: 19.0, 40: 25.0, 48: 32.0, 56: 40.0}
KINDS = {"a": TRUE_MS, "b": {16: 20.0, 24: 36.0, 32: 56.0, 40: 80.0, 48: 108.0, 56: 140.0}}
SETUP = TimingSetup("paddle", "cpu", threads=1, warmup=1, measurement=Measurement(max_time_s=60.0))
HERE = ClusterOption("ray", None)


def node_env(kind: str, name: str) -> dict[str, str]:
    return {KIND_ENV: kind, NODE_ENV: name, "PYTHONPATH": os.pathsep.join(filter(None, [TESTS, os.environ.get("PYTHONPATH")]))}


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """The cluster, with its files in a short folder of its own (a socket's path must stay under 108
    bytes, which the test session's nested temporary folders pass under xdist)."""
    from ray.cluster_utils import Cluster

    folder = tempfile.mkdtemp(prefix="fpr-", dir="/tmp" if os.path.isdir("/tmp") else None)
    before = os.environ.get("RAY_TMPDIR")
    os.environ["RAY_TMPDIR"] = folder
    made = None
    try:
        made = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "env_vars": node_env("a", "a1")})
        made.add_node(num_cpus=1, env_vars=node_env("b", "b1"))
        ray.init(address=made.address, logging_level="ERROR", log_to_driver=False)
        yield made
    finally:
        ray.shutdown()
        if made is not None:
            made.shutdown()
        os.environ.pop("RAY_TMPDIR") if before is None else os.environ.update(RAY_TMPDIR=before)
        shutil.rmtree(folder, ignore_errors=True)


def sweep_rows(folder: Path | None = None, twins: int = 0) -> list[SweepRow]:
    """Six widths of the tutorial FPN, then the baseline again as its shipped file (the same graph:
    an A/A row, with a key of its own), and ``twins`` more A/A rows: copies of that file in ``folder``."""
    configs = [NeckConfig("fpn", channels=c, size=32, batch=1) for c in TRUE_MS]
    configs.append(NeckConfig("fpn-tutorial.toml", variant="paper", channels=16, size=32, batch=1))
    if twins:
        assert folder is not None
        text = locate("fpn-tutorial.toml").read_text()
        for n in range(twins):
            (folder / f"fpn-twin{n}.toml").write_text(text)
            configs.append(NeckConfig(str(folder / f"fpn-twin{n}.toml"), variant="paper", channels=16, size=32, batch=1))
    return run_sweep(configs, workers=1)


def timer(tmp_path: Path, **kwargs: Any) -> SimTimer:
    folder = tmp_path / "attempts"
    folder.mkdir(exist_ok=True)
    return SimTimer(TRUE_MS, KINDS, attempts=str(folder), **kwargs)


def once_each(sweep: ClusterSweep) -> Counter[int]:
    return Counter(item.index for item, _ in sweep.results)


def jsonl_keys(path: Path) -> list[str]:
    return [json.loads(line)["key"] for line in path.read_text().splitlines() if line.strip()]


def test_every_configuration_is_measured_once_paired_on_its_node_and_an_aa_row_holds_one(cluster: Any, tmp_path: Path) -> None:
    """Seven configurations and five more A/A rows (the baseline's graph under other names) in groups
    of three on kind a's node: each measured once, in one attempt of its group; each A/A row's ratio
    near 1 and its interval holding 1.00 as on one machine (at least 5 of the 6, as 95% intervals
    should: README, Reading latency)."""
    rows = sweep_rows(tmp_path, twins=5)
    store = JsonlResults(tmp_path / "results.jsonl")
    sim = timer(tmp_path)
    sweep = sweep_on_cluster(rows, SETUP, HERE, node_kind="a", store=store, timer=sim, size=3)
    assert sweep.groups == 4 and not sweep.missing, sweep.missing
    assert once_each(sweep) == Counter(range(len(rows))), "a configuration measured other than once"
    niced = [n for n in sweep.notes if "niceness" in n]  # Ray's workers start niced; a task raises itself where it may
    assert bool(niced) == (os.geteuid() != 0), niced
    assert Counter(group for group, _ in attempts(tmp_path / "attempts")) == Counter(range(4)), "a group ran twice"
    keys = jsonl_keys(tmp_path / "results.jsonl")
    assert len(keys) == len(set(keys)) == len(rows) == sweep.stored, keys
    results = {item.index: m for item, m in sweep.results}
    assert {m.kind for m in results.values()} == {"a"}
    assert results[0].ratio == 1.0, "configuration 1 is the baseline"
    twins = [results[i] for i in range(len(TRUE_MS), len(rows))]
    held = [m.ratio_low is not None and m.ratio_high is not None and m.ratio_low <= 1.0 <= m.ratio_high for m in twins]
    shown = [f"{m.ratio:.3f} [{m.ratio_low:.3f}-{m.ratio_high:.3f}]" for m in twins if m.ratio and m.ratio_low and m.ratio_high]
    assert sum(held) >= 5, f"A/A intervals holding 1.00: {sum(held)} of {len(twins)}: {shown}"
    for index, m in results.items():  # each ratio is the node's own pairing: near the true one
        truth = TRUE_MS[rows[index].config.channels] / TRUE_MS[16]
        assert m.ratio is not None and abs(m.ratio / truth - 1) < 0.05, (index, m.ratio, truth)


def test_a_rerun_skips_everything_stored_and_measures_nothing(cluster: Any, tmp_path: Path) -> None:
    rows = sweep_rows()
    store = HistoryResults(tmp_path / "history.sqlite")
    first = sweep_on_cluster(rows, SETUP, HERE, node_kind="a", store=store, timer=timer(tmp_path), size=4)
    assert first.stored == len(rows) and first.skipped == 0
    said: list[str] = []
    again = sweep_on_cluster(
        rows, SETUP, HERE, node_kind="a", store=store, timer=timer(tmp_path), on_progress=lambda p: said.append(p.notice or "")
    )
    assert again.skipped == len(rows) and again.stored == 0 and again.groups == 0
    assert once_each(again) == Counter(range(len(rows))) and all(m.stored for _, m in again.results)
    assert f"resumed: {len(rows)} of {len(rows)} configurations are stored" in " ".join(said)
    assert len(attempts(tmp_path / "attempts")) == 2, "the rerun started a task"
    with HistoryStore.open(tmp_path / "history.sqlite") as db:  # type: ignore[union-attr]
        keys = [r[0] for r in db.conn.execute("SELECT key FROM results")]
    assert len(keys) == len(set(keys)) == len(rows)


def test_a_node_removed_mid_task_loses_nothing_and_stores_nothing_twice(cluster: Any, tmp_path: Path) -> None:
    """A second node of kind a holds its first task until the test removes the node: Ray runs that
    task again on the head (kind a), and its group is stored once."""
    doomed = cluster.add_node(num_cpus=1, env_vars=node_env("a", "a2"))
    marker = tmp_path / "held"
    sim = timer(tmp_path, hold="a2", marker=str(marker))
    store = JsonlResults(tmp_path / "results.jsonl")
    rows = sweep_rows()
    done: list[ClusterSweep] = []
    runner = threading.Thread(
        target=lambda: done.append(sweep_on_cluster(rows, SETUP, HERE, node_kind="a", store=store, timer=sim, size=2))
    )
    runner.start()
    end = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < end:
        time.sleep(0.02)
    assert marker.exists(), "no task started on the second node"
    cluster.remove_node(doomed)
    runner.join(90)
    assert done, "the sweep did not end after its node was removed"
    sweep = done[0]
    held = int(marker.read_text())
    tries = [node for group, node in attempts(tmp_path / "attempts") if group == held]
    assert sorted(tries) == ["a1", "a2"], f"group {held} ran on {tries}: not retried on another node of its kind"
    assert not sweep.missing and once_each(sweep) == Counter(range(len(rows)))
    keys = jsonl_keys(tmp_path / "results.jsonl")
    assert len(keys) == len(set(keys)) == len(rows), keys


def test_nodes_of_different_kinds_are_never_compared(cluster: Any, tmp_path: Path) -> None:
    """Kind b times each neck more slowly, the wider ones more so: every ratio is over the baseline
    timed on its own node (its own kind's ratio), and each kind's front is its own rows' alone. A sweep
    without --node-kind sends groups to both kinds; measured on each kind in turn (--node-kind), the
    same configurations then show in a section per kind, where one front over both would differ."""
    rows = sweep_rows()
    mixed = sweep_on_cluster(rows, SETUP, HERE, timer=timer(tmp_path), size=1)
    assert {m.kind for _, m in mixed.results} == {"a", "b"} and once_each(mixed) == Counter(range(len(rows)))
    store = JsonlResults(tmp_path / "results.jsonl")
    for kind in KINDS:
        sweep_on_cluster(rows, SETUP, HERE, node_kind=kind, store=store, timer=timer(tmp_path))
    both = sweep_on_cluster(rows, SETUP, HERE, store=store, timer=timer(tmp_path))
    assert both.skipped == len(rows) and Counter(m.kind for _, m in both.results) == {"a": len(rows), "b": len(rows)}
    for item, m in [*mixed.results, *both.results]:
        table = KINDS[m.kind]
        # the machine drifts up to 15%: a baseline from the other kind would be off by 2x
        assert m.baseline_ms is not None and abs(m.baseline_ms / table[16] - 1) < 0.3, (m.kind, m.baseline_ms)
        truth = table[item.config.channels] / table[16]
        assert m.ratio is not None and abs(m.ratio / truth - 1) < 0.05, f"kind {m.kind}: ratio {m.ratio:.3f}, its own {truth:.3f}"
    report = cluster_sweep_report(both, ["channels"])
    assert [s.title.split()[2] for s in report.sections] == ["a", "b"]
    for section in report.sections:
        kind = section.title.split()[2]
        assert {r["kind"] for r in section.rows} == {kind}
        expected = pareto_front([(r["ratio"], -r["params"]) for r in section.rows])
        assert [r["pareto"] for r in section.rows] == expected, f"kind {kind}'s front is not its own rows'"
    rows_of = [r for section in report.sections for r in section.rows]
    one_front = pareto_front([(r["ratio"], -r["params"]) for r in rows_of])
    assert one_front != [r["pareto"] for r in rows_of], "this data cannot tell one front over both kinds from one per kind"


def test_ctrl_c_cancels_the_tasks_and_keeps_what_is_stored(cluster: Any, tmp_path: Path) -> None:
    """Ctrl-C while kind b's node holds its task: the sweep ends at once with a line on what it kept,
    the stored results stay, and the same command then measures only the rest."""
    rows = sweep_rows()
    path = tmp_path / "results.jsonl"
    marker, release = tmp_path / "held", tmp_path / "release"
    sim = timer(tmp_path, hold="b1", marker=str(marker), release=str(release))

    presses: list[str] = []

    def stored() -> int:
        """Results in the file so far; a line the sweep is writing now is not one yet (read as JSON it
        would raise, and this thread would end without pressing Ctrl-C)."""
        try:
            return len(jsonl_keys(path)) if path.exists() else 0
        except ValueError:
            return 0

    def press_ctrl_c() -> None:
        end = time.monotonic() + 60
        while time.monotonic() < end and not (marker.exists() and stored() >= 2):
            time.sleep(0.02)
        presses.append(f"at {time.monotonic() - start:.1f} s, held: {marker.exists()}, stored: {stored()}")
        _thread.interrupt_main()

    start = time.monotonic()
    threading.Thread(target=press_ctrl_c, daemon=True).start()
    try:
        sweep_on_cluster(rows, SETUP, HERE, store=JsonlResults(path), timer=sim, size=1)
    except KeyboardInterrupt as exc:
        said = str(exc)
    else:
        pytest.fail(f"the sweep ended without its interruption (Ctrl-C pressed: {presses or 'not yet'})")
    assert time.monotonic() - start < 30, presses
    kept = jsonl_keys(path)
    assert 2 <= len(kept) < len(rows) and f"{len(kept)} results stored in {path}" in said, (said, presses)
    release.touch()  # the driver has cancelled and waited: a held task not cancelled would go on now
    time.sleep(0.5)
    assert not Path(f"{marker}.went-on").exists(), "the held task was not cancelled: it went on to time"
    rest = sweep_on_cluster(rows, SETUP, HERE, store=JsonlResults(path), timer=timer(tmp_path), size=1)
    assert rest.skipped == len(kept) and once_each(rest) == Counter(range(len(rows)))
    keys = jsonl_keys(path)
    assert len(keys) == len(set(keys)) == len(rows)


def test_the_cli_sweeps_on_the_cluster_by_kind_and_a_rerun_says_what_it_skipped(
    cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fpnprof.cluster.sweep, "TIMER", timer(tmp_path))
    args = ["sweep", "fpn", "--channels", "16,24,32", "--size", "32", "--batch", "1", "--bench", "--threads", "1"]
    args += ["--cluster", f"ray={cluster.address}", "--node-kind", "a", "--history", str(tmp_path / "h.sqlite")]
    first = run(*args, "-f", "json")
    assert first.exit_code == 0, first.output
    data = json.loads(first.stdout)
    assert [r["kind"] for r in data["rows"]] == ["a"] * 3 and data["cluster"]["stored"] == 3
    again = run(*args, columns=200)
    assert again.exit_code == 0, again.output
    assert "node kind a (" in again.stdout and "resumed: 3 of 3 configurations were stored" in again.stdout, again.stdout
    with HistoryStore.open(tmp_path / "h.sqlite") as db:  # type: ignore[union-attr]
        held = [r[0] for r in db.conn.execute("SELECT key FROM results")]
    assert len(held) == 3 and None not in held, f"the history holds {held}: each result once, by its key"
    saved = run(*args[:-2], "--save", str(tmp_path / "r.jsonl"), "-f", "json")
    assert saved.exit_code == 0 and len(jsonl_keys(tmp_path / "r.jsonl")) == 3, saved.output
    more = str((os.cpu_count() or 1) + 1)  # the nodes' cores bound --threads, not this machine's, once they are known
    crowded = run(*[more if a == "1" and args[i - 1] == "--threads" else a for i, a in enumerate(args)], "--no-history")
    assert crowded.exit_code == 2 and f"--threads {more} is more than the" in crowded.stderr and "node kind a" in crowded.stderr


def test_calibrate_makes_a_model_per_kind_and_predict_picks_its_own_or_the_named_one(
    cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_latency_model import simulated

    from fpnprof.latency.calibrate import fit_model
    from fpnprof.latency.model import machine_fingerprint

    monkeypatch.setenv("FPNPROF_DATA_DIR", str(tmp_path))
    fitted = fit_model(simulated(), machine_fingerprint("torch", "cpu", "eager", 1)).to_json()
    models = calibrate_on_cluster(HERE, FakeCalibrator(fitted), backend="torch", device="cpu", default_path=default_model_path)
    assert [m.kind for m in models] == ["a", "b"] and all(m.error is None for m in models), models
    default = default_model_path(machine_fingerprint("torch", "cpu", "eager", 1))
    assert all(m.path == kind_model_path(default, m.kind) and m.path.is_file() for m in models)
    predict = ["predict", "fpn", "--channels", "16", "--backend", "torch", "--threads", "1", "-f", "json"]
    monkeypatch.setenv(KIND_ENV, "b")  # this machine, labelled kind b: predict finds b's model
    mine = run(*predict)
    assert mine.exit_code == 0 and json.loads(mine.stdout)["model"]["path"] == str(kind_model_path(default, "b")), mine.output
    named = run(*predict, "--node-kind", "a")
    assert named.exit_code == 0 and json.loads(named.stdout)["model"]["path"] == str(kind_model_path(default, "a")), named.output
    missing = run(*predict, "--node-kind", "c")
    assert missing.exit_code == 2 and "no latency model for node kind c" in missing.stderr and "a, b" in missing.stderr
