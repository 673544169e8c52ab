"""Where a cluster sweep keeps its results, one group at a time as each comes in: the run history
(:mod:`fpnprof.history`, a run per group) or a JSON Lines file (``--save FILE.jsonl``, a line per
result). Both find a sweep's stored results again by key (``ITEM/KIND``), and neither stores a key
twice: the check and the write are one transaction (the history) or one locked append (the file).
Only the driver writes."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from fpnprof.cluster.kinds import NodeIdentity
from fpnprof.cluster.plan import TimingSetup
from fpnprof.cluster.results import Measured
from fpnprof.errors import ConfigError

#: A JSON Lines store's lines say what they are.
LINE_FORMAT = "fpnprof-cluster-result"
LINE_VERSION = 1


@dataclass(frozen=True)
class Context:
    """Who stores a group: the command line, the group and the node it ran on, how the rows were timed."""

    argv: str
    group: int
    node_id: str
    identity: NodeIdentity
    seconds: float
    setup: TimingSetup


class ResultStore(Protocol):
    #: where, in words (``the run history (PATH)``)
    where: str

    def stored(self, items: Sequence[str]) -> list[Measured]:
        """The results held for these configurations (``item`` keys), of every node kind."""
        ...

    def put(self, results: Sequence[Measured], ctx: Context) -> int:
        """Keep the results whose key is not held yet; how many that was."""
        ...


class HistoryResults:
    """The run history: each group one run (``sweep``), each result a row keyed ``ITEM/KIND``, the
    node's machine as the run's."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = f"the run history ({path})"

    def stored(self, items: Sequence[str]) -> list[Measured]:
        from fpnprof.history.store import HistoryStore

        store = HistoryStore.open(self.path, create=False)
        if store is None:
            return []
        with store:
            rows = store.keyed(items)
        return [Measured.from_json(r.extra["cluster"]) for r in rows if isinstance(r.extra.get("cluster"), dict)]

    def put(self, results: Sequence[Measured], ctx: Context) -> int:
        from fpnprof.history.store import HistoryStore

        if not results:
            return 0
        store = HistoryStore.open(self.path)
        assert store is not None
        with store:
            _, written = store.insert_new(history_run(results, ctx))
        return written


def history_run(results: Sequence[Measured], ctx: Context) -> Any:
    """A group's results as one history run on the node's machine (:class:`fpnprof.history.RunRecord`)."""
    from fpnprof.bench.allocator import DEFAULT_ALLOCATOR
    from fpnprof.bench.spec import effective_threads
    from fpnprof.history.identity import machine_key, versions
    from fpnprof.history.necktext import neck_text, text_hash
    from fpnprof.history.records import RowRecord, RunRecord

    fp, s = ctx.identity.fingerprint, ctx.setup
    info = {
        "cpu": fp.get("cpu"),
        "cores": fp.get("cores"),
        "gpu": fp.get("gpu"),
        "platform": None,
        "node": ctx.identity.hostname,
        "node_id": ctx.node_id,
        "node_kind": ctx.identity.kind,
    }
    rows = []
    for m in results:
        text = neck_text(m.config)
        rows.append(
            RowRecord(
                kind="measured",
                neck=m.config.get("neck"),
                variant=m.config.get("variant"),
                label=m.config.get("neck"),
                config=dict(m.config),
                neck_text=text,
                neck_hash=None if text is None else text_hash(text),
                part="neck",
                engine="eager",
                backend=s.backend,
                device=s.device,
                threads=m.threads or effective_threads(s.threads),
                allocator=DEFAULT_ALLOCATOR,
                dtype=m.config.get("dtype", "fp32"),
                framework=m.framework,
                estimate=m.ms,
                low=m.low,
                high=m.high,
                resolved=m.resolved,
                ratio=m.ratio,
                ratio_low=m.ratio_low,
                ratio_high=m.ratio_high,
                flags=list(m.flags),
                extra={"cluster": m.to_json()},
                key=m.key,
            )
        )
    summary = {"cluster": {"group": ctx.group, "node_kind": ctx.identity.kind, "seconds": ctx.seconds}}
    return RunRecord(
        command="sweep",
        argv=ctx.argv,
        at=time.time(),
        machine=machine_key(info),
        machine_info=info,
        versions=versions([m.framework for m in results if m.framework]),
        summary=summary,
        rows=rows,
    )


class JsonlResults:
    """A JSON Lines file (``--save FILE.jsonl``): a line per result, appended a group at a time under
    an exclusive lock, flushed to disk before the next group is awaited. A last line cut short (a
    crash mid-write) is left out and closed off before the next append. The keys read so far are
    kept, so that each append reads only the lines others added since."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = str(path)
        #: lines left out on reading: cut short
        self.torn = 0
        self._held: set[str] = set()
        self._offset = 0

    def _read(self, fh: IO[bytes], offset: int) -> list[dict[str, Any]]:
        """The results from byte ``offset`` on; the offset then moves past the last whole line."""
        fh.seek(offset)
        out, position = [], offset
        for raw in fh:
            if not raw.endswith(b"\n"):
                self.torn += 1
                break
            position += len(raw)
            if not raw.strip():
                continue
            try:
                data = json.loads(raw)
            except ValueError:
                self.torn += 1  # a line cut short, closed off by a later append
                continue
            if not isinstance(data, dict) or data.get("format") != LINE_FORMAT:
                raise ConfigError(
                    f"--save {self.path} holds lines that are not fpnprof cluster results: give a new file, "
                    "or one a cluster sweep wrote"
                )
            out.append(data)
        self._offset = position
        self._held |= {str(d.get("key")) for d in out}
        return out

    def stored(self, items: Sequence[str]) -> list[Measured]:
        if not self.path.exists():
            return []
        wanted = set(items)
        self.torn, self._held = 0, set()
        with open(self.path, "rb") as fh, _locked(fh, fcntl.LOCK_SH):
            return [Measured.from_json(d) for d in self._read(fh, 0) if d.get("item") in wanted]

    def put(self, results: Sequence[Measured], ctx: Context) -> int:
        if not results:
            return 0
        with open(self.path, "a+b") as fh, _locked(fh, fcntl.LOCK_EX):
            size = fh.seek(0, os.SEEK_END)
            if size < self._offset:  # the file was replaced: read it whole
                self._offset, self._held = 0, set()
            self._read(fh, self._offset)
            fresh = [m for m in results if m.key not in self._held]
            end = fh.seek(0, os.SEEK_END)
            if end and not _ends_with_newline(fh):
                fh.write(b"\n")  # close off a line cut short: the next result starts a line of its own
            for m in fresh:
                line = {"format": LINE_FORMAT, "version": LINE_VERSION, "group": ctx.group, **m.to_json()}
                fh.write(json.dumps(line).encode() + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
            self._offset = fh.tell()
            self._held |= {m.key for m in fresh}
        return len(fresh)


def _ends_with_newline(fh: IO[bytes]) -> bool:
    end = fh.tell()
    fh.seek(end - 1)
    last = fh.read(1)
    fh.seek(end)
    return last == b"\n"


@contextlib.contextmanager
def _locked(fh: IO[bytes], mode: int) -> Iterator[None]:
    fcntl.flock(fh.fileno(), mode)
    try:
        yield
    finally:
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
