"""Bad input, failures and signals: one line and exit 2 for bad input, refused before any work;
a crashed worker fails its row only; Ctrl-C ends the workers and writes nothing (exit 130)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import run

import fpnprof.bench.launch

TINY = ["--channels", "8", "--size", "32", "--batch", "1", "--levels", "3", "--warmup", "1", "--repeat", "3", "--processes", "1"]


@pytest.fixture
def no_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if anything starts a worker (i.e. starts measuring)."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a worker was started before the bad input was refused")

    monkeypatch.setattr(fpnprof.bench.launch, "call_worker", refuse)


BAD_INPUT = [
    (["shapes", "fpn", "-o", "/no/such/dir/x.json"], "folder /no/such/dir does not exist"),
    (["shapes", "fpn", "-o", "{tmp}"], "is a directory"),
    (["bench", "fpn", "-o", "{tmp}"], "is a directory"),
    (["compare", "--bench", "--backend", "jax"], "unknown backend 'jax'"),
    (["compare", "--bench", "--device", "tpu"], "unknown device 'tpu'"),
    (["bench", "--device", "tpu"], "unknown device 'tpu'"),
    (["bench", "--backend", "jax"], "unknown backend 'jax'"),
    (["shapes", "fpn", "--backend", "jax"], "unknown backend 'jax'"),
    (["bench", "--format", "xml"], "unknown format 'xml'"),
    (["compare", "--bench", "--format", "xml"], "unknown format 'xml'"),
    (["bench", "fpn", "--size", "16,32", "--plot", "/no/such/x.png"], "folder /no/such does not exist"),
    (["bench", "fpn", "--size", "16,32", "--plot", "{tmp}/x.pdf"], "ending in .png or .svg"),
    (["compare", "--bench", "--plot", "{tmp}/x.txt"], "ending in .png or .svg"),
    (["graph", "fpn", "-f", "xml"], "unknown format 'xml'"),
    (["peak", "-o", "{tmp}"], "is a directory"),
    (["shapes", "fpnn"], "did you mean 'fpn'"),
    (["bench", "fpn", "--engine", "turbo"], "--engine"),
    # what the command line's parser refuses reads the same: one line, no box
    (["compare", "fpn", "--channels", "64,128"], "error: --channels takes one integer here, got '64,128'; sweep takes lists"),
    (["shapes", "fpn", "--size", "abc"], "error: --size takes an integer, got 'abc'"),
    (["shapes"], "error: missing argument NECK (see fpnprof shapes --help)"),
    (["shapes", "fpn", "--bogus"], "error: no such option: --bogus (see fpnprof shapes --help)"),
    (["bench", "--engine"], "error: option '--engine' requires an argument"),
    (["shapez", "fpn"], "error: no such command 'shapez'; did you mean 'shapes'?"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_input_is_one_line_exit_2_before_any_work(args: list[str], message: str, tmp_path: Path, no_workers: None) -> None:
    result = run(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_a_folder_named_like_a_neck_file_is_called_a_folder(tmp_path: Path) -> None:
    (tmp_path / "x.toml").mkdir()
    result = run("shapes", str(tmp_path / "x.toml"))
    assert result.exit_code == 2 and result.stderr.strip() == f"error: neck file '{tmp_path / 'x.toml'}' is a folder"


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_output_files_respect_the_umask(tmp_path: Path, umask_022: None) -> None:
    table, plot = tmp_path / "necks.md", tmp_path / "macs.svg"
    result = run("compare", "-f", "markdown", "-o", str(table), "--plot", str(plot))
    assert result.exit_code == 0, result.output
    assert (table.stat().st_mode & 0o777) == 0o644 and (plot.stat().st_mode & 0o777) == 0o644
    assert f"wrote {table}" in result.stderr and f"plot written to {plot}" in table.read_text()


def test_compare_plot_says_where_it_wrote(tmp_path: Path) -> None:
    plot = tmp_path / "macs.png"
    result = run("compare", "--plot", str(plot))
    assert result.exit_code == 0, result.output
    assert f"plot written to {plot}" in result.stdout and plot.stat().st_size > 0


def test_a_crashed_worker_fails_its_row_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = [sys.executable, str(Path(__file__).parent / "fake_worker.py")]
    monkeypatch.setattr(fpnprof.bench.launch, "WORKER_COMMAND", fake)
    saved = tmp_path / "bench.json"
    table = run(
        "bench", "fpn", "bifpn", "--isolated", "--backend", "torch", "--part", "neck", *TINY, "--no-peak", "--save", str(saved)
    )
    assert table.exit_code == 1 and "killed by SIGKILL" in table.stdout and "fpn" in table.stdout
    fpn, bifpn = json.loads(saved.read_text())["rows"]
    assert fpn["error"] is None and fpn["runs"] == 3
    assert "killed by SIGKILL" in bifpn["error"] and "median_ms" not in bifpn


def _children(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(entry.name))
    return kids


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc to find the workers")
@pytest.mark.parametrize(
    ("signum", "code", "said"), [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")], ids=["ctrl-c", "kill"]
)
def test_a_signal_ends_workers_writes_nothing_and_exits_128_plus_it(
    tmp_path: Path, signum: signal.Signals, code: int, said: str
) -> None:
    """Ctrl-C (SIGINT) or `kill` (SIGTERM): workers reaped, no file, and (autouse fixture) no
    temporary folder left: the exports folder is made before the first worker starts."""
    target = tmp_path / "out.json"
    cmd = [sys.executable, "-m", "fpnprof", "bench", "fpn", "--backend", "torch", "--part", "neck", *TINY[:8]]
    proc = subprocess.Popen(
        [*cmd, "--repeat", "1000000", "--processes", "1", "-o", str(target)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # as from a terminal: a suite started in the background (`cmd &` without job control) has
        # SIGINT ignored, and an ignored signal stays ignored across exec
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 60
    workers: list[int] = []
    while not workers and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
        workers = _children(proc.pid)
    assert workers, "no worker started"
    time.sleep(1.0)  # let the worker get into its rounds
    workers = _children(proc.pid)
    names = [Path(f"/proc/{w}/cmdline").read_text().replace("\0", " ") for w in workers]
    assert any("fpnprof.bench.worker" in n for n in names), names
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert said in err and "Traceback" not in err
    left = [w for w in workers if Path(f"/proc/{w}").exists()]
    assert not left, [Path(f"/proc/{w}/cmdline").read_text() for w in left]
    assert list(tmp_path.iterdir()) == []


FPNPROF = shutil.which("fpnprof")


@pytest.mark.skipif(FPNPROF is None, reason="needs the installed fpnprof script")
@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("fpnprof shapes b", ["bifpn", "bifpn-paper.toml", "bifpn-tutorial.toml"]),  # and the shipped neck files
        ("fpnprof shapes fpn --variant p", ["paper"]),
        ("fpnprof bench --engine eager,c", ["eager,compile", "eager,cudagraph"]),
        ("fpnprof compare -f m", ["markdown"]),
        ("fpnprof bench fpn --part ne", ["neck"]),
        ("fpnprof compare --baseline pa", ["pafpn", "pafpn-paper.toml", "pafpn-tutorial.toml"]),
    ],
)
def test_shell_completion_offers_names(words: str, expected: list[str]) -> None:
    env = {**os.environ, "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - 1), "_FPNPROF_COMPLETE": "complete_bash"}
    out = subprocess.run([str(FPNPROF)], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == expected


@pytest.mark.skipif(FPNPROF is None, reason="needs the installed fpnprof script")
def test_shell_completion_of_file_paths() -> None:
    env = {**os.environ, "_TYPER_COMPLETE_ARGS": "fpnprof shapes fpn -o /tm", "_FPNPROF_COMPLETE": "complete_zsh"}
    out = subprocess.run([str(FPNPROF)], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "_files"  # zsh completes the path itself (bash falls back to files: complete -o default)


def test_paddle_verify_prints_no_framework_noise() -> None:
    proc = subprocess.run(
        [sys.executable, "-W", "default", "-m", "fpnprof", "shapes", "fpn", "--channels", "8", "--verify", "-f", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "ccache" not in proc.stderr and json.loads(proc.stdout)["verification"]["backend"] == "paddle"
