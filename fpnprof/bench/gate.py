"""The regression gate: is a neck slower than its baseline by more than PCT percent?

The verdict is read from the ratio's 95% interval, never from the point estimate alone:

* **slower**: the interval's lower bound is above 1 + PCT (exit 1);
* **not slower**: its upper bound is below 1 + PCT (exit 0);
* **inconclusive**: the interval holds 1 + PCT (exit 3), with the time that would settle it.

With a two-sided 95% interval that holds its coverage, an identical neck is called slower in at most
2.5% of runs. A gate on the point estimate alone calls about half the runs of a neck exactly PCT
slower "slower", and misses a neck slower than PCT whenever noise pulls the estimate under the line.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

SLOWER, NOT_SLOWER, INCONCLUSIVE = "slower", "not slower", "inconclusive"
#: The exit code a run ends with, by its worst verdict (slower before inconclusive before not slower).
EXIT_CODES = {SLOWER: 1, INCONCLUSIVE: 3, NOT_SLOWER: 0}


def judge(low: float | None, high: float | None, pct: float) -> str:
    """The verdict of a ratio whose 95% interval is ``[low, high]`` against a limit of 1 + ``pct``%."""
    limit = 1 + pct / 100
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return INCONCLUSIVE
    if low > limit:
        return SLOWER
    if high < limit:
        return NOT_SLOWER
    return INCONCLUSIVE


def judge_point(ratio: float, pct: float) -> str:
    """The gate fpnprof does not use, kept to show why: the point estimate against the limit."""
    return SLOWER if ratio > 1 + pct / 100 else NOT_SLOWER


def settle_seconds(ratio: float, low: float, high: float, pct: float, spent_s: float) -> float | None:
    """Seconds of measuring, at this run's pace, after which the interval would no longer hold the
    limit: the half-width shrinks as one over the square root of the workers (of the time), so it
    must shrink to the distance between the estimate and the limit. None where the estimate sits on
    the limit (no amount of time settles it). A paired ratio: :func:`settle_seconds_unpaired` with
    nothing stored beside it."""
    return settle_seconds_unpaired(ratio, (low, high), (1.0, 1.0), pct, spent_s)


@dataclass(frozen=True)
class Verdict:
    """One row judged against its baseline."""

    row: str
    baseline: str
    verdict: str
    ratio: float
    low: float | None
    high: float | None
    pct: float
    paired: bool = True
    settle_s: float | None = None
    #: why more time cannot settle it, where that is not the estimate sitting on the limit
    unsettled_why: str = ""

    def line(self) -> str:
        """What the gate says, in one line."""
        interval = f" [{self.low:.3f}-{self.high:.3f}]" if self.low is not None and self.high is not None else " (no interval)"
        said = f"{self.verdict.upper()}: {self.row} is {self.ratio:.3f}x {self.baseline}{interval}"
        limit = f"limit {1 + self.pct / 100:.3f}x (--fail-if-slower {self.pct:g})"
        tail = "" if self.paired else "; unpaired (measured at another time): a wider interval"
        if self.verdict == INCONCLUSIVE:
            if self.settle_s is not None:
                tail += f"; about {math.ceil(self.settle_s)} s of measuring would settle it (--max-time)"
            elif self.unsettled_why:
                tail += f"; {self.unsettled_why}"
            else:
                tail += "; the estimate sits on the limit: more time cannot settle it"
        return f"{said}, {limit}{tail}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def row_name(row: Mapping[str, Any]) -> str:
    """A bench row as the gate names it: neck, part, engine, batch and size."""
    parts = [row.get("neck"), row.get("part"), row.get("engine")]
    parts += [f"b{row['batch']}" if "batch" in row else None, f"{row['size']} px" if "size" in row else None]
    return " ".join(str(p) for p in parts if p)


def gate_rows(rows: Sequence[Mapping[str, Any]], pct: float, spent_s: float) -> list[Verdict]:
    """Every measured row that has a ratio to another row, judged."""
    out = []
    for row in rows:
        if "ratio" not in row or row.get("is_baseline"):
            continue
        ci = row.get("ratio_ci95")
        low, high = (ci[0], ci[1]) if ci else (None, None)
        verdict = judge(low, high, pct)
        settle = None
        if verdict == INCONCLUSIVE and low is not None and high is not None:
            settle = settle_seconds(row["ratio"], low, high, pct, spent_s)
        paired = bool(row.get("ratio_paired", True))
        baseline = str(row.get("baseline", "")).removesuffix(" (-)")  # a neck file has no variant to name
        out.append(Verdict(row_name(row), baseline, verdict, row["ratio"], low, high, pct, paired, settle))
    return out


def exit_code(verdicts: Iterable[Verdict]) -> int:
    """1 if any row is slower, else 3 if any is inconclusive, else 0."""
    found = {v.verdict for v in verdicts}
    for verdict in (SLOWER, INCONCLUSIVE):
        if verdict in found:
            return EXIT_CODES[verdict]
    return 0


#: z of a two-sided 95% interval: an interval's half-width in logs over it is its standard error.
Z95 = 1.959964


def unpaired_ratio(
    new_ms: float, new_ci: tuple[float, float], old_ms: float, old_ci: tuple[float, float]
) -> tuple[float, float, float]:
    """NEW / OLD and its 95% interval from two estimates measured apart (a stored run): in logs, the two
    standard errors (each interval's half-width over 1.96) add in quadrature, so the interval is wider
    than either, and wider than a paired ratio's, which the machine's drift between the runs never
    enters. It assumes each interval held, and nothing drifted between them that both rows share:
    say so where it is shown."""
    se = math.hypot(*((math.log(hi) - math.log(lo)) / (2 * Z95) for lo, hi in (new_ci, old_ci)))
    ratio = new_ms / old_ms
    return ratio, ratio * math.exp(-Z95 * se), ratio * math.exp(Z95 * se)


def settle_seconds_unpaired(
    ratio: float, new_ci: tuple[float, float], old_ci: tuple[float, float], pct: float, spent_s: float
) -> float | None:
    """As :func:`settle_seconds` for an unpaired ratio: only NEW's half-width shrinks with more time; the
    stored row's stays. None where the stored row's own interval already reaches the limit."""
    gap = abs(math.log(ratio) - math.log(1 + pct / 100))
    new_half, old_half = ((math.log(hi) - math.log(lo)) / 2 for lo, hi in (new_ci, old_ci))
    room = gap**2 - old_half**2
    if room <= 0 or new_half <= 0 or not math.isfinite(new_half):
        return None
    return spent_s * new_half**2 / room
