"""What ``calibrate``, ``predict`` and ``--latency predicted`` do, apart from parsing their options."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fpnprof.bench.allocator import ALLOCATORS, DEFAULT_ALLOCATOR
from fpnprof.bench.runner import OnProgress
from fpnprof.bench.schedule import Progress
from fpnprof.errors import ConfigError
from fpnprof.model.config import NeckConfig, require_choice
from fpnprof.model.graph import Graph, Part
from fpnprof.report.model import Report

if TYPE_CHECKING:
    from fpnprof.latency.model import LatencyModel

#: Validation draws its necks with the calibration seed plus this (never the calibration's draws).
VALIDATION_SEED_OFFSET = 1_000_003
#: The shifted set (``--validate --shifted``) draws with the calibration seed plus this.
SHIFTED_SEED_OFFSET = 2_000_003
#: The share of calibration and held-out necks that are random neck files (the rest: random
#: configurations of the shipped necks).
FILE_SHARE = 0.25


@dataclass(frozen=True)
class Setup:
    """Where a model applies: backend (resolved), device, engine, threads (0 = all cores, resolved),
    the allocator its timing processes run with."""

    backend: str
    device: str
    engine: str
    threads: int
    allocator: str = DEFAULT_ALLOCATOR

    @classmethod
    def resolve(cls, backend: str, device: str, engine: str, threads: int, allocator: str = DEFAULT_ALLOCATOR) -> Setup:
        from fpnprof.backends.registry import backend_info, check_device, resolve_backend
        from fpnprof.bench.spec import effective_threads

        name = resolve_backend(backend, device)
        check_device(name, device)
        engines = backend_info(name).engines[device]
        if engine not in engines:
            raise ConfigError(f"engine {engine!r} does not apply to {name} on {device}; choose from {', '.join(engines)}")
        if threads < 0:
            raise ConfigError("--threads must be >= 0")
        require_choice("allocator", allocator, ALLOCATORS)
        return cls(name, device, engine, effective_threads(threads), allocator)

    def here(self) -> dict[str, Any]:
        from fpnprof.latency.model import machine_fingerprint

        return machine_fingerprint(self.backend, self.device, self.engine, self.threads, self.allocator)

    def model_path(self, path: Path | None) -> Path:
        from fpnprof.latency.model import default_path

        return path or default_path(self.backend, self.device, self.engine, self.threads, self.allocator)

    def find_model(self, path: Path | None, node_kind: str | None = None) -> Path:
        """The model file to use: ``--model PATH``; ``--node-kind KIND``'s (``calibrate --cluster``
        made one per kind); else the default file, or, where there is none, the one of this machine's
        kind."""
        from fpnprof.cluster.kinds import KIND_ENV, check_kind_name, kind_model_path, kind_of

        if path is not None:
            return path
        default = self.model_path(None)
        if node_kind is not None:
            check_kind_name(node_kind, "--node-kind")
            chosen = kind_model_path(default, node_kind)
            if not chosen.is_file():
                made = sorted(p.stem.rpartition("@")[2] for p in default.parent.glob(f"{default.stem}@*{default.suffix}"))
                have = f"kinds with a model for this setup: {', '.join(made)}" if made else "no kind has a model for this setup"
                raise ConfigError(
                    f"no latency model for node kind {node_kind} at {chosen} ({have}): fpnprof calibrate --cluster makes them"
                )
            return chosen
        if default.is_file():
            return default
        import os

        here = os.environ.get(KIND_ENV, "").strip() or kind_of(self.here())
        mine = kind_model_path(default, here)
        return mine if mine.is_file() else default


def _reporter(on_progress: OnProgress | None, start: float) -> Any:
    def report(phase: str, done: int, total: int) -> None:
        if on_progress is not None:
            elapsed = time.monotonic() - start
            on_progress(Progress(done, total, elapsed / done * (total - done) if done else 0.0, f"calibrate: {phase}", phase))

    return report


def check_calibration(necks: int, budget_s: float) -> None:
    """Refuse a calibration that cannot bound its interval or has no time."""
    from fpnprof.latency.assemble import COVERAGE
    from fpnprof.latency.fit import necks_needed

    least = necks_needed(COVERAGE)
    if necks < least:
        raise ConfigError(f"--necks must be at least {least} (to bound a {COVERAGE:.0%} interval over necks), got {necks}")
    if budget_s <= 0:
        raise ConfigError("--budget must be > 0 seconds")


def run_calibrate(
    setup: Setup, path: Path | None, *, necks: int, budget_s: float, seed: int, on_progress: OnProgress | None = None
) -> Report:
    from fpnprof.latency.model import save_model
    from fpnprof.report.latency_report import calibration_report

    model = make_model(setup, necks=necks, budget_s=budget_s, seed=seed, on_progress=on_progress)
    target = save_model(model, setup.model_path(path))
    return calibration_report(model, target)


def make_model(setup: Setup, *, necks: int, budget_s: float, seed: int, on_progress: OnProgress | None = None) -> LatencyModel:
    """Calibrate this machine for ``setup``: the kernels, ``necks`` calibration necks, the fit."""
    from fpnprof.latency.calibrate import CalibrationPlan, calibrate
    from fpnprof.latency.kernels import FUSION_RULES
    from fpnprof.latency.random_files import random_file_necks
    from fpnprof.latency.sampling import MAX_NECK_FLOPS, random_necks, reach_necks

    check_calibration(necks, budget_s)
    rng = random.Random(seed)
    # A fusing engine's rules are held to its program on every calibration form, and random files hold
    # chains the rules do not cover (an activation right after another: Paddle Inference runs no
    # kernel for the second, the rules one): such an engine is calibrated on the shipped necks alone.
    share = 0.0 if setup.engine in FUSION_RULES else FILE_SHARE
    files = random_file_necks(round(necks * share), rng, MAX_NECK_FLOPS, prefix="calibration")
    plan = CalibrationPlan(
        setup.backend,
        setup.device,
        setup.engine,
        threads=setup.threads,
        necks=list(dict.fromkeys(random_necks(necks - len(files), rng) + [cfg for cfg, _ in files] + reach_necks())),
        budget_s=budget_s,
        seed=seed,
        neck_texts={cfg.neck: text for cfg, text in files},
        allocator=setup.allocator,
    )
    return calibrate(plan, _reporter(on_progress, time.monotonic()))


@dataclass(frozen=True)
class NodeCalibrator:
    """``calibrate --cluster``'s work on a node of each kind (:class:`fpnprof.cluster.tasks.Calibrator`):
    the options as typed, resolved there (``--threads 0``: that node's cores), the model made there and
    sent back as its sealed JSON."""

    backend: str
    device: str
    engine: str
    threads: int
    allocator: str
    necks: int
    budget_s: float
    seed: int

    def __call__(self) -> dict[str, Any]:
        setup = Setup.resolve(self.backend, self.device, self.engine, self.threads, self.allocator)
        return make_model(setup, necks=self.necks, budget_s=self.budget_s, seed=self.seed).to_json()


def default_model_path(fingerprint: dict[str, Any]) -> Path:
    """The default model file of a model's fingerprint (its backend, device, engine, threads, allocator)."""
    from fpnprof.latency.model import default_path

    fp = fingerprint
    return default_path(fp["backend"], fp["device"], fp["engine"], int(fp["threads"]), fp.get("allocator", DEFAULT_ALLOCATOR))


def run_calibrate_on_cluster(
    setup: Setup,
    cluster: str,
    node_kind: str | None,
    *,
    necks: int,
    budget_s: float,
    seed: int,
    threads: int,
    on_progress: OnProgress | None = None,
) -> Report:
    """``calibrate --cluster``: a model per node kind (:mod:`fpnprof.cluster.calibrate`), each made on
    one of its nodes with the options as typed (``threads``: as typed, 0 = each node's cores)."""
    from fpnprof.cluster.calibrate import calibrate_on_cluster, calibration_report
    from fpnprof.cluster.connect import import_ray, parse_cluster

    check_calibration(necks, budget_s)
    option = parse_cluster(cluster)
    import_ray()
    calibrator = NodeCalibrator(setup.backend, setup.device, setup.engine, threads, setup.allocator, necks, budget_s, seed)
    models = calibrate_on_cluster(
        option,
        calibrator,
        backend=setup.backend,
        device=setup.device,
        default_path=default_model_path,
        node_kind=node_kind,
        threads=threads,
        budget_s=budget_s,
        on_progress=on_progress,
    )
    return calibration_report(models)


def run_validate(
    setup: Setup, path: Path | None, *, necks: int, runs: int, force: bool, on_progress: OnProgress | None = None
) -> Report:
    from fpnprof.latency.random_files import random_file_necks
    from fpnprof.latency.sampling import MAX_NECK_FLOPS, random_necks
    from fpnprof.latency.validate import ANCHORS, PROCESSES, validate
    from fpnprof.report.latency_report import validation_report

    if necks < 1 or runs < 1:
        raise ConfigError("--held-out and --runs must be >= 1")
    model, warning = load_for(setup, path, force)
    seed = int(model.calibration.get("seed", 0)) + VALIDATION_SEED_OFFSET
    seen = {_key(c) for c in model.calibration.get("neck_configs", [])}
    files = random_file_necks(round(necks * FILE_SHARE), random.Random(seed), MAX_NECK_FLOPS)
    drawn = [c for c in random_necks(necks * 3, random.Random(seed)) if _key(c.as_dict()) not in seen]
    held_out = list(dict.fromkeys(drawn))[: necks - len(files)] + [cfg for cfg, _ in files]
    anchors, anchor_texts = calibration_anchors(model, ANCHORS)
    start = time.monotonic()
    report = _reporter(on_progress, start)
    v = validate(
        model,
        held_out,
        runs=runs,
        seed=seed,
        on_done=lambda done: report("held-out necks (fresh processes)", done, PROCESSES),
        neck_texts={**anchor_texts, **{cfg.neck: text for cfg, text in files}},
        anchors=anchors,
    )
    out = validation_report(v, model, time.monotonic() - start, seed)
    if warning:
        out.notes.insert(0, warning)
    return out


def run_shifted(
    setup: Setup, path: Path | None, *, necks: int, max_time_s: float, force: bool, on_progress: OnProgress | None = None
) -> Report:
    """``--validate --shifted``: the shifted set (:mod:`fpnprof.latency.shifted`) timed by bench,
    beside the model's predictions."""
    from fpnprof.bench.runner import Measurement
    from fpnprof.latency.predict import predict_graph
    from fpnprof.latency.shifted import ANCHORS, check_shifted, shifted_set
    from fpnprof.model.parts import part_graph
    from fpnprof.report.shifted_report import shifted_report

    if necks < 1:
        raise ConfigError("--held-out must be >= 1")
    measurement = Measurement(max_time_s=max_time_s)
    model, warning = load_for(setup, path, force)
    seed = int(model.calibration.get("seed", 0)) + SHIFTED_SEED_OFFSET
    seen = {NeckConfig.from_dict(c) for c in model.calibration.get("neck_configs", [])}
    drawn = shifted_set(necks, seed, lambda cfg: predict_graph(model, part_graph(cfg, "neck")).total_ms, seen=seen)
    anchors, _ = calibration_anchors(model, ANCHORS)
    check = check_shifted(model, drawn.necks, measurement, seed=seed, on_progress=on_progress, anchors=anchors)
    out = shifted_report(check, model, seed=seed, skipped=drawn.skipped, seconds=check.run.seconds)
    if warning:
        out.notes.insert(0, warning)
    return out


def calibration_anchors(model: LatencyModel, count: int) -> tuple[list[tuple[NeckConfig, float]], dict[str, str]]:
    """The model's first ``count`` calibration necks with their calibration times (none where the
    model keeps no times), and the texts of the neck files among them (adopted in this process)."""
    from fpnprof.model.neckfile import adopt_neck_text

    cal = model.calibration
    configs, times, texts = cal.get("neck_configs", []), cal.get("neck_ms", []), dict(cal.get("neck_files") or {})
    anchors = [(NeckConfig.from_dict(c), float(t)) for c, t in zip(configs, times, strict=False)][:count]
    used = {cfg.neck: texts[cfg.neck] for cfg, _ in anchors if cfg.neck in texts}
    for name, text in used.items():
        adopt_neck_text(name, text)
    return anchors, used


def _key(cfg: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in cfg.items()))


