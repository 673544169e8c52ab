from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

# Every temporary file of this session, workers' included, goes to one private folder, so a test
# that leaves fpnprof's temporary folders (Paddle exports) behind is caught by name below.
SESSION_TMP = Path(tempfile.mkdtemp(prefix="pytest-fpnprof-tmp-"))
os.environ["TMPDIR"] = str(SESSION_TMP)
tempfile.tempdir = None


def fpnprof_leftovers() -> set[str]:
    return {p.name for p in SESSION_TMP.iterdir() if p.name.startswith("fpnprof-")}


@pytest.fixture(autouse=True, scope="session")
def private_history() -> Iterator[Path]:
    """Runs the tests record go to a database of this session's, never the user's run history."""
    path = SESSION_TMP / "history.sqlite"
    before = os.environ.get("FPNPROF_HISTORY")
    os.environ["FPNPROF_HISTORY"] = str(path)
    yield path
    if before is None:
        os.environ.pop("FPNPROF_HISTORY", None)
    else:
        os.environ["FPNPROF_HISTORY"] = before


@pytest.fixture(autouse=True)
def no_temp_folder_left() -> Iterator[None]:
    before = fpnprof_leftovers()
    yield
    left = fpnprof_leftovers() - before
    assert not left, f"temporary folders left behind: {sorted(left)}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests first (in their order): run on two xdist workers (README), the long ones then
    overlap with the many short ones instead of ending the run alone."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(SESSION_TMP, ignore_errors=True)


@pytest.fixture
def ms_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lines fitted on milliseconds alone: for a test of something other than how the lines are
    weighted (tests/test_line_weights.py checks that choice); half of ``fit_model``'s refits."""
    from fpnprof.latency import assemble

    monkeypatch.setattr(assemble, "LINE_WEIGHTS", ("ms",))


@pytest.fixture
def few_trees(monkeypatch: pytest.MonkeyPatch) -> None:
    """20 boosted trees a class, not 150: for a test of something other than how closely the trees
    fit (a simulated machine of exact lines leaves them little to learn); a fraction of the time."""
    from fpnprof.latency import trees

    monkeypatch.setattr(trees, "TREES", 20)
