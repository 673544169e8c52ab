"""What ``--cluster`` refuses before any work, each in one line with exit 2 (no cluster needed), and
the stores a cluster sweep keeps its results in: a key is never stored twice, a line cut short by a
crash is left out, and the history finds a sweep's results again by their keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from cli_helpers import run

from fpnprof.bench.runner import Measurement
from fpnprof.cluster.connect import INSTALL_HINT, parse_cluster
from fpnprof.cluster.kinds import KIND_ENV, NodeIdentity, kind_of, this_node
from fpnprof.cluster.plan import TimingSetup, item_key, result_key
from fpnprof.cluster.results import Measured
from fpnprof.cluster.store import Context, HistoryResults, JsonlResults
from fpnprof.errors import ConfigError
from fpnprof.model.config import NeckConfig

SWEEP = ("sweep", "fpn", "--channels", "16,24", "--size", "32", "--bench")
SETUP = TimingSetup("paddle", "cpu", threads=1, warmup=1, measurement=Measurement())


def one_line_refusal(*args: str) -> str:
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and result.stderr.strip().count("\n") == 0, result.stderr
    return result.stderr


def test_without_ray_cluster_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails, as where it is not installed
    assert INSTALL_HINT in one_line_refusal(*SWEEP, "--cluster", "ray")
    assert INSTALL_HINT in one_line_refusal("calibrate", "--backend", "paddle", "--cluster", "ray")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--cluster", "spark"), "--cluster takes ray"),
        (("--cluster", "ray="), "needs the head's address"),
        (("--cluster", "ray=nohost"), "an address is HOST:PORT"),
        (("--node-kind", "a"), "--node-kind picks the nodes of a cluster"),
        (("--cluster", "ray", "--node-kind", "a b"), "is not a node kind's name"),
    ],
)
def test_cluster_options_are_checked_before_any_work(args: tuple[str, ...], says: str) -> None:
    assert says in one_line_refusal(*SWEEP, *args)


def test_cluster_needs_bench_and_calibrate_cluster_does_not_validate() -> None:
    assert "add --bench" in one_line_refusal("sweep", "fpn", "--cluster", "ray")
    assert "run it on a node of each kind" in one_line_refusal("calibrate", "--cluster", "ray", "--validate")


def test_an_unreachable_address_is_one_line_at_once() -> None:
    pytest.importorskip("ray")
    said = one_line_refusal(*SWEEP, "--cluster", "ray=127.0.0.1:1")
    assert "cannot reach a Ray cluster at 127.0.0.1:1" in said and "ray start --head" in said


def test_a_node_kind_is_its_fingerprint_or_its_label(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KIND_ENV, raising=False)
    mine = this_node("paddle", "cpu")
    assert mine.kind == kind_of(mine.fingerprint) and not mine.labelled
    assert kind_of({**mine.fingerprint, "threads": 99}) == mine.kind, "threads are a setting, not the node's kind"
    assert kind_of({**mine.fingerprint, "cores": 64}) != mine.kind
    monkeypatch.setenv(KIND_ENV, "gpu-box.2")
    assert this_node("paddle", "cpu").kind == "gpu-box.2"
    monkeypatch.setenv(KIND_ENV, "no spaces")
    with pytest.raises(ConfigError, match="not a node kind's name"):
        this_node("paddle", "cpu")
    assert parse_cluster("ray").address is None and parse_cluster("ray=10.0.0.5:6379").address == "10.0.0.5:6379"


def measured(channels: int, kind: str = "a") -> Measured:
    cfg = NeckConfig("fpn", channels=channels)
    item = item_key(cfg, NeckConfig("fpn", channels=16), SETUP)
    fp = {"cpu": "sim", "cores": 2}
    return Measured(
        result_key(item, kind), item, kind, "sim", "n1", fp, cfg.as_dict(), 10.0, 9.0, 11.0, 5.0, 1.2, 1.1, 1.3, 3.0, True, 5, 8.0
    )


CTX = Context(
    "fpnprof sweep fpn --bench --cluster ray",
    0,
    "n" * 56,
    NodeIdentity("a", "sim", {"cpu": "sim", "cores": 2}, True, "n1", "0"),
    1.0,
    SETUP,
)


@pytest.mark.parametrize("kind", ["jsonl", "history"])
def test_a_store_never_keeps_a_key_twice_and_finds_a_sweeps_results_again(kind: str, tmp_path: Path) -> None:
    store = JsonlResults(tmp_path / "r.jsonl") if kind == "jsonl" else HistoryResults(tmp_path / "h.sqlite")
    first = [measured(16), measured(24)]
    assert store.put(first, CTX) == 2
    assert store.put([measured(24), measured(32)], CTX) == 1, "a key stored again"
    assert store.put([measured(24, kind="b")], CTX) == 1, "another kind's result of the same configuration is its own"
    found = store.stored([m.item for m in first])
    assert sorted((m.config["channels"], m.kind) for m in found) == [(16, "a"), (24, "a"), (24, "b")]
    assert all(m.stored for m in found) and found[0].fingerprint == {"cpu": "sim", "cores": 2}


def test_a_line_cut_short_is_left_out_and_closed_off(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    store = JsonlResults(path)
    store.put([measured(16)], CTX)
    with open(path, "a") as fh:
        fh.write('{"format": "fpnprof-cluster-result", "key": "cut')  # a crash mid-write
    again = JsonlResults(path)
    assert [m.config["channels"] for m in again.stored([measured(16).item])] == [16] and again.torn == 1
    assert again.put([measured(24)], CTX) == 1
    lines = path.read_text().splitlines()
    assert json.loads(lines[-1])["config"]["channels"] == 24 and len(lines) == 3
    path.write_text('{"rows": []}\n')
    with pytest.raises(ConfigError, match="not fpnprof cluster results"):
        JsonlResults(path).stored(["x"])


def test_a_task_reserves_a_whole_node_of_its_kind() -> None:
    """All of a node's CPUs (and GPUs), on the nodes of its kind only; a node unlike its kind's others
    is left out (a task could not have it to itself)."""
    from fpnprof.cluster.nodes import NODE_ID_LABEL, Node, pools_of

    def node(n: int, kind: str, cpus: int, gpus: int = 0) -> Node:
        return Node(f"{n:056x}", f"10.0.0.{n}", cpus, gpus, NodeIdentity(kind, kind, {"cores": cpus}, False, f"h{n}", "0"))

    pools, notes = pools_of([node(1, "a", 16), node(2, "b", 8, 1), node(3, "a", 16), node(4, "a", 8)], None)
    options = {p.kind: p.options() for p in pools}
    assert options["a"] == {"num_cpus": 16, "label_selector": {NODE_ID_LABEL: f"in({1:056x},{3:056x})"}}
    assert options["b"] == {"num_cpus": 8, "num_gpus": 1, "label_selector": {NODE_ID_LABEL: f"in({2:056x})"}}
    assert len(notes) == 1 and "10.0.0.4" in notes[0] and "left out" in notes[0]
    with pytest.raises(ConfigError, match="--node-kind c: no live node of that kind"):
        pools_of([node(1, "a", 16)], "c")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="raising a niced process's priority needs root")
def test_a_task_raises_ray_s_niced_worker_to_a_plain_run_s_priority() -> None:
    """Ray starts its workers at niceness 15 and the bench workers a task starts inherit it: the task
    raises itself back to 0 first, so they time at the priority a plain run gets."""
    code = "import os; from fpnprof.cluster.tasks import timing_priority as t; print(os.getpriority(os.PRIO_PROCESS, 0), t())"
    niced = lambda: os.nice(15)  # noqa: E731 (the child's, before it runs)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, preexec_fn=niced)
    assert done.stdout.split() == ["15", "0"], done.stdout + done.stderr


def test_a_model_calibrated_below_a_plain_run_s_priority_says_so() -> None:
    from fpnprof.cluster.calibrate import KindModel, calibration_report

    plain = KindModel("a", "a machine", 1, "h1", Path("m.json"), "0" * 64, (0.9, 1.2), 10.0)
    report = calibration_report([plain, replace(plain, kind="b", node="h2", niceness=15)])
    niced = [n for n in report.notes if "niceness" in n]
    assert len(niced) == 1 and "node h2 timed at niceness 15" in niced[0] and "RAY_worker_niceness=0" in niced[0], niced


@pytest.mark.parametrize("store", [None, "the run history (h.sqlite)"])
def test_an_unresolved_ratio_s_note_says_what_a_rerun_does_with_it(store: str | None) -> None:
    """Stored, a rerun skips it (and says how to measure afresh); with nothing stored (--no-history),
    never 'stored as they are'."""
    from fpnprof.cluster.connect import ClusterOption
    from fpnprof.cluster.plan import items_of
    from fpnprof.cluster.report import cluster_sweep_report
    from fpnprof.cluster.sweep import ClusterSweep
    from fpnprof.cost.sweep import run_sweep

    rows = run_sweep([NeckConfig("fpn", channels=16), NeckConfig("fpn", channels=24)], workers=1)
    items = items_of([(i, r.config) for i, r in enumerate(rows)], SETUP)
    results = [(item, replace(measured(item.config.channels), resolved=item.number == 1)) for item in items]
    sweep = ClusterSweep(rows, items, ClusterOption("ray", None), store, results=results)
    (note,) = [n for n in cluster_sweep_report(sweep, ["channels"]).notes if "unresolved" in n]
    assert note.startswith("! 1 ratio unresolved")
    assert ("stored as they are, so a rerun skips them" in note) == (store is not None), note
