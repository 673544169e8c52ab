"""Pictures (matplotlib, the ``plot`` extra): per-level MACs per neck, latency against a sweep."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from fpnprof.bench.rows import BenchRow
from fpnprof.cost.results import Profile
from fpnprof.cost.sweep import SweepRow
from fpnprof.errors import BackendUnavailable, ConfigError
from fpnprof.model.config import NeckConfig
from fpnprof.model.necks import neck_spec

PLOT_SUFFIXES = (".png", ".svg")


def check_plot_path(path: Path) -> None:
    """Refuse a --plot file fpnprof cannot write before any measuring starts (without importing matplotlib)."""
    import importlib.util

    from fpnprof.report.files import check_writable

    check_writable(path, "--plot", PLOT_SUFFIXES)
    if importlib.util.find_spec("matplotlib") is None:
        raise BackendUnavailable("--plot needs matplotlib: pip install 'fpnprof[plot]'")


def _pyplot(path: Path) -> Any:
    if path.suffix.lower() not in PLOT_SUFFIXES:
        raise ConfigError(f"--plot writes .png or .svg, got {path.name!r}")
    try:
        import matplotlib
    except ImportError:
        raise BackendUnavailable("--plot needs matplotlib: pip install 'fpnprof[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    from fpnprof.report.files import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lower().lstrip("."), dpi=100)


def macs_stacked_plot(
    profiles: list[Profile], path: Path, names: list[str] | None = None, *, width_px: int = 900, height_px: int = 500
) -> None:
    """Each neck's MACs (log scale, so a 200-GMAC neck does not hide a 3-GMAC one) and their share per
    pyramid level (fvcore convention)."""
    plt = _pyplot(path)
    fig = macs_figure(plt, profiles, names, width_px=width_px, height_px=height_px)
    _save(fig, path)
    plt.close(fig)


def _plain_log_axis(axis: Any) -> None:
    """A log axis whose ticks read as plain numbers (1, 2, 5, 10, 20...)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))
    axis.set_minor_formatter(NullFormatter())


def macs_figure(
    plt: Any, profiles: list[Profile], names: list[str] | None = None, *, width_px: int = 900, height_px: int = 500
) -> Any:
    """Left: total neck GMACs per neck on a log axis; right: each neck's MACs split by level, as shares."""
    labels = [
        f"{name} ({p.config.variant})" if neck_spec(p.config.neck).source is None else name
        for name, p in zip(names or [p.config.neck for p in profiles], profiles, strict=True)
    ]
    fig, (total_ax, share_ax) = plt.subplots(1, 2, figsize=(width_px / 100, height_px / 100), dpi=100, sharey=True)
    rows = list(range(len(profiles)))
    totals = [p.neck_total.macs / 1e9 for p in profiles]
    total_ax.barh(rows, totals, color="tab:gray")
    total_ax.set_xscale("log")
    _plain_log_axis(total_ax.xaxis)
    total_ax.set_yticks(rows, labels)
    total_ax.invert_yaxis()
    total_ax.set_xlabel("neck GMACs (fvcore, log scale)")
    for row, value in zip(rows, totals, strict=True):
        total_ax.text(value, row, f" {value:.3g}", va="center", fontsize="small")
    lefts = [0.0] * len(profiles)
    for level in sorted({r.level for p in profiles for r in p.levels}):
        shares = [
            next((r.totals.macs / p.neck_total.macs for r in p.levels if r.level == level), 0.0) if p.neck_total.macs else 0.0
            for p in profiles
        ]
        share_ax.barh(rows, shares, left=lefts, label=f"P{level}")
        lefts = [a + b for a, b in zip(lefts, shares, strict=True)]
    share_ax.set_xlim(0, 1)
    share_ax.set_xlabel("share of the neck's MACs per level")
    share_ax.legend(title="level", fontsize="small", loc="lower right")
    fig.suptitle("neck MACs, and where they are")
    fig.tight_layout()
    return fig


