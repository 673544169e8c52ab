"""``bench NEW --against run:ID[:ROW]``: NEW timed now, judged against a result stored in the run history.

Unlike ``--against OLD`` (both timed side by side, paired round by round), the stored row was measured
at another time: the ratio is unpaired and its interval wider (:func:`fpnprof.bench.gate.unpaired_ratio`),
the machine's drift between the two runs is not in it, and a row from another machine or other
framework versions is refused unless ``--force`` (then flagged).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from fpnprof.bench.gate import Verdict, exit_code, judge, row_name, settle_seconds_unpaired, unpaired_ratio
from fpnprof.errors import ConfigError
from fpnprof.report.model import Report

RUN_REF = re.compile(r"^run:(\d+)(?::(\d+))?$")
#: what must match for a stored row to be compared with a row timed now
SETUP_KEYS = ("part", "engine", "batch", "size", "dtype", "allocator")


def is_run_ref(text: str | None) -> bool:
    return text is not None and RUN_REF.match(text) is not None


def stored_row(ref: str, history: Path | str | None) -> Any:
    """The stored row ``run:ID[:ROW]`` names (a one-line error where there is none)."""
    from fpnprof.history.errors import HistoryError
    from fpnprof.history.location import history_path
    from fpnprof.history.store import HistoryStore, load_row

    match = RUN_REF.match(ref)
    assert match is not None
    path = history_path(None if history is None else Path(history))
    store = HistoryStore.open(path, create=False)
    if store is None:
        raise ConfigError(f"--against {ref}: there is no run history at {path} (fpnprof history lists runs)")
    try:
        with store:
            row = load_row(store, int(match[1]), None if match[2] is None else int(match[2]))
    except HistoryError as exc:
        raise ConfigError(f"--against {ref}: {exc}") from None
    if row.ms is None or row.low is None or row.high is None:
        raise ConfigError(f"--against {ref}: that row has no latency with an interval to compare with")
    return row


def _mismatches(stored: Any, mine: dict[str, Any], *, skip_unknown: bool) -> list[str]:
    """``key then, now`` for each of ``mine``'s keys (cpu, cores, threads, backend, device, framework)
    where the stored row differs; ``skip_unknown``: a value the stored row lacks is no difference."""
    theirs = {
        "cpu": stored.machine_info.get("cpu"),
        "cores": stored.machine_info.get("cores"),
        "threads": stored.threads,
        "backend": stored.backend,
        "device": stored.device,
        "framework": stored.framework,
    }
    return [
        f"{k} {theirs[k]} then, {v} now" for k, v in mine.items() if theirs[k] != v and not (skip_unknown and theirs[k] is None)
    ]


def check_before_timing(stored: Any, ref: str, *, backend: str, device: str, threads: int, force: bool) -> None:
    """Refuse, before anything is timed, a stored row this run cannot be compared with: another CPU,
    core count, thread count, backend or device (framework versions are checked after the run, which
    reports the version that ran)."""
    from fpnprof.backends.registry import resolve_backend
    from fpnprof.bench.spec import effective_threads
    from fpnprof.history.identity import machine_info

    here = machine_info()
    mine = {
        "cpu": here["cpu"],
        "cores": here["cores"],
        "threads": effective_threads(threads),
        "backend": resolve_backend(backend, device),
        "device": device,
    }
    differ = _mismatches(stored, mine, skip_unknown=True)
    if differ and not force:
        raise ConfigError(
            f"--against {ref} was measured elsewhere or otherwise ({'; '.join(differ)}): its ms cannot be compared "
            "with these; match it (--threads, --backend), or --force compares them anyway (flagged)"
        )


def _setup(row: Any) -> dict[str, Any]:
    config = row.config or {}
    return {
        "part": row.part,
        "engine": row.engine,
        "batch": config.get("batch"),
        "size": config.get("size"),
        "dtype": row.dtype,
        "allocator": row.allocator,
    }


def _differences(stored: Any, new: dict[str, Any]) -> list[str]:
    """What differs between the stored row's machine and versions and the row timed now."""
    from fpnprof.history.identity import machine_info

    here = machine_info()
    mine = {key: new.get(key) for key in ("framework", "threads", "device")}
    return _mismatches(stored, {"cpu": here["cpu"], "cores": here["cores"], **mine}, skip_unknown=False)


def judge_against_stored(
    report: Report, rows: list[dict[str, Any]], stored: Any, ref: str, pct: float | None, force: bool, spent_s: float
) -> int:
    """Compare the row timed now that has the stored row's setup with it; the verdict (with ``pct``)
    goes first among the notes and into the JSON; returns the exit code."""
    from fpnprof.history.records import iso_time

    want = _setup(stored)
    matching = [r for r in rows if "median_ms" in r and {k: r.get(k) for k in SETUP_KEYS} == want]
    if not matching:
        shown = ", ".join(f"{k} {v}" for k, v in want.items())
        raise ConfigError(f"--against {ref}: no row timed now has its setup ({shown}): give those options")
    row = matching[0]
    differ = _differences(stored, row)
    if differ and not force:
        raise ConfigError(
            f"--against {ref} was measured elsewhere or with other versions ({'; '.join(differ)}): "
            "its ms cannot be compared with these; --force compares them anyway (flagged)"
        )
    ci = row.get("ci95_ms")
    if not ci:
        raise ConfigError(f"--against {ref}: the row timed now has no interval (it needs 3 workers: give more --max-time)")
    ratio, low, high = unpaired_ratio(row["median_ms"], (ci[0], ci[1]), stored.ms, (stored.low, stored.high))
    baseline = f"{stored.neck} (run {stored.id}, {iso_time(stored.at)})"
    said = judge(low, high, pct) if pct is not None else "not judged"
    settle, why = None, ""
    if pct is not None and said == "inconclusive":
        settle = settle_seconds_unpaired(ratio, (ci[0], ci[1]), (stored.low, stored.high), pct, spent_s)
        if settle is None:
            half = 100 * (math.sqrt(stored.high / stored.low) - 1)
            why = (
                f"the stored row's own interval (±{half:.1f}%) reaches the limit: no time settles it; "
                "time OLD again beside NEW (--against FILE.toml@REV)"
            )
    verdict = Verdict(
        row_name(row), baseline, said, ratio, low, high, pct or 0.0, paired=False, settle_s=settle, unsettled_why=why
    )
    flags = [f"! compared with a row from another machine or versions (--force): {'; '.join(differ)}"] if differ else []
    if pct is not None:
        lines = [f"gate: {verdict.line()}"]
    else:
        lines = [f"against {ref}: {row_name(row)} is {ratio:.3f}x [{low:.3f}-{high:.3f}] {baseline}, unpaired"]
    report.notes[:0] = lines + flags
    code = exit_code([verdict]) if pct is not None else 0
    report.data["gate"] = {"against": ref, "unpaired": True, "flags": flags, "exit_code": code, "verdicts": [verdict.as_dict()]}
    return code
