"""Helpers for the run-history tests: a simulated machine for bench (no real timing), and runs made
by hand for the store."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from sim_machine import SimMachine

import fpnprof.bench.runner
from fpnprof.bench.spec import BenchSpec
from fpnprof.history.identity import machine_info, machine_key
from fpnprof.history.necktext import text_hash
from fpnprof.history.records import RowRecord, RunRecord

PEAKS = {"matmul_gflops": 133.0, "copy_gbytes_per_s": 17.0}


def install_sim(monkeypatch: pytest.MonkeyPatch, ms: float = 5.0, seed: int = 1) -> None:
    """bench's workers on a seeded simulated machine where every row's true time is ``ms`` (or
    ``ms`` per neck name, for a dict)."""

    def true_ms(spec: BenchSpec) -> float:
        return ms

    sim = SimMachine(true_ms, seed=seed)
    monkeypatch.setattr(fpnprof.bench.runner, "launch_group", sim.launch)
    monkeypatch.setattr(fpnprof.bench.runner, "CLOCK", sim.clock)
    monkeypatch.setattr(fpnprof.bench.runner, "measure_peak", lambda *key: PEAKS)


def hand_run(
    at: float, neck: str = "fpn", ms: float = 10.0, text: str | None = "text 1", machine: str | None = None, rows: int = 1
) -> RunRecord:
    """A run of ``rows`` rows of ``neck`` recorded at ``at`` (seconds since the epoch)."""
    info = machine_info()
    return RunRecord(
        command="bench",
        argv=f"fpnprof bench {neck}",
        at=at,
        machine=machine or machine_key(info),
        machine_info=info,
        versions={"fpnprof": "0", "python": "3", "frameworks": []},
        rows=[
            RowRecord(
                kind="measured",
                neck=neck,
                variant="paper",
                label=neck,
                config={"neck": neck, "variant": "paper", "batch": 2, "size": 64},
                neck_text=text,
                neck_hash=None if text is None else text_hash(text),
                part="neck",
                engine="eager",
                backend="torch",
                device="cpu",
                threads=1,
                allocator="steady",
                dtype="fp32",
                framework="torch 2.13.0+cpu",
                estimate=ms + i,
                low=ms + i - 0.5,
                high=ms + i + 0.5,
                resolved=True,
            )
            for i in range(rows)
        ],
    )


def cut_short(path: Path) -> int:
    """Checkpoint the database into its file (no -wal left), then cut the file in half; its new size."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    size = path.stat().st_size // 2
    with open(path, "r+b") as fh:
        fh.truncate(size)
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    assert path.stat().st_size == size
    return size


def broken_files(path: Path) -> list[Path]:
    return sorted(
        p for p in path.parent.iterdir() if p.name.startswith(f"{path.name}.broken-") and not p.name.endswith(("-wal", "-shm"))
    )


def environ_without_history() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "FPNPROF_HISTORY"}
