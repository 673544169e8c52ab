"""``history --plot``: a trend per neck, milliseconds against time with each interval drawn; a run
whose neck text changed since the previous one is ringed in red with a dashed line."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

from fpnprof.history.history_report import engine_text, setup_text
from fpnprof.history.records import StoredRow

#: Necks drawn at most (one panel each); the note says which were left out.
MAX_NECKS = 12


def _neck_name(row: StoredRow) -> str:
    from fpnprof.model.necks import NECKS

    return f"{row.neck} ({row.variant})" if row.neck in NECKS and row.variant else str(row.neck)


def plotted(rows: list[StoredRow]) -> dict[str, list[StoredRow]]:
    """The rows a trend can show (a neck's milliseconds), by neck, oldest first."""
    by_neck: dict[str, list[StoredRow]] = defaultdict(list)
    for r in sorted(rows, key=lambda r: (r.at, r.position)):
        if r.neck is not None and r.unit == "ms" and r.estimate is not None:
            by_neck[_neck_name(r)].append(r)
    return dict(by_neck)


def trend_plot(rows: list[StoredRow], path: Path, *, width_px: int = 900, panel_px: int = 260) -> list[str]:
    """Draw the trend of each neck in ``rows`` to ``path``; the necks left out (past :data:`MAX_NECKS`)."""
    from fpnprof.errors import ConfigError
    from fpnprof.report.plots import _pyplot, _save

    by_neck = plotted(rows)
    if not by_neck:
        raise ConfigError("--plot: no neck's milliseconds among the runs chosen (a peak has none)")
    names = list(by_neck)[:MAX_NECKS]
    plt = _pyplot(path)
    fig, axes = plt.subplots(
        len(names), 1, figsize=(width_px / 100, (panel_px * len(names) + 60) / 100), dpi=100, squeeze=False, sharex=True
    )
    for ax, name in zip(axes[:, 0], names, strict=True):
        _panel(ax, name, by_neck[name])
    _time_axis(axes[-1, 0], [r.at for name in names for r in by_neck[name]])
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return list(by_neck)[MAX_NECKS:]


def _time_axis(ax: Any, times: list[float]) -> None:
    """Dates that read at any span (seconds apart or years), with a margin either side."""
    import matplotlib.dates as mdates

    first, last = min(times), max(times)
    pad = max((last - first) * 0.05, 60.0)
    ax.set_xlim(datetime.fromtimestamp(first - pad), datetime.fromtimestamp(last + pad))
    locator = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    ax.set_xlabel("when (local time)")


def _panel(ax: Any, name: str, rows: list[StoredRow]) -> None:
    series: dict[str, list[StoredRow]] = defaultdict(list)
    for r in rows:
        series[f"{setup_text(r)} {r.part or ''} {engine_text(r)}{' predicted' if r.kind == 'predicted' else ''}"].append(r)
    for label, points in sorted(series.items()):
        xs = [datetime.fromtimestamp(r.at) for r in points]
        ys = [r.estimate or 0.0 for r in points]
        below = [(r.estimate or 0.0) - r.low if r.low is not None else 0.0 for r in points]
        above = [r.high - (r.estimate or 0.0) if r.high is not None else 0.0 for r in points]
        hollow = points[0].kind == "predicted"
        ax.errorbar(
            xs,
            ys,
            yerr=[below, above],
            marker="o",
            capsize=3,
            linestyle="--" if hollow else "-",
            markerfacecolor="none" if hollow else None,
            label=label,
        )
    changed = [r for r in rows if r.text_changed]
    for i, r in enumerate(changed):
        when = datetime.fromtimestamp(r.at)
        ax.axvline(when, color="tab:red", linestyle=":", linewidth=1, label="neck text changed" if i == 0 else None)
        ax.scatter([when], [r.estimate], s=140, facecolors="none", edgecolors="tab:red", linewidths=1.5, zorder=5)
    ax.set_title(name, loc="left", fontsize="medium")
    ax.set_ylabel("ms (95% interval)")
    ax.legend(fontsize="x-small", loc="best")
