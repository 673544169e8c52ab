"""glibc's allocator held steady while a process times forward passes.

By default glibc serves a large allocation (an activation, an im2col buffer) with ``mmap`` and gives
it back with ``munmap`` on free, and it moves that threshold as a process runs. A forward pass then
faults its large tensors' pages in afresh every time, for a cost that depends on the process's
history: on the 2-core development machine one torch neck (YOLOv5-PAN, 16 channels, 192 px, one
thread) ran at 58-91 ms in five fresh processes, and at 36-47 ms with the settings below
(``benchmarks/RESULTS.md``). Keeping freed memory in the heap is what a long-running server's warm
allocator does (PyTorch's CPU tuning guide recommends jemalloc or tcmalloc for it); the latency
model's timing processes do it with glibc's own ``mallopt``.

Which one a timing process uses is a stated setting (``--allocator``), the same in ``bench``,
``calibrate`` and ``predict`` (a model is valid for one allocator): ``steady`` (the default: the
numbers of a warm server, repeatable from process to process) or ``default`` (the C library as a
plain script gets it). :data:`DEFAULT_ALLOCATOR` is the one every command uses when none is typed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

# mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3
#: Allocations below this come from the heap; the second where a glibc takes no more than its
#: documented 32 MiB cap.
MMAP_THRESHOLDS = (1 << 30, 32 * 1024 * 1024)
#: Free memory at the heap's top kept rather than given back; extra asked for on each growth.
TRIM_THRESHOLD = (1 << 31) - 1
TOP_PAD = 64 * 1024 * 1024


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name) if name is not None else None
    except OSError:
        return None


#: The allocators a timing process can run with (``both``, in ``bench``, times each row with each).
ALLOCATORS = ("steady", "default")
DEFAULT_ALLOCATOR = "steady"
#: What each does, in a table's header.
ALLOCATOR_TEXT = {"steady": "glibc keeps freed memory", "default": "glibc as a plain script has it"}


def apply_allocator(name: str) -> bool:
    """Set this process's allocator up as ``name`` says, before it times anything; True where the
    process now runs as asked (``steady`` needs glibc)."""
    if name not in ALLOCATORS:
        raise ValueError(f"unknown allocator {name!r}")
    return steady_allocator() if name == "steady" else True


@functools.cache
def steady_allocator() -> bool:
    """Keep freed memory in this process's heap (allocations up to 1 GiB included):
    after the first passes, a forward pass faults no pages in. True where glibc took the settings;
    False elsewhere (another C library, another OS), where the process runs as it would anyway."""
    mallopt = getattr(_libc(), "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    mmap = any(mallopt(_M_MMAP_THRESHOLD, value) == 1 for value in MMAP_THRESHOLDS)
    return mmap and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and mallopt(_M_TOP_PAD, TOP_PAD) == 1


def release_free_memory() -> None:
    """Give the heap's free memory back to the system (glibc's ``malloc_trim``), so that what a
    process measures next as resident growth is its own, not memory an earlier model freed and the
    steady allocator kept. A no-op where there is no glibc."""
    trim = getattr(_libc(), "malloc_trim", None)
    if trim is not None:
        trim.argtypes = (ctypes.c_size_t,)
        trim(0)