def load_for(setup: Setup, path: Path | None, force: bool, node_kind: str | None = None) -> tuple[Any, str | None]:
    """The model for ``setup`` (:meth:`Setup.find_model`), checked against this machine; a node kind's
    model named by ``node_kind`` is checked against its own kind's machine instead (and said to be)."""
    import json

    from fpnprof.cluster.kinds import KIND_FIELDS
    from fpnprof.latency.model import load_model

    chosen = setup.find_model(path, node_kind)
    here = setup.here()
    if node_kind is not None:
        try:
            theirs = json.loads(chosen.read_text(encoding="utf-8")).get("fingerprint") or {}
        except (OSError, ValueError, AttributeError):
            theirs = {}
        here = {**here, **{k: theirs.get(k) for k in KIND_FIELDS if k in theirs}}
    model, warning = load_model(chosen, here, force=force)
    if node_kind is not None:
        fp = model.fingerprint
        note = f"predicted for node kind {node_kind} ({fp.get('cpu')}, {fp.get('cores')} cores), not measured here"
        warning = f"{warning}; {note}" if warning else note
    return model, warning


def predicted_report(model: Any, warning: str | None, configs: list[tuple[str, NeckConfig]], part: str, path: Path) -> Report:
    """Each labelled neck's ``part`` priced by the model (read from ``path``), as the prediction report."""
    from fpnprof.latency.predict import predict_graph
    from fpnprof.model.parts import part_graph
    from fpnprof.report.latency_report import prediction_report

    items = [(label, cfg, predict_graph(model, part_graph(cfg, part), cfg.dtype_bytes)) for label, cfg in configs]
    return prediction_report(items, model, part, warning, path)


