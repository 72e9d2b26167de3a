"""Keep freed memory in the process: the allocator setting that removes the oracle's page-fault cost.

glibc serves allocations above its mmap threshold (128 KiB to 32 MiB, adaptive) with fresh ``mmap``
pages and returns them to the OS on free, so every forward-backward call, whose buffers are tens of
megabytes, page-faults all of them in again (measured: ~74,000 minor faults and ~45% of the CPU time of
one (256, 1024, 16) oracle call, docs/sampler_performance.md). :func:`keep_freed_memory` raises the mmap
and trim thresholds (``mallopt``), so freed blocks stay in the heap and are reused: the same numbers,
computed with a fraction of the system time. The process then keeps up to ``max_bytes`` of freed memory.

This is a process-wide allocator setting, not a value that any result depends on; it is applied once,
by :class:`~sims.denoisers.oracle.OracleDenoiser`, and only where glibc's ``mallopt`` exists (elsewhere it
does nothing and returns False).
"""

from __future__ import annotations

import ctypes
import ctypes.util

#: glibc's mallopt parameter numbers (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: Default amount of freed memory the process may keep.
DEFAULT_KEEP_BYTES = 1 << 30


def keep_freed_memory(max_bytes: int = DEFAULT_KEEP_BYTES) -> bool:
    """Raise glibc's mmap and trim thresholds to ``max_bytes``; True if applied (glibc only)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    value = min(int(max_bytes), 2**31 - 1)
    return bool(mallopt(M_MMAP_THRESHOLD, value)) and bool(mallopt(M_TRIM_THRESHOLD, value))
