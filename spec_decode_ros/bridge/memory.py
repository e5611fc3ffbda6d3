"""Process memory settings for the cloud: large buffers go straight back to the operating system.

glibc raises its mmap threshold each time a large block is freed (up to 32 MB), after which frames of a few MB
(the cloud's receive buffers, message copies) come from heaps that do not shrink: a flood of 2 MB frames then
left the verifier ~100–450 MB larger. Fixing the threshold keeps every block over it in its own mapping,
unmapped on free.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
MMAP_THRESHOLD_BYTES = 128 * 1024  # glibc's initial value, now fixed


def fix_mmap_threshold(threshold: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Fix glibc's mmap threshold (which also stops its dynamic growth); False where libc has no ``mallopt``."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    mallopt = getattr(ctypes.CDLL(name), "mallopt", None)
    return bool(mallopt is not None and mallopt(M_MMAP_THRESHOLD, threshold))