def run_predict(
    configs: list[tuple[str, NeckConfig]], part: str, setup: Setup, path: Path | None, force: bool, node_kind: str | None = None
) -> Report:
    from fpnprof.model.config import require_choice
    from fpnprof.model.parts import PARTS

    require_choice("part", part, PARTS)
    model, warning = load_for(setup, path, force, node_kind)
    return predicted_report(model, warning, configs, part, setup.find_model(path, node_kind))


@dataclass
class Predictor:
    """Predicted latency for sweep rows (``--latency predicted``): the model loaded once, each
    built row's neck priced by it."""

    model: Any
    warning: str | None
    setup_text: str
    path: Path

    @classmethod
    def load(cls, setup: Setup, path: Path | None, force: bool) -> Predictor:
        from fpnprof.report.latency_report import setup as setup_text

        model, warning = load_for(setup, path, force)
        return cls(model, warning, setup_text(model), setup.find_model(path))

    def row(self, row: Any, graph: Graph) -> Any:
        """A sweep row with its neck's predicted latency (the neck's nodes of the row's whole graph)."""
        from dataclasses import replace

        from fpnprof.latency.predict import predict_graph

        p = predict_graph(self.model, graph, row.config.dtype_bytes, Part.NECK)
        return replace(
            row,
            predicted_ms=p.total_ms,
            predicted_low_ms=p.low_ms,
            predicted_high_ms=p.high_ms,
            predicted_extrapolated=p.extrapolated,
        )

    def add_to(self, report: Report, configs: list[tuple[str, NeckConfig]]) -> None:
        """Append the predicted latency of each neck (alone) to a report: its sections, its JSON
        under ``predicted_latency``, its notes (those the report has not already); all marked predicted."""
        extra = predicted_report(self.model, self.warning, configs, "neck", self.path)
        report.sections += extra.sections
        report.data["predicted_latency"] = extra.data
        report.notes += [note for note in extra.notes if note not in report.notes]
