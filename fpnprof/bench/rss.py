"""Host memory a row's model adds: RSS sampled while it is built and warmed up, and ru_maxrss."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from fpnprof.bench.allocator import release_free_memory


def current_rss() -> int:
    """Resident set size of this process in bytes (Linux /proc; 0 where unknown)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def max_rss() -> int:
    """The process's lifetime peak RSS in bytes (ru_maxrss: KiB on Linux)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class RssPeak:
    """Peak RSS growth over a baseline, without disturbing the timed runs.

    A sampling thread runs only while the model is built and warmed up (``sampling()``); afterwards,
    if the process's lifetime peak (ru_maxrss) rose above what it was at the baseline, that new
    peak is exact; otherwise the sampled peak stands.
    """

    def __init__(self) -> None:
        release_free_memory()  # memory an earlier row freed is no baseline of this one's
        self.base = current_rss()
        self.maxrss_at_base = max_rss()
        self.sampled = self.base

    @contextmanager
    def sampling(self, interval: float = 0.002) -> Iterator[None]:
        stop = threading.Event()

        def loop() -> None:
            while not stop.is_set():
                self.sampled = max(self.sampled, current_rss())
                stop.wait(interval)

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def growth(self) -> int:
        now_max = max_rss()
        peak = now_max if now_max > self.maxrss_at_base else max(self.sampled, current_rss())
        return max(0, peak - self.base)
