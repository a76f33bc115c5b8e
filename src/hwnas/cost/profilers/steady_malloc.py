"""Keep glibc's malloc from returning activation buffers to the OS between runs.

By default glibc serves large blocks (over 128 KiB, a dynamic threshold) with mmap and gives
freed heap memory back to the OS, so eager PyTorch page-faults fresh pages for its
activations on many runs. Which runs do depends on the allocator's history, so two
measurements of the same network can disagree by the cost of those page faults; with the heap kept,
every run reuses the same pages. Deployed CPU inference uses a caching allocator (jemalloc,
tcmalloc or a runtime's arena) for the same reason. benchmarks/README.md gives the measured
spread with and without it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's maximum on 64-bit: larger blocks still use mmap
TRIM_THRESHOLD = 1024 * 1024 * 1024
TOP_PAD = 64 * 1024 * 1024
_done = False


def keep_heap() -> bool:
    """Make glibc keep freed memory for reuse (process-wide, once). False where the C library
    has no `mallopt` (not glibc): measurements then run with the default allocator."""
    global _done
    if _done:
        return True
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        log.warning("mallopt is unavailable: latency is measured with the default allocator")
        return False
    settings = (
        (M_MMAP_THRESHOLD, MMAP_THRESHOLD),
        (M_TRIM_THRESHOLD, TRIM_THRESHOLD),
        (M_TOP_PAD, TOP_PAD),
    )
    _done = all(mallopt(param, value) == 1 for param, value in settings)
    return _done