def latency_plot(rows: list[BenchRow], path: Path, *, width_px: int = 800, height_px: int = 500) -> None:
    """Median latency against input size (or batch, whichever the sweep varies), a line per row kind."""
    plt = _pyplot(path)
    fig = latency_figure(plt, rows, width_px=width_px, height_px=height_px)
    _save(fig, path)
    plt.close(fig)


def latency_figure(plt: Any, rows: list[BenchRow], *, width_px: int = 800, height_px: int = 500) -> Any:
    """The latency figure: a log-scale ms axis whose ticks read as plain numbers (1, 2, 5, 10, 20...)."""
    sizes, batches = {r["size"] for r in rows}, {r["batch"] for r in rows}
    if len(sizes) < 2 and len(batches) < 2:
        raise ConfigError("--plot needs a sweep: give --size or --batch several values, e.g. --size 64,128,256")
    axis = "size" if len(sizes) >= 2 else "batch"
    series: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for r in rows:
        if r.get("median_ms") is None:
            continue
        fixed = f"b{r['batch']}" if axis == "size" else f"{r['size']}px"
        x = r["size"] if axis == "size" else r["batch"]
        series[f"{r['neck']} {r['variant']} {r['part']} {r['engine']} {fixed}"].append((x, r["median_ms"]))
    fig, ax = plt.subplots(figsize=(width_px / 100, height_px / 100), dpi=100)
    for label, points in sorted(series.items()):
        xs, ys = zip(*sorted(points), strict=True)
        ax.plot(xs, ys, marker="o", label=label)
    ax.set_xlabel("input size (px)" if axis == "size" else "batch")
    ax.set_ylabel("median latency (ms)")
    ax.set_yscale("log")
    _plain_log_axis(ax.yaxis)
    ax.set_title("latency")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def pareto_plot(rows: list[SweepRow], path: Path, *, width_px: int = 800, height_px: int = 500) -> None:
    """Params against GMACs for every configuration that built; the front (most params for their MACs)
    as a line, each of its points labelled with its setup."""
    plt = _pyplot(path)
    fig = pareto_figure(plt, rows, width_px=width_px, height_px=height_px)
    _save(fig, path)
    plt.close(fig)


def point_label(cfg: NeckConfig) -> str:
    """A sweep point's setup, short: width, cells (where they apply), levels."""
    cells = f" x{cfg.cells}" if neck_spec(cfg.neck).repeats else ""
    return f"C{cfg.channels}{cells} P{cfg.min_level}-P{cfg.max_level}"


def pareto_figure(plt: Any, rows: list[SweepRow], *, width_px: int = 800, height_px: int = 500) -> Any:
    ok = [r for r in rows if r.error is None]
    fig, ax = plt.subplots(figsize=(width_px / 100, height_px / 100), dpi=100)
    for neck in dict.fromkeys(f"{r.config.neck} ({r.config.variant})" for r in ok):
        mine = [r for r in ok if f"{r.config.neck} ({r.config.variant})" == neck]
        ax.scatter([r.macs / 1e9 for r in mine], [r.params / 1e6 for r in mine], s=18, alpha=0.6, label=neck)
    front = sorted((r for r in ok if r.front), key=lambda r: r.macs)
    sizes = sorted({r.config.size for r in front})
    for size in sizes:  # one front per input size (a smaller input is not a cheaper design)
        line = [r for r in front if r.config.size == size]
        label = "Pareto front" + (f" ({size}x{size})" if len(sizes) > 1 else "")
        color = "black" if len(sizes) == 1 else None
        ax.plot([r.macs / 1e9 for r in line], [r.params / 1e6 for r in line], color=color, marker="o", label=label)
    for r in front:
        ax.annotate(point_label(r.config), (r.macs / 1e9, r.params / 1e6), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xlabel("neck GMACs (fvcore)")
    ax.set_ylabel("neck params (M)")
    ax.set_title("sweep: capacity (params) against compute (MACs)")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig
