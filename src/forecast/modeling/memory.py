"""Memory a big run has freed, handed back to the operating system between its steps.

Freed memory is not returned by itself: Arrow's allocator (where pandas keeps text columns)
keeps freed pages for reuse, and the C allocator keeps freed small blocks in its heap. A run's
steps allocate differently (rows in one, matrices in the next), so what one step freed is still
counted in the process's resident memory while the next one peaks: at 200,000 generated deals
about 170 MiB after building the snapshot rows (issue 14). Nothing here changes a value.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from collections.abc import Callable
from functools import cache


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's `malloc_trim`, or None where the C library has none (macOS, musl)."""
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


def give_back() -> None:
    """Return freed memory to the operating system: unreachable cycles collected, Arrow's
    unused pages released, the C heap trimmed. Costs milliseconds; call it between steps."""
    gc.collect()
    try:
        import pyarrow as pa

        pa.default_memory_pool().release_unused()
    except ImportError:  # pandas without pyarrow keeps text as Python objects
        pass
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
