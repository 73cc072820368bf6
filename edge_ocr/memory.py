"""Keep the process's resident memory close to what it uses (glibc malloc tuning).

Frames, crops and onnxruntime's buffers of a few MB are allocated and freed all the time. glibc
raises its mmap threshold each time such a buffer is freed, after which buffers of a few MB come
from the heap instead, fragment it and stay resident: a daemon reading 4 fields per frame (then
with onnxruntime's arena off) settled ~30 MB higher and peaked ~60 MB higher on its first frames
than it needs (docs/benchmarks.md). Fixing the thresholds turns that off: big buffers are
mapped and unmapped, and free heap tops are returned. Elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
TRIM_BYTES = 1 << 20  # return a free heap top once it exceeds 1 MiB
MMAP_BYTES = 128 << 10  # glibc's default; fixing it stops the dynamic raise


def release_freed_memory() -> bool:
    """Fix glibc's trim and mmap thresholds; False where there is no glibc mallopt."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    ok = mallopt(M_TRIM_THRESHOLD, TRIM_BYTES) == 1 and mallopt(M_MMAP_THRESHOLD, MMAP_BYTES) == 1
    log.debug("malloc thresholds fixed: %s", ok)
    return ok
